# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a seeded revision holds, and whether the cache still holds it: the per-revision record and the
completeness check of hf_cache_facts, hf_cache_seed and the audit.

The record lives at ``<repo folder>/.codex/<commit>.json`` inside the hub cache (huggingface_hub's
``scan_cache_dir``, ``hf_hub_download`` and ``snapshot_download`` read only ``blobs/``, ``refs/`` and
``snapshots/`` of a repo folder and ignore it). hf_cache_seed writes it as root through ``_hf_safefs``:

    {"format": 1, "repo_id", "repo_type", "commit", "source": "mirror" | "bundle",
     "listing": [every file name of the revision the source listed],
     "files": {name: {"size": bytes, "etag": blob name, "sha256": hex or null}}}

``listing`` is the whole revision (the mirror's file list), so a widened ``allow_patterns`` is checked offline;
``files`` holds the size and blob name (the ETag the mirror answered) of each file seeded. A revision is
*complete* for a spec when every listed file its ``allow_patterns`` selects is in ``snapshots/<commit>/``, links to
a regular file under ``blobs/`` of the recorded size (and, with ``verify``, of the recorded content: sha256 for
LFS files, the git blob sha1 otherwise, as ``hf cache verify`` checks).

Private to the collection. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import hashlib
import json
import os
import re
import stat

from ansible_collections.codex.offline_ml.plugins.module_utils import _faults
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs as safefs
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError, is_commit, repo_folder

FORMAT = 1
RECORD_DIR = '.codex'
_SHA256 = re.compile(r'^[0-9a-f]{64}$')
_SHA1 = re.compile(r'^[0-9a-f]{40}$')
_LIMIT = 16 * 1024 * 1024


def record_rel(folder, commit):
    return '%s/%s/%s.json' % (folder, RECORD_DIR, commit)


def selects(name, patterns):
    """Whether allow_patterns PATTERNS select NAME, as huggingface_hub's filter_repo_objects decides."""
    if not patterns:
        return True
    return any(fnmatch.fnmatch(name, p + '*' if p.endswith('/') else p) for p in patterns)


def make_record(spec, commit, listing, files, source):
    files = dict((name, {'size': int(meta['size']) if meta.get('size') is not None else None,
                         'etag': meta.get('etag'),
                         'sha256': meta['etag'] if _SHA256.match(meta.get('etag') or '') else meta.get('sha256')})
                 for name, meta in files.items())
    return {'format': FORMAT, 'repo_id': spec['repo_id'], 'repo_type': spec['repo_type'], 'commit': commit,
            'source': source, 'listing': sorted(set(listing) | set(files)), 'files': files}


def merge(old, new):
    """NEW with the file metadata of OLD that NEW lacks (an earlier, narrower seed of the same commit)."""
    if not old or old.get('commit') != new['commit']:
        return new
    files = dict(old.get('files') or {})
    files.update(new['files'])
    return dict(new, files=files, listing=sorted(set(new['listing']) | set(old.get('listing') or [])))


def read_record(root_fd, folder, commit):
    """The record of COMMIT, or None (absent, not a regular file, not JSON, not ours)."""
    if not is_commit(commit):
        return None
    text = safefs.at(root_fd, record_rel(folder, commit), lambda fd, name: safefs.read_text(fd, name, _LIMIT))
    if text is None:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get('format') != FORMAT or record.get('commit') != commit \
            or not isinstance(record.get('files'), dict) or not isinstance(record.get('listing'), list):
        return None
    return record


def write_record(cache_dir, folder, record):
    """Write RECORD (when it differs from the one there) as root, 0644, through the symlink-safe primitives.
    Returns whether it was written."""
    root = safefs.open_root(cache_dir)
    if root is None:
        raise HfCacheError('cache_dir %s does not exist: create it first' % cache_dir, kind='invalid')
    try:
        if read_record(root, folder, record['commit']) == record:
            return False
        where = os.path.join(cache_dir, folder, RECORD_DIR)
        fd = safefs.open_dir(root, '%s/%s' % (folder, RECORD_DIR), create=True, where=cache_dir)
        try:
            _faults.point("hf.record")
            safefs.put_file(fd, record['commit'] + '.json',
                            [json.dumps(record, sort_keys=True, indent=1).encode('utf-8')], mode=0o644, where=where)
        finally:
            os.close(fd)
        return True
    finally:
        os.close(root)


def raw_ref(root_fd, folder, ref):
    """refs/REF exactly as huggingface_hub reads it (no strip), or None."""
    return safefs.at(root_fd, '%s/refs/%s' % (folder, ref), safefs.read_text)


def ref_problem(text, commit):
    """Why huggingface_hub cannot resolve a ref holding TEXT to COMMIT, or None."""
    if text is None:
        return 'absent'
    if text == commit:
        return None
    if text.strip() == commit:
        return 'holds %r: huggingface_hub reads it without stripping' % text
    return 'names %s' % (text.strip()[:40] or 'nothing')


def _blob_digests(fd):
    """(sha256, git blob sha1) of the open regular file FD, in one pass."""
    sha = hashlib.sha256()
    git = hashlib.sha1(b'blob %d\0' % os.fstat(fd).st_size)
    while True:
        chunk = os.read(fd, 1024 * 1024)
        if not chunk:
            return sha.hexdigest(), git.hexdigest()
        sha.update(chunk)
        git.update(chunk)


def _check_file(root, folder, commit, name, meta, verify):
    """Why the snapshot file NAME does not load, or None; plus its blob name."""
    snap = '%s/snapshots/%s' % (folder, commit)
    st = safefs.at(root, '%s/%s' % (snap, name), safefs.lstat_at)
    if st is None:
        return 'missing', None
    blob_rel = '%s/%s' % (snap, name)
    if stat.S_ISLNK(st.st_mode):
        target = safefs.at(root, blob_rel, _readlink)
        blob_rel = os.path.normpath(os.path.join(os.path.dirname(blob_rel), target or ''))
        if not blob_rel.startswith(folder + '/blobs/') or '..' in blob_rel.split('/'):
            return 'links outside blobs/ (%s)' % target, None
    elif not stat.S_ISREG(st.st_mode):
        return 'not a file or a link', None
    handle = safefs.at(root, blob_rel, safefs.open_regular)
    if handle is None:
        return ('blob %s missing or not a regular file' % blob_rel.rsplit('/', 1)[-1]), None
    try:
        blob = blob_rel.rsplit('/', 1)[-1]
        size = os.fstat(handle).st_size
        want = (meta or {}).get('size')
        if want is not None and size != want:
            return 'size %d, expected %d' % (size, want), blob
        if verify and meta:
            sha256, git = _blob_digests(handle)
            if meta.get('sha256') and sha256 != meta['sha256']:
                return 'corrupt: sha256 %s, expected %s' % (sha256, meta['sha256']), blob
            etag = meta.get('etag') or ''
            if not meta.get('sha256') and _SHA1.match(etag) and git != etag:
                return 'corrupt: git sha1 %s, expected %s' % (git, etag), blob
        return None, blob
    finally:
        os.close(handle)


def _snapshot_names(root, folder, commit):
    """File names (relative) under snapshots/COMMIT/, walked without following links."""
    top = safefs.open_dir(root, '%s/snapshots/%s' % (folder, commit))
    if top is None:
        return None
    names = [path for _fd, path, _name, _st in safefs.walk_entries(top)]
    return sorted(names)


def check(cache_dir, spec, verify=False):
    """The state of SPEC's revision in CACHE_DIR, without huggingface_hub:

    {commit (None when no ref/commit names one), record (bool), complete (True / False / None when there is no
    record to judge by), files (expected), problems {name: why}, ref_problems {ref: why}, blobs {name: blob}}
    """
    folder = repo_folder(spec['repo_type'], spec['repo_id'])
    state = {'commit': None, 'record': False, 'complete': False, 'files': [], 'problems': {}, 'ref_problems': {},
             'blobs': {}}
    root = safefs.open_root(cache_dir)
    if root is None:
        state['problems']['*'] = 'the cache %s does not exist' % cache_dir
        return state
    try:
        revision = spec['revision']
        if is_commit(revision):
            commit = revision
        else:
            text = raw_ref(root, folder, revision)
            commit = text.strip() if text is not None and is_commit(text.strip()) else None
        state['commit'] = commit
        refs = set(spec['refs']) | (set() if is_commit(revision) else set([revision]))
        for ref in sorted(refs):
            why = ref_problem(raw_ref(root, folder, ref), commit) if commit else 'names no commit'
            if why:
                state['ref_problems'][ref] = why
        if not commit:
            state['problems']['*'] = 'no commit for %s in the cache' % revision
            return state
        record = read_record(root, folder, commit)
        present = _snapshot_names(root, folder, commit)
        if present is None:
            present = []
        if record:
            state['record'] = True
            names = [n for n in record['listing'] if selects(n, spec.get('allow_patterns'))]
        else:
            names = [n for n in present if selects(n, spec.get('allow_patterns'))]
        state['files'] = names
        for name in names:
            meta = record['files'].get(name) if record else None
            if record and meta is None and name not in present:
                state['problems'][name] = 'missing (not seeded yet)'
                continue
            why, blob = _check_file(root, folder, commit, name, meta, verify)
            if why:
                state['problems'][name] = why
            elif blob:
                state['blobs'][name] = blob
        if not names:
            state['problems']['*'] = 'snapshot %s holds no file' % commit
        if record:
            state['complete'] = not state['problems']
        else:
            state['complete'] = None if not state['problems'] else False
        return state
    finally:
        os.close(root)


def describe(state, limit=20):
    """The problems of STATE in words, files by name."""
    parts = ['%s: %s' % (name, why) for name, why in sorted(state['problems'].items())]
    parts += ['refs/%s %s' % (ref, why) for ref, why in sorted(state['ref_problems'].items())]
    if state.get('complete') is None and not parts:
        parts.append('no record of its files (seeded before records existed): unverified')
    more = len(parts) - limit
    return '; '.join(parts[:limit]) + (' and %d more' % more if more > 0 else '')


def regular_blobs(cache_dir, folder):
    """{blob name: size} of the regular files under FOLDER/blobs/."""
    out = {}
    root = safefs.open_root(cache_dir)
    if root is None:
        return out
    try:
        fd = safefs.open_dir(root, folder + '/blobs')
        if fd is None:
            return out
        try:
            for name in os.listdir(fd):
                st = safefs.lstat_at(fd, name)
                if st is not None and stat.S_ISREG(st.st_mode):
                    out[name] = st.st_size
        finally:
            os.close(fd)
    finally:
        os.close(root)
    return out


def link_target(name, blob):
    """The relative link snapshots/<commit>/NAME -> blobs/BLOB, as huggingface_hub writes it."""
    return '../' * (name.count('/') + 2) + 'blobs/' + blob


def ensure_links(cache_dir, folder, commit, files):
    """Make snapshots/COMMIT/<name> link to blobs/<etag> for each {name: meta} whose blob is there; returns the
    links written."""
    written = []
    root = safefs.open_root(cache_dir)
    try:
        for name in sorted(files):
            etag = files[name].get('etag')
            if not etag:
                continue
            rel = '%s/snapshots/%s/%s' % (folder, commit, name)
            target = link_target(name, etag)
            current = safefs.at(root, rel, _readlink)
            if current == target:
                continue
            parent, _sep, base = rel.rpartition('/')
            fd = safefs.open_dir(root, parent, create=True, where=cache_dir)
            try:
                _faults.point("hf.snapshot_link")
                safefs.put_symlink(fd, base, target, where=os.path.join(cache_dir, parent))
            finally:
                os.close(fd)
            written.append(rel)
    finally:
        os.close(root)
    return written


def _readlink(fd, name):
    try:
        return os.readlink(name, dir_fd=fd)
    except OSError:
        return None
