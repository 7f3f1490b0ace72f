# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release a mirror host serves, as a node reads it before downloading anything: the mirror answers, its
``manifest.json`` is a release manifest signed (OpenSSH, in _release_verify.NAMESPACE) by a key the lab allows, and
what the node needs from it - the sha256 of the files it will download, of each wheel set's lock, and the models.

Private to the collection. Standard library and ``ssh-keygen`` only (the module brings _mirror_http.fetch as GET)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tempfile

from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import long_secrets, redact_url, scrub
from ansible_collections.codex.offline_ml.plugins.module_utils._release_build import allowed_signers_text as signers_file

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
UNREACHABLE_FIX = "converge it first (site.yml applies offline_mirror to mirror_hosts before the nodes) or start its service"


class ServedReleaseError(OperatorError):
    """The mirror host does not serve a release this node may trust, or not the files it asked for; KIND says which
    (unreachable, http, manifest, signature, missing, invalid)."""


def allowed_signers_text(signers, option="allowed_signers"):
    """The allowed_signers file of SIGNERS (the rule: _release_build.allowed_signers_text), refusals as this module's
    error."""
    try:
        return signers_file(signers, option)
    except OperatorError as exc:
        raise ServedReleaseError(exc.msg, kind=exc.kind)


def _who(url, mirror_host):
    """How the messages name the mirror: by its inventory name when known, always with its (redacted) URL."""
    if mirror_host:
        return "the mirror host %s (%s)" % (mirror_host, redact_url(url))
    return "the mirror at %s" % redact_url(url)


def _get(get, base, name, who):
    """(status, body) of BASE+NAME; ServedReleaseError (unreachable) when nothing answers."""
    try:
        return get(base + name)
    except Exception as exc:  # the network's errors are many (refused, DNS, TLS, timeout); each means no answer
        # an OperatorError of the GET (_mirror_http.fetch) already names the URL, redacted
        reason = exc.msg if isinstance(exc, OperatorError) else "%s for %s" % (str(exc) or exc.__class__.__name__, name)
        raise ServedReleaseError("%s does not answer (%s): %s" % (who, scrub(reason, long_secrets(base)), UNREACHABLE_FIX),
                                 kind="unreachable")


def _verify(manifest_data, signature, signers_text, ssh_keygen, who, release):
    """The principal whose key signed MANIFEST_DATA (SIGNATURE); the files ssh-keygen reads lie in a private
    directory for the call only."""
    scratch = tempfile.mkdtemp(prefix="codex-served-")
    try:
        os.chmod(scratch, 0o700)
        for name, data in ((rv.MANIFEST, manifest_data), (rv.SIGNATURE, signature),
                           ("allowed_signers", signers_text.encode("utf-8"))):
            fd = os.open(os.path.join(scratch, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        signer, why = rv.verify_signature(scratch, os.path.join(scratch, "allowed_signers"), ssh_keygen)
        if why:
            # the scratch paths mean nothing to the operator: name the option the keys come from instead
            why = why.replace(os.path.join(scratch, "allowed_signers"), "allowed_signers").replace(scratch + os.sep, "")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if why:
        raise ServedReleaseError("%s serves release %s with a signature this node refuses: %s" % (who, release, why),
                                 kind="signature")
    return signer


def _entry(files, path):
    for entry in files:
        if isinstance(entry, dict) and entry.get("path") == path:
            return entry
    return None


def _digest(entry, path, who, release):
    if not _HEX64.match(str(entry.get("sha256"))) or not isinstance(entry.get("size"), int):
        raise ServedReleaseError("%s serves release %s whose manifest lacks the size and sha256 of %s" % (
            who, release, path), kind="manifest")
    return {"sha256": entry["sha256"], "size": entry["size"]}


def fetch(url, get, allowed_signers=None, allow_unsigned=False, paths=(), mirror_host="", ssh_keygen="ssh-keygen"):
    """What the release served at URL (the directory of manifest.json) says, once its signature holds: {'url',
    'release', 'manifest_sha256', 'signer', 'files': {path: {'sha256', 'size'}} for each of PATHS, 'locks': {set:
    sha256 of its lock}, 'models': [{repo_id, repo_type, revision, commit}]}. GET(url) -> (status, bytes), raising
    when nothing answers. ALLOWED_SIGNERS [{principal, key}]: the keys that may sign. ALLOW_UNSIGNED: a release
    without manifest.json.sig is taken unverified (signer None); a signature that is there is still checked when
    keys are given. ServedReleaseError names the mirror (MIRROR_HOST, its inventory name, when given)."""
    base = url if url.endswith("/") else url + "/"
    who = _who(base, mirror_host)
    signers_text = allowed_signers_text(list(allowed_signers or []))
    if not signers_text and not allow_unsigned:
        raise ServedReleaseError("allowed_signers is empty: name the public key(s) that sign the releases (the .pub "
                                 "of stage_signing_key), or set allow_unsigned for releases staged unsigned",
                                 kind="invalid")
    status, data = _get(get, base, rv.MANIFEST, who)
    if status != 200:
        raise ServedReleaseError("%s answers HTTP %s for %s%s: is this the address of its served release (the "
                                 "mirror serves it under /release/)?" % (who, status, redact_url(base), rv.MANIFEST),
                                 kind="http", status=status)
    try:
        manifest, manifest_sha256 = rv.parse_manifest(data, "its %s" % rv.MANIFEST)
    except rv.ReleaseError as exc:
        raise ServedReleaseError("%s answers, but %s" % (who, exc), kind="manifest")
    release = manifest["release"]
    signer = None
    if signers_text:
        status, signature = _get(get, base, rv.SIGNATURE, who)
        if status == 404 and not allow_unsigned:
            raise ServedReleaseError(
                "%s serves release %s without %s (HTTP 404): the release is unsigned or the signature was not "
                "served; stage it signed, or set allow_unsigned for a release staged with unsigned: true" % (
                    who, release, rv.SIGNATURE), kind="signature")
        if status not in (200, 404):
            raise ServedReleaseError("%s answers HTTP %s for %s%s" % (who, status, redact_url(base), rv.SIGNATURE),
                                     kind="http", status=status)
        if status == 200:
            signer = _verify(data, signature, signers_text, ssh_keygen, who, release)
    files = {}
    for path in paths:
        entry = _entry(manifest["files"], path)
        if entry is None:
            raise ServedReleaseError("%s serves release %s, which has no file %s: stage a release that holds it, "
                                     "or ask for a path this one holds" % (who, release, path), kind="missing", path=path)
        files[path] = _digest(entry, path, who, release)
    locks = {}
    sets = manifest.get("sets") if isinstance(manifest.get("sets"), dict) else {}
    for name, wheel_set in sorted(sets.items()):
        lock = wheel_set.get("lock") if isinstance(wheel_set, dict) else None
        entry = _entry(manifest["files"], lock) if lock else None
        if entry is None:
            raise ServedReleaseError("%s serves release %s whose wheel set %s has no lock file in its manifest" % (
                who, release, name), kind="manifest")
        locks[name] = _digest(entry, lock, who, release)["sha256"]
    models = [dict((key, model.get(key)) for key in ("repo_id", "repo_type", "revision", "commit"))
              for model in manifest.get("models") or [] if isinstance(model, dict)]
    return {"url": redact_url(base), "release": release, "manifest_sha256": manifest_sha256, "signer": signer,
            "files": files, "checksums": dict((path, "sha256:" + entry["sha256"]) for path, entry in files.items()),
            "locks": locks, "models": models}


__all__ = ["ServedReleaseError", "allowed_signers_text", "fetch"]
