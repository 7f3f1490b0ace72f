# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How a verified release gets into the mirror host's store without trusting where it came from: the store's paths
refused when another user could redirect them, every file copied while its sha256 is computed and compared with the
signed manifest again (a pushed copy, root's own, hard-linked and read back), a delta's other files hard-linked
from its base, and only a whole, checked directory renamed into ``releases/``. _mirror_store decides what to
import and serve.

Private to the collection. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import shutil
import stat
import tempfile

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable
from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError

RELEASES = "releases"
INCOMING = "incoming"
_CHUNK = 1024 * 1024


class MirrorStoreError(OperatorError):
    """A release that is not imported or served, with the reason and the fix."""


def _safe_dir(path, what, above):
    """PATH is a directory of root's that nobody else can write (ABOVE: one above the store, where a link is
    checked through its resolved path and a sticky directory is allowed)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise MirrorStoreError("%s %s cannot be read: %s" % (what, path, exc.strerror), kind="unsafe_path")
    if stat.S_ISLNK(st.st_mode) and above:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise MirrorStoreError("%s %s is not a directory" % (what, path), kind="unsafe_path")
    sticky = above and st.st_mode & stat.S_ISVTX
    if st.st_uid != 0 or (st.st_mode & 0o022 and not sticky):
        raise MirrorStoreError("%s %s belongs to uid %d with mode %04o: the store and every directory above it must "
                               "be root's and writable by root alone" % (what, path, st.st_uid,
                                                                         stat.S_IMODE(st.st_mode)),
                               kind="unsafe_path")


def check_root(root, prefix=""):
    """Refuse a store another user could redirect: ROOT and each directory above it (as written and as resolved)."""
    if not os.path.isabs(root):
        raise MirrorStoreError("%sroot %s is not an absolute path" % (prefix, root), kind="bad_input")
    if os.path.islink(root):
        raise MirrorStoreError("%sroot %s is a symbolic link: name the directory itself" % (prefix, root),
                               kind="unsafe_path")
    seen = set()
    for start in (os.path.abspath(root), os.path.realpath(root)):
        path = os.path.dirname(start)
        while path not in seen:
            seen.add(path)
            _safe_dir(path, "the directory above %sroot," % prefix, True)
            if path == os.path.dirname(path):
                break
            path = os.path.dirname(path)
    if os.path.lexists(root):
        _safe_dir(root, "%sroot" % prefix, False)


def pushed_copy(root, source):
    """Whether SOURCE is a pushed copy of a release that is still there: a directory of ROOT/incoming."""
    return (os.path.dirname(os.path.abspath(source)) == os.path.join(root, INCOMING) and os.path.isdir(source)
            and not os.path.islink(source))


def _copy_checked(src, dst, entry):
    """Copy SRC (not through a link) to the new file DST, computing its sha256; MirrorStoreError unless it is the
    manifest ENTRY's size and sha256."""
    fd = rv.open_regular(src)
    digest, size = hashlib.sha256(), 0
    try:
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            while True:
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
            os.fsync(out)
        finally:
            os.close(out)
    finally:
        os.close(fd)
    if entry is not None and (size != entry["size"] or digest.hexdigest() != entry["sha256"]):
        raise MirrorStoreError("%s changed while it was imported: %d bytes, sha256 %s; the signed manifest says %d "
                               "bytes, sha256 %s" % (src, size, digest.hexdigest(), entry["size"], entry["sha256"]),
                               kind="changed_after_verify")
    return digest.hexdigest()


def _check_file(path, entry):
    fd = rv.open_regular(path)
    try:
        size, digest = os.fstat(fd).st_size, rv.sha256_fd(fd)
    finally:
        os.close(fd)
    if size != entry["size"] or digest != entry["sha256"]:
        raise MirrorStoreError("%s changed while it was imported: %d bytes, sha256 %s; the signed manifest says %d "
                               "bytes, sha256 %s" % (path, size, digest, entry["size"], entry["sha256"]),
                               kind="changed_after_verify")


def import_release(root, source, manifest, manifest_sha, base_dir):
    """Copy the verified SOURCE into a hidden directory of ROOT/releases, check it, rename it into place (a pushed
    copy in ROOT/incoming is hard-linked instead: root's own files, on the same file system)."""
    pushed = pushed_copy(root, source)
    releases = os.path.join(root, RELEASES)
    work = tempfile.mkdtemp(prefix=".import-%s-" % manifest["release"], dir=releases)
    os.chmod(work, 0o755)
    try:
        for name in rv.UNLISTED:
            if name != rv.SIGNATURE or manifest.get("signed"):
                digest = _copy_checked(os.path.join(source, name), os.path.join(work, name), None)
                if name == rv.MANIFEST and digest != manifest_sha:
                    raise MirrorStoreError("%s changed while it was imported (sha256 %s; the verified one %s)" % (
                        os.path.join(source, name), digest, manifest_sha), kind="changed_after_verify")
        for entry in manifest["files"]:
            target = os.path.join(work, entry["path"])
            parent = os.path.dirname(target)
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            if entry.get("carried", True) and pushed:
                # root's own pushed copy, on the store's file system: linked, then read back against the manifest
                os.link(os.path.join(source, entry["path"]), target)
                _check_file(target, entry)
            elif entry.get("carried", True):
                _copy_checked(os.path.join(source, entry["path"]), target, entry)
            else:
                os.link(os.path.join(base_dir, entry["path"]), target)
        _durable.sync_tree(work)
        final = os.path.join(releases, manifest["release"])
        _durable.rename(work, final)
        return final
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise MirrorStoreError("%s ran out of room while release %s was imported: free space there or give "
                                   "the store a larger disk" % (root, manifest["release"]), kind="no_room")
        raise
    finally:
        if os.path.lexists(work):
            shutil.rmtree(work, ignore_errors=True)


__all__ = ["MirrorStoreError", "check_root", "import_release", "pushed_copy"]
