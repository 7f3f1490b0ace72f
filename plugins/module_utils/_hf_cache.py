# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hugging Face hub cache knowledge shared by hf_cache_facts, hf_cache_seed and hf_bundle.

Private to the collection. Standard library only and free of collection imports, because the same
source also runs inside the target venv's interpreter through ``_child.run_function`` (the functions
named ``child_*``, which import ``huggingface_hub`` there and only there).

What lives here:

* repo specs: validation, cache folder names, refs (``refs/<name>`` files naming a commit);
* the Hub mirror probe (stdlib HTTP): reachable? repo there? revision there? -> a clear message;
* what is already in a cache, by its on-disk layout (``refs/``, ``snapshots/``), for check mode;
* bundles: a tar of hub-cache entries plus a per-file sha256 manifest; build, verify, unpack;
* shared-cache permissions: group ownership, setgid group-writable directories, never world-writable;
* child functions: ``child_seed`` (snapshot_download) and ``child_scan`` (scan_cache_dir + local_files_only).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import stat
import tarfile
import tempfile
import time

try:
    from urllib.error import HTTPError, URLError
    from urllib.parse import quote, urlsplit
    from urllib.request import HTTPSHandler, Request, build_opener
except ImportError:  # pragma: no cover - Python 2 is not supported on targets
    HTTPError = URLError = Exception
    quote = urlsplit = Request = build_opener = HTTPSHandler = None

REPO_TYPES = ('model', 'dataset')
REPO_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$')
REVISION_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._/-]*$')
COMMIT_RE = re.compile(r'^[0-9a-f]{40}$')
REF_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
BUNDLE_SCHEMA = 1
BUNDLE_FORMAT = 'codex.offline_ml hf-bundle'
MANIFEST_SUFFIX = '.manifest.json'
STAGING_PREFIX = '.codex-bundle-staging-'
_CHUNK = 1024 * 1024


# The suboptions of a module's ``repos`` option (hf_cache_facts, hf_cache_seed, hf_bundle).
REPO_ARGUMENT_SPEC = dict(
    repo_id=dict(type='str', required=True),
    repo_type=dict(type='str', choices=list(REPO_TYPES), default='model'),
    revision=dict(type='str', default='main'),
    allow_patterns=dict(type='list', elements='str'),
    refs=dict(type='list', elements='str', default=['main']),
)


def child_env(cache_dir, **settings):
    """The environment of a child interpreter that runs huggingface_hub on CACHE_DIR: the caller's without any
    HF_*/HUGGINGFACE_*/TRANSFORMERS_* setting of its own, telemetry and progress bars off, plus SETTINGS."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('HF_', 'HUGGINGFACE_', 'TRANSFORMERS_')))
    env.update({'HF_HUB_CACHE': cache_dir, 'HF_HUB_DISABLE_TELEMETRY': '1', 'HF_HUB_DISABLE_PROGRESS_BARS': '1'})
    env.update(settings)
    return env


def lacks_hub(error):
    """Whether a child's error says its interpreter has no huggingface_hub."""
    error = error or ''
    return 'huggingface_hub' in error and ('ModuleNotFoundError' in error or 'ImportError' in error)


class HfCacheError(Exception):
    """A problem with the inputs, the mirror, the bundle or the cache, with a message for the operator."""

    def __init__(self, msg, kind='error', **details):
        super(HfCacheError, self).__init__(msg)
        self.msg = msg
        self.kind = kind
        self.details = details


# --------------------------------------------------------------------------- repo specs
def is_commit(revision):
    return bool(COMMIT_RE.match(revision or ''))


