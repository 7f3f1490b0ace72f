# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.hf_cache_seed: main() in process; bundles are real tars of the tiny BERT cache layout, the Hub
mirror is a real local HTTP server answering like olah; seeding with snapshot_download itself is covered by the
hf_offline_cache Molecule scenario (it needs a full Hub API)."""

from __future__ import absolute_import, division, print_function

import json
import os
import tarfile
from http.server import BaseHTTPRequestHandler

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_record as hf_record
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_seed as hf_seed
from ansible_collections.codex.offline_ml.plugins.modules import hf_cache_seed

from conftest import load_fixture_module, run_main

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')


def recorded(cache):
    """Write the per-revision record of the layout's revision, as a seed from the mirror does."""
    snap = cache / layout.FOLDER / 'snapshots' / layout.COMMIT
    files = dict((p.name, {'size': p.stat().st_size, 'etag': os.readlink(str(p)).rsplit('/', 1)[-1]})
                 for p in snap.iterdir())
    spec = {'repo_id': layout.REPO_ID, 'repo_type': 'model'}
    hf_record.write_record(str(cache), layout.FOLDER, hf_record.make_record(spec, layout.COMMIT, sorted(files), files,
                                                                            'mirror'))
    return cache


def run_module(**args):
    """Run hf_cache_seed.main() with ARGS; return (failed, result)."""
    return run_main(hf_cache_seed, **args)


@pytest.fixture
def bundle(tiny_bert_bundle):
    return tiny_bert_bundle


@pytest.fixture
def live(tmp_path):
    path = tmp_path / 'live'
    path.mkdir()
    return path


def test_bundle_unpacks_then_changes_nothing(bundle, live):
    args = dict(method='bundle', bundle=bundle, cache_dir=str(live), group=str(os.getgid()),
                repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    failed, result = run_module(_ansible_check_mode=True, **args)
    assert not failed and result['changed'] is True and result['installed']
    assert os.listdir(str(live)) == []
    failed, result = run_module(**args)
    assert not failed and result['changed'] is True
    assert result['repos'] == [{'repo_id': layout.REPO_ID, 'repo_type': 'model', 'revision': layout.COMMIT,
                                'commit': layout.COMMIT, 'refs_written': [], 'action': 'unpacked'}]
    assert (live / layout.FOLDER / 'refs' / 'main').read_text() == layout.COMMIT
    failed, result = run_module(**args)
    assert not failed and result['changed'] is False and result['installed'] == []
    assert result['permissions_fixed'] == 0 and result['repos'][0]['action'] == 'present'


def test_bundle_without_the_requested_repo(bundle, live):
    failed, result = run_module(method='bundle', bundle=bundle, cache_dir=str(live),
                                repos=[{'repo_id': 'codex-test/other'}])
    assert failed
    assert result['msg'] == ('model codex-test/other@main is not in the bundle %s (it holds: model %s@%s); stage it '
                             'with playbooks/stage_hf.yml' % (bundle, layout.REPO_ID, layout.COMMIT))
    assert os.listdir(str(live)) == []


def test_tampered_bundle_leaves_the_cache_alone(bundle, live):
    run_module(method='bundle', bundle=bundle, cache_dir=str(live))
    os.unlink(str(live / layout.FOLDER / 'refs' / 'main'))
    before = layout.tree_listing(live)
    with tarfile.open(bundle) as tar:
        member = [m for m in tar.getmembers() if m.name.endswith('/refs/main')][0]
    with open(bundle, 'r+b') as handle:
        handle.seek(member.offset_data)
        handle.write(b'f' * 8)
    failed, result = run_module(method='bundle', bundle=bundle, cache_dir=str(live))
    assert failed and result['kind'] == 'bundle_mismatch'
    assert result['msg'].startswith('bundle %s: %s does not match the manifest: sha256 ' % (bundle, member.name))
    assert result['msg'].endswith('; nothing was changed in the cache')
    assert layout.tree_listing(live) == before


def test_validate_only_needs_no_cache(bundle, tmp_path):
    failed, result = run_module(method='bundle', bundle=bundle, cache_dir='/nonexistent', validate_only=True)
    assert not failed and result['changed'] is False and result['bundle_files'] > 10


def test_missing_bundle(live):
    failed, result = run_module(method='bundle', bundle='/nonexistent.tar', cache_dir=str(live))
    assert failed and result['msg'] == 'the bundle /nonexistent.tar does not exist'


class _Olah(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        if self.path == '/api/models/%s/revision/main' % layout.REPO_ID:
            body, code = json.dumps({'sha': layout.COMMIT}).encode(), 200
        else:
            body, code = b'{"error":"Repository not found"}', 401
        self.send_response(code)
        self.send_header('x-error-code', 'RepoNotFound')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope='module')
def olah_like(serve_handler):
    return serve_handler(_Olah)


def test_mirror_probe_only_asks_for_what_is_missing(olah_like, tmp_path):
    cache = tmp_path / 'hub'
    layout.make_cache(cache)
    recorded(cache)
    args = dict(method='mirror', cache_dir=str(cache), validate_only=True, variable_prefix='hf_offline_cache_')
    # Complete per its record: the mirror is not even asked (a dead endpoint would do).
    failed, result = run_module(repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}],
                                endpoint='http://127.0.0.1:9', **args)
    assert not failed and result['would_seed'] == [] and result['changed'] is False
    failed, result = run_module(repos=[{'repo_id': 'codex-test/new'}], endpoint=olah_like, **args)
    assert failed and result['kind'] == 'repo_not_found'
    assert result['msg'].startswith('repo codex-test/new (model) is not on the Hub mirror %s: it answered HTTP 401 '
                                    'RepoNotFound; check repo_id and repo_type in hf_offline_cache_repos' % olah_like)


