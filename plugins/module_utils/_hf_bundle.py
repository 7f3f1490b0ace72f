# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hub-cache bundles: a tar of the entries of seeded revisions plus a per-file sha256 manifest. Build (hf_bundle,
connected side), verify and unpack (hf_cache_seed method=bundle, air-gapped side).

Private to the collection. Standard library only. The cache is read and written only through ``_hf_safefs``
(docs/security.md): packing never follows a link out of a repo folder, unpacking verifies the whole bundle, checks
the free space, extracts into a root-only staging directory and renames into place relative to directory
descriptors.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import tarfile
import tempfile

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable, _faults
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs as safefs
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_layout import (
    STAGING_PREFIX,
    check_free_space,
    collect_entries,
    entry_differs,
    install_order,
    link_inside,
    read_chunks,
    split,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError, repo_folder

BUNDLE_SCHEMA = 1
BUNDLE_FORMAT = 'codex.offline_ml hf-bundle'
MANIFEST_SUFFIX = '.manifest.json'
_CHUNK = 1024 * 1024


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def _safe_member(name, folders):
    """True when a member name stays inside one of the repo folders of the manifest."""
    if not name or name.startswith('/') or '\\' in name:
        return False
    parts = name.split('/')
    if any(p in ('', '.', '..') for p in parts):
        return False
    return parts[0] in folders


def manifest_path_for(bundle):
    return bundle + MANIFEST_SUFFIX


class _HashWriter(object):
    """A write-only file object that keeps only the sha256 of what is written (check mode writes nothing)."""

    def __init__(self):
        self.digest = hashlib.sha256()
        self.offset = 0

    def write(self, data):
        self.digest.update(data)
        self.offset += len(data)
        return len(data)

    def tell(self):
        return self.offset


def _open_member(root, rel):
    """A read descriptor of the regular cache file REL, or an HfCacheError naming it."""
    handle = safefs.at(root, rel, safefs.open_regular)
    if handle is None:
        raise HfCacheError('%s is not a regular file in the cache (removed, or replaced by a symlink or FIFO): '
                           'refusing to pack it' % rel, kind='corrupt')
    return handle


def _write_tar(fileobj, root, entries):
    files = []
    with tarfile.open(fileobj=fileobj, mode='w', format=tarfile.GNU_FORMAT) as tar:
        for rel in sorted(entries):
            info = tarfile.TarInfo(rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ''
            info.mtime = 0
            if entries[rel]['type'] == 'symlink':
                info.type = tarfile.SYMTYPE
                info.linkname = entries[rel]['target']
                info.mode = 0o777
                tar.addfile(info)
                files.append({'path': rel, 'type': 'symlink', 'target': info.linkname})
                continue
            handle = _open_member(root, rel)
            try:
                info.size = os.fstat(handle).st_size
                info.mode = 0o664
                with os.fdopen(os.dup(handle), 'rb') as stream:
                    tar.addfile(info, stream)
                os.lseek(handle, 0, os.SEEK_SET)
                size, sha = 0, hashlib.sha256()
                for chunk in read_chunks(handle):
                    size += len(chunk)
                    sha.update(chunk)
            finally:
                os.close(handle)
            if size != info.size:
                raise HfCacheError('%s changed while it was packed: run again' % rel, kind='corrupt')
            files.append({'path': rel, 'type': 'file', 'size': info.size, 'sha256': sha.hexdigest()})
    return files


def build_bundle(cache_dir, resolved, bundle, check_mode=False):
    """Write BUNDLE (tar) and BUNDLE.manifest.json for ``resolved`` [(spec, commit)]; returns (changed, manifest).

    The tar is deterministic (sorted members, fixed owner and mtime), so the same cache content gives the
    same bytes and a second run changes nothing. In check mode nothing is written anywhere: the tar is only
    hashed as it is produced.
    """
    entries = {}
    repos = []
    for spec, commit in resolved:
        entries.update(collect_entries(cache_dir, spec, commit))
        repos.append({'repo_id': spec['repo_id'], 'repo_type': spec['repo_type'], 'revision': spec['revision'],
                      'commit': commit, 'refs': spec['refs'], 'folder': repo_folder(spec['repo_type'], spec['repo_id'])})
    root = safefs.open_root(cache_dir)
    if root is None:
        raise HfCacheError('the cache %s does not exist' % cache_dir, kind='not_cached')
    tmp = None
    try:
        if check_mode:
            sink = _HashWriter()
            files = _write_tar(sink, root, entries)
            bundle_sha = sink.digest.hexdigest()
        else:
            directory = os.path.dirname(os.path.abspath(bundle))
            if not os.path.isdir(directory):
                os.makedirs(directory)
            fd, tmp = tempfile.mkstemp(prefix='.hf-bundle-', dir=directory)
            with os.fdopen(fd, 'wb') as handle:
                files = _write_tar(handle, root, entries)
                handle.flush()
                os.fsync(handle.fileno())
            bundle_sha = sha256_file(tmp)
        manifest = {'schema': BUNDLE_SCHEMA, 'format': BUNDLE_FORMAT, 'bundle': os.path.basename(bundle),
                    'bundle_sha256': bundle_sha, 'repos': repos, 'files': files}
        changed = not (os.path.isfile(bundle) and sha256_file(bundle) == manifest['bundle_sha256'])
        text = json.dumps(manifest, indent=2, sort_keys=True) + '\n'
        mpath = manifest_path_for(bundle)
        changed = changed or _read(mpath) != text.strip()
        if check_mode:
            return changed, manifest
        if sha256_file(bundle) != bundle_sha if os.path.isfile(bundle) else True:
            os.chmod(tmp, 0o644)
            _durable.rename(tmp, bundle)
            tmp = None
        if _read(mpath) != text.strip():
            _durable.write_file(mpath, text, mode=0o644)
        return changed, manifest
    finally:
        os.close(root)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def load_manifest(path):
    """Read and check a bundle manifest; raise HfCacheError naming what is wrong."""
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except (IOError, OSError) as exc:
        raise HfCacheError('cannot read the bundle manifest %s: %s' % (path, exc.strerror or exc),
                           kind='bundle_invalid')
    except ValueError as exc:
        raise HfCacheError('the bundle manifest %s is not valid JSON: %s' % (path, exc), kind='bundle_invalid')
    if not isinstance(manifest, dict) or manifest.get('format') != BUNDLE_FORMAT:
        raise HfCacheError('%s is not a bundle manifest written by playbooks/stage_hf.yml' % path,
                           kind='bundle_invalid')
    if manifest.get('schema') != BUNDLE_SCHEMA:
        raise HfCacheError('the bundle manifest %s has schema %r; this collection reads schema %d'
                           % (path, manifest.get('schema'), BUNDLE_SCHEMA), kind='bundle_invalid')
    folders = set(r.get('folder') for r in manifest.get('repos') or [])
    for entry in manifest.get('files') or []:
        if not _safe_member(entry.get('path', ''), folders):
            raise HfCacheError('the bundle manifest %s lists an unsafe path %r' % (path, entry.get('path')),
                               kind='bundle_invalid')
        if entry.get('type') == 'symlink':
            if not link_inside(entry['path'], entry.get('target') or '/'):
                raise HfCacheError('the bundle manifest %s lists a symlink leaving its repo: %s -> %s'
                                   % (path, entry['path'], entry.get('target')), kind='bundle_invalid')
        elif entry.get('type') != 'file' or not re.match(r'^[0-9a-f]{64}$', entry.get('sha256') or ''):
            raise HfCacheError('the bundle manifest %s has a bad entry for %r' % (path, entry.get('path')),
                               kind='bundle_invalid')
    if not manifest.get('files'):
        raise HfCacheError('the bundle manifest %s lists no files' % path, kind='bundle_invalid')
    return manifest


def _mismatch(bundle, name, why):
    return HfCacheError('bundle %s: %s %s; nothing was changed in the cache' % (bundle, name, why),
                        kind='bundle_mismatch', file=name)


def _staged_name(index):
    return 'm%06d' % index


def verify_bundle(bundle, manifest, extract_to=None, only=None):
    """Check every member of BUNDLE against MANIFEST (streaming); optionally extract some of them.

    ``extract_to``: a descriptor of a root-only flat staging directory; member number N of the manifest's
    ``files`` is written there as ``m00000N`` (new files, never following links). ``only``: the set of paths to
    extract (all are still verified). Raises HfCacheError naming the first file that is missing, extra, of the
    wrong type, size or sha256, or where the tar is truncated; extraction stops at the manifest's size, so a
    bundle that grew since it was verified cannot write more than the manifest allows.
    Returns the number of members checked.
    """
    index_of = dict((e['path'], i) for i, e in enumerate(manifest['files']))
    expected = dict((e['path'], e) for e in manifest['files'])
    folders = set(r['folder'] for r in manifest['repos'])
    seen = set()
    last = '(start of the archive)'
    try:
        tar = tarfile.open(bundle, 'r:')
    except (IOError, OSError) as exc:
        raise HfCacheError('cannot read the bundle %s: %s' % (bundle, exc.strerror or exc), kind='bundle_invalid')
    except tarfile.TarError as exc:
        raise HfCacheError('bundle %s is not a tar archive or is truncated: %s' % (bundle, exc),
                           kind='bundle_mismatch', file=None)
    try:
        while True:
            try:
                member = tar.next()
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise _mismatch(bundle, 'the archive', 'is truncated or corrupt after %s (%s)' % (last, exc))
            if member is None:
                break
            name = member.name
            last = name
            if member.isdir():
                continue
            entry = expected.get(name)
            if entry is None or not _safe_member(name, folders):
                raise _mismatch(bundle, name, 'is not listed in the manifest')
            if name in seen:
                raise _mismatch(bundle, name, 'appears twice')
            seen.add(name)
            if len(seen) == max(1, len(expected) // 2):
                _faults.point("hf.bundle_verify")
            extract = extract_to is not None and (only is None or name in only)
            if entry['type'] == 'symlink':
                if not member.issym() or member.linkname != entry['target']:
                    raise _mismatch(bundle, name, 'is not the symlink to %s the manifest lists' % entry['target'])
                if extract:
                    os.symlink(member.linkname, _staged_name(index_of[name]), dir_fd=extract_to)
                continue
            if not member.isreg():
                raise _mismatch(bundle, name, 'is not a regular file')
            if member.size != entry['size']:
                raise _mismatch(bundle, name, 'has %d bytes, the manifest says %d' % (member.size, entry['size']))
            digest = hashlib.sha256()
            out = None
            if extract:
                out = safefs.create_new(extract_to, _staged_name(index_of[name]))
            try:
                source = tar.extractfile(member)
                got = 0
                while got < entry['size']:
                    try:
                        chunk = source.read(min(_CHUNK, entry['size'] - got))
                    except (tarfile.TarError, EOFError, OSError) as exc:
                        raise _mismatch(bundle, name, 'is truncated (%s)' % exc)
                    if not chunk:
                        break
                    got += len(chunk)
                    digest.update(chunk)
                    if out is not None:
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(out, view):]
                if out is not None:
                    os.fchmod(out, 0o664)
                    # Flushed here: unpack_bundle publishes it by a rename (see _durable).
                    os.fsync(out)
            finally:
                if out is not None:
                    os.close(out)
            if got != entry['size']:
                raise _mismatch(bundle, name, 'is truncated: %d of %d bytes' % (got, entry['size']))
            if digest.hexdigest() != entry['sha256']:
                raise _mismatch(bundle, name, 'does not match the manifest: sha256 %s, the manifest says %s'
                                % (digest.hexdigest(), entry['sha256']))
    finally:
        tar.close()
    absent = sorted(set(expected) - seen)
    if absent:
        raise _mismatch(bundle, absent[0], 'is listed in the manifest but missing from the archive (%d missing: '
                        'truncated bundle?)' % len(absent))
    return len(seen)


def live_differences(cache_dir, manifest):
    """Manifest paths whose live copy in CACHE_DIR is absent or different (read without following links)."""
    root = safefs.open_root(cache_dir)
    if root is None:
        return [e['path'] for e in manifest['files']]
    try:
        return [e['path'] for e in manifest['files'] if entry_differs(root, e, cache_dir)]
    finally:
        os.close(root)


def unpack_bundle(bundle, manifest, cache_dir, check_mode=False):
    """Bring CACHE_DIR in line with the bundle; returns the list of paths installed (empty: nothing to do).

    The whole bundle is verified first (streaming), and the free space checked against the manifest's sizes:
    nothing is written before both pass. Then the differing members are extracted into a root-only (0700)
    staging directory inside CACHE_DIR (same file system), verified again as extracted, and renamed into place
    (blobs, then snapshot links, then refs) relative to directory descriptors opened without following links.
    """
    verify_bundle(bundle, manifest)
    todo = live_differences(cache_dir, manifest)
    if not todo or check_mode:
        return todo
    root = safefs.open_root(cache_dir)
    if root is None:
        raise HfCacheError('cache_dir %s does not exist: create it first' % cache_dir, kind='invalid')
    try:
        by_path = dict((e['path'], e) for e in manifest['files'])
        check_free_space(root, [by_path[p] for p in todo], cache_dir)
        index_of = dict((e['path'], i) for i, e in enumerate(manifest['files']))
        staging, staging_name = safefs.make_private_dir(root, STAGING_PREFIX)
        try:
            verify_bundle(bundle, manifest, extract_to=staging, only=set(todo))
            for rel in sorted(todo, key=install_order):
                parent, name = split(rel)
                dest = safefs.open_dir(root, parent, create=True, where=cache_dir)
                try:
                    safefs.move(staging, _staged_name(index_of[rel]), dest, name,
                                where=os.path.join(cache_dir, parent))
                    _faults.point("hf.bundle_unpack")
                finally:
                    os.close(dest)
        finally:
            safefs.remove_private_dir(root, staging, staging_name)
    finally:
        os.close(root)
    return todo
