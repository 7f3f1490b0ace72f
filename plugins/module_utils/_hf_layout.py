# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The on-disk layout of a hub cache as root reads and changes it: which commit a revision resolves to
(``refs/``, ``snapshots/``), writing refs, and installing entries (blobs, snapshot links, trees, refs) from a
trusted source. Every access goes through the descriptor-relative primitives of ``_hf_safefs``.

Private to the collection. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat

from ansible_collections.codex.offline_ml.plugins.module_utils import _faults
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs as safefs
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import (
    HfCacheError,
    is_commit,
    repo_folder,
)

STAGING_PREFIX = '.codex-bundle-staging-'


def split(rel):
    """(parent, name) of a relative path."""
    parent, _sep, name = rel.rpartition('/')
    return parent, name


def read_ref(root_fd, folder, ref, where=''):
    """The commit refs/REF of FOLDER names (stripped), or None (absent, a symlink, a FIFO, not a file)."""
    text = safefs.at(root_fd, '%s/refs/%s' % (folder, ref), safefs.read_text, where=where)
    return text.strip() if text is not None else None


def _snapshot_present(root_fd, folder, commit, where):
    fd = safefs.open_dir(root_fd, '%s/snapshots/%s' % (folder, commit), where=where)
    if fd is None:
        return False
    try:
        return bool(os.listdir(fd))
    finally:
        os.close(fd)


def local_commit(cache_dir, spec):
    """Commit the cache resolves ``spec``'s revision to, from its layout (refs/, snapshots/); None if absent."""
    root = safefs.open_root(cache_dir)
    if root is None:
        return None
    try:
        folder = repo_folder(spec['repo_type'], spec['repo_id'])
        revision = spec['revision']
        commit = revision if is_commit(revision) else read_ref(root, folder, revision, cache_dir)
        if not commit or not is_commit(commit):
            return None
        return commit if _snapshot_present(root, folder, commit, cache_dir) else None
    finally:
        os.close(root)


def wanted_refs(spec):
    """The refs that must name the seeded commit: refs, and the revision when it is a branch or tag."""
    return sorted(set(spec['refs']) | (set() if is_commit(spec['revision']) else set([spec['revision']])))


def missing_refs(cache_dir, spec, commit):
    """The refs of ``spec`` that do not (yet) name ``commit`` exactly as huggingface_hub reads them (no strip: a
    ref holding the commit and a newline does not resolve there)."""
    refs = wanted_refs(spec)
    root = safefs.open_root(cache_dir)
    if root is None:
        return refs
    try:
        folder = repo_folder(spec['repo_type'], spec['repo_id'])
        return [ref for ref in refs
                if safefs.at(root, '%s/refs/%s' % (folder, ref), safefs.read_text, where=cache_dir) != commit]
    finally:
        os.close(root)


def write_refs(cache_dir, spec, commit):
    """Make refs/<ref> name ``commit`` for every ref of ``spec``; returns the refs written.

    A ref is written to a random temp name and renamed into place inside ``refs/``, opened without following
    links: a planted symlink or FIFO at the ref (or at its temp name) is replaced, never written through, and a
    ``refs/`` that is a symlink is refused.
    """
    todo = missing_refs(cache_dir, spec, commit)
    if not todo:
        return []
    folder = repo_folder(spec['repo_type'], spec['repo_id'])
    root = safefs.open_root(cache_dir)
    if root is None:
        raise HfCacheError('cache_dir %s does not exist: create it first' % cache_dir, kind='invalid')
    try:
        refs = safefs.open_dir(root, folder + '/refs', create=True, where=cache_dir)
        try:
            for ref in todo:
                _faults.point("hf.refs")
                safefs.put_file(refs, ref, [commit.encode('ascii')], mode=0o664,
                                where=os.path.join(cache_dir, folder, 'refs'))
        finally:
            os.close(refs)
    finally:
        os.close(root)
    return todo


def install_order(path):
    """Blobs first, then the snapshot links to them, refs last: a reader never sees a ref to a half-built revision."""
    part = path.split('/')[1] if '/' in path else ''
    return ({'blobs': 0, 'trees': 0, 'snapshots': 1, 'refs': 2}.get(part, 1), path)


def entry_differs(root_fd, entry, where=''):
    """Whether the live copy of manifest-style ENTRY ({path, type, target | size, sha256}) is absent or different.

    Raises UnsafePath when a directory on the way is a symlink (a member planted it).
    """
    differs = safefs.at(root_fd, entry['path'], lambda fd, name: _differs_at(fd, name, entry), where=where)
    return True if differs is None else differs


def _differs_at(fd, name, entry):
    if safefs.lstat_at(fd, name) is None:
        return True
    if entry['type'] == 'symlink':
        try:
            return os.readlink(name, dir_fd=fd) != entry['target']
        except OSError:
            return True
    return safefs.sha256_at(fd, name) != (entry['size'], entry['sha256'])


