# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File operations root does inside a tree that non-root users can write (the shared hub cache), and the
permission pass over it.

Private to the collection. Standard library only. See docs/security.md for the threat model.

Every operation starts from a directory file descriptor of the cache root (:func:`open_root`; the cache root and
its parents are root's) and walks down one component at a time with ``O_DIRECTORY | O_NOFOLLOW`` and ``dir_fd``:
a symlink where a directory is expected is refused (:class:`UnsafePath`), never followed, and a directory renamed
by a member while root works in it keeps being the one root opened. Files are written to a temp name made of
random bytes with ``O_CREAT | O_EXCL | O_NOFOLLOW`` (a planted name or link makes the open fail), their mode is set
with ``fchmod`` on that descriptor, and they are renamed over the final name with ``os.replace`` relative to the
same directory descriptor (a rename replaces a symlink or FIFO at the destination, it never writes through it).
Files are read with ``O_NOFOLLOW | O_NONBLOCK`` and used only if ``fstat`` says regular file, so a FIFO never blocks.
The permission pass chmods and chowns only through descriptors it opened that way (``fchmod``/``fchown``), skips
FIFOs, sockets, devices, other file systems and regular files with more than one hard link, and changes only
the group of a symlink, with ``AT_SYMLINK_NOFOLLOW``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import hashlib
import os
import stat
import struct

from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError

_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | _CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | _CLOEXEC
_CHUNK = 1024 * 1024
TEMP_PREFIX = '.codex-tmp-'
# Deeper than any hub cache (models--o--n/snapshots/<commit>/a/b/...): a planted directory chain cannot exhaust
# descriptors or the stack of the permission pass.
MAX_DEPTH = 64


class UnsafePath(HfCacheError):
    """Something a member may have planted (a symlink, a FIFO, a file) sits where root expected a directory."""

    def __init__(self, msg, **details):
        super(UnsafePath, self).__init__(msg, kind='unsafe_path', **details)


def random_name(prefix=TEMP_PREFIX):
    return prefix + binascii.hexlify(os.urandom(8)).decode('ascii')


def components(rel):
    """The parts of a relative path; refuses absolute paths, empty parts, ``.`` and ``..``."""
    parts = (rel or '').split('/')
    if not rel or rel.startswith('/') or any(p in ('', '.', '..') for p in parts) or '\0' in rel:
        raise UnsafePath('%r is not a plain relative path inside the cache' % (rel,))
    return parts


# A directory root trusts but not what is below it (a user's home, for a per-user cache: the user can redirect
# any path in it). Set by set_anchor; open_root then walks down from it without following links.
_ANCHOR = [None]


def set_anchor(path):
    """Trust PATH and the directories above it only: every later open_root of a path below PATH walks down from
    PATH one component at a time without following links (a planted symlink is refused, naming it)."""
    _ANCHOR[0] = os.path.normpath(path) if path else None


def open_root(path):
    """A descriptor of the cache root PATH (trusted: root chose it and owns its parents, or it lies below the
    anchor and is walked down to); None if it is absent."""
    anchor = _ANCHOR[0]
    if anchor and os.path.normpath(path).startswith(anchor + '/'):
        base = open_root_plain(anchor)
        if base is None:
            return None
        try:
            return open_dir(base, os.path.relpath(os.path.normpath(path), anchor), where=anchor)
        finally:
            os.close(base)
    return open_root_plain(path)


# The absolute path of each directory descriptor open_root / open_dir returned, so that a refusal names the full
# path even where a caller passed no `where` (a descriptor number reused later is registered again when reopened).
_PATHS = {}


def _register(fd, path):
    if fd is not None and path:
        _PATHS[fd] = path
    return fd


def open_root_plain(path):
    try:
        return _register(os.open(path, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC), os.path.normpath(path))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise UnsafePath('cannot open the cache directory %s: %s' % (path, exc.strerror or exc))


def _refuse(where, name):
    return UnsafePath('%s is a symlink or not a directory; root does not follow it (a cache member may have '
                      'planted it): remove it and run again' % os.path.join(where, name), path=where)


def open_dir(root_fd, rel, create=False, where=''):
    """A descriptor of the directory REL under ROOT_FD, walked without following any symlink.

    CREATE makes missing directories (mode 0775 less the umask, group from a setgid parent). Returns None when a
    part is missing and CREATE is false. Raises UnsafePath when a part is a symlink or not a directory.
    """
    fd = os.dup(root_fd)
    done = where or _PATHS.get(root_fd, '')
    try:
        for part in components(rel) if rel else []:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENOENT and create:
                    try:
                        os.mkdir(part, 0o775, dir_fd=fd)
                    except OSError as mk_exc:
                        if mk_exc.errno != errno.EEXIST:
                            raise
                    try:
                        child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                    except OSError as exc2:
                        if exc2.errno in (errno.ELOOP, errno.ENOTDIR):
                            raise _refuse(done, part)
                        raise
                elif exc.errno == errno.ENOENT:
                    os.close(fd)
                    fd = None
                    return None
                elif exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _refuse(done, part)
                else:
                    raise
            os.close(fd)
            fd = child
            done = os.path.join(done, part)
        result, fd = fd, None
        return _register(result, done)
    finally:
        if fd is not None:
            os.close(fd)


def at(root_fd, rel, function, where=''):
    """FUNCTION(dir_fd, name) for the entry REL under ROOT_FD, its directory opened as open_dir does (no symlink
    followed) and closed afterwards; None when that directory does not exist."""
    parent, _sep, name = rel.rpartition('/')
    fd = open_dir(root_fd, parent, where=where)
    if fd is None:
        return None
    try:
        return function(fd, name)
    finally:
        os.close(fd)


def lstat_at(dir_fd, name):
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def open_regular(dir_fd, name):
    """A read descriptor of the regular file NAME, or None (absent, a symlink, a FIFO, a device, a directory)."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR, errno.ENXIO, errno.EISDIR):
            return None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def read_text(dir_fd, name, limit=4096):
    """The text of the regular file NAME (at most LIMIT bytes), or None when it is not a regular file."""
    fd = open_regular(dir_fd, name)
    if fd is None:
        return None
    try:
        return os.read(fd, limit).decode('utf-8', 'replace')
    finally:
        os.close(fd)


def sha256_at(dir_fd, name):
    """(size, sha256) of the regular file NAME, or None when it is not a regular file."""
    fd = open_regular(dir_fd, name)
    if fd is None:
        return None
    digest = hashlib.sha256()
    size = 0
    try:
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
    finally:
        os.close(fd)
    return size, digest.hexdigest()


def _refuse_directory(dir_fd, name, where):
    st = lstat_at(dir_fd, name)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UnsafePath('cannot install %s: it is a directory; remove it and run again'
                         % os.path.join(where, name), path=os.path.join(where, name))


def new_file(dir_fd, prefix=TEMP_PREFIX):
    """(descriptor, name) of a new empty file with a random name in DIR_FD, mode 0600, never an existing name."""
    for _attempt in range(10):
        name = random_name(prefix)
        try:
            return os.open(name, _NEW_FLAGS, 0o600, dir_fd=dir_fd), name
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    raise UnsafePath('cannot create a temporary file: every random name was taken')


def create_new(dir_fd, name):
    """A write descriptor of the new file NAME (mode 0600): fails if anything, a link included, is there."""
    return os.open(name, _NEW_FLAGS, 0o600, dir_fd=dir_fd)


def put_file(dir_fd, name, chunks, mode=0o664, where=''):
    """Make NAME in DIR_FD a regular file holding CHUNKS (an iterable of bytes), with MODE; atomic.

    Returns (size, sha256) of what was written. Whatever was at NAME (a file, a symlink, a FIFO) is replaced,
    never written through; a directory there is refused.
    """
    _refuse_directory(dir_fd, name, where)
    fd, tmp = new_file(dir_fd)
    digest = hashlib.sha256()
    size = 0
    try:
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                digest.update(chunk)
                size += len(chunk)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        tmp = None
        os.fsync(dir_fd)
    finally:
        if tmp is not None:
            _unlink_quiet(dir_fd, tmp)
    return size, digest.hexdigest()


def put_symlink(dir_fd, name, target, where=''):
    """Make NAME in DIR_FD a symlink to TARGET; atomic; a directory there is refused."""
    _refuse_directory(dir_fd, name, where)
    for _attempt in range(10):
        tmp = random_name()
        try:
            os.symlink(target, tmp, dir_fd=dir_fd)
            break
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    else:
        raise UnsafePath('cannot create a temporary symlink: every random name was taken')
    try:
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        _unlink_quiet(dir_fd, tmp)
        raise
    os.fsync(dir_fd)


def move(src_dir_fd, src_name, dst_dir_fd, dst_name, where=''):
    """Rename SRC_NAME (in SRC_DIR_FD) over DST_NAME (in DST_DIR_FD); a directory at the destination is refused."""
    _refuse_directory(dst_dir_fd, dst_name, where)
    os.replace(src_name, dst_name, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
    os.fsync(dst_dir_fd)


def _unlink_quiet(dir_fd, name):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def make_private_dir(dir_fd, prefix):
    """(descriptor, name) of a new directory with a random name in DIR_FD, mode 0700 (only root enters it)."""
    for _attempt in range(10):
        name = random_name(prefix)
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                continue
            raise
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
            os.close(fd)
            raise UnsafePath('the staging directory %s was swapped while it was made' % name)
        return fd, name
    raise UnsafePath('cannot create a staging directory: every random name was taken')


def remove_private_dir(dir_fd, fd, name):
    """Empty the flat staging directory FD (files and symlinks only), close it, remove NAME from DIR_FD."""
    try:
        for entry in os.listdir(fd):
            _unlink_quiet(fd, entry)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except OSError:
        pass


def free_bytes(dir_fd):
    st = os.fstatvfs(dir_fd)
    return st.f_bavail * st.f_frsize


# --------------------------------------------------------------------------- shared-cache permissions
def share_tree(paths, gid, check_mode=False, uid=None):
    """Give every entry under PATHS group GID and group read/write; directories setgid; never world-writable.

    Owners are kept (a file a group member downloaded stays theirs). Every change goes through a descriptor
    opened without following links (see the module docstring). Returns the number of entries changed.

    With UID (a per-user cache, hf_cache_seed's owner), every entry is given to UID:GID instead and modes are
    left as they are.
    """
    return _walk_tree(paths, lambda fd, st, depth: (_share_fd(fd, st, gid, check_mode, uid), True),
                      lambda dir_fd, name, st, dev: _share_entry(dir_fd, name, st, dev, gid, check_mode, uid))


def _walk_tree(paths, on_dir, on_other=None):
    """Walk each directory of PATHS (open_root) and the directories below it on its file system, depth first.

    ON_DIR(fd, fstat, depth) is called with the descriptor of each directory (depth 0 for PATHS) and returns
    (changed, enter); ON_OTHER(dir_fd, name, lstat, dev), when given, with each entry that is not a directory.
    Directories are opened with O_NOFOLLOW (a symlink or an entry swapped since the listing is skipped, never
    followed) and closed before the walk moves on; mount points are left alone; deeper than MAX_DEPTH is refused.
    Returns the sum of the changed counts.
    """
    changed = 0
    for top in paths:
        fd = open_root(top)
        if fd is None:
            continue
        try:
            st = os.fstat(fd)
            done, enter = on_dir(fd, st, 0)
            changed += done + (_walk_below(fd, st.st_dev, 1, on_dir, on_other) if enter else 0)
        finally:
            os.close(fd)
    return changed


def _walk_below(dir_fd, dev, depth, on_dir, on_other):
    if depth > MAX_DEPTH:
        raise UnsafePath('the cache holds directories nested deeper than %d levels: not a hub cache layout; '
                         'remove them' % MAX_DEPTH)
    changed = 0
    for name in sorted(os.listdir(dir_fd)):
        st = lstat_at(dir_fd, name)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            changed += on_other(dir_fd, name, st, dev) if on_other is not None else 0
            continue
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                continue  # swapped for a symlink or removed since the listing: not followed
            raise
        try:
            fst = os.fstat(fd)
            if fst.st_dev != dev:
                continue  # a mount point: another file system is not the cache
            done, enter = on_dir(fd, fst, depth)
            changed += done + (_walk_below(fd, dev, depth + 1, on_dir, on_other) if enter else 0)
        finally:
            os.close(fd)
    return changed


def _wanted_mode(st):
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        return (mode | 0o2070) & ~0o002
    return (mode | 0o060) & ~0o002


def _share_fd(fd, st, gid, check_mode, uid=None):
    touched = 0
    if uid is not None:
        if (st.st_uid, st.st_gid) != (uid, gid):
            touched = 1
            if not check_mode:
                os.fchown(fd, uid, gid)
        return touched
    if gid is not None and st.st_gid != gid:
        touched = 1
        if not check_mode:
            os.fchown(fd, -1, gid)
    want = _wanted_mode(st)
    if want != stat.S_IMODE(st.st_mode):
        touched = 1
        if not check_mode:
            os.fchmod(fd, want)
    return touched


def walk_entries(top, rel='', unsafe=None):
    """Walk the directory descriptor TOP depth first through descriptors, never following a link, and close it.

    Yields (dir_fd, path, name, lstat) for every entry that is not a directory, and for directories MAX_DEPTH
    levels down (not entered); PATH is REL/.../NAME. DIR_FD is open until the next entry (to unlink NAME with it).
    A directory open_dir refuses (UnsafePath) is given to UNSAFE(path) when there is one, else the error goes up.
    """
    stack = [(top, rel, 1)]
    try:
        while stack:
            fd, base, depth = stack.pop()
            try:
                for name in sorted(os.listdir(fd)):
                    st = lstat_at(fd, name)
                    if st is None:
                        continue
                    path = '%s/%s' % (base, name) if base else name
                    if stat.S_ISDIR(st.st_mode) and depth < MAX_DEPTH:
                        try:
                            child = open_dir(fd, name)
                        except UnsafePath:
                            if unsafe is None:
                                raise
                            unsafe(path)
                            continue
                        if child is not None:
                            stack.append((child, path, depth + 1))
                    else:
                        yield fd, path, name, st
            finally:
                os.close(fd)
    finally:
        for fd, _base, _depth in stack:
            os.close(fd)


def _share_entry(dir_fd, name, st, dev, gid, check_mode, uid):
    """_share_fd for an entry of DIR_FD that is not a directory: a symlink gets its owner and group only, without
    following it; a regular file through a descriptor; FIFOs, sockets and devices are left alone."""
    if stat.S_ISLNK(st.st_mode):
        if (gid is None or st.st_gid == gid) and (uid is None or st.st_uid == uid):
            return 0
        if not check_mode:
            try:
                os.chown(name, -1 if uid is None else uid, gid, dir_fd=dir_fd, follow_symlinks=False)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
        return 1
    if not stat.S_ISREG(st.st_mode):
        return 0
    fd = open_regular(dir_fd, name)
    if fd is None:
        return 0  # swapped for a symlink, FIFO or device since the listing
    try:
        fst = os.fstat(fd)
        # A hard link may be a file from outside the cache (where protected_hardlinks is off): not ours.
        return _share_fd(fd, fst, gid, check_mode, uid) if fst.st_nlink == 1 and fst.st_dev == dev else 0
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- default ACLs of the shared cache
# The default ACL every directory of the shared cache gets: what a member creates in it (with any umask, through
# any library) is group read/write, because a directory's default ACL replaces the umask for entries created in
# it (acl(5)). Written as the kernel's system.posix_acl_default xattr (acl_ea_header + acl_ea_entry, little
# endian), through the directory's descriptor: no setfacl (package acl) needed on an offline host.
ACL_XATTR = 'system.posix_acl_default'
_ACL_VERSION = 2
_ACL_UNDEFINED_ID = 0xFFFFFFFF
_USER_OBJ, _GROUP_OBJ, _MASK, _OTHER = 0x01, 0x04, 0x10, 0x20
SHARED_DEFAULT_ACL = ((_USER_OBJ, 7), (_GROUP_OBJ, 7), (_MASK, 7), (_OTHER, 5))


def encode_acl(entries):
    """The xattr value of an ACL of base entries ((tag, perm), ...), sorted by tag as the kernel wants them."""
    return struct.pack('<I', _ACL_VERSION) + b''.join(
        struct.pack('<HHI', tag, perm, _ACL_UNDEFINED_ID) for tag, perm in sorted(entries))


def decode_acl(value):
    """((tag, perm), ...) of an xattr ACL value; None when it is not one this module reads."""
    if not value or len(value) < 4 or (len(value) - 4) % 8 or struct.unpack('<I', value[:4])[0] != _ACL_VERSION:
        return None
    return tuple(sorted(struct.unpack('<HHI', value[i:i + 8])[:2] for i in range(4, len(value), 8)))


class AclUnsupported(Exception):
    """The file system does not store POSIX ACLs (EOPNOTSUPP): detected on the first directory tried."""


def _acl_unsupported(exc):
    return exc.errno in (errno.EOPNOTSUPP, getattr(errno, 'ENOTSUP', errno.EOPNOTSUPP))


def set_default_acl(fd, check_mode=False):
    """Give the open directory FD the shared default ACL unless it has it; returns whether it changed.

    Raises AclUnsupported where the file system has no ACLs."""
    want = tuple(sorted(SHARED_DEFAULT_ACL))
    try:
        have = decode_acl(os.getxattr(fd, ACL_XATTR))
    except OSError as exc:
        if _acl_unsupported(exc):
            raise AclUnsupported(str(exc))
        if exc.errno != errno.ENODATA:
            raise
        have = None
    if have == want:
        return False
    if not check_mode:
        try:
            os.setxattr(fd, ACL_XATTR, encode_acl(want))
        except OSError as exc:
            if _acl_unsupported(exc):
                raise AclUnsupported(str(exc))
            raise
    return True


def acl_tree(paths, check_mode=False):
    """Give every directory under PATHS (not following links, not crossing into other file systems) the shared
    default ACL. Returns (state, changed): state is 'default' or 'unsupported' (the first directory's file system
    stores no ACLs; nothing was changed)."""
    seen = set()  # (dev, ino) of the directories done: a path inside another one of PATHS is counted once

    def on_dir(fd, st, depth):
        if (st.st_dev, st.st_ino) in seen:
            return 0, False
        seen.add((st.st_dev, st.st_ino))
        try:
            return set_default_acl(fd, check_mode), True
        except AclUnsupported:
            if not depth:
                raise
            return 0, False  # this directory refuses ACLs: it and what is below it are left as they are

    try:
        return 'default', _walk_tree(paths, on_dir)
    except AclUnsupported:
        return 'unsupported', 0
