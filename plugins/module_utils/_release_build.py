# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Assembling the release that crosses the air gap (connected side): the staged wheels, locks and Hugging Face
bundles linked into one release directory with its manifest, SHA256SUMS, CycloneDX SBOM and OpenSSH signature; a
delta over a base release that carries only what the base lacks; and, on request, one tar of it.

The release is built beside its final place (``.<id>.partial``), checked with the same verifier the other side
runs, then published by rename; a run killed midway leaves no release, and the next run starts the partial over.
The format and the verifier are _release_verify's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils._release_verify import (
    FORMAT,
    MANIFEST,
    NAMESPACE,
    RELEASE_ID_RE,
    SCHEMA,
    SIGNATURE,
    SUMS,
    ReleaseError,
    file_digest,
    read_manifest,
    read_manifest_file,
    sums_text,
    verify,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._sbom import build_sbom, validate_sbom, wheel_license
from ansible_collections.codex.offline_ml.plugins.module_utils._stage_preflight import check_room, release_report

SBOM = "sbom.cdx.json"
# who may sign (allowed_signers_text): an OpenSSH public key line, and a name that cannot start a line of its own
KEY_RE = re.compile(r'^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|'
                    r'sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/=]+$')
PRINCIPAL_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9@._+-]{0,127}$')
PREFLIGHT = "preflight.json"
SIGNER = "stager"


def check_inputs(release_id, signing_key, unsigned, base, ssh_keygen="ssh-keygen", env=None, prefix=""):
    """Everything about the release that can be wrong before anything is staged: the id, the key (it must sign), the
    base manifest (one of ours). Messages name the options with PREFIX in front (the playbook's variables).
    Returns the base manifest and its sha256 (None, None without a base)."""
    names = dict((name, prefix + name) for name in ("release_id", "signing_key", "unsigned", "base"))
    if not RELEASE_ID_RE.match(release_id or ""):
        raise ReleaseError("%s %r is not a release id: letters, digits, '.', '_' and '-', at most 64, starting with a "
                           "letter or digit (for example 2026-12-04)" % (names["release_id"], release_id))
    if unsigned and signing_key:
        raise ReleaseError("%(signing_key)s and %(unsigned)s are both given: sign the release, or stage it unsigned on "
                           "purpose" % names)
    if not unsigned:
        if not signing_key:
            raise ReleaseError("no %(signing_key)s: give an OpenSSH private key file, or the public key file (.pub) of "
                               "a key loaded in ssh-agent; or set %(unsigned)s: true (the manifest records it and the "
                               "mirror refuses it unless told otherwise)" % names)
        scratch = tempfile.mkdtemp(prefix="codex-sign-check-")
        try:
            probe = os.path.join(scratch, "probe")
            with open(probe, "w") as handle:
                handle.write("codex.offline_ml signing check\n")
            sign_file(probe, signing_key, ssh_keygen, env, option=names["signing_key"])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if not base:
        return None, None
    path = os.path.join(base, MANIFEST) if os.path.isdir(base) else base
    try:
        return read_manifest_file(path)
    except ReleaseError as exc:
        raise ReleaseError("%s %s: %s" % (names["base"], base, exc))