def test_mirror_check_mode_reports_and_writes_nothing(olah_like, tmp_path):
    cache = tmp_path / 'hub'
    cache.mkdir()
    failed, result = run_module(_ansible_check_mode=True, method='mirror', cache_dir=str(cache), endpoint=olah_like,
                                repos=[{'repo_id': layout.REPO_ID}], token='hf_secret_value')
    assert not failed and result['changed'] is True
    assert result['would_seed'] == ['model %s@main' % layout.REPO_ID]
    assert result['repos'][0]['action'] == 'would_download' and result['repos'][0]['commit'] == layout.COMMIT
    assert os.listdir(str(cache)) == []
    assert 'hf_secret_value' not in json.dumps(result)


def test_mirror_refs_written_for_a_commit(olah_like, tmp_path):
    cache = tmp_path / 'hub'
    layout.make_cache(cache, refs=())
    recorded(cache)
    failed, result = run_module(method='mirror', cache_dir=str(cache), endpoint=olah_like,
                                repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    assert not failed and result['changed'] is True
    assert result['repos'][0]['refs_written'] == ['main'] and result['repos'][0]['action'] == 'present'
    assert (cache / layout.FOLDER / 'refs' / 'main').read_text() == layout.COMMIT
    failed, result = run_module(method='mirror', cache_dir=str(cache), endpoint=olah_like,
                                repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    assert not failed and result['changed'] is False


@pytest.mark.parametrize('args, message', [
    (dict(method='mirror', cache_dir='rel/hub', endpoint='http://x'), "cache_dir must be an absolute path, got 'rel/hub'"),
    (dict(method='mirror', cache_dir='/tmp'), 'method=mirror needs endpoint: the URL of the Hub mirror'),
    (dict(method='mirror', cache_dir='/tmp', endpoint='http://u:pw@x', variable_prefix='p_'),
     'p_endpoint must not carry credentials'),
    (dict(method='mirror', cache_dir='/tmp', endpoint='http://u:pw@x', variable_prefix='p'),
     'p_endpoint must not carry credentials'),
    (dict(method='mirror', cache_dir='/tmp', variable_prefix='hf_offline_cache'),
     'method=mirror needs hf_offline_cache_endpoint: the URL of the Hub mirror'),
    (dict(method='bundle', cache_dir='/tmp'), 'method=bundle needs bundle'),
    (dict(method='bundle', cache_dir='/tmp', bundle='/x', group='no-such-group-xyz'),
     "group 'no-such-group-xyz' does not exist on this host"),
])
def test_bad_inputs(args, message):
    failed, result = run_module(**args)
    assert failed and result['msg'].startswith(message)


# --------------------------------------------------------------------------- every way out is fail_json
def test_mirror_without_python_fails_before_downloading(olah_like, tmp_path):
    cache = tmp_path / 'hub'
    cache.mkdir()
    failed, result = run_module(method='mirror', cache_dir=str(cache), endpoint=olah_like,
                                repos=[{'repo_id': layout.REPO_ID}])
    assert failed and result['msg'] == 'method=mirror needs python: the interpreter that has huggingface_hub'
    assert os.listdir(str(cache)) == []


def test_interpreter_that_does_not_exist(olah_like, tmp_path):
    cache = tmp_path / 'hub'
    cache.mkdir()
    failed, result = run_module(method='mirror', cache_dir=str(cache), endpoint=olah_like, python='/nonexistent/python',
                                repos=[{'repo_id': layout.REPO_ID}])
    assert failed and result['kind'] == 'invalid'
    assert result['msg'].startswith("Cannot seed the hub cache: Python interpreter '/nonexistent/python' does not exist")


def test_child_without_a_commit_is_a_clear_failure(olah_like, tmp_path, monkeypatch):
    cache = tmp_path / 'hub'
    cache.mkdir()
    from ansible_collections.codex.offline_ml.plugins.module_utils._child import ChildResult
    monkeypatch.setattr(hf_seed, 'run_function', lambda *a, **k: ChildResult(True, value=[{'commit': 'x'}]))
    failed, result = run_module(method='mirror', cache_dir=str(cache), endpoint=olah_like, python='/usr/bin/python3',
                                repos=[{'repo_id': layout.REPO_ID}])
    assert failed and result['kind'] == 'download_failed'
    assert result['msg'].startswith('the mirror %s returned no commit for every repo' % olah_like)
    assert os.listdir(str(cache)) == []


def test_cache_dir_that_is_a_file(bundle, tmp_path):
    path = tmp_path / 'file'
    path.write_text('x')
    failed, result = run_module(method='mirror', cache_dir=str(path), endpoint='http://127.0.0.1:9',
                                repos=[{'repo_id': layout.REPO_ID}])
    assert failed and result['kind'] == 'unsafe_path'
    assert result['msg'].startswith('cannot open the cache directory %s: Not a directory' % path)


def test_os_error_is_a_message(bundle, live, monkeypatch):
    def boom(*args, **kwargs):
        raise PermissionError(13, 'Permission denied', '/x/y')
    monkeypatch.setattr(hf_seed._hf_bundle, 'unpack_bundle', boom)
    failed, result = run_module(method='bundle', bundle=bundle, cache_dir=str(live))
    assert failed and result['kind'] == 'os_error'
    assert result['msg'] == 'Cannot seed the hub cache %s: Permission denied (/x/y)' % live


def test_unexpected_error_is_a_message(bundle, live, monkeypatch):
    def boom(*args, **kwargs):
        raise ValueError('odd')
    monkeypatch.setattr(hf_seed._hf_bundle, 'unpack_bundle', boom)
    failed, result = run_module(method='bundle', bundle=bundle, cache_dir=str(live))
    assert failed and result['kind'] == 'unexpected'
    assert result['msg'] == 'Cannot seed the hub cache %s: unexpected ValueError: odd' % live


def test_planted_refs_symlink_fails_with_its_path(bundle, live, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (live / layout.FOLDER).mkdir()
    (live / layout.FOLDER / 'refs').symlink_to(str(outside))
    failed, result = run_module(method='bundle', bundle=bundle, cache_dir=str(live))
    assert failed and result['kind'] == 'unsafe_path'
    assert result['msg'].startswith('%s/%s/refs is a symlink or not a directory' % (live, layout.FOLDER))
    assert os.listdir(str(outside)) == []


def test_mirror_down_complete_cache_repairs_refs_without_asking(tmp_path):
    cache = recorded(layout.make_cache(tmp_path / 'hub').parent)
    (cache / layout.FOLDER / 'refs' / 'main').write_text(layout.COMMIT + '\n')
    args = dict(method='mirror', cache_dir=str(cache), endpoint='http://127.0.0.1:9', python='/nonexistent/python',
                repos=[{'repo_id': layout.REPO_ID}])
    failed, result = run_module(**args)
    assert not failed and result['changed'] is True
    assert result['repos'][0]['action'] == 'present' and result['repos'][0]['refs_written'] == ['main']
    assert (cache / layout.FOLDER / 'refs' / 'main').read_text() == layout.COMMIT
    failed, result = run_module(**args)
    assert not failed and result['changed'] is False


def test_mirror_down_incomplete_cache_fails_naming_the_files(tmp_path):
    cache = recorded(layout.make_cache(tmp_path / 'hub').parent)
    snap = cache / layout.FOLDER / 'snapshots' / layout.COMMIT
    blob = os.readlink(str(snap / 'model.safetensors')).rsplit('/', 1)[-1]
    os.unlink(str(cache / layout.FOLDER / 'blobs' / blob))
    failed, result = run_module(method='mirror', cache_dir=str(cache), endpoint='http://127.0.0.1:9',
                                repos=[{'repo_id': layout.REPO_ID}], variable_prefix='hf_offline_cache_')
    assert failed and result['kind'] == 'unreachable'
    assert result['msg'].startswith('the Hub mirror http://127.0.0.1:9 cannot be reached')
    assert result['msg'].endswith('the mirror is needed because the cache does not hold these revisions complete: '
                                  'model %s@main: model.safetensors: blob %s missing or not a regular file'
                                  % (layout.REPO_ID, blob))
