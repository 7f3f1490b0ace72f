# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_cache: repo specs, the Hub mirror probe (against a real local HTTP server), bundles (real tars of the tiny
BERT cache layout: built, verified, tampered, truncated, unpacked), refs and shared-cache permissions."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import stat
import socket
import tarfile
import threading

from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_cache as hf

from conftest import load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')


# --------------------------------------------------------------------------- specs
def test_normalize_fills_defaults():
    (spec,) = hf.normalize_repos([{'repo_id': 'org/name'}])
    assert spec == {'repo_id': 'org/name', 'repo_type': 'model', 'revision': 'main', 'allow_patterns': None,
                    'refs': ['main']}


@pytest.mark.parametrize('spec, message', [
    ({'repo_id': 'a/b/c'}, "x[0].repo_id 'a/b/c' is not a Hub repo id"),
    ({'repo_id': 'org/name', 'repo_type': 'space'}, "x[0].repo_type is 'space': it must be one of model, dataset"),
    ({'repo_id': 'org/name', 'revision': '../x'}, "x[0].revision '../x' is not a branch, tag or commit name"),
    ({'repo_id': 'org/name', 'refs': ['a b']}, "x[0].refs holds 'a b'"),
    ({'repo_id': 'org/name', 'color': 1}, 'x[0] has unknown keys color'),
])
def test_normalize_rejects(spec, message):
    with pytest.raises(hf.HfCacheError) as err:
        hf.normalize_repos([spec], 'x')
    assert err.value.msg.startswith(message)


def test_two_entries_cannot_claim_the_same_ref():
    with pytest.raises(hf.HfCacheError) as err:
        hf.normalize_repos([{'repo_id': 'o/n', 'revision': 'a' * 40}, {'repo_id': 'o/n', 'revision': 'b' * 40}], 'r')
    assert err.value.msg == "r[0] and r[1] both want ref 'main' of model o/n: give refs: [] to one of them"


def test_repo_folder():
    assert hf.repo_folder('model', 'org/name') == 'models--org--name'
    assert hf.repo_folder('dataset', 'name') == 'datasets--name'


def test_local_commit_and_refs(tmp_path):
    layout.make_cache(tmp_path, refs=())
    (by_commit,) = hf.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    (by_branch,) = hf.normalize_repos([{'repo_id': layout.REPO_ID}])
    assert hf.local_commit(str(tmp_path), by_commit) == layout.COMMIT
    assert hf.local_commit(str(tmp_path), by_branch) is None
    assert hf.write_refs(str(tmp_path), by_commit, layout.COMMIT) == ['main']
    assert hf.write_refs(str(tmp_path), by_commit, layout.COMMIT) == []
    assert hf.local_commit(str(tmp_path), by_branch) == layout.COMMIT


