# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release that crosses the air gap, and its verification: the manifest format, the OpenSSH signature over it,
and the check of every file against it.

Standard library and ``ssh-keygen`` only, and no import of the collection: the same file is the module_utils the
modules use and a command a person runs on the carried disk before plugging it into anything:

    python3 _release_verify.py /media/usb/release-2026-12 --allowed-signers allowed_signers [--base DIR]

A release directory holds ``manifest.json`` (every other file with its path, size and sha256, and what the release
is), ``manifest.json.sig`` (``ssh-keygen -Y sign`` in the namespace NAMESPACE) and ``SHA256SUMS`` (for
``sha256sum -c``); everything else is listed in the manifest. A delta carries only the files its base lacks and
names the base by its manifest's sha256; its manifest still lists every file of the whole release.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import hashlib
import json
import os
import re
import stat
import subprocess
import sys

FORMAT = "codex.offline_ml release"
SCHEMA = 1
NAMESPACE = "codex.offline_ml-release"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
SUMS = "SHA256SUMS"
# the files of a release that its manifest does not list (the manifest itself, its signature, the sums over both)
UNLISTED = (MANIFEST, SIGNATURE, SUMS)
RELEASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024


# Not an _errors.OperatorError: this file imports nothing of the collection, so it also runs alone on the carried
# disk (see above); the modules report it with str().
class ReleaseError(Exception):
    """A release that cannot be read at all (the verdict's problems say what is wrong with a readable one)."""


