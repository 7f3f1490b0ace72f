# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a new release of a managed venv re-uses: the live release's verified files, and the uv cache.

A release that changes one pin should cost that pin, not the whole closure again. Two things make that so:

* **The snapshot.** When a release has passed its health check, ``.codex-files.json`` in it records every file
  (size, mode, inode, modification and change time: see _identity) and link. The next build makes a fresh venv
  and copies into it the files of each distribution the new lock keeps as it was (same version, same wheel
  hashes): the files its RECORD lists and the ``.pyc`` files of its sources (modification times kept, so the
  byte-compile skips them), all checked against the snapshot before the first is copied. It rewrites the
  interpreter path in the copied ``bin/`` scripts (and their lines in RECORD), and ``uv pip sync`` installs what
  the lock changes. A distribution that changes is not copied at all: none of its files, so no ``.pyc`` of an old
  source can outlive it (a new source of the same size and time would otherwise pass for compiled). A single file
  to copy that differs from the snapshot (a damaged or hand-edited release, a stub torch installed over it)
  refuses the re-use as a whole: the build starts from nothing, as a repair must.
* **The uv cache** (``.uv-cache`` in the releases directory, ``0700`` root): the wheels uv unpacked, on the same
  file system as the releases. A rebuild from nothing (a repair) takes them from there instead of the mirror.
  A build works on a linked copy of it and the copy replaces it only when the build succeeded (stage_cache), so
  a failed or killed build leaves the cache as it was.

Releases are copies, never hard links of each other or of the cache: a file changed in place in one release (an
editor that writes in place, a ``>`` redirection) cannot change another, so a rollback always returns to the
bytes that passed their health check. Measured (docs/benchmarks.md): copying torch's closure costs a few seconds,
hard links a fraction of a second; the copy is what keeps rollback honest.

Private to the collection. Standard library and _wheels (the PEP 503 name) only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable, _faults
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import normalize_name
from ansible_collections.codex.offline_ml.plugins.module_utils._venv_releases import MARKER, read_marker

SNAPSHOT = ".codex-files.json"
CACHE = ".uv-cache"
BUILD_CACHE = CACHE + ".build"


class ReuseRefused(Exception):
    """The live release cannot be re-used (the build starts from nothing); msg says why."""

    def __init__(self, msg):
        super(ReuseRefused, self).__init__(msg)
        self.msg = msg


class CacheError(OperatorError):
    """uv's cache of the releases cannot be used or replaced."""


# ---------------------------------------------------------------------------------------------------- the cache
def _check_cache(path):
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise CacheError("the uv cache %s is not a directory of uid %d with mode 0700 (it is %s, uid %d, mode %04o). "
                         "Fix: remove it; the next build makes it again" % (
                             path, os.geteuid(), "a directory" if stat.S_ISDIR(st.st_mode) else "not a directory",
                             st.st_uid, stat.S_IMODE(st.st_mode)))


def stage_cache(rdir):
    """The cache a build uses: ``.uv-cache.build``, a tree of hard links to the files of ``.uv-cache`` (uv never
    writes into a cache file: it writes a new one and renames it, so the links cannot change the cache). What the
    build adds goes there only; commit_cache makes it the cache when the build succeeded, discard_cache drops it
    when it failed, so a failed build leaves the cache as it was. Refuses a cache someone else could write (uv
    would install what they put there)."""
    live = os.path.join(rdir, CACHE)
    work = os.path.join(rdir, BUILD_CACHE)
    try:
        if os.path.lexists(live):
            _check_cache(live)
        discard_cache(rdir)   # what a killed build left
        os.mkdir(work, 0o700)
        if os.path.isdir(live):
            for root, dirs, files in os.walk(live):
                target = os.path.join(work, os.path.relpath(root, live))
                for name in dirs:
                    full = os.path.join(root, name)
                    if os.path.islink(full):
                        os.symlink(os.readlink(full), os.path.join(target, name))
                    else:
                        os.mkdir(os.path.join(target, name), stat.S_IMODE(os.lstat(full).st_mode))
                for name in files:
                    full = os.path.join(root, name)
                    if os.path.islink(full):
                        os.symlink(os.readlink(full), os.path.join(target, name))
                    else:
                        os.link(full, os.path.join(target, name))
    except OSError as exc:
        discard_cache(rdir)
        raise CacheError("cannot prepare the uv cache %s for the build: %s" % (work, exc))
    return work