def _each_top_entry(cache_dir, prefixes, visit):
    """The paths VISIT(root_fd, name, lstat) returns (a list) for each entry of the cache directory CACHE_DIR whose
    name starts with PREFIXES, by name, ROOT_FD being CACHE_DIR opened by open_root (closed afterwards); an entry
    that vanishes meanwhile is left out; [] when CACHE_DIR is absent."""
    found = []
    root = safefs.open_root(cache_dir)
    if root is None:
        return found
    try:
        for name in sorted(os.listdir(root)):
            if name.startswith(prefixes):
                st = safefs.lstat_at(root, name)
                if st is not None:
                    found.extend(visit(root, name, st))
    finally:
        os.close(root)
    return found


def clean_staging(cache_dir):
    """Remove staging directories left by an interrupted unpack; returns their paths.

    Only directories are removed, with ``shutil.rmtree(dir_fd=...)``, which never follows a symlink.
    """
    def remove(root, name, st):
        if not stat.S_ISDIR(st.st_mode):
            return []
        shutil.rmtree(name, dir_fd=root, ignore_errors=True)
        return [os.path.join(cache_dir, name)]

    return _each_top_entry(cache_dir, STAGING_PREFIX, remove)


def link_inside(name, target):
    """A snapshot symlink must point at a blob of the same repo folder (relative, no escape)."""
    if not target or target.startswith('/'):
        return False
    base = name.split('/')[0]
    resolved = os.path.normpath(os.path.join(os.path.dirname(name), target))
    return resolved.split('/')[0] == base and not resolved.startswith('..')


def _is_regular(root_fd, rel):
    handle = safefs.at(root_fd, rel, safefs.open_regular)
    if handle is None:
        return False
    os.close(handle)
    return True


def collect_entries(cache_dir, spec, commit):
    """Paths (relative to cache_dir) one seeded revision consists of: refs, snapshot links, blobs, its tree listing.

    Walked without following links: a snapshot link must point at a blob of its own repo folder, and anything
    that is not a regular file, a directory or such a link (a FIFO, a link out of the repo) is refused by name.
    """
    folder = repo_folder(spec['repo_type'], spec['repo_id'])
    label = '%s %s' % (spec['repo_type'], spec['repo_id'])
    root = safefs.open_root(cache_dir)
    if root is None:
        raise HfCacheError('%s: the cache %s does not exist' % (label, cache_dir), kind='not_cached')
    try:
        snap_rel = '%s/snapshots/%s' % (folder, commit)
        snap = safefs.open_dir(root, snap_rel)
        if snap is None:
            raise HfCacheError('%s: snapshot %s is not in the cache %s' % (label, commit, cache_dir),
                               kind='not_cached')
        entries = {}
        try:
            _collect(root, snap, snap_rel, entries, label, 1)
        finally:
            os.close(snap)
        tree = '%s/trees/%s.json' % (folder, commit)
        if _is_regular(root, tree):
            entries[tree] = {'type': 'file'}
        for ref in sorted(set(spec['refs'] + ([] if is_commit(spec['revision']) else [spec['revision']]))):
            if read_ref(root, folder, ref) == commit:
                entries['%s/refs/%s' % (folder, ref)] = {'type': 'file'}
        return entries
    finally:
        os.close(root)


def _collect(root, dir_fd, rel_dir, entries, label, depth):
    if depth > safefs.MAX_DEPTH:
        raise safefs.UnsafePath('%s: %s is nested deeper than %d levels' % (label, rel_dir, safefs.MAX_DEPTH))
    for name in sorted(os.listdir(dir_fd)):
        rel = '%s/%s' % (rel_dir, name)
        st = safefs.lstat_at(dir_fd, name)
        if st is None:
            continue
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=dir_fd)
            if not link_inside(rel, target):
                raise safefs.UnsafePath('%s: %s is a symlink to %s, outside its repo folder: refusing to read it'
                                        % (label, rel, target), path=rel)
            blob = os.path.normpath(os.path.join(os.path.dirname(rel), target))
            if not _is_regular(root, blob):
                raise HfCacheError('%s: %s points at a missing blob' % (label, rel), kind='corrupt')
            entries[rel] = {'type': 'symlink', 'target': target}
            entries[blob] = {'type': 'file'}
        elif stat.S_ISDIR(st.st_mode):
            fd = safefs.open_dir(dir_fd, name, where=rel_dir)
            if fd is None:
                continue
            try:
                _collect(root, fd, rel, entries, label, depth + 1)
            finally:
                os.close(fd)
        elif stat.S_ISREG(st.st_mode):
            entries[rel] = {'type': 'file'}
        else:
            raise safefs.UnsafePath('%s: %s is not a regular file, a directory or a symlink (a FIFO?): refusing '
                                    'to read it' % (label, rel), path=rel)


def read_chunks(fd, size=1024 * 1024):
    """The content of descriptor FD, chunk by chunk."""
    while True:
        chunk = os.read(fd, size)
        if not chunk:
            return
        yield chunk