def normalize_repos(repos, variable='repos'):
    """Validate and fill in repo specs; raise HfCacheError naming the bad entry and the fix.

    Each spec: repo_id (required), repo_type (model|dataset, default model), revision (default main),
    allow_patterns (list or None), refs (list of branch names written to point at the seeded commit,
    default [main]).
    """
    out = []
    seen_refs = {}
    for index, spec in enumerate(repos or []):
        where = '%s[%d]' % (variable, index)
        if not isinstance(spec, dict):
            raise HfCacheError('%s must be a dict with at least repo_id, got %r' % (where, spec), kind='invalid')
        unknown = sorted(set(spec) - set(['repo_id', 'repo_type', 'revision', 'allow_patterns', 'refs']))
        if unknown:
            raise HfCacheError('%s has unknown keys %s: use repo_id, repo_type, revision, allow_patterns, refs'
                               % (where, ', '.join(unknown)), kind='invalid')
        repo_id = spec.get('repo_id') or ''
        if not REPO_ID_RE.match(repo_id):
            raise HfCacheError('%s.repo_id %r is not a Hub repo id: write it as name or org/name (for example '
                               'google-bert/bert-base-uncased)' % (where, repo_id), kind='invalid')
        repo_type = spec.get('repo_type') or 'model'
        if repo_type not in REPO_TYPES:
            raise HfCacheError('%s.repo_type is %r: it must be one of %s' % (where, repo_type, ', '.join(REPO_TYPES)),
                               kind='invalid')
        revision = spec.get('revision') or 'main'
        if not REVISION_RE.match(revision) or '..' in revision:
            raise HfCacheError('%s.revision %r is not a branch, tag or commit name' % (where, revision),
                               kind='invalid')
        patterns = spec.get('allow_patterns')
        if patterns is not None:
            if isinstance(patterns, str):
                patterns = [patterns]
            if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
                raise HfCacheError('%s.allow_patterns must be a list of glob patterns (for example ["*.json", '
                                   '"*.safetensors"])' % where, kind='invalid')
            patterns = list(patterns) or None
        refs = spec.get('refs')
        if refs is None:
            refs = ['main']
        if isinstance(refs, str):
            refs = [refs]
        for ref in refs:
            if not isinstance(ref, str) or not REF_RE.match(ref):
                raise HfCacheError('%s.refs holds %r: refs are branch names such as main' % (where, ref),
                                   kind='invalid')
            key = (repo_type, repo_id, ref)
            if key in seen_refs:
                raise HfCacheError('%s and %s both want ref %r of %s %s: give refs: [] to one of them'
                                   % (seen_refs[key], where, ref, repo_type, repo_id), kind='invalid')
            seen_refs[key] = where
        out.append({'repo_id': repo_id, 'repo_type': repo_type, 'revision': revision,
                    'allow_patterns': patterns, 'refs': sorted(set(refs))})
    return out


def repo_folder(repo_type, repo_id):
    """Cache folder name, as huggingface_hub names it: models--org--name."""
    return '%ss--%s' % (repo_type, repo_id.replace('/', '--'))


def label(spec):
    return '%s %s' % (spec['repo_type'], spec['repo_id'])


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def local_commit(cache_dir, spec):
    """Commit the cache resolves ``spec``'s revision to, from its layout (refs/, snapshots/); None if absent."""
    base = os.path.join(cache_dir, repo_folder(spec['repo_type'], spec['repo_id']))
    revision = spec['revision']
    commit = revision if is_commit(revision) else _read(os.path.join(base, 'refs', revision))
    if not commit or not is_commit(commit):
        return None
    snapshot = os.path.join(base, 'snapshots', commit)
    if not os.path.isdir(snapshot) or not os.listdir(snapshot):
        return None
    return commit


def missing_refs(cache_dir, spec, commit):
    """The refs of ``spec`` that do not (yet) name ``commit``."""
    base = os.path.join(cache_dir, repo_folder(spec['repo_type'], spec['repo_id']))
    return [ref for ref in spec['refs'] if _read(os.path.join(base, 'refs', ref)) != commit]


def write_refs(cache_dir, spec, commit):
    """Make refs/<ref> name ``commit`` for every ref of ``spec``; returns the refs written."""
    base = os.path.join(cache_dir, repo_folder(spec['repo_type'], spec['repo_id']))
    written = []
    for ref in missing_refs(cache_dir, spec, commit):
        path = os.path.join(base, 'refs', ref)
        _makedirs(os.path.dirname(path))
        tmp = path + '.codex-tmp'
        with open(tmp, 'w') as handle:
            handle.write(commit)
        os.chmod(tmp, 0o664)
        os.rename(tmp, path)
        written.append(ref)
    return written


def _makedirs(path):
    if not os.path.isdir(path):
        os.makedirs(path)


