#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hf_cache_seed
short_description: Seed a shared Hugging Face hub cache from a Hub mirror or from a verified bundle
version_added: 0.1.0
description:
  - O(method=mirror) lists, in the interpreter O(python) and against the Hub-compatible mirror O(endpoint), each
    requested revision that the cache does not hold complete (C(repo_info), then a HEAD per file its
    C(allow_patterns) select) and downloads with C(huggingface_hub.hf_hub_download) only the files whose blob is
    not in the cache; the mirror is asked first (plain HTTP, before anything is written) whether each repo and
    revision is there, so a typo fails with a clear message. Revisions complete per their record cause no request
    at all.
  - huggingface_hub never writes the shared cache (its members could redirect its writes); it downloads into a
    root-only private cache under C(TMPDIR), from which the blobs and snapshot links are installed into
    O(cache_dir) without following any link (see docs/security.md).
  - O(method=bundle) checks every member of the tar O(bundle) against its per-file sha256 manifest before
    anything reaches the cache, and the free space against the manifest's sizes, then installs only what differs
    (blobs, then snapshot links, then refs), through a root-only staging directory inside the cache. A tampered,
    truncated or oversized bundle fails naming the file; the cache is left as it was.
  - Inside O(cache_dir), which members of O(group) can write, every read, write, rename, chmod and chown goes
    through directory descriptors opened without following links; a symlink where a directory is expected fails
    the module naming it, and symlinks, FIFOs and hard links under C(refs/) of the seeded repos are removed (see
    RV(unsafe_removed)).
  - "Completeness is the revision's files: each seeded revision gets a record,
    C(<repo folder>/.codex/<commit>.json), of every file the mirror lists for it (O(method=mirror): the names from
    C(repo_info), the size and ETag from the HEAD answer of each file selected by C(allow_patterns)) or that the
    bundle manifest holds (O(method=bundle), with sha256). A revision is complete when every file its
    C(allow_patterns) select is in C(snapshots/<commit>/) and links to a regular blob of the recorded size. An
    incomplete revision (a deleted blob, a dangling link, a half-downloaded snapshot, a widened C(allow_patterns),
    no record yet) is completed from the mirror, downloading only the files whose blob is not there; when the
    mirror cannot be reached the module fails naming the mirror and the files. When every requested revision is
    complete and its refs resolve, the mirror is not asked anything."
  - Both methods then make every ref in O(repos[].refs) (default V(main)) name the seeded commit, so a program
    asking for C(main) resolves offline a revision that was seeded by commit, and give the cache's entries the
    group O(group), group read/write, setgid directories, and no write bit for others.
  - O(validate_only) probes the mirror (or verifies the bundle) and changes nothing; it needs no C(python).
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.hf_cache
  - codex.offline_ml.interpreter
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The repos seeded or repaired (V(would_download) in check mode), the unsafe refs removed and the number
      of entries whose group or mode was corrected, one line each.