def sha256_fd(fd):
    digest = hashlib.sha256()
    with os.fdopen(os.dup(fd), "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_regular(path):
    """An fd of PATH opened read-only without following a link; ReleaseError unless it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ReleaseError("%s: %s" % (path, "a symbolic link" if exc.errno == 40 else exc.strerror or exc))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ReleaseError("%s: not a regular file" % path)
    return fd


def file_digest(path):
    """(size, sha256) of the regular file PATH, read without following a link."""
    fd = open_regular(path)
    try:
        return os.fstat(fd).st_size, sha256_fd(fd)
    finally:
        os.close(fd)


def read_manifest_file(path):
    """(manifest dict, its bytes' sha256) of the manifest file PATH; ReleaseError naming what is wrong."""
    fd = open_regular(path)
    try:
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read()
    finally:
        os.close(fd)
    return parse_manifest(data, path)


def parse_manifest(data, where):
    """(manifest dict, sha256 of DATA) of a manifest's bytes DATA read from WHERE (a path or a URL, as the
    messages name it); ReleaseError naming what is wrong."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReleaseError("%s is not JSON: %s" % (where, exc))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ReleaseError("%s is not a release manifest of codex.offline_ml (no format %r): stage releases with "
                           "playbooks/stage.yml" % (where, FORMAT))
    if manifest.get("schema") != SCHEMA:
        raise ReleaseError("%s has schema %r; this collection reads schema %d" % (
            where, manifest.get("schema"), SCHEMA))
    if not isinstance(manifest.get("files"), list) or not RELEASE_ID_RE.match(str(manifest.get("release", ""))):
        raise ReleaseError("%s has no release id or no file list" % where)
    return manifest, hashlib.sha256(data).hexdigest()


def read_manifest(release_dir):
    """(manifest dict, its bytes' sha256) of the release directory RELEASE_DIR."""
    return read_manifest_file(os.path.join(release_dir, MANIFEST))


def safe_path(path):
    """Whether a manifest path stays inside the release: relative, no '..', no empty or '.' part."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def sums_text(manifest, manifest_sha256):
    """SHA256SUMS of a release: every carried file and the manifest itself, sorted by path."""
    lines = ["%s  %s" % (f["sha256"], f["path"]) for f in manifest["files"] if f.get("carried", True)]
    lines.append("%s  %s" % (manifest_sha256, MANIFEST))
    return "".join(line + "\n" for line in sorted(lines, key=lambda line: line[66:]))


def _ssh_keygen(ssh_keygen, args, stdin_data=None, timeout=60):
    try:
        proc = subprocess.run([ssh_keygen] + args, input=stdin_data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", "%s cannot run: %s" % (ssh_keygen, exc)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def verify_signature(release_dir, allowed_signers, ssh_keygen="ssh-keygen"):
    """(signer principal, None) when manifest.json.sig is a good signature of manifest.json in NAMESPACE by a key of
    ALLOWED_SIGNERS; (None, the reason) otherwise."""
    signature = os.path.join(release_dir, SIGNATURE)
    try:
        os.close(open_regular(signature))
        os.close(open_regular(allowed_signers))
    except ReleaseError as exc:
        return None, str(exc)
    with open(os.path.join(release_dir, MANIFEST), "rb") as handle:
        data = handle.read()
    code, out, err = _ssh_keygen(ssh_keygen, ["-Y", "find-principals", "-s", signature, "-f", allowed_signers])
    principals = [line.strip() for line in out.splitlines() if line.strip()]
    if code != 0 or not principals:
        return None, ("%s: signed by a key that is not in %s (ssh-keygen: %s)" % (
            SIGNATURE, allowed_signers, (err or out).strip() or "no principal matches"))
    code, out, err = _ssh_keygen(ssh_keygen, ["-Y", "verify", "-f", allowed_signers, "-I", principals[0], "-n",
                                              NAMESPACE, "-s", signature], stdin_data=data)
    if code != 0:
        return None, "%s: not a good signature of %s in namespace %s (ssh-keygen: %s)" % (
            SIGNATURE, MANIFEST, NAMESPACE, (err or out).strip())
    return principals[0], None


def _walk(release_dir, problems):
    """The regular files under RELEASE_DIR (relative paths); anything else (a link, a device, a FIFO) is a
    problem. Links are never followed."""
    found = set()
    for top, dirs, files in os.walk(release_dir, followlinks=False):
        for name in sorted(dirs + files):
            path = os.path.join(top, name)
            rel = os.path.relpath(path, release_dir)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                problems.append("%s: a symbolic link (a release holds regular files and directories only)" % rel)
                if name in dirs:
                    dirs.remove(name)
            elif stat.S_ISREG(mode):
                found.add(rel)
            elif not stat.S_ISDIR(mode):
                problems.append("%s: not a regular file (a device, FIFO or socket)" % rel)
    return found


def verify(release_dir, allowed_signers=None, base_dir=None, allow_unsigned=False, ssh_keygen="ssh-keygen",
           need_base=True, complete=False):
    """The verdict on RELEASE_DIR: {'ok', 'release', 'manifest_sha256', 'signed', 'signer', 'base', 'files',
    'carried', 'bytes', 'carried_bytes', 'problems'}; each problem names its file. NEED_BASE False checks a
    delta without its base (the staging side's own check: the base is on the other side of the gap). COMPLETE: a
    release as a mirror host's store holds it, a delta's files from its base in place beside the carried ones."""
    verdict = {"ok": False, "release": None, "manifest_sha256": None, "signed": False, "signer": None, "base": None,
               "files": 0, "carried": 0, "bytes": 0, "carried_bytes": 0, "problems": []}
    problems = verdict["problems"]
    if os.path.islink(release_dir) or not os.path.isdir(release_dir):
        problems.append("%s: not a directory (a link to one is refused too)" % release_dir)
        return verdict
    try:
        manifest, digest = read_manifest(release_dir)
    except ReleaseError as exc:
        problems.append(str(exc))
        return verdict
    verdict.update(release=manifest["release"], manifest_sha256=digest, signed=bool(manifest.get("signed")),
                   base=manifest.get("base"))
    present = _walk(release_dir, problems)
    if manifest.get("signed"):
        if not allowed_signers:
            problems.append("%s: signed, but no allowed signers were given to check it against" % SIGNATURE)
        else:
            verdict["signer"], why = verify_signature(release_dir, allowed_signers, ssh_keygen)
            if why:
                problems.append(why)
    elif not allow_unsigned:
        problems.append("%s: the release is unsigned (staged with unsigned: true); refused unless unsigned releases "
                        "are allowed explicitly" % MANIFEST)
    base = manifest.get("base")
    base_ok = False
    if base and need_base and not complete:
        if not base_dir:
            problems.append("the release is a delta over release %s (manifest sha256 %s): give its base to verify it"
                            % (base.get("release"), base.get("manifest_sha256")))
        else:
            try:
                base_manifest, base_digest = read_manifest(base_dir)
                if base_digest != base.get("manifest_sha256"):
                    problems.append("base %s is release %s with manifest sha256 %s; this delta's base is release %s "
                                    "with manifest sha256 %s" % (base_dir, base_manifest["release"], base_digest,
                                                                 base.get("release"), base.get("manifest_sha256")))
                else:
                    base_ok = True
            except ReleaseError as exc:
                problems.append("base: %s" % exc)
    listed = set()
    for entry in manifest["files"]:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not safe_path(path) or path in UNLISTED:
            problems.append("%s: the manifest names a path that leaves the release or is reserved: %r" % (MANIFEST,
                                                                                                          path))
            continue
        if path in listed or not _HEX64.match(str(entry.get("sha256"))) or not isinstance(entry.get("size"), int):
            problems.append("%s: the manifest's entry for %s is duplicated or lacks its size and sha256" % (
                MANIFEST, path))
            continue
        listed.add(path)
        verdict["files"] += 1
        verdict["bytes"] += entry["size"]
        carried = entry.get("carried", True)
        where = release_dir if carried or complete else base_dir
        if carried:
            verdict["carried"] += 1
            verdict["carried_bytes"] += entry["size"]
        elif complete:
            pass
        elif path in present:
            problems.append("%s: present, but the manifest says the base release carries it" % path)
            continue
        elif not base_ok:
            continue
        try:
            size, digest_ = file_digest(os.path.join(where, path))
        except ReleaseError:
            problems.append("%s: missing%s" % (path, "" if carried or complete else " from the base %s" % base_dir))
            continue
        if size != entry["size"] or digest_ != entry["sha256"]:
            problems.append("%s: %d bytes, sha256 %s; the manifest says %d bytes, sha256 %s%s" % (
                path, size, digest_, entry["size"], entry["sha256"], "" if carried or complete else " (in the base)"))
    for rel in sorted(present - listed - set(UNLISTED)):
        problems.append("%s: not in the manifest" % rel)
    try:
        fd = open_regular(os.path.join(release_dir, SUMS))
        with os.fdopen(fd, "rb") as handle:
            if handle.read().decode("utf-8", "replace") != sums_text(manifest, digest):
                problems.append("%s: does not match the manifest" % SUMS)
    except ReleaseError as exc:
        problems.append(str(exc))
    verdict["ok"] = not problems
    return verdict


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verify a codex.offline_ml release (signature, every file) before "
                                                 "it is served.")
    parser.add_argument("release", help="the release directory (as carried)")
    parser.add_argument("--allowed-signers", help="OpenSSH allowed_signers file of the keys that may sign releases")
    parser.add_argument("--base", help="for a delta: the directory of the release it is a delta over")
    parser.add_argument("--allow-unsigned", action="store_true", help="accept a release staged with unsigned: true")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    args = parser.parse_args(argv)
    verdict = verify(args.release, args.allowed_signers, args.base, args.allow_unsigned)
    lines = []
    if args.json:
        lines.append(json.dumps(verdict, indent=2, sort_keys=True))
    else:
        lines.append("release %s: %s" % (verdict["release"] or args.release, "OK" if verdict["ok"] else "REFUSED"))
        if verdict["manifest_sha256"]:
            lines.append("  manifest sha256 %s, %s, %d files (%d carried, %.1f MB)" % (
                verdict["manifest_sha256"], "signed by %s" % verdict["signer"] if verdict["signer"] else
                "signature not verified" if verdict["signed"] else "unsigned", verdict["files"], verdict["carried"],
                verdict["carried_bytes"] / 1e6))
        lines += ["  - %s" % problem for problem in verdict["problems"]]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