# --------------------------------------------------------------------------- Hub mirror probe
def _ssl_context(ca_bundle):
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()


def _get(url, token=None, timeout=10, ca_bundle=None):
    """(status, headers, body) of a GET; connection problems raise OSError/URLError."""
    headers = {'User-Agent': 'codex.offline_ml', 'Accept': 'application/json'}
    if token:
        headers['Authorization'] = 'Bearer %s' % token
    context = _ssl_context(ca_bundle) if url.startswith('https:') else None
    try:
        # This code also runs inside the target venv through _child.py, where ansible's open_url is not
        # importable: a plain urllib opener, with the TLS context of the mirror.
        opener = build_opener(HTTPSHandler(context=context)) if context else build_opener()
        response = opener.open(Request(url, headers=headers), timeout=timeout)
        return response.getcode(), response.headers, response.read()
    except HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def check_endpoint(endpoint, prefix=''):
    """Reject endpoints that are not http(s) URLs or that carry credentials (they would end up in HF_ENDPOINT)."""
    parts = urlsplit(endpoint or '')
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise HfCacheError('%sendpoint %r is not an http:// or https:// URL of a Hub mirror' % (prefix, endpoint),
                           kind='invalid')
    if parts.username or parts.password:
        raise HfCacheError('%sendpoint must not carry credentials (they would be written where every user reads '
                           'them): give the URL without user:password@ and the secret in %stoken' % (prefix, prefix),
                           kind='invalid')
    return endpoint.rstrip('/')


def _error_code(headers, body):
    code = headers.get('x-error-code') if headers is not None else None
    if code:
        return code
    try:
        return json.loads(body.decode('utf-8')).get('error')
    except Exception:  # pylint: disable=broad-except
        return None


def probe_mirror(endpoint, specs, token=None, timeout=10, ca_bundle=None, prefix=''):
    """Ask the Hub mirror for every spec's revision; returns {index: commit}.

    Raises HfCacheError with kind ``unreachable`` (nothing answers), ``repo_not_found`` or
    ``revision_not_found``. Hub-compatible mirrors answer a missing repo or branch with 401 RepoNotFound
    (olah, the Hub itself for anonymous callers), so a failed revision lookup is followed by a refs
    lookup that tells the two apart.
    """
    endpoint = check_endpoint(endpoint, prefix)
    commits = {}
    for index, spec in enumerate(specs):
        api = '%s/api/%ss/%s' % (endpoint, spec['repo_type'], spec['repo_id'])
        url = '%s/revision/%s' % (api, quote(spec['revision'], safe=''))
        try:
            status, headers, body = _get(url, token, timeout, ca_bundle)
        except (URLError, OSError, socket.timeout, ssl.SSLError) as exc:
            reason = getattr(exc, 'reason', exc)
            raise HfCacheError('the Hub mirror %s cannot be reached (%s): check %sendpoint and that the mirror '
                               'is up and reachable from this host' % (endpoint, reason, prefix), kind='unreachable')
        if status == 200:
            try:
                commit = json.loads(body.decode('utf-8')).get('sha')
            except ValueError:
                commit = None
            if not commit or not is_commit(commit):
                raise HfCacheError('the Hub mirror %s answered %s without a commit sha: is it a Hub-compatible '
                                   'mirror (HF_ENDPOINT)?' % (endpoint, url), kind='bad_mirror')
            if is_commit(spec['revision']) and commit != spec['revision']:
                raise HfCacheError('revision %s of %s is not on the Hub mirror %s (it answered commit %s)'
                                   % (spec['revision'], label(spec), endpoint, commit), kind='revision_not_found')
            commits[index] = commit
            continue
        code = _error_code(headers, body)
        refs = _refs_of(api, token, timeout, ca_bundle)
        auth_hint = (' or the token is not allowed to read it' if token else
                     ' (a private repo needs %stoken)' % prefix)
        if refs is None and status >= 500:
            raise HfCacheError('the Hub mirror %s failed (HTTP %s%s) for %s' % (
                endpoint, status, ' ' + code if code else '', label(spec)), kind='mirror_error')
        if refs is None:
            raise HfCacheError('repo %s (%s) is not on the Hub mirror %s: it answered HTTP %s%s; check repo_id and '
                               'repo_type in %srepos%s' % (
                                   spec['repo_id'], spec['repo_type'], endpoint, status,
                                   ' ' + code if code else '', prefix, auth_hint), kind='repo_not_found')
        raise HfCacheError('revision %s of repo %s (%s) is not on the Hub mirror %s (HTTP %s%s); the mirror has '
                           'branches: %s; tags: %s' % (
                               spec['revision'], spec['repo_id'], spec['repo_type'], endpoint, status,
                               ' ' + code if code else '', ', '.join(refs['branches']) or 'none',
                               ', '.join(refs['tags']) or 'none'), kind='revision_not_found')
    return commits