def commit_cache(rdir):
    """The build succeeded: its cache becomes the cache."""
    live = os.path.join(rdir, CACHE)
    old = os.path.join(rdir, CACHE + ".old")
    _faults.point("venv.cache_commit")
    if os.path.lexists(old):
        shutil.rmtree(old)
    if os.path.lexists(live):
        _durable.rename(live, old)
    _durable.rename(os.path.join(rdir, BUILD_CACHE), live)
    shutil.rmtree(old, ignore_errors=True)


def discard_cache(rdir):
    """Drop a build's cache (a failed or killed build) and what a commit cut short left."""
    for name in (BUILD_CACHE, CACHE + ".old"):
        path = os.path.join(rdir, name)
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)


def cache_size(path):
    """Bytes of the regular files under PATH (each inode once), 0 when there is no cache."""
    seen = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def prune_cache(path, keep, uv=None, timeout=300):
    """Forget the cached wheels no kept release uses, then let uv remove what nothing points at any more.

    KEEP is a set of (normalized name, version). uv points at each unpacked wheel from one small file per version
    (``wheels-v*/<index>/<name>/<version>-<tag>.*``, uv pinned by the lock); a pointer of another version goes, and
    ``uv cache prune`` removes the archives left without a pointer and any temporary directory a killed build left.
    Returns the pointer files removed."""
    removed = []
    if not os.path.isdir(path):
        return removed
    wanted = set((normalize_name(n), v) for n, v in keep)
    for top in sorted(os.listdir(path)):
        if not top.startswith("wheels-v"):
            continue
        for root, dirs, files in os.walk(os.path.join(path, top)):
            # <kind>/<index or url hash>/<name>: the only level whose entries are versions.
            if len(os.path.relpath(root, os.path.join(path, top)).split(os.sep)) != 3:
                continue
            name = normalize_name(os.path.basename(root))
            # The pointer files and the link to the unpacked wheel (a directory entry) of each version.
            for entry in sorted(files + dirs):
                full = os.path.join(root, entry)
                if "-" not in entry or (name, entry.split("-", 1)[0]) in wanted:
                    continue
                if os.path.islink(full) or not os.path.isdir(full):
                    os.unlink(full)
                else:
                    shutil.rmtree(full)
                    dirs.remove(entry)
                removed.append(os.path.relpath(full, path))
    _faults.point("venv.cache_prune")
    if uv and os.access(uv, os.X_OK):
        proc = subprocess.run([uv, "cache", "prune", "--cache-dir", path, "--no-config", "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise CacheError("uv cache prune failed (exit %s): %s" % (
                proc.returncode, proc.stdout.decode("utf-8", "replace").strip()[-2000:]))
    return sorted(removed)


def _wanted_of(release):
    wanted = (read_marker(release) or {}).get("wanted") or {}
    return set(wanted.items()) if isinstance(wanted, dict) else set()


def cache_state(rdir, releases, uv=None, prune=False, timeout=300):
    """{path, bytes, pruned} of the uv cache in the releases directory RDIR, None when there is none. With PRUNE,
    first forget the versions none of RELEASES (the live and the kept ones) holds (see prune_cache)."""
    path = os.path.join(rdir, CACHE)
    if not os.path.isdir(path):
        return None
    pruned = []
    if prune:
        keep = set()
        for release in releases:
            keep |= _wanted_of(release)
        pruned = prune_cache(path, keep, uv=uv, timeout=timeout)
    return {"path": path, "bytes": cache_size(path), "pruned": pruned}


# ------------------------------------------------------------------------------------------------- the snapshot
def _identity(st):
    """What a file's content and mode are checked by: a write, a truncation, a chmod, a rename over it or a new file
    in its place changes at least one of these, and no program can set the change time back (git's index and rsync
    trust the same). Reading the 900 MB of torch's closure to hash it again would cost more than the copy."""
    return [st.st_size, stat.S_IMODE(st.st_mode), st.st_ino, st.st_mtime_ns, st.st_ctime_ns]