# --------------------------------------------------------------------------- mirror probe
class _Hub(BaseHTTPRequestHandler):
    """A Hub-compatible mirror that knows one repo with branch main, answering like olah (401 RepoNotFound)."""
    commit = 'f' * 40
    seen_auth = []

    def log_message(self, *args):
        pass

    def _send(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self.seen_auth.append(self.headers.get('Authorization'))
        base = '/api/models/codex-test/tiny-bert'
        if self.path in (base + '/revision/main', base + '/revision/' + self.commit):
            return self._send(200, {'id': 'codex-test/tiny-bert', 'sha': self.commit})
        if self.path == base + '/refs':
            return self._send(200, {'branches': [{'name': 'main', 'targetCommit': self.commit}], 'tags': []})
        if self.path.startswith(base + '/revision/' + 'e' * 40):
            return self._send(500, {'error': 'boom'})
        return self._send(401, {'error': 'Repository not found'}, {'x-error-code': 'RepoNotFound'})


@pytest.fixture(scope='module')
def hub_url():
    server = HTTPServer(('127.0.0.1', 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_probe_resolves(hub_url):
    specs = hf.normalize_repos([{'repo_id': layout.REPO_ID}, {'repo_id': layout.REPO_ID, 'revision': _Hub.commit,
                                                              'refs': []}])
    assert hf.probe_mirror(hub_url + '/', specs, token='hf_secret') == {0: _Hub.commit, 1: _Hub.commit}
    assert _Hub.seen_auth[-1] == 'Bearer hf_secret'


def test_probe_repo_not_found(hub_url):
    with pytest.raises(hf.HfCacheError) as err:
        hf.probe_mirror(hub_url, hf.normalize_repos([{'repo_id': 'codex-test/nope'}]), prefix='p_')
    assert err.value.kind == 'repo_not_found'
    assert err.value.msg == ('repo codex-test/nope (model) is not on the Hub mirror %s: it answered HTTP 401 '
                             'RepoNotFound; check repo_id and repo_type in p_repos (a private repo needs p_token)'
                             % hub_url)


def test_probe_revision_not_found(hub_url):
    for revision, status in (('v9', '401 RepoNotFound'), ('e' * 40, '500 boom')):
        with pytest.raises(hf.HfCacheError) as err:
            hf.probe_mirror(hub_url, hf.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': revision}]))
        assert err.value.kind == 'revision_not_found'
        assert err.value.msg == ('revision %s of repo codex-test/tiny-bert (model) is not on the Hub mirror %s '
                                 '(HTTP %s); the mirror has branches: main; tags: none' % (revision, hub_url, status))


def test_probe_unreachable():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(hf.HfCacheError) as err:
        hf.probe_mirror('http://127.0.0.1:%d' % port, hf.normalize_repos([{'repo_id': 'a/b'}]), prefix='p_')
    assert err.value.kind == 'unreachable'
    assert err.value.msg.startswith('the Hub mirror http://127.0.0.1:%d cannot be reached (' % port)
    assert err.value.msg.endswith('): check p_endpoint and that the mirror is up and reachable from this host')


@pytest.mark.parametrize('url, message', [
    ('ftp://x', "endpoint 'ftp://x' is not an http:// or https:// URL of a Hub mirror"),
    ('https://u:hunter2@x', 'endpoint must not carry credentials'),
])
def test_endpoint_checks(url, message):
    with pytest.raises(hf.HfCacheError) as err:
        hf.check_endpoint(url)
    assert err.value.msg.startswith(message)
    assert 'hunter2' not in err.value.msg


# --------------------------------------------------------------------------- bundles
@pytest.fixture
def staged(tmp_path):
    """A staged cache with the tiny BERT and its bundle; returns (bundle path, manifest, specs)."""
    cache = tmp_path / 'stage'
    layout.make_cache(cache)
    specs = hf.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    bundle = str(tmp_path / 'out' / 'hf-bundle.tar')
    changed, manifest = hf.build_bundle(str(cache), [(specs[0], layout.COMMIT)], bundle)
    assert changed
    return bundle, manifest, specs


def test_bundle_is_deterministic_and_complete(staged, tmp_path):
    bundle, manifest, specs = staged
    assert hf.build_bundle(str(tmp_path / 'stage'), [(specs[0], layout.COMMIT)], bundle) == (False, manifest)
    kinds = sorted((e['path'].split('/')[1], e['type']) for e in manifest['files'])
    count = len(os.listdir(str(layout.MODEL)))
    assert kinds.count(('blobs', 'file')) == count and kinds.count(('snapshots', 'symlink')) == count
    assert ('refs', 'file') in kinds and ('trees', 'file') in kinds
    assert manifest['bundle_sha256'] == hf.sha256_file(bundle)
    assert hf.load_manifest(bundle + '.manifest.json') == manifest
    assert hf.verify_bundle(bundle, manifest) == len(manifest['files'])


def test_unpack_into_an_empty_cache_then_nothing(staged, tmp_path):
    bundle, manifest, _specs = staged
    live = tmp_path / 'live'
    live.mkdir()
    installed = hf.unpack_bundle(bundle, manifest, str(live))
    assert len(installed) == len(manifest['files'])
    assert layout.tree_listing(live, modes=False) == layout.tree_listing(tmp_path / 'stage', modes=False)
    assert hf.unpack_bundle(bundle, manifest, str(live)) == []
    assert not [n for n in os.listdir(str(live)) if n.startswith(hf.STAGING_PREFIX)]


def test_unpack_repairs_only_what_differs(staged, tmp_path):
    bundle, manifest, _specs = staged
    live = tmp_path / 'live'
    live.mkdir()
    hf.unpack_bundle(bundle, manifest, str(live))
    ref = live / layout.FOLDER / 'refs' / 'main'
    ref.write_text('0' * 40)
    assert hf.unpack_bundle(bundle, manifest, str(live), check_mode=True) == [layout.FOLDER + '/refs/main']
    assert ref.read_text() == '0' * 40
    assert hf.unpack_bundle(bundle, manifest, str(live)) == [layout.FOLDER + '/refs/main']
    assert ref.read_text() == layout.COMMIT


def _member_offset(bundle, suffix):
    with tarfile.open(bundle) as tar:
        for member in tar.getmembers():
            if member.name.endswith(suffix):
                return member.name, member.offset_data
    raise AssertionError(suffix)


def _live_with_old_content(tmp_path, bundle, manifest):
    live = tmp_path / 'live'
    live.mkdir()
    hf.unpack_bundle(bundle, manifest, str(live))
    os.unlink(str(live / layout.FOLDER / 'refs' / 'main'))  # something for a bad bundle to want to change
    return live, layout.tree_listing(live)


def test_tampered_member_is_named_and_the_cache_untouched(staged, tmp_path):
    bundle, manifest, _specs = staged
    live, before = _live_with_old_content(tmp_path, bundle, manifest)
    blob = [e for e in manifest['files'] if e['type'] == 'file' and e['size'] > 30000][0]['path']
    name, offset = _member_offset(bundle, blob)
    with open(bundle, 'r+b') as handle:
        handle.seek(offset + 100)
        byte = handle.read(1)
        handle.seek(offset + 100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(hf.HfCacheError) as err:
        hf.unpack_bundle(bundle, manifest, str(live))
    assert err.value.kind == 'bundle_mismatch' and err.value.details['file'] == name
    assert err.value.msg.startswith('bundle %s: %s does not match the manifest: sha256 ' % (bundle, name))
    assert err.value.msg.endswith('; nothing was changed in the cache')
    assert layout.tree_listing(live) == before


def test_truncated_bundle_is_rejected_and_the_cache_untouched(staged, tmp_path):
    bundle, manifest, _specs = staged
    live, before = _live_with_old_content(tmp_path, bundle, manifest)
    name, offset = _member_offset(bundle, '.safetensors')
    target = [e for e in manifest['files'] if e['path'] == name]
    with open(bundle, 'r+b') as handle:
        handle.truncate(offset + 1000)
    with pytest.raises(hf.HfCacheError) as err:
        hf.unpack_bundle(bundle, manifest, str(live))
    assert err.value.kind == 'bundle_mismatch'
    assert name in err.value.msg or (target and 'missing from the archive' in err.value.msg), err.value.msg
    assert 'truncated' in err.value.msg
    assert layout.tree_listing(live) == before


def test_manifest_mismatch_is_named(staged, tmp_path):
    bundle, manifest, _specs = staged
    entry = [e for e in manifest['files'] if e['path'].endswith('/refs/main')][0]
    entry['sha256'] = '0' * 64
    with pytest.raises(hf.HfCacheError) as err:
        hf.verify_bundle(bundle, manifest)
    assert err.value.msg == ('bundle %s: %s does not match the manifest: sha256 %s, the manifest says %s; nothing was '
                             'changed in the cache' % (bundle, entry['path'],
                                                       hashlib.sha256(layout.COMMIT.encode()).hexdigest(), '0' * 64))


def test_extra_and_missing_members(staged):
    bundle, manifest, _specs = staged
    dropped = manifest['files'].pop(0)
    with pytest.raises(hf.HfCacheError) as err:
        hf.verify_bundle(bundle, manifest)
    assert err.value.msg == 'bundle %s: %s is not listed in the manifest; nothing was changed in the cache' % (
        bundle, dropped['path'])
    manifest['files'].insert(0, dropped)
    manifest['files'].append({'path': layout.FOLDER + '/blobs/extra', 'type': 'file', 'size': 1, 'sha256': 'a' * 64})
    with pytest.raises(hf.HfCacheError) as err:
        hf.verify_bundle(bundle, manifest)
    assert err.value.msg.startswith('bundle %s: %s/blobs/extra is listed in the manifest but missing from the archive'
                                    % (bundle, layout.FOLDER))


@pytest.mark.parametrize('change, message', [
    (lambda m: m['files'].append({'path': '../etc/passwd', 'type': 'file', 'size': 1, 'sha256': 'a' * 64}),
     "lists an unsafe path '../etc/passwd'"),
    (lambda m: m['files'].append({'path': layout.FOLDER + '/snapshots/x/evil', 'type': 'symlink',
                                  'target': '../../../../etc/passwd'}), 'lists a symlink leaving its repo'),
    (lambda m: m.update(schema=9), 'has schema 9; this collection reads schema 1'),
    (lambda m: m.update(format='other'), 'is not a bundle manifest written by playbooks/stage_hf.yml'),
])
def test_manifest_checks(staged, tmp_path, change, message):
    bundle, manifest, _specs = staged
    change(manifest)
    path = str(tmp_path / 'm.json')
    with open(path, 'w') as handle:
        json.dump(manifest, handle)
    with pytest.raises(hf.HfCacheError) as err:
        hf.load_manifest(path)
    assert message in err.value.msg


def test_clean_staging(tmp_path):
    (tmp_path / (hf.STAGING_PREFIX + 'x')).mkdir()
    assert hf.clean_staging(str(tmp_path)) == [str(tmp_path / (hf.STAGING_PREFIX + 'x'))]
    assert hf.clean_staging(str(tmp_path)) == []


# --------------------------------------------------------------------------- permissions
def test_share_tree(tmp_path):
    base = layout.make_cache(tmp_path / 'hub')
    os.chmod(str(base / 'refs' / 'main'), 0o646)
    gid = os.getgid()
    changed = hf.share_tree([str(tmp_path / 'hub')], gid, check_mode=True)
    assert changed > 0
    assert oct(os.stat(str(base / 'refs' / 'main')).st_mode & 0o7777) == '0o646'
    assert hf.share_tree([str(tmp_path / 'hub')], gid) == changed
    assert hf.share_tree([str(tmp_path / 'hub')], gid) == 0
    assert os.stat(str(base / 'refs' / 'main')).st_mode & 0o7777 == 0o664
    blobs = os.stat(str(base / 'blobs')).st_mode
    assert blobs & stat.S_ISGID and blobs & 0o070 == 0o070 and not blobs & 0o002
    for root, dirs, files in os.walk(str(tmp_path / 'hub')):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            if not os.path.islink(os.path.join(root, name)):
                assert not st.st_mode & 0o002


def test_sources_stay_put(tmp_path):
    # Nothing here may touch the fixture model itself.
    before = layout.tree_listing(layout.MODEL)
    layout.make_cache(tmp_path)
    shutil.rmtree(str(tmp_path))
    assert layout.tree_listing(layout.MODEL) == before