def _refs_of(api, token, timeout, ca_bundle):
    try:
        status, _headers, body = _get(api + '/refs', token, timeout, ca_bundle)
    except (URLError, OSError, socket.timeout, ssl.SSLError):
        return None
    if status != 200:
        return None
    try:
        data = json.loads(body.decode('utf-8'))
    except ValueError:
        return None
    return {'branches': sorted(b.get('name', '?') for b in data.get('branches') or []),
            'tags': sorted(t.get('name', '?') for t in data.get('tags') or [])}


# --------------------------------------------------------------------------- hashing, paths
def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_member(name, folders):
    """True when a member name stays inside one of the repo folders of the manifest."""
    if not name or name.startswith('/') or '\\' in name:
        return False
    parts = name.split('/')
    if any(p in ('', '.', '..') for p in parts):
        return False
    return parts[0] in folders


def _link_inside(name, target):
    """A snapshot symlink must point at a blob of the same repo folder (relative, no escape)."""
    if target.startswith('/'):
        return False
    base = name.split('/')[0]
    resolved = os.path.normpath(os.path.join(os.path.dirname(name), target))
    return resolved.split('/')[0] == base and not resolved.startswith('..')


# --------------------------------------------------------------------------- bundles
def manifest_path_for(bundle):
    return bundle + MANIFEST_SUFFIX


def collect_entries(cache_dir, spec, commit):
    """Paths (relative to cache_dir) a bundle holds for one seeded revision: refs, snapshot links, blobs."""
    folder = repo_folder(spec['repo_type'], spec['repo_id'])
    base = os.path.join(cache_dir, folder)
    snapshot = os.path.join(base, 'snapshots', commit)
    if not os.path.isdir(snapshot):
        raise HfCacheError('%s: snapshot %s is not in the cache %s' % (label(spec), commit, cache_dir),
                           kind='not_cached')
    entries = {}
    for root, dirs, files in os.walk(snapshot):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, cache_dir)
            if os.path.islink(full):
                target = os.readlink(full)
                entries[rel] = {'type': 'symlink', 'target': target}
                blob = os.path.normpath(os.path.join(os.path.dirname(full), target))
                if not os.path.isfile(blob):
                    raise HfCacheError('%s: %s points at a missing blob' % (label(spec), rel), kind='corrupt')
                entries[os.path.relpath(blob, cache_dir)] = {'type': 'file'}
            else:
                entries[rel] = {'type': 'file'}
    tree = os.path.join(folder, 'trees', commit + '.json')
    if os.path.isfile(os.path.join(cache_dir, tree)):
        entries[tree] = {'type': 'file'}
    for ref in sorted(set(spec['refs'] + ([] if is_commit(spec['revision']) else [spec['revision']]))):
        rel = os.path.join(folder, 'refs', ref)
        if _read(os.path.join(cache_dir, rel)) == commit:
            entries[rel] = {'type': 'file'}
    return entries