def check_free_space(root_fd, entries, cache_dir):
    """Refuse, before anything is written, to install ENTRIES whose files need more than the free space."""
    need = sum(e.get('size') or 0 for e in entries if e['type'] == 'file')
    free = safefs.free_bytes(root_fd)
    if need > free:
        raise HfCacheError('installing %d files needs %d bytes but %s has %d bytes free: nothing was written; free '
                           'space on its file system and run again' % (len(entries), need, cache_dir, free),
                           kind='no_space')


def install_from_cache(src_dir, entries, cache_dir):
    """Copy ENTRIES (from collect_entries of the root-only cache SRC_DIR) that differ into CACHE_DIR.

    Blobs first, refs last; each file through a random temp name and a rename, each link likewise. Returns the
    paths installed.
    """
    src_root = safefs.open_root(src_dir)
    root = safefs.open_root(cache_dir)
    if src_root is None or root is None:
        raise HfCacheError('cache_dir %s does not exist: create it first' % cache_dir, kind='invalid')
    try:
        todo = []
        for rel in sorted(entries, key=install_order):
            entry = dict(entries[rel], path=rel)
            if entry['type'] == 'file':
                got = safefs.at(src_root, rel, safefs.sha256_at)
                if got is None:
                    raise HfCacheError('the download left no file %s' % rel, kind='download_failed')
                entry['size'], entry['sha256'] = got
            if entry_differs(root, entry, cache_dir):
                todo.append(entry)
        check_free_space(root, todo, cache_dir)
        for entry in todo:
            parent, name = split(entry['path'])
            where = os.path.join(cache_dir, parent)
            dest = safefs.open_dir(root, parent, create=True, where=cache_dir)
            try:
                if entry['type'] == 'symlink':
                    _faults.point("hf.snapshot_link")
                    safefs.put_symlink(dest, name, entry['target'], where=where)
                    continue
                src = safefs.open_dir(src_root, parent)
                handle = safefs.open_regular(src, name)
                os.close(src)
                try:
                    got = safefs.put_file(dest, name, read_chunks(handle), mode=0o664, where=where)
                finally:
                    os.close(handle)
                if got != (entry['size'], entry['sha256']):
                    raise HfCacheError('%s changed while it was copied into the cache' % entry['path'],
                                       kind='download_failed')
                _faults.point("hf.blob")
            finally:
                os.close(dest)
        return [e['path'] for e in todo]
    finally:
        os.close(src_root)
        os.close(root)


def unsafe_entries(cache_dir):
    """Entries huggingface_hub would read by path that are not what it expects, as paths relative to CACHE_DIR:
    repo folders that are not directories, and refs (refs/ itself or a file under it) that are symlinks, FIFOs or
    anything but regular files. hf_cache_facts refuses to hand such a cache to huggingface_hub running as root
    (it would read a root-only file through a planted link, or block on a FIFO)."""
    def check(root, name, st):
        if not stat.S_ISDIR(st.st_mode):
            return [name]
        found = []
        _unsafe_refs(root, name, found)
        return found

    return _each_top_entry(cache_dir, ('models--', 'datasets--', 'spaces--'), check)


def remove_unsafe_refs(cache_dir, folder, check_mode=False):
    """Remove what cannot be a ref from FOLDER/refs (symlinks, FIFOs, sockets, hard links): huggingface_hub would
    read them by path as whoever scans the cache. Unlinking a name never follows it. Returns their paths."""
    found = []
    root = safefs.open_root(cache_dir)
    if root is None:
        return found
    try:
        st = safefs.lstat_at(root, folder)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return found
        _unsafe_refs(root, folder, found, remove=not check_mode)
    finally:
        os.close(root)
    return found


def _unsafe_refs(root, folder, found, remove=False):
    try:
        fd = safefs.open_dir(root, folder + '/refs')
    except safefs.UnsafePath:
        found.append(folder + '/refs')
        return
    if fd is None:
        return
    for dir_fd, path, name, st in safefs.walk_entries(fd, folder + '/refs', unsafe=found.append):
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            found.append(path)
            if remove:
                os.unlink(name, dir_fd=dir_fd)


def describe_seed(cache_dir, result):
    """What a seeding run did (in check mode, would do) to the cache, one line each, for the module's diff: the
    revisions seeded or repaired, the unsafe refs removed, the entries whose group or mode was corrected."""
    lines = ["%s %s@%s: %s" % (r.get("repo_type", "model"), r.get("repo_id"), r.get("revision") or "main",
                               r.get("action")) for r in result.get("repos", []) if r.get("action") != "present"]
    lines += ["%s: unsafe ref, removed" % rel for rel in result.get("unsafe_removed", [])]
    if result.get("permissions_fixed"):
        lines.append("%d entries: group or mode corrected" % result["permissions_fixed"])
    return "%s:\n%s" % (cache_dir, "".join("  %s\n" % line for line in lines)) if lines else ""
