# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mirror host's release store: a carried release verified, imported into a versioned directory, served by an
atomic switch, older releases kept up to a count, any kept one served again on request.

    ROOT/releases/<id>/   a whole release (a delta's files from its base are hard links: no second copy of GBs)
    ROOT/current          symbolic link to releases/<id>, replaced by rename (readers see the old or the new one)
    ROOT/state.json       the releases kept, in the order they were imported or last served, with signer and sha256

This file decides what to import and serve (the checks before any change, the switch, the state, the pruning);
_mirror_import does the import itself without trusting the source after verifying it, and refuses a store another
user could redirect. A crash leaves a hidden ``.import-*`` directory that the next run removes.

Private to the collection. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import tempfile
import time

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable
from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import variable_prefix
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_import import (
    RELEASES,
    MirrorStoreError,
    check_root,
    import_release,
    pushed_copy,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._stage_preflight import check_room

STATE = "state.json"
CURRENT = "current"


def _read_state(root):
    path = os.path.join(root, STATE)
    try:
        with open(path) as handle:
            state = json.load(handle)
        if isinstance(state, dict) and isinstance(state.get("releases"), list):
            return state
    except (IOError, OSError, ValueError):
        pass
    return {"schema": 1, "releases": []}


def _entry(state, release_id):
    for entry in state["releases"]:
        if entry.get("release") == release_id:
            return entry
    return None


def current(root):
    """The release id ROOT/current points at, else None."""
    try:
        target = os.readlink(os.path.join(root, CURRENT))
    except OSError:
        return None
    parts = target.split("/")
    return parts[1] if len(parts) == 2 and parts[0] == RELEASES else None


def _switch(root, release_id):
    link = os.path.join(root, ".current.tmp")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink("%s/%s" % (RELEASES, release_id), link)
    _durable.rename(link, os.path.join(root, CURRENT))


def _prune(root, state, keep, protect):
    """Remove the releases past the KEEP most recent (never one in PROTECT); returns the ids removed."""
    removed = []
    while len(state["releases"]) > keep:
        victims = [e for e in state["releases"] if e["release"] not in protect]
        if not victims:
            break
        victim = victims[0]
        shutil.rmtree(os.path.join(root, RELEASES, victim["release"]))
        state["releases"].remove(victim)
        removed.append(victim["release"])
    return removed


def _stale_imports(root):
    releases = os.path.join(root, RELEASES)
    return [n for n in os.listdir(releases) if n.startswith(".import-")] if os.path.isdir(releases) else []


def store(params, check_mode):
    """Import params['source'] (when given) and serve params['serve'] (default: the source's release). Returns the
    module's result; MirrorStoreError names what is wrong, the served release unchanged. params['allowed_signers_text']
    is the allowed_signers file's content, written to a private file for ssh-keygen for the call."""
    text = params.get("allowed_signers_text")
    if not text:
        return _store(params, check_mode)
    scratch = tempfile.mkdtemp(prefix="codex-mirror-")
    try:
        path = os.path.join(scratch, "allowed_signers")
        _durable.write_file(path, text, mode=0o600)
        return _store(dict(params, allowed_signers=path), check_mode)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _sets(root, release_id, source):
    """The wheel sets {name: pins} of RELEASE_ID, from the store, else from SOURCE (check mode, not imported yet);
    None when neither can be read (a push still to come)."""
    for where in (os.path.join(root, RELEASES, release_id), source):
        try:
            manifest = rv.read_manifest(where)[0] if where else None
        except rv.ReleaseError:
            continue
        if manifest and manifest["release"] == release_id:
            return dict((name, entry.get("pins", [])) for name, entry in manifest.get("sets", {}).items())
    return None


def _require_set(release_id, sets, wanted, prefix):
    if wanted and sets is not None and wanted not in sets:
        raise MirrorStoreError("release %s has no wheel set %s (the mirror host's servers; it has %s): stage it with "
                               "stage_wheels_sets.%s, or name the set that holds them in %sserver_set" % (
                                   release_id, wanted, ", ".join(sorted(sets)) or "none", wanted, prefix),
                               kind="no_server_set")


def _store(params, check_mode):
    try:
        return _serve(params, check_mode)
    except MirrorStoreError:
        # a pushed copy that is refused is removed: the host is left as it was before the push
        source = params.get("source")
        if source and params.get("remove_source") and not check_mode and pushed_copy(params["root"], source):
            shutil.rmtree(source, ignore_errors=True)
        raise


def _serve(params, check_mode):
    prefix = variable_prefix(params.get("variable_prefix"))
    root, source, serve, keep = params["root"], params.get("source"), params.get("serve"), params["keep"]
    if keep < 1:
        raise MirrorStoreError("%skeep is %d: keep at least the served release (1), 2 or more to roll back" % (
            prefix, keep), kind="bad_input")
    if not source and not serve and not params.get("release_id"):
        raise MirrorStoreError("give %ssource (the carried release to import) or %sserve (an imported release to "
                               "serve)" % (prefix, prefix), kind="bad_input")
    check_root(root, prefix)
    if not os.path.lexists(root) and not check_mode:
        os.mkdir(root, 0o755)
        os.chmod(root, 0o755)
    releases = os.path.join(root, RELEASES)
    state = _read_state(root)
    was = current(root)
    result = {"changed": False, "imported": False, "switched": False, "previous": was, "removed": [],
              "path": root}
    entry = None
    if source or params.get("release_id"):
        entry, imported = _take(root, source, params, prefix, check_mode, state)
        result["imported"] = imported
        serve = serve or entry["release"]
    entry = _entry(state, serve) if entry is None or entry["release"] != serve else entry
    if entry is None or not (os.path.isdir(os.path.join(releases, serve)) or (check_mode and result["imported"])):
        kept = ", ".join(e["release"] for e in state["releases"]) or "none"
        raise MirrorStoreError("%sserve %s: no such release in %s (kept: %s): import it with %ssource first" % (
            prefix, serve, releases, kept, prefix), kind="not_imported")
    _require_set(serve, _sets(root, serve, source), params.get("require_set"), prefix)
    stale = _stale_imports(root)
    if serve != was:
        result["switched"] = True
        if not check_mode:
            _switch(root, serve)
    state["releases"] = [e for e in state["releases"] if e["release"] != serve] + [entry]
    if result["switched"] or result["imported"]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entry["served_at" if result["switched"] else "imported_at"] = stamp
    protect = {serve, was} if keep > 1 else {serve}
    over = max(0, len(state["releases"]) - keep)
    if check_mode:
        result["removed"] = [e["release"] for e in state["releases"] if e["release"] not in protect][:over]
    else:
        result["removed"] = _prune(root, state, keep, protect)
        for name in stale:
            shutil.rmtree(os.path.join(releases, name), ignore_errors=True)
        if result["switched"] or result["imported"] or result["removed"] or stale:
            _durable.write_json(os.path.join(root, STATE), state, indent=2)
    pushed = bool(source and params.get("remove_source") and pushed_copy(root, source))
    if pushed and not check_mode:
        shutil.rmtree(source)
    result["changed"] = bool(result["switched"] or result["imported"] or result["removed"] or stale or pushed)
    sets = _sets(root, serve, source)
    result.update(release=serve, manifest_sha256=entry["manifest_sha256"], signer=entry.get("signer"),
                  releases=[e["release"] for e in state["releases"]], sets=sets or {})
    return result


def _held(root, release_id):
    """The manifest sha256 of release RELEASE_ID in the store, None when it has none, a reason when unreadable."""
    final = os.path.join(root, RELEASES, release_id)
    if not os.path.lexists(final):
        return None
    try:
        return rv.read_manifest(final)[1]
    except rv.ReleaseError as exc:
        return "unreadable (%s)" % exc


def _taken(state, release_id, held, wanted, prefix, source, option="source"):
    """The state entry of RELEASE_ID, held with manifest sha256 HELD, when that is the WANTED content."""
    if held != wanted:
        raise MirrorStoreError("%s%s: release %s is already imported with other content (manifest sha256 %s, the "
                               "carried one %s); a release id names one content: stage it under a new id" % (
                                   prefix, option, release_id, held, wanted), kind="release_id_taken")
    kept = _entry(state, release_id)
    if kept is None:
        # imported by a run that stopped before it recorded it
        kept = {"release": release_id, "manifest_sha256": held, "signer": None, "base": None}
        state["releases"].append(kept)
    return kept


def _room(root, needed, release_id, prefix):
    try:
        check_room(root, needed, what="importing release %s needs about %%.1f MB" % release_id, name="%sroot" % prefix)
    except RuntimeError as exc:
        raise MirrorStoreError(str(exc), kind="no_room")


def _take(root, source, params, prefix, check_mode, state):
    """Verify SOURCE and import it unless the store has it; returns (its state entry, whether it was imported).
    A source that the store already holds, the same manifest byte for byte, is not read again."""
    expected_id, expected_sha = params.get("release_id"), params.get("manifest_sha256")
    if expected_id and (not source or not os.path.lexists(source)):
        held = _held(root, expected_id)
        if held is not None:
            return _taken(state, expected_id, held, expected_sha, prefix, source, "source_controller"), False
        if check_mode:
            base = params.get("base_release")
            if base and _held(root, base) != params.get("base_manifest_sha256"):
                raise MirrorStoreError("%ssource_controller release %s is a delta over release %s (manifest sha256 %s), which "
                                       "this store does not hold: import the full release %s first" % (
                                           prefix, expected_id, base, params.get("base_manifest_sha256"), base),
                                       kind="delta_without_base")
            _room(root, params.get("carried_bytes") or 0, expected_id, prefix)
            entry = {"release": expected_id, "manifest_sha256": expected_sha, "signer": None, "base": None}
            state["releases"].append(entry)
            return entry, True
        raise MirrorStoreError("%ssource_controller: release %s is not in the store and %s is not there to import "
                               "it from" % (prefix, expected_id, source or "no pushed copy"), kind="not_imported")
    try:
        manifest, source_sha = rv.read_manifest(source)
    except rv.ReleaseError as exc:
        raise MirrorStoreError("%ssource: %s" % (prefix, exc), kind="not_a_release")
    release_id = manifest["release"]
    if expected_sha and (source_sha, release_id) != (expected_sha, expected_id):
        raise MirrorStoreError("%ssource %s is release %s with manifest sha256 %s; the controller verified release "
                               "%s with manifest sha256 %s: push it again" % (
                                   prefix, source, release_id, source_sha, expected_id, expected_sha),
                               kind="changed_after_verify")
    held = _held(root, release_id)
    if held is not None:
        return _taken(state, release_id, held, source_sha, prefix, source,
                      "source_controller" if expected_id else "source"), False
    base = manifest.get("base")
    base_dir = None
    if base:
        base_dir = os.path.join(root, RELEASES, str(base.get("release")))
        if not os.path.isdir(base_dir) or os.path.islink(base_dir):
            raise MirrorStoreError("%ssource %s is a delta over release %s (manifest sha256 %s), which this store does "
                                   "not hold: import the full release %s first" % (
                                       prefix, source, base.get("release"), base.get("manifest_sha256"),
                                       base.get("release")), kind="delta_without_base")
    verdict = rv.verify(source, params.get("allowed_signers"), base_dir, params.get("allow_unsigned", False))
    if verdict["ok"] and verdict["manifest_sha256"] != source_sha:
        verdict["ok"] = False
        verdict["problems"].append("%s changed while it was verified" % rv.MANIFEST)
    if not verdict["ok"]:
        problems = verdict["problems"]
        raise MirrorStoreError("%ssource %s (release %s) does not verify, nothing was imported: %s%s" % (
            prefix, source, release_id, "; ".join(problems[:8]),
            "; and %d more" % (len(problems) - 8) if len(problems) > 8 else ""), kind="does_not_verify",
            problems=problems)
    entry = {"release": release_id, "manifest_sha256": verdict["manifest_sha256"], "signer": verdict["signer"],
             "base": base, "bytes": verdict["bytes"]}
    _require_set(release_id, dict((name, entry.get("pins", [])) for name, entry in manifest.get("sets", {}).items()),
                 params.get("require_set"), prefix)
    if not pushed_copy(root, source):
        _room(root, verdict["carried_bytes"], release_id, prefix)
    if not check_mode:
        os.makedirs(os.path.join(root, RELEASES), 0o755, exist_ok=True)
        import_release(root, source, manifest, verdict["manifest_sha256"], base_dir)
    state["releases"].append(entry)
    return entry, True


def verify_served(root, allowed_signers, allow_unsigned=False):
    """The verdict on the served release as it lies in the store (every file in place, a delta's included)."""
    served = current(root)
    if served is None:
        return {"ok": False, "release": None, "problems": ["%s serves no release" % root]}
    return rv.verify(os.path.join(root, RELEASES, served), allowed_signers, allow_unsigned=allow_unsigned,
                     complete=True)


__all__ = ["MirrorStoreError", "check_root", "current", "store", "verify_served"]