def build_bundle(cache_dir, resolved, bundle, check_mode=False):
    """Write BUNDLE (tar) and BUNDLE.manifest.json for ``resolved`` [(spec, commit)]; returns (changed, manifest).

    The tar is deterministic (sorted members, fixed owner and mtime), so the same cache content gives the
    same bytes and a second run changes nothing.
    """
    entries = {}
    repos = []
    for spec, commit in resolved:
        entries.update(collect_entries(cache_dir, spec, commit))
        repos.append({'repo_id': spec['repo_id'], 'repo_type': spec['repo_type'], 'revision': spec['revision'],
                      'commit': commit, 'refs': spec['refs'], 'folder': repo_folder(spec['repo_type'], spec['repo_id'])})
    files = []
    if not check_mode:
        _makedirs(os.path.dirname(os.path.abspath(bundle)))
    fd, tmp = tempfile.mkstemp(prefix='.hf-bundle-', dir=None if check_mode else os.path.dirname(os.path.abspath(bundle)))
    os.close(fd)
    try:
        with tarfile.open(tmp, 'w', format=tarfile.GNU_FORMAT) as tar:
            for rel in sorted(entries):
                full = os.path.join(cache_dir, rel)
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
                else:
                    info.size = os.path.getsize(full)
                    info.mode = 0o664
                    with open(full, 'rb') as handle:
                        tar.addfile(info, handle)
                    files.append({'path': rel, 'type': 'file', 'size': info.size, 'sha256': sha256_file(full)})
        manifest = {'schema': BUNDLE_SCHEMA, 'format': BUNDLE_FORMAT, 'bundle': os.path.basename(bundle),
                    'bundle_sha256': sha256_file(tmp), 'repos': repos, 'files': files}
        changed = not (os.path.isfile(bundle) and sha256_file(bundle) == manifest['bundle_sha256'])
        text = json.dumps(manifest, indent=2, sort_keys=True) + '\n'
        mpath = manifest_path_for(bundle)
        changed = changed or _read(mpath) != text.strip()
        if check_mode:
            return changed, manifest
        if changed:
            os.chmod(tmp, 0o644)
            os.rename(tmp, bundle)
        if _read(mpath) != text.strip():
            with open(mpath + '.tmp', 'w') as handle:
                handle.write(text)
            os.chmod(mpath + '.tmp', 0o644)
            os.rename(mpath + '.tmp', mpath)
        return changed, manifest
    finally:
        if os.path.exists(tmp):
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
            if not _link_inside(entry['path'], entry.get('target') or '/'):
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


def verify_bundle(bundle, manifest, extract_to=None, only=None):
    """Check every member of BUNDLE against MANIFEST (streaming); optionally extract them under EXTRACT_TO.

    ``only``: a set of paths to extract (all are still verified). Raises HfCacheError naming the first file
    that is missing, extra, of the wrong type, size or sha256, or where the tar is truncated.
    Returns the number of members checked.
    """
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
            if entry['type'] == 'symlink':
                if not member.issym() or member.linkname != entry['target']:
                    raise _mismatch(bundle, name, 'is not the symlink to %s the manifest lists' % entry['target'])
                if extract_to is not None and (only is None or name in only):
                    dest = os.path.join(extract_to, name)
                    _makedirs(os.path.dirname(dest))
                    os.symlink(member.linkname, dest)
                continue
            if not member.isreg():
                raise _mismatch(bundle, name, 'is not a regular file')
            if member.size != entry['size']:
                raise _mismatch(bundle, name, 'has %d bytes, the manifest says %d' % (member.size, entry['size']))
            digest = hashlib.sha256()
            out = None
            if extract_to is not None and (only is None or name in only):
                dest = os.path.join(extract_to, name)
                _makedirs(os.path.dirname(dest))
                out = open(dest, 'wb')
            try:
                source = tar.extractfile(member)
                got = 0
                while True:
                    try:
                        chunk = source.read(_CHUNK)
                    except (tarfile.TarError, EOFError, OSError) as exc:
                        raise _mismatch(bundle, name, 'is truncated (%s)' % exc)
                    if not chunk:
                        break
                    got += len(chunk)
                    digest.update(chunk)
                    if out is not None:
                        out.write(chunk)
            finally:
                if out is not None:
                    out.close()
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
    """Manifest paths whose live copy in CACHE_DIR is absent or different."""
    out = []
    for entry in manifest['files']:
        live = os.path.join(cache_dir, entry['path'])
        if entry['type'] == 'symlink':
            if not os.path.islink(live) or os.readlink(live) != entry['target']:
                out.append(entry['path'])
        elif (os.path.islink(live) or not os.path.isfile(live) or os.path.getsize(live) != entry['size']
              or sha256_file(live) != entry['sha256']):
            out.append(entry['path'])
    return out