def sign_file(path, signing_key, ssh_keygen="ssh-keygen", env=None, timeout=120, option="signing_key"):
    """PATH.sig by ssh-keygen -Y sign in our namespace. The key is a path (a private key, or a public key whose
    private half ssh-agent holds: SSH_AUTH_SOCK in ENV); no secret is ever on a command line."""
    if not os.path.isfile(signing_key):
        raise ReleaseError("%s %s is not a file" % (option, signing_key))
    run_env = dict(env if env is not None else os.environ)
    for name in ("DISPLAY", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"):
        run_env.pop(name, None)    # a key with a passphrase must fail, not wait for a prompt nobody sees
    try:
        proc = subprocess.run([ssh_keygen, "-Y", "sign", "-f", signing_key, "-n", NAMESPACE, path],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=run_env,
                              timeout=timeout, check=False, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReleaseError("%s %s cannot sign: %s" % (option, signing_key, exc))
    if proc.returncode != 0 or not os.path.isfile(path + ".sig"):
        raise ReleaseError("%s %s cannot sign (ssh-keygen: %s): give a private key without a passphrase, or the "
                           "public key (.pub) of a key loaded in ssh-agent (SSH_AUTH_SOCK)" % (
                               option, signing_key, proc.stderr.decode("utf-8", "replace").strip() or proc.returncode))


def public_key(signing_key, ssh_keygen="ssh-keygen"):
    """The public key line of SIGNING_KEY (the .pub itself, or derived from the private key)."""
    with open(signing_key) as handle:
        text = handle.read()
    if text.startswith(("ssh-", "ecdsa-", "sk-")):
        return " ".join(text.split()[:2])
    proc = subprocess.run([ssh_keygen, "-y", "-f", signing_key], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False, timeout=60)
    return " ".join(proc.stdout.decode().split()[:2])


def allowed_signers_line(principal, key_line):
    """A line of an OpenSSH allowed_signers file that lets KEY_LINE sign releases as PRINCIPAL."""
    return '%s namespaces="%s" %s\n' % (principal, NAMESPACE, key_line)


def allowed_signers_text(signers, option):
    """The allowed_signers file of SIGNERS [{principal, key}] (the mirror host's and a node's check of a release), each
    key allowed to sign releases only. A principal or key that could add a line of its own is refused, naming OPTION
    (OperatorError, kind invalid)."""
    if not isinstance(signers, list) or not all(
            isinstance(e, dict) and PRINCIPAL_RE.match(str(e.get("principal", ""))) and
            KEY_RE.match(" ".join(str(e.get("key", "")).split()[:2])) for e in signers):
        raise OperatorError(
            '%s must be a list of {principal: NAME, key: "ssh-ed25519 AAAA..."} (the public keys that may sign '
            'releases; a principal is letters, digits and @ . _ + -)' % option, kind="invalid")
    return "".join(allowed_signers_line(e["principal"], " ".join(str(e["key"]).split()[:2])) for e in signers)


def _model_files(bundle_manifest, repo):
    """The files of REPO's commit in a bundle manifest: [{'path', 'sha256', 'size'}] (links resolved to blobs)."""
    blobs = dict((e["path"], e) for e in bundle_manifest["files"] if e.get("type") == "file")
    prefix = "%s/snapshots/%s/" % (repo["folder"], repo["commit"])
    files = []
    for entry in bundle_manifest["files"]:
        if not entry["path"].startswith(prefix):
            continue
        if entry.get("type") == "symlink":
            blob = blobs.get(os.path.normpath(os.path.join(os.path.dirname(entry["path"]), entry["target"])))
        else:
            blob = entry
        if blob:
            files.append({"path": entry["path"][len(prefix):], "sha256": blob["sha256"], "size": blob.get("size")})
    return sorted(files, key=lambda f: f["path"])


class _Item(object):
    def __init__(self, path, source, kind, **extra):
        self.path, self.source, self.kind, self.extra = path, source, kind, extra


def collect(stage_dir, bundles):
    """What a release holds, from a wheel staging directory (wheel_stage's dest) and HF bundle files: the items,
    the staging manifest and the models."""
    try:
        with open(os.path.join(stage_dir, "manifest.json")) as handle:
            staged = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ReleaseError("stage_dir %s holds no staging manifest.json (run wheel_stage there first): %s" % (
            stage_dir, exc))
    items = []
    for entry in staged.get("files", []):
        items.append(_Item("wheels/" + entry["filename"], os.path.join(stage_dir, "wheels", entry["filename"]), "wheel",
                           name=entry["name"], version=entry["version"], index=entry.get("index"),
                           filename=entry["filename"]))
    for set_name in sorted(staged.get("sets", {})):
        items.append(_Item("locks/%s.txt" % set_name, os.path.join(stage_dir, "locks", "%s.txt" % set_name), "lock"))
    models = []
    for bundle in bundles:
        manifest_path = bundle + ".manifest.json"
        try:
            with open(manifest_path) as handle:
                bundle_manifest = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ReleaseError("bundle %s has no readable manifest %s: %s" % (bundle, manifest_path, exc))
        name = os.path.basename(bundle)
        items.append(_Item("hf/" + name, bundle, "hf_bundle"))
        items.append(_Item("hf/" + name + ".manifest.json", manifest_path, "hf_bundle_manifest"))
        for repo in bundle_manifest.get("repos", []):
            models.append({"repo_id": repo["repo_id"], "repo_type": repo.get("repo_type", "model"),
                           "revision": repo.get("revision"), "commit": repo["commit"], "bundle": "hf/" + name,
                           "files": _model_files(bundle_manifest, repo)})
    return items, staged, models


def _set_python(staged, name):
    return staged.get("set_python_versions", {}).get(name, staged.get("python_version"))


def _targets(staged):
    """The targets of the release: [{'python', 'platforms', 'sets'}], one per Python the sets are staged for."""
    pythons = {}
    for name in sorted(staged.get("sets", {})):
        pythons.setdefault(_set_python(staged, name), []).append(name)
    return [{"python": python, "platforms": staged.get("platforms", []), "sets": names}
            for python, names in sorted(pythons.items())]


def _place(source, target):
    """Hard-link SOURCE at TARGET (the staging cache and the release on one file system: no copy of GBs), else copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    os.chmod(target, 0o644)


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o644)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_release(stage_dir, bundles, releases_dir, release_id, tool_version, signing_key=None, unsigned=False,
                  base=None, preflight=None, ssh_keygen="ssh-keygen", env=None, now=None, prefix=""):
    """Build RELEASES_DIR/RELEASE_ID; returns (changed, summary). An existing release of that id is left alone when
    it holds the same content, and refused when it does not. PREFIX: see check_inputs."""
    base_manifest, base_sha = check_inputs(release_id, signing_key, unsigned, base, ssh_keygen, env, prefix)
    items, staged, models = collect(stage_dir, bundles)
    final = os.path.join(releases_dir, release_id)
    partial = os.path.join(releases_dir, ".%s.partial" % release_id)
    created = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    existing = None
    if os.path.lexists(final):
        try:
            existing = read_manifest(final)[0]
            created = existing.get("created", created)
        except ReleaseError as exc:
            raise ReleaseError("%srelease_id %s: %s exists and is not a release (%s): give a new %srelease_id" % (
                prefix, release_id, final, exc, prefix))
    in_base = set(f["sha256"] for f in base_manifest["files"]) if base_manifest else set()
    os.makedirs(releases_dir, exist_ok=True)
    if os.stat(releases_dir).st_dev != os.stat(stage_dir).st_dev:
        # another file system: the files are copied, not linked (check_room walks up to what exists)
        check_room(releases_dir, sum(os.path.getsize(i.source) for i in items if os.path.isfile(i.source)),
                   what="copying the release there needs about %.1f MB", name="releases_dir")
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    try:
        entries = []
        for item in items:
            try:
                size, digest = file_digest(item.source)
            except ReleaseError as exc:
                raise ReleaseError("the staged file for %s cannot be read: %s" % (item.path, exc))
            entry = {"path": item.path, "size": size, "sha256": digest, "kind": item.kind,
                     "carried": digest not in in_base}
            if item.kind == "wheel":
                entry["index"] = item.extra["index"]
            entries.append((entry, item))
        wheels = [dict(path=e["path"], filename=i.extra["filename"], name=i.extra["name"], version=i.extra["version"],
                       sha256=e["sha256"], size=e["size"], index=i.extra["index"], license=wheel_license(i.source))
                  for e, i in entries if i.kind == "wheel"]
        generated = {SBOM: build_sbom(release_id, wheels, models, tool_version,
                                      timestamp=datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(
                                          tzinfo=datetime.timezone.utc)) + "\n"}
        problems = validate_sbom(generated[SBOM])
        if problems:
            raise ReleaseError("the SBOM does not validate against CycloneDX 1.6: %s" % "; ".join(problems[:5]))
        if preflight is not None:
            generated[PREFLIGHT] = json.dumps(release_report(preflight), indent=2, sort_keys=True) + "\n"
        for name, text in sorted(generated.items()):
            _write(os.path.join(partial, name), text)
            size, digest = file_digest(os.path.join(partial, name))
            entries.append(({"path": name, "size": size, "sha256": digest, "kind": name.split(".")[0],
                             "carried": digest not in in_base}, None))
        for entry, item in entries:
            if item is not None and entry["carried"]:
                target = os.path.join(partial, entry["path"])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                _place(item.source, target)
            elif item is None and not entry["carried"]:
                os.unlink(os.path.join(partial, entry["path"]))
        manifest = {
            "format": FORMAT, "schema": SCHEMA, "release": release_id, "created": created,
            "tool": {"name": "codex.offline_ml", "version": tool_version}, "signed": not unsigned,
            "base": {"release": base_manifest["release"], "manifest_sha256": base_sha} if base_manifest else None,
            "python_version": staged.get("python_version"), "platforms": staged.get("platforms", []),
            "set_python_versions": staged.get("set_python_versions", {}), "installer": staged.get("installer", []),
            "sets": dict((name, {"pins": pins, "lock": "locks/%s.txt" % name, "python": _set_python(staged, name)})
                         for name, pins in sorted(staged.get("sets", {}).items())),
            "targets": _targets(staged),
            "indexes": staged.get("indexes", {}), "models": models,
            "files": sorted((e for e, _i in entries), key=lambda e: e["path"]),
        }
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        _write(os.path.join(partial, MANIFEST), text)
        manifest_sha = file_digest(os.path.join(partial, MANIFEST))[1]
        _write(os.path.join(partial, SUMS), sums_text(manifest, manifest_sha))
        if existing is not None:
            old_sha = file_digest(os.path.join(final, MANIFEST))[1]
            if old_sha != manifest_sha:
                raise ReleaseError("%srelease_id %s: %s exists with other content (manifest sha256 %s, this run's %s): "
                                   "give a new %srelease_id" % (prefix, release_id, final, old_sha, manifest_sha, prefix))
            return False, summary(final, manifest, manifest_sha)
        scratch = tempfile.mkdtemp(prefix="codex-release-check-")
        try:
            allowed = None
            if not unsigned:
                sign_file(os.path.join(partial, MANIFEST), signing_key, ssh_keygen, env)
                os.chmod(os.path.join(partial, SIGNATURE), 0o644)
                allowed = os.path.join(scratch, "allowed_signers")
                _write(allowed, allowed_signers_line(SIGNER, public_key(signing_key, ssh_keygen)))
            verdict = verify(partial, allowed_signers=allowed, allow_unsigned=unsigned, ssh_keygen=ssh_keygen,
                             need_base=False)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if verdict["problems"]:
            raise ReleaseError("the release built in %s does not verify: %s" % (partial, "; ".join(verdict["problems"])))
        for top, _dirs, _files in os.walk(partial):
            _fsync_dir(top)
        os.rename(partial, final)
        _fsync_dir(releases_dir)
        return True, summary(final, manifest, manifest_sha)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def summary(path, manifest, manifest_sha):
    carried = [f for f in manifest["files"] if f["carried"]]
    return {"release": manifest["release"], "path": path, "manifest_sha256": manifest_sha,
            "signed": manifest["signed"], "base": manifest["base"], "files": len(manifest["files"]),
            "carried": len(carried), "bytes": sum(f["size"] for f in manifest["files"]),
            "carried_bytes": sum(f["size"] for f in carried),
            "models": ["%s@%s" % (m["repo_id"], m["commit"]) for m in manifest["models"]]}


def write_tar(release_dir, tar_path):
    """One tar of the release (deterministic: sorted, owner 0, fixed mtime), written beside and renamed into place;
    returns whether it changed."""
    partial = tar_path + ".partial"
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        top = os.path.basename(release_dir.rstrip("/"))
        paths = []
        for root, dirs, files in os.walk(release_dir):
            dirs.sort()
            for name in sorted(dirs + files):
                paths.append(os.path.join(root, name))
        for path in [release_dir] + sorted(paths):
            info = archive.gettarinfo(path, arcname=os.path.join(top, os.path.relpath(path, release_dir)).rstrip("/."))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isreg():
                with open(path, "rb") as handle:
                    archive.addfile(info, handle)
            else:
                archive.addfile(info)
    if os.path.isfile(tar_path) and file_digest(tar_path) == file_digest(partial):
        os.unlink(partial)
        return False
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    _durable.rename(partial, tar_path)
    return True
