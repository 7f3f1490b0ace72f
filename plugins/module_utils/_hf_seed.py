# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What hf_cache_seed does: seed a shared (or a user's own) Hugging Face hub cache from a Hub mirror, through a
child interpreter that has huggingface_hub and a root-only private cache, or from a verified bundle; then repair
refs, remove unsafe ones and share the tree with the group.

Private to the collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import shutil
import tempfile

from ansible_collections.codex.offline_ml.plugins.module_utils import (
    _faults,
    _hf_bundle,
    _hf_child,
    _hf_layout,
    _hf_probe,
    _hf_record,
    _hf_safefs,
    _hf_specs,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._child import module_source, run_function
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError


def seed_env(cache_dir, endpoint, token):
    settings = {'HF_ENDPOINT': endpoint, 'HF_HUB_OFFLINE': '0'}
    if token:
        settings['HF_TOKEN'] = token
    return _hf_specs.child_env(cache_dir, **settings)


def tag(spec):
    return '%s %s@%s' % (spec['repo_type'], spec['repo_id'], spec['revision'])


def download(params, specs, endpoint, token, have):
    """List SPECS on the mirror and hf_hub_download what the shared cache lacks (HAVE: per spec, {blob: size})
    into a new root-only private cache (never the shared one, which members can write: huggingface_hub writes by
    path and would follow their symlinks); returns (private dir, child items)."""
    python = params['python']
    if not python:
        raise HfCacheError('method=mirror needs python: the interpreter that has huggingface_hub', kind='invalid')
    private = tempfile.mkdtemp(prefix='codex-hf-seed-')
    try:
        progress = start_progress(params['progress_log'])
        run = run_function(python, module_source(_hf_child), 'child_seed',
                           {'cache_dir': private, 'specs': specs, 'have': have, 'progress': progress,
                            'ca_bundle': params['ca_bundle']},
                           timeout=params['timeout'], env=seed_env(private, endpoint, token))
        if not run.ok:
            detail = run.error or ''
            if token:
                detail = detail.replace(token, '********')
            if _hf_specs.lacks_hub(detail):
                raise HfCacheError('the interpreter %s has no huggingface_hub (option python)' % python,
                                   kind='invalid')
            if _hf_probe.is_tls_failure(detail):
                raise HfCacheError(_hf_probe.tls_message(endpoint, _hf_probe.tls_reason(detail), params['ca_bundle'],
                                                         params['variable_prefix']), kind='tls')
            raise HfCacheError('downloading from %s %s' % (endpoint, detail), kind='download_failed')
        items = run.value
        if not isinstance(items, list) or len(items) != len(specs) or not all(
                isinstance(i, dict) and _hf_specs.is_commit(i.get('commit')) for i in items):
            raise HfCacheError('the mirror %s returned no commit for every repo (%r): is %s a '
                               'Hub-compatible mirror?' % (endpoint, items, endpoint), kind='download_failed')
        return private, items
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise


def start_progress(path):
    """Truncate the progress log PATH (root's, outside the cache; never followed if a symlink) for this run."""
    if not path:
        return None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
    os.close(fd)
    return path


def incomplete_message(specs, states, indexes, why):
    return '%s; the mirror is needed because the cache does not hold these revisions complete: %s' % (
        why, ' | '.join('%s: %s' % (tag(specs[i]), _hf_record.describe(states[i])) for i in indexes))


def install_item(cache_dir, private, spec, item):
    """Install what the child downloaded for SPEC, link the files whose blobs were already there, and write the
    record; returns the cache paths written."""
    folder = _hf_specs.repo_folder(spec['repo_type'], spec['repo_id'])
    installed = []
    if item['downloaded']:
        entries = _hf_layout.collect_entries(private, dict(spec, refs=[], revision=item['commit']), item['commit'])
        installed.extend(_hf_layout.install_from_cache(private, entries, cache_dir))
    installed.extend(_hf_record.ensure_links(cache_dir, folder, item['commit'], item['files']))
    root = _hf_safefs.open_root(cache_dir)
    try:
        old = _hf_record.read_record(root, folder, item['commit'])
    finally:
        os.close(root)
    record = _hf_record.merge(old, _hf_record.make_record(spec, item['commit'], item['listing'], item['files'],
                                                          'mirror'))
    if _hf_record.write_record(cache_dir, folder, record):
        installed.append(_hf_record.record_rel(folder, item['commit']))
    return installed


def run_mirror(params, specs, cache_dir, check_mode=False):
    """Seed from the mirror what is not complete per its record; repair refs; ask the mirror nothing when every
    requested revision is complete."""
    token = params['token'] or None
    prefix = params['variable_prefix']
    endpoint = _hf_probe.check_endpoint(params['endpoint'] or '', prefix)
    states = [_hf_record.check(cache_dir, spec, verify=params['verify']) for spec in specs]
    missing = [i for i, st in enumerate(states) if not st['complete']]
    commits = {}
    if missing:
        try:
            probed = _hf_probe.probe_mirror(endpoint, [specs[i] for i in missing], token=token,
                                            timeout=params['probe_timeout'], ca_bundle=params['ca_bundle'],
                                            prefix=prefix)
        except HfCacheError as exc:
            raise HfCacheError(incomplete_message(specs, states, missing, exc.msg), kind=exc.kind)
        commits = dict((missing[k], v) for k, v in probed.items())
    result = dict(changed=False, repos=[], would_seed=[tag(specs[i]) for i in missing], installed=[],
                  permissions_fixed=0, bundle_files=0, downloaded_files=[])
    if params['validate_only']:
        return result
    if not os.path.isdir(cache_dir) and not check_mode:
        raise HfCacheError('cache_dir %s does not exist: create it first' % cache_dir, kind='invalid')
    downloaded = {}
    if missing and not check_mode:
        have = [_hf_record.regular_blobs(cache_dir, _hf_specs.repo_folder(specs[i]['repo_type'],
                                                                          specs[i]['repo_id'])) for i in missing]
        if params['verify']:  # a blob of the right size but the wrong content is not "had"
            for k, i in enumerate(missing):
                bad = set(states[i]['blobs'].get(n) for n in states[i]['problems'])
                have[k] = dict((b, n) for b, n in have[k].items() if b not in bad)
        private, items = download(params, [specs[i] for i in missing], endpoint, token, have)
        try:
            _faults.point("hf.downloaded")
            for k, item in enumerate(items):
                spec = specs[missing[k]]
                result['installed'].extend(install_item(cache_dir, private, spec, item))
                result['downloaded_files'].extend('%s %s: %s' % (tag(spec), item['commit'], name)
                                                  for name in item['downloaded'])
                downloaded[missing[k]] = item
        finally:
            shutil.rmtree(private, ignore_errors=True)
    for index, spec in enumerate(specs):
        commit = (downloaded.get(index) or {}).get('commit') or commits.get(index) or states[index]['commit']
        if index not in missing:
            action = 'present'
        elif index in downloaded:
            action = 'downloaded' if downloaded[index]['downloaded'] else 'repaired'
        else:
            action = 'would_download'
        refs = _hf_layout.missing_refs(cache_dir, spec, commit) if commit else list(spec['refs'])
        if refs and not check_mode:
            refs = _hf_layout.write_refs(cache_dir, spec, commit)
        result['repos'].append(dict(repo_id=spec['repo_id'], repo_type=spec['repo_type'], revision=spec['revision'],
                                    commit=commit, action=action, refs_written=refs))
        if action != 'present' or refs:
            result['changed'] = True
    if not check_mode:
        after = [_hf_record.check(cache_dir, spec, verify=params['verify']) for spec in specs]
        broken = [i for i, st in enumerate(after) if not st['complete'] or st['ref_problems']]
        if broken:
            raise HfCacheError('after seeding from %s the cache still cannot load: %s' % (endpoint, ' | '.join(
                '%s: %s' % (tag(specs[i]), _hf_record.describe(after[i])) for i in broken)), kind='incomplete')
    return result


def bundle_record(manifest, repo):
    """The per-revision record of REPO from the bundle's manifest: its snapshot files, each blob's size and
    sha256."""
    snap = '%s/snapshots/%s/' % (repo['folder'], repo['commit'])
    blobs = dict((f['path'], f) for f in manifest['files'] if f['type'] == 'file')
    files = {}
    for entry in manifest['files']:
        if entry['type'] != 'symlink' or not entry['path'].startswith(snap):
            continue
        blob = blobs.get(os.path.normpath(os.path.join(os.path.dirname(entry['path']), entry['target']))) or {}
        files[entry['path'][len(snap):]] = {'size': blob.get('size'), 'sha256': blob.get('sha256'),
                                            'etag': entry['target'].rsplit('/', 1)[-1]}
    spec = {'repo_id': repo['repo_id'], 'repo_type': repo['repo_type']}
    return _hf_record.make_record(spec, repo['commit'], sorted(files), files, 'bundle')


def run_bundle(params, specs, cache_dir, check_mode=False):
    """Unpack the verified bundle into the cache and record what it holds; validate_only verifies it only."""
    bundle = params['bundle']
    if not bundle:
        raise HfCacheError('method=bundle needs bundle: the path of the tar written by playbooks/stage_hf.yml',
                           kind='invalid')
    if not os.path.isfile(bundle):
        raise HfCacheError('the bundle %s does not exist' % bundle, kind='invalid')
    manifest = _hf_bundle.load_manifest(params['manifest'] or _hf_bundle.manifest_path_for(bundle))
    in_bundle = dict(((r['repo_type'], r['repo_id']), r) for r in manifest['repos'])
    for spec in specs:
        found = in_bundle.get((spec['repo_type'], spec['repo_id']))
        if found is None or spec['revision'] not in (found['revision'], found['commit']):
            raise HfCacheError('%s is not in the bundle %s (it holds: %s); stage it with playbooks/stage_hf.yml' % (
                tag(spec), bundle, ', '.join('%s %s@%s' % (r['repo_type'], r['repo_id'], r['revision'])
                                             for r in manifest['repos']) or 'nothing'), kind='not_in_bundle')
    result = dict(changed=False, repos=[], would_seed=[], installed=[], permissions_fixed=0, bundle_files=0,
                  downloaded_files=[])
    if params['validate_only']:
        result['bundle_files'] = _hf_bundle.verify_bundle(bundle, manifest)
        return result
    if not os.path.isdir(cache_dir):
        if not check_mode:
            raise HfCacheError('cache_dir %s does not exist: create it first' % cache_dir, kind='invalid')
        result['bundle_files'] = _hf_bundle.verify_bundle(bundle, manifest)
        result['installed'] = [f['path'] for f in manifest['files']]
    else:
        leftovers = [] if check_mode else _hf_layout.clean_staging(cache_dir)
        result['installed'] = _hf_bundle.unpack_bundle(bundle, manifest, cache_dir, check_mode=check_mode)
        result['bundle_files'] = len(manifest['files'])
        result['changed'] = bool(result['installed'] or leftovers)
    if os.path.isdir(cache_dir) and not check_mode:
        for repo in manifest['repos']:
            if _hf_record.write_record(cache_dir, repo['folder'], bundle_record(manifest, repo)):
                result['installed'].append(_hf_record.record_rel(repo['folder'], repo['commit']))
                result['changed'] = True
    touched = set(p.split('/')[0] for p in result['installed'])
    for repo in manifest['repos']:
        result['repos'].append(dict(repo_id=repo['repo_id'], repo_type=repo['repo_type'], revision=repo['revision'],
                                    commit=repo['commit'], refs_written=[],
                                    action='unpacked' if repo['folder'] in touched else 'present'))
        if repo['folder'] in touched:
            result['would_seed'].append('%s %s@%s' % (repo['repo_type'], repo['repo_id'], repo['revision']))
    return result


def own_cache(owner, cache_dir, check_mode=False):
    """(uid, gid) of OWNER, whose home becomes the anchor root trusts; creates CACHE_DIR below it (walked without
    following links) and gives what root created on the way to the user."""
    try:
        user = pwd.getpwnam(owner)
    except KeyError:
        raise HfCacheError('owner %r is not a user of this host' % owner, kind='invalid')
    home = os.path.normpath(user.pw_dir)
    if home == '/' or not os.path.normpath(cache_dir).startswith(home + '/'):
        raise HfCacheError('cache_dir %s is not inside the home %s of %s' % (cache_dir, home, owner), kind='invalid')
    _hf_safefs.set_anchor(home)
    if check_mode:
        return user.pw_uid, user.pw_gid
    base = _hf_safefs.open_root_plain(home)
    if base is None:
        raise HfCacheError('the home %s of %s does not exist' % (home, owner), kind='invalid')
    try:
        fd = os.dup(base)
        try:
            for part in _hf_safefs.components(os.path.relpath(os.path.normpath(cache_dir), home)):
                child = _hf_safefs.open_dir(fd, part, create=True, where=home)
                os.close(fd)
                fd = child
                if os.fstat(fd).st_uid == 0 and user.pw_uid != 0:  # made just now (the user cannot make root's)
                    os.fchown(fd, user.pw_uid, user.pw_gid)
        finally:
            os.close(fd)
    finally:
        os.close(base)
    return user.pw_uid, user.pw_gid


def seed(params, cache_dir, check_mode=False):
    """hf_cache_seed's work on its PARAMS (variable_prefix already ending in '_' or empty); raises HfCacheError,
    InterpreterError or OSError."""
    specs = _hf_specs.normalize_repos(params['repos'], params['variable_prefix'] + 'repos')
    uid = None
    if params['owner']:
        uid, gid = own_cache(params['owner'], cache_dir, check_mode)
    else:
        gid = _hf_specs.resolve_gid(params['group'], check_mode)
    if params['method'] == 'mirror':
        if not params['endpoint']:
            raise HfCacheError('method=mirror needs %sendpoint: the URL of the Hub mirror'
                               % params['variable_prefix'], kind='invalid')
        result = run_mirror(params, specs, cache_dir, check_mode)
    else:
        result = run_bundle(params, specs, cache_dir, check_mode)
    result['unsafe_removed'] = []
    if not params['validate_only']:
        folders = sorted(set(_hf_specs.repo_folder(r['repo_type'], r['repo_id']) for r in result['repos']))
        for folder in folders:
            result['unsafe_removed'].extend(_hf_layout.remove_unsafe_refs(cache_dir, folder, check_mode))
        result['changed'] = result['changed'] or bool(result['unsafe_removed'])
    if not params['validate_only'] and gid is not None and os.path.isdir(cache_dir):
        result['permissions_fixed'] = _hf_safefs.share_tree([cache_dir], gid, check_mode=check_mode, uid=uid)
        result['changed'] = result['changed'] or result['permissions_fixed'] > 0
    return result