def _install_order(path):
    # Blobs first, then the snapshot links to them, refs last: a reader never sees a ref to a half-built revision.
    part = path.split('/')[1] if '/' in path else ''
    return ({'blobs': 0, 'trees': 0, 'snapshots': 1, 'refs': 2}.get(part, 1), path)


def unpack_bundle(bundle, manifest, cache_dir, check_mode=False):
    """Bring CACHE_DIR in line with the bundle; returns the list of paths installed (empty: nothing to do).

    The whole bundle is verified first (streaming). Only then are the differing members extracted into a
    staging directory inside CACHE_DIR (same file system), verified again as extracted, and moved into place.
    """
    verify_bundle(bundle, manifest)
    todo = live_differences(cache_dir, manifest)
    if not todo or check_mode:
        return todo
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=cache_dir)
    try:
        verify_bundle(bundle, manifest, extract_to=staging, only=set(todo))
        for rel in sorted(todo, key=_install_order):
            src = os.path.join(staging, rel)
            dest = os.path.join(cache_dir, rel)
            _makedirs(os.path.dirname(dest))
            if os.path.isdir(dest) and not os.path.islink(dest):
                raise HfCacheError('cannot install %s: %s is a directory' % (rel, dest), kind='corrupt')
            os.rename(src, dest)
            if not os.path.islink(dest):
                os.chmod(dest, 0o664)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return todo


def clean_staging(cache_dir):
    """Remove staging directories left by an interrupted unpack; returns their paths."""
    removed = []
    if os.path.isdir(cache_dir):
        for name in sorted(os.listdir(cache_dir)):
            if name.startswith(STAGING_PREFIX):
                shutil.rmtree(os.path.join(cache_dir, name), ignore_errors=True)
                removed.append(os.path.join(cache_dir, name))
    return removed


# --------------------------------------------------------------------------- shared-cache permissions
def share_tree(paths, gid, check_mode=False):
    """Give every entry under PATHS group GID and group read/write; directories setgid; never world-writable.

    Owners are kept (a file a group member downloaded stays theirs). Returns the number of entries changed.
    """
    changed = 0
    for top in paths:
        if not os.path.lexists(top):
            continue
        changed += _share_one(top, gid, check_mode)
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                changed += _share_one(os.path.join(root, name), gid, check_mode)
    return changed


def _share_one(path, gid, check_mode):
    st = os.lstat(path)
    touched = 0
    if gid is not None and st.st_gid != gid:
        touched = 1
        if not check_mode:
            os.lchown(path, -1, gid)
    if stat.S_ISLNK(st.st_mode):
        return touched
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        want = (mode | 0o2070) & ~0o002
    else:
        want = (mode | 0o060) & ~0o002
    if want != mode:
        touched = 1
        if not check_mode:
            os.chmod(path, want)
    return touched


# --------------------------------------------------------------------------- child side (target venv)
def child_seed(cache_dir, specs, umask=0o002):
    """Run in the venv's interpreter with HF_ENDPOINT / HF_TOKEN in its environment: snapshot_download
    every spec that the cache cannot resolve locally. Returns [{index, commit, downloaded}]."""
    os.umask(umask)
    os.environ['HF_HUB_OFFLINE'] = '0'
    os.environ['HF_HUB_DISABLE_PROGRESS_BARS'] = '1'
    os.environ['HF_HUB_DISABLE_TELEMETRY'] = '1'
    from huggingface_hub import snapshot_download  # pylint: disable=import-error
    out = []
    from huggingface_hub.errors import LocalEntryNotFoundError  # pylint: disable=import-error
    for index, spec in enumerate(specs):
        kwargs = dict(repo_id=spec['repo_id'], repo_type=spec['repo_type'], revision=spec['revision'],
                      cache_dir=cache_dir, allow_patterns=spec['allow_patterns'])
        downloaded = False
        try:
            path = snapshot_download(local_files_only=True, **kwargs)
        except LocalEntryNotFoundError:  # IncompleteSnapshotError is one too
            path = snapshot_download(**kwargs)
            downloaded = True
        out.append({'index': index, 'commit': os.path.basename(os.path.normpath(path)), 'downloaded': downloaded})
    return out


def _mtime_iso(value):
    try:
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(value))
    except (TypeError, ValueError):
        return None