options:
  method:
    description: Where the cache content comes from.
    type: str
    choices: [mirror, bundle]
    required: true
  cache_dir:
    description: The hub cache (C(HF_HUB_CACHE)), an existing directory given as an absolute path.
  repos:
    description:
      - Repos to seed (O(method=mirror)) or that the bundle must hold (O(method=bundle)).
    default: []
  variable_prefix:
    description: Prefix put before option names in error messages (the role passes V(hf_offline_cache_)).
    type: str
    default: ''
  python:
    description:
      - Interpreter that has C(huggingface_hub), in which C(snapshot_download) runs; required for O(method=mirror)
        unless O(validate_only).
      - A path that does not exist or is not executable makes the module fail.
  endpoint:
    description: URL of the Hub-compatible mirror (C(HF_ENDPOINT)), without credentials.
    type: str
  token:
    description:
      - Token for a private mirror, sent as a bearer token by the probe and by C(snapshot_download). It reaches the
        child interpreter as C(HF_TOKEN) in its environment only (readable by root alone), never in its argv or
        its script; masked in the module's output, never logged, never written anywhere.
    type: str
  ca_bundle:
    description:
      - CA bundle (PEM) on the host for an HTTPS mirror whose certificate a private CA signed. The probe and
        C(snapshot_download) (through C(huggingface_hub)'s C(set_client_factory)) both verify the mirror against
        it. A certificate that does not verify fails naming the option (the role's
        C(hf_offline_cache_endpoint_ca_bundle)).
    type: path
  bundle:
    description: Path of the bundle tar on the host running the module, for O(method=bundle).
    type: path
  manifest:
    description: Its manifest; defaults to O(bundle) with C(.manifest.json) appended.
    type: path
  group:
    description:
      - Group (name or id) the cache entries are given, with group read/write, setgid directories and no write bit
        for others. Permissions are left alone when omitted.
    type: str
  owner:
    description:
      - A per-user cache (the role's O(cache_dir) under a user's home, hf_offline_cache_layout=per_user) - the user
        whose cache O(cache_dir) is. It must lie inside that user's home directory, which root then trusts but not
        what is below it - every path is walked down from the home without following links (the user can redirect
        any path there), missing directories are created, and everything in the cache is given to the user and the
        user's primary group (O(group) is ignored; modes are left alone).
    type: str
  validate_only:
    description: Only probe the mirror or verify the bundle; change nothing.
    type: bool
    default: false
  timeout:
    description: Seconds the downloads of one run may take before the child process group is killed.
    default: 3600
  probe_timeout:
    description: Seconds each mirror probe request may take.
    type: int
    default: 10
  verify:
    description:
      - Also hash every blob of the requested revisions against its record (sha256 for LFS files and bundles, the
        git blob sha1 otherwise, as C(hf cache verify) does); a blob whose content differs is downloaded again.
      - Without it a blob counts as present when it is a regular file of the recorded size.
    type: bool
    default: false
  progress_log:
    description:
      - File (outside the cache, on the host) truncated at the start of a download and given one line per file as
        it completes, so a person can C(tail -f) a long snapshot download while the task runs.
    type: path
seealso:
  - module: codex.offline_ml.hf_cache_facts
  - module: codex.offline_ml.hf_bundle
"""

EXAMPLES = r"""
- name: Seed the tiny model by commit from the Hub mirror, and make main point at it
  codex.offline_ml.hf_cache_seed:
    method: mirror
    python: /opt/codex/venv/bin/python
    cache_dir: /srv/huggingface/hub
    endpoint: http://hub-mirror.lab:8090
    group: hf-cache
    repos:
      - repo_id: codex-test/tiny-bert
        revision: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b

- name: Unpack a bundle written by playbooks/stage_hf.yml
  codex.offline_ml.hf_cache_seed:
    method: bundle
    bundle: /var/cache/codex/hf-bundles/hf-bundle.tar
    cache_dir: /srv/huggingface/hub
    group: hf-cache
"""

RETURN = r"""
repos:
  description: One entry per repo seeded or found in the bundle.
  returned: always
  type: list
  elements: dict
  sample:
    - repo_id: codex-test/tiny-bert
      repo_type: model
      revision: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
      commit: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
      action: downloaded
      refs_written: [main]
  contains:
    action:
      description:
        - V(present) (complete per its record, nothing asked of the mirror), V(downloaded) (files were fetched),
          V(repaired) (only links and the record were rewritten), V(would_download) (check mode), V(unpacked) or
          V(present) for bundles.
      type: str
would_seed:
  description: C(repo_type repo_id@revision) of the repos the cache lacks (what a real run downloads or unpacks).
  returned: always
  type: list
  elements: str
  sample: ["model codex-test/tiny-bert@main"]
installed:
  description: Cache paths installed from the bundle (O(method=bundle)).
  returned: always
  type: list
  elements: str
  sample: ["models--codex-test--tiny-bert/refs/main"]
permissions_fixed:
  description: Number of cache entries whose group or mode was corrected.
  returned: always
  type: int
  sample: 0
unsafe_removed:
  description:
    - Entries under C(refs/) of the seeded repos that cannot be refs (symlinks, FIFOs, hard links, which a
      cache member planted), removed without following them (would be removed, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["models--codex-test--tiny-bert/refs/main.codex-tmp"]
downloaded_files:
  description: Each file downloaded from the mirror, as C(repo_type repo_id@revision commit) then its name.
  returned: always
  type: list
  elements: str
  sample: ["model codex-test/tiny-bert@main 98e98c5452e67e2486bba8b369e5a810876abdeb: model.safetensors"]
bundle_files:
  description: Number of bundle members verified against the manifest (O(method=bundle)).
  returned: always
  type: int
  sample: 11
"""

import grp
import os
import pwd
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

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
from ansible_collections.codex.offline_ml.plugins.module_utils._child import (
    InterpreterError,
    module_source,
    run_function,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError


def resolve_gid(group, check_mode=False):
    """The gid of GROUP; None when no group is given, or in check mode for a group not created yet."""
    if group is None or group == '':
        return None
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        if check_mode:
            return None
        raise HfCacheError('group %r does not exist on this host' % group, kind='invalid')


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


def run_mirror(module, params, specs, cache_dir, gid):
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
    if not os.path.isdir(cache_dir) and not module.check_mode:
        raise HfCacheError('cache_dir %s does not exist: create it first' % cache_dir, kind='invalid')
    downloaded = {}
    if missing and not module.check_mode:
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
        if refs and not module.check_mode:
            refs = _hf_layout.write_refs(cache_dir, spec, commit)
        result['repos'].append(dict(repo_id=spec['repo_id'], repo_type=spec['repo_type'], revision=spec['revision'],
                                    commit=commit, action=action, refs_written=refs))
        if action != 'present' or refs:
            result['changed'] = True
    if not module.check_mode:
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


def run_bundle(module, params, specs, cache_dir):
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
        if not module.check_mode:
            raise HfCacheError('cache_dir %s does not exist: create it first' % cache_dir, kind='invalid')
        result['bundle_files'] = _hf_bundle.verify_bundle(bundle, manifest)
        result['installed'] = [f['path'] for f in manifest['files']]
    else:
        leftovers = [] if module.check_mode else _hf_layout.clean_staging(cache_dir)
        result['installed'] = _hf_bundle.unpack_bundle(bundle, manifest, cache_dir, check_mode=module.check_mode)
        result['bundle_files'] = len(manifest['files'])
        result['changed'] = bool(result['installed'] or leftovers)
    if os.path.isdir(cache_dir) and not module.check_mode:
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


def seed(module, params, cache_dir):
    """The module's work; raises HfCacheError, InterpreterError or OSError."""
    specs = _hf_specs.normalize_repos(params['repos'], params['variable_prefix'] + 'repos')
    uid = None
    if params['owner']:
        uid, gid = own_cache(params['owner'], cache_dir, module.check_mode)
    else:
        gid = resolve_gid(params['group'], module.check_mode)
    if params['method'] == 'mirror':
        if not params['endpoint']:
            raise HfCacheError('method=mirror needs %sendpoint: the URL of the Hub mirror'
                               % params['variable_prefix'], kind='invalid')
        result = run_mirror(module, params, specs, cache_dir, gid)
    else:
        result = run_bundle(module, params, specs, cache_dir)
    result['unsafe_removed'] = []
    if not params['validate_only']:
        folders = sorted(set(_hf_specs.repo_folder(r['repo_type'], r['repo_id']) for r in result['repos']))
        for folder in folders:
            result['unsafe_removed'].extend(_hf_layout.remove_unsafe_refs(cache_dir, folder, module.check_mode))
        result['changed'] = result['changed'] or bool(result['unsafe_removed'])
    if not params['validate_only'] and gid is not None and os.path.isdir(cache_dir):
        result['permissions_fixed'] = _hf_safefs.share_tree([cache_dir], gid, check_mode=module.check_mode, uid=uid)
        result['changed'] = result['changed'] or result['permissions_fixed'] > 0
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            method=dict(type='str', choices=['mirror', 'bundle'], required=True),
            cache_dir=dict(type='path', required=True),
            repos=dict(type='list', elements='dict', default=[], options=_hf_specs.REPO_ARGUMENT_SPEC),
            variable_prefix=dict(type='str', default=''),
            python=dict(type='path'),
            endpoint=dict(type='str'),
            token=dict(type='str', no_log=True),
            ca_bundle=dict(type='path'),
            bundle=dict(type='path'),
            manifest=dict(type='path'),
            group=dict(type='str'),
            owner=dict(type='str'),
            validate_only=dict(type='bool', default=False),
            timeout=dict(type='int', default=3600),
            probe_timeout=dict(type='int', default=10),
            verify=dict(type='bool', default=False),
            progress_log=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    cache_dir = params['cache_dir']
    if not os.path.isabs(cache_dir):
        module.fail_json(msg='cache_dir must be an absolute path, got %r' % cache_dir)
    try:
        result = seed(module, params, cache_dir)
    except HfCacheError as exc:
        module.fail_json(msg=exc.msg, kind=exc.kind)
    except InterpreterError as exc:
        module.fail_json(msg='Cannot seed the hub cache: %s (option python)' % exc, kind='invalid')
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot seed the hub cache %s: %s%s' % (
            cache_dir, exc.strerror or exc, ' (%s)' % exc.filename if getattr(exc, 'filename', None) else ''),
            kind='os_error')
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='Cannot seed the hub cache %s: unexpected %s: %s' % (cache_dir, type(exc).__name__, exc),
                         kind='unexpected')
    if module._diff and result['changed']:
        result['diff'] = {'prepared': _hf_layout.describe_seed(cache_dir, result)}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