def snapshot(release):
    """{"files": {rel: [size, mode, inode, mtime_ns, ctime_ns]}, "links": {rel: target}} of everything under
    RELEASE but the snapshot and the marker."""
    files, links = {}, {}
    for root, dirs, names in os.walk(release):
        for name in sorted(dirs + names):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, release)
            if rel in (SNAPSHOT, MARKER):
                continue
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                links[rel] = os.readlink(full)
            elif stat.S_ISREG(st.st_mode):
                files[rel] = _identity(st)
    return {"schema": 1, "files": files, "links": links}


def write_snapshot(release, data):
    _faults.point("venv.snapshot")
    _durable.write_json(os.path.join(release, SNAPSHOT), data, separators=(",", ":"))


def read_snapshot(release):
    try:
        with open(os.path.join(release, SNAPSHOT)) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != 1 or not isinstance(data.get("files"), dict) \
            or not isinstance(data.get("links", {}), dict):
        return None
    for entry in data["files"].values():
        if not (isinstance(entry, list) and len(entry) == 5 and all(isinstance(n, int) for n in entry)):
            return None
    return data


def _venv_version(release):
    """(home, version) of a venv's pyvenv.cfg: a release of another interpreter is never re-used."""
    out = {}
    try:
        with open(os.path.join(release, "pyvenv.cfg")) as fh:
            for line in fh:
                key, sep, value = line.partition("=")
                if sep:
                    out[key.strip()] = value.strip()
    except OSError:
        return None
    return out.get("home"), out.get("version") or out.get("version_info")


def _record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _fix_records(dst, records, rewritten):
    """Give the rewritten bin/ scripts their new hash and size in the RECORD (among RECORDS, relative paths) that
    lists them: uv reads RECORD to remove a distribution; the next re-use checks files against the snapshot."""
    if not rewritten:
        return
    scripts = set(os.path.basename(rel) for rel in rewritten)
    for rel_record in records:
        record = os.path.join(dst, rel_record)
        site = os.path.dirname(os.path.dirname(record))
        with open(record, newline="") as fh:
            rows = list(csv.reader(fh))
        changed = False
        for row in rows:
            if not row or os.path.basename(row[0]) not in scripts:
                continue
            rel = os.path.relpath(os.path.normpath(os.path.join(site, row[0])), dst)
            if rel in rewritten:
                row[1:3] = [_record_hash(rewritten[rel]), str(len(rewritten[rel]))]
                changed = True
        if changed:
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows)
            tmp = record + ".tmp"
            with open(tmp, "w", newline="") as fh:
                fh.write(out.getvalue())
            os.rename(tmp, record)


def _check(src, rel, want):
    """ReuseRefused unless the file SRC is still what the snapshot recorded (see _identity)."""
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        raise ReuseRefused("%s is missing from the release" % rel)
    if not stat.S_ISREG(st.st_mode):
        raise ReuseRefused("%s is no longer a regular file" % rel)
    if stat.S_IMODE(st.st_mode) != want[1]:
        raise ReuseRefused("%s has mode %04o, not the %04o it had when the release passed its health check" % (
            rel, stat.S_IMODE(st.st_mode), want[1]))
    if _identity(st) != list(want):
        raise ReuseRefused("%s differs from what the release held when it passed its health check" % rel)