def child_scan(cache_dir, requested=None):
    """Run in the venv's interpreter: huggingface_hub.scan_cache_dir of CACHE_DIR, and for each requested
    spec whether it resolves offline (snapshot_download with local_files_only=True)."""
    os.environ['HF_HUB_OFFLINE'] = '1'
    os.environ['HF_HUB_DISABLE_TELEMETRY'] = '1'
    import huggingface_hub  # pylint: disable=import-error
    from huggingface_hub import scan_cache_dir, snapshot_download  # pylint: disable=import-error
    facts = {'cache_dir': cache_dir, 'exists': os.path.isdir(cache_dir), 'huggingface_hub_version':
             huggingface_hub.__version__, 'size_on_disk': 0, 'repos': [], 'warnings': [], 'incomplete_files': [],
             'requested': []}
    if facts['exists']:
        info = scan_cache_dir(cache_dir)
        facts['size_on_disk'] = info.size_on_disk
        facts['warnings'] = sorted(str(w) for w in info.warnings)
        facts['incomplete_files'] = sorted(str(getattr(f, 'file_path', f))
                                           for f in getattr(info, 'incomplete_files', None) or [])
        for repo in sorted(info.repos, key=lambda r: (r.repo_type, r.repo_id)):
            revisions = []
            refs = {}
            for rev in sorted(repo.revisions, key=lambda r: r.commit_hash):
                for ref in rev.refs:
                    refs[ref] = rev.commit_hash
                revisions.append({'commit': rev.commit_hash, 'refs': sorted(rev.refs),
                                  'size_on_disk': rev.size_on_disk, 'nb_files': rev.nb_files,
                                  'files': sorted(f.file_name for f in rev.files),
                                  'snapshot_path': str(rev.snapshot_path)})
            facts['repos'].append({'repo_id': repo.repo_id, 'repo_type': repo.repo_type,
                                   'repo_path': str(repo.repo_path), 'size_on_disk': repo.size_on_disk,
                                   'nb_files': repo.nb_files, 'refs': refs, 'revisions': revisions,
                                   'last_modified': _mtime_iso(repo.last_modified)})
    for spec in requested or []:
        entry = {'repo_id': spec['repo_id'], 'repo_type': spec['repo_type'], 'revision': spec['revision'],
                 'resolves_offline': False, 'commit': None, 'snapshot_path': None, 'error': None}
        for ref in spec.get('refs') or []:
            entry.setdefault('refs', {})[ref] = None
        try:
            path = snapshot_download(repo_id=spec['repo_id'], repo_type=spec['repo_type'],
                                     revision=spec['revision'], cache_dir=cache_dir, local_files_only=True,
                                     allow_patterns=spec.get('allow_patterns'))
            if not os.listdir(path):
                raise IOError('the snapshot %s is empty' % path)
            entry.update(resolves_offline=True, snapshot_path=str(path), commit=os.path.basename(str(path)))
        except Exception as exc:  # pylint: disable=broad-except
            entry['error'] = '%s: %s' % (type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc) else '')
        for ref in list(entry.get('refs', {})):
            try:
                path = snapshot_download(repo_id=spec['repo_id'], repo_type=spec['repo_type'], revision=ref,
                                         cache_dir=cache_dir, local_files_only=True,
                                         allow_patterns=spec.get('allow_patterns'))
                entry['refs'][ref] = os.path.basename(str(path))
            except Exception:  # pylint: disable=broad-except
                entry['refs'][ref] = None
        if entry['resolves_offline'] and any(v != entry['commit'] for v in entry.get('refs', {}).values()):
            entry['resolves_offline'] = False
            entry['error'] = 'refs %s do not resolve offline to %s' % (
                ', '.join(sorted(r for r, v in entry['refs'].items() if v != entry['commit'])), entry['commit'])
        facts['requested'].append(entry)
    return facts


def child_hub_version():
    import huggingface_hub  # pylint: disable=import-error
    return huggingface_hub.__version__


__all__ = ['HfCacheError', 'build_bundle', 'child_scan', 'child_seed', 'clean_staging', 'load_manifest',
           'local_commit', 'normalize_repos', 'probe_mirror', 'repo_folder', 'share_tree', 'unpack_bundle',
           'verify_bundle', 'write_refs']
