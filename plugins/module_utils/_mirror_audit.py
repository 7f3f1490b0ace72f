# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mirror host's part of the fleet audit, read on the mirror host: the release its store serves (the signature
verified again against the keys the role allows: the audit's verdict is not the facts file's word), every kept
release's locks (their wheel hashes, what a node's venv is matched to) and models, and the served address's health
as the role's own check asks it.

Reads only; never fails on what it finds (each finding is in the answer, the report decides). Private to the
collection. Standard library and ``ssh-keygen`` only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import shutil
import tempfile

from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_health import check as health_check
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import parse_lock

RELEASES = "releases"
CURRENT = "current"
MODEL_KEYS = ("repo_id", "repo_type", "revision", "commit")


def _entry(manifest, path):
    for entry in manifest["files"]:
        if isinstance(entry, dict) and entry.get("path") == path:
            return entry
    return {}


def _lock(release_dir, manifest, path):
    """{path, sha256 (the file's), listed (the signed manifest's), hashes {name: [sha256]}, error}."""
    out = {"path": path, "sha256": None, "listed": _entry(manifest, path).get("sha256"), "hashes": None,
           "error": None}
    if not rv.safe_path(path):
        out["error"] = "the manifest names the lock %r, a path outside the release" % (path,)
        return out
    try:
        fd = rv.open_regular(os.path.join(release_dir, path))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        out["sha256"] = hashlib.sha256(data).hexdigest()
        out["hashes"] = dict((name, sorted(e["hashes"])) for name, e in parse_lock(data.decode("utf-8")).items())
    except (rv.ReleaseError, OperatorError, UnicodeDecodeError) as exc:
        out["error"] = getattr(exc, "msg", None) or str(exc)
    except (IOError, OSError) as exc:
        out["error"] = "%s: %s" % (path, exc.strerror or exc)
    return out


def read_release(release_dir):
    """What the audit needs of one release of the store: {release, manifest_sha256, created, locks {set: lock},
    models [{repo_id, repo_type, revision, commit}], error}."""
    out = {"release": os.path.basename(release_dir), "manifest_sha256": None, "created": None, "locks": {},
           "models": [], "error": None}
    try:
        manifest, digest = rv.read_manifest(release_dir)
    except rv.ReleaseError as exc:
        out["error"] = str(exc)
        return out
    out.update(release=manifest["release"], manifest_sha256=digest, created=manifest.get("created"))
    sets = manifest.get("sets") if isinstance(manifest.get("sets"), dict) else {}
    for name, spec in sorted(sets.items()):
        if isinstance(spec, dict) and spec.get("lock"):
            out["locks"][name] = _lock(release_dir, manifest, spec["lock"])
    out["models"] = [dict((k, m.get(k)) for k in MODEL_KEYS) for m in manifest.get("models") or []
                     if isinstance(m, dict)]
    return out


def kept_releases(root):
    """Every release of ROOT/releases (the hidden work directories of an import left out), oldest first."""
    base = os.path.join(root, RELEASES)
    try:
        names = sorted(os.listdir(base))
    except (IOError, OSError):
        return []
    found = [read_release(os.path.join(base, name)) for name in names
             if rv.RELEASE_ID_RE.match(name) and os.path.isdir(os.path.join(base, name))
             and not os.path.islink(os.path.join(base, name))]
    return sorted(found, key=lambda r: (r.get("created") or "", r["release"]))


def _signer(release_dir, signers_text, ssh_keygen):
    """(signer, why not) of the release's manifest.json.sig against SIGNERS_TEXT (an allowed_signers file's text)."""
    if not signers_text:
        return None, "signed, but no allowed signers are configured to check it against (offline_mirror_allowed_signers)"
    scratch = tempfile.mkdtemp(prefix="codex-mirror-audit-")
    try:
        path = os.path.join(scratch, "allowed_signers")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(signers_text)
        signer, why = rv.verify_signature(release_dir, path, ssh_keygen)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # the scratch path means nothing to the operator: name the keys by the role's variable
    return signer, why and why.replace(path, "offline_mirror_allowed_signers")


def served(root, signers_text, ssh_keygen="ssh-keygen"):
    """The served release: {release, path, manifest_sha256, signed, signer, signature_error, error}."""
    out = {"release": None, "path": None, "manifest_sha256": None, "signed": False, "signer": None,
           "signature_error": None, "error": None}
    current = os.path.join(root, CURRENT)
    base = os.path.realpath(os.path.join(root, RELEASES))
    if not os.path.islink(current):
        out["error"] = "%s is not a link to a release of the store: nothing is served" % current
        return out
    target = os.path.realpath(current)
    if os.path.dirname(target) != base or not os.path.isdir(target):
        out["error"] = "%s points at %s, not at a release of %s" % (current, target, base)
        return out
    out["path"] = target
    try:
        manifest, digest = rv.read_manifest(target)
    except rv.ReleaseError as exc:
        out["error"] = str(exc)
        return out
    out.update(release=manifest["release"], manifest_sha256=digest, signed=bool(manifest.get("signed")))
    if manifest["release"] != os.path.basename(target):
        out["error"] = "%s holds the manifest of release %s" % (target, manifest["release"])
    elif out["signed"]:
        out["signer"], out["signature_error"] = _signer(target, signers_text, ssh_keygen)
    return out


def health(root, url, get):
    """The served address asked as a node asks it (one try: the service is not starting): {ok, checks, check,
    error}."""
    try:
        answer = health_check(root, url, get, attempts=1)
    except OperatorError as exc:
        return {"ok": False, "checks": [], "check": exc.details.get("check"), "error": exc.msg}
    except (IOError, OSError, ValueError, KeyError) as exc:
        return {"ok": False, "checks": [], "check": "manifest",
                "error": "the served release in %s cannot be read: %s" % (root, exc)}
    return {"ok": True, "checks": answer["checks"], "check": None, "error": None}


def audit(root, url, get, signers_text="", allow_unsigned=False, ssh_keygen="ssh-keygen"):
    """The mirror host's part of the audit record (record key ``mirror``; its layout is in docs/audit.md)."""
    return {"root": root, "url": url, "allow_unsigned": bool(allow_unsigned),
            "served": served(root, signers_text, ssh_keygen), "releases": kept_releases(root),
            "health": health(root, url, get)}


__all__ = ["audit", "health", "kept_releases", "read_release", "served"]