def _copy(src, dst, want):
    """A new file DST with SRC's bytes (the kernel copies them), mode and modification time."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fin, open(dst, "xb") as fout:
        _sendfile(fin, fout, want[0])
    os.chmod(dst, want[1])
    os.utime(dst, ns=(want[3], want[3]))


def _sendfile(fin, fout, size):
    offset = 0
    while offset < size:
        sent = os.sendfile(fout.fileno(), fin.fileno(), offset, size - offset)
        if sent == 0:
            raise ReuseRefused("%s ended while it was copied" % fin.name)
        offset += sent


def _dist_name(dist_info):
    return normalize_name(dist_info[:-len(".dist-info")].rsplit("-", 1)[0])


def owned_files(release, files, keep):
    """The files (relative to RELEASE, among the snapshot's FILES) of the distributions named in KEEP: what each
    one's RECORD lists, and the .pyc files of its sources. ReuseRefused for a RECORD entry out of the release."""
    out = set()
    prefix = os.path.normpath(release) + os.sep
    names = set(normalize_name(n) for n in keep)
    by_dir = {}
    for rel in files:
        by_dir.setdefault(os.path.dirname(rel), []).append(os.path.basename(rel))
    for rel in files:
        parts = rel.split(os.sep)
        if len(parts) < 2 or parts[-1] != "RECORD" or not parts[-2].endswith(".dist-info") \
                or _dist_name(parts[-2]) not in names:
            continue
        site = os.path.dirname(os.path.dirname(os.path.join(release, rel)))
        with open(os.path.join(release, rel), newline="") as fh:
            rows = [row for row in csv.reader(fh) if row]
        for row in rows:
            full = os.path.normpath(os.path.join(site, row[0]))
            if not full.startswith(prefix):
                raise ReuseRefused("%s lists %s, out of the release" % (rel, row[0]))
            owned = full[len(prefix):]
            out.add(owned)
            if owned.endswith(".py"):
                cache = os.path.join(os.path.dirname(owned), "__pycache__")
                stem = os.path.basename(owned)[:-3] + "."
                out.update(os.path.join(cache, n) for n in by_dir.get(cache, ())
                           if n.startswith(stem) and n.endswith(".pyc"))
    return out


def clone(src, dst, keep):
    """Copy into DST (a venv just made, nothing installed) the files of release SRC's distributions named in KEEP
    (see owned_files) that DST does not have yet, all checked against SRC's snapshot before the first is copied.
    Returns what it did. Raises ReuseRefused before anything is copied (but an OSError while copying leaves DST
    half-filled: the caller makes it again from nothing either way)."""
    data = read_snapshot(src)
    if data is None:
        raise ReuseRefused("%s has no snapshot of its files (built before re-use existed, or unfinished)" % src)
    if _venv_version(src) != _venv_version(dst) or _venv_version(dst) is None:
        raise ReuseRefused("%s was made by another interpreter (pyvenv.cfg home/version differ)" % src)
    old, new = src.encode(), dst.encode()
    rewritten = {}
    copied = size = 0
    wanted = owned_files(src, data["files"], keep)
    missing = sorted(wanted - set(data["files"]) - set(data.get("links", {})))
    if missing:
        raise ReuseRefused("%s is listed by a RECORD but was not in the release when it passed its health check"
                           % missing[0])
    links = [(rel, target) for rel, target in sorted(data.get("links", {}).items())
             if rel in wanted and not os.path.lexists(os.path.join(dst, rel))]
    for rel, target in links:
        if os.path.isabs(target) or target.startswith(".."):
            raise ReuseRefused("%s is a link out of the release (%s)" % (rel, target))
    todo = [(rel, want) for rel, want in sorted(data["files"].items())
            if rel in wanted and not os.path.lexists(os.path.join(dst, rel))]
    # Every file is checked before the first is copied: a refusal costs a stat per file, not a half copy.
    for rel, want in todo:
        _check(os.path.join(src, rel), rel, want)
    for parent in sorted(set(os.path.dirname(rel) for rel, _x in todo + links)):
        if parent:
            os.makedirs(os.path.join(dst, parent), mode=0o755, exist_ok=True)
    for rel, target in links:
        os.symlink(target, os.path.join(dst, rel))
    # The kernel copies (sendfile releases the GIL): a few threads keep the disk busy while Python opens files.
    half = len(todo) // 2
    for number, part in enumerate((todo[:half], todo[half:])):
        if number:
            _faults.point("venv.reused")
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda item: _copy(os.path.join(src, item[0]), os.path.join(dst, item[0]), item[1]), part))
    for rel, want in todo:
        there = os.path.join(dst, rel)
        if rel.startswith("bin" + os.sep):
            with open(there, "rb") as fh:
                body = fh.read()
            if body.startswith(b"#!") and old in body:
                body = body.replace(old, new)
                with open(there + ".tmp", "xb") as fh:
                    fh.write(body)
                os.chmod(there + ".tmp", want[1])
                os.rename(there + ".tmp", there)
                rewritten[rel] = body
        copied += 1
        size += want[0]
    _fix_records(dst, [rel for rel, _want in todo if os.path.basename(rel) == "RECORD"], rewritten)
    return {"files": copied, "bytes": size, "scripts_rewritten": len(rewritten), "distributions": len(keep)}


__all__ = ["BUILD_CACHE", "CACHE", "CacheError", "ReuseRefused", "SNAPSHOT", "cache_size", "cache_state", "clone",
           "commit_cache", "discard_cache", "owned_files", "prune_cache", "read_snapshot", "snapshot", "stage_cache",
           "write_snapshot"]
