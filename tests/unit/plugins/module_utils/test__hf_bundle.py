# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_bundle: real tars of the tiny BERT cache layout: built, verified, tampered, truncated, unpacked."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import stat
import tarfile
import tempfile

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_bundle as hf_bundle
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_layout as hf_layout
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs

from conftest import load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')


@pytest.fixture
def staged(tmp_path):
    """A staged cache with the tiny BERT and its bundle; returns (bundle path, manifest, specs)."""
    cache = tmp_path / 'stage'
    layout.make_cache(cache)
    specs = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    bundle = str(tmp_path / 'out' / 'hf-bundle.tar')
    changed, manifest = hf_bundle.build_bundle(str(cache), [(specs[0], layout.COMMIT)], bundle)
    assert changed
    return bundle, manifest, specs


def test_bundle_is_deterministic_and_complete(staged, tmp_path):
    bundle, manifest, specs = staged
    assert hf_bundle.build_bundle(str(tmp_path / 'stage'), [(specs[0], layout.COMMIT)], bundle) == (False, manifest)
    kinds = sorted((e['path'].split('/')[1], e['type']) for e in manifest['files'])
    count = len(os.listdir(str(layout.MODEL)))
    assert kinds.count(('blobs', 'file')) == count and kinds.count(('snapshots', 'symlink')) == count
    assert ('refs', 'file') in kinds and ('trees', 'file') in kinds
    assert manifest['bundle_sha256'] == hf_bundle.sha256_file(bundle)
    assert hf_bundle.load_manifest(bundle + '.manifest.json') == manifest
    assert hf_bundle.verify_bundle(bundle, manifest) == len(manifest['files'])


def test_unpack_into_an_empty_cache_then_nothing(staged, tmp_path):
    bundle, manifest, _specs = staged
    live = tmp_path / 'live'
    live.mkdir()
    installed = hf_bundle.unpack_bundle(bundle, manifest, str(live))
    assert len(installed) == len(manifest['files'])
    assert layout.tree_listing(live, modes=False) == layout.tree_listing(tmp_path / 'stage', modes=False)
    assert hf_bundle.unpack_bundle(bundle, manifest, str(live)) == []
    assert not [n for n in os.listdir(str(live)) if n.startswith(hf_layout.STAGING_PREFIX)]


def test_unpack_repairs_only_what_differs(staged, tmp_path):
    bundle, manifest, _specs = staged
    live = tmp_path / 'live'
    live.mkdir()
    hf_bundle.unpack_bundle(bundle, manifest, str(live))
    ref = live / layout.FOLDER / 'refs' / 'main'
    ref.write_text('0' * 40)
    assert hf_bundle.unpack_bundle(bundle, manifest, str(live), check_mode=True) == [layout.FOLDER + '/refs/main']
    assert ref.read_text() == '0' * 40
    assert hf_bundle.unpack_bundle(bundle, manifest, str(live)) == [layout.FOLDER + '/refs/main']
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
    hf_bundle.unpack_bundle(bundle, manifest, str(live))
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
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_bundle.unpack_bundle(bundle, manifest, str(live))
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
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_bundle.unpack_bundle(bundle, manifest, str(live))
    assert err.value.kind == 'bundle_mismatch'
    assert name in err.value.msg or (target and 'missing from the archive' in err.value.msg), err.value.msg
    assert 'truncated' in err.value.msg
    assert layout.tree_listing(live) == before


def test_manifest_mismatch_is_named(staged, tmp_path):
    bundle, manifest, _specs = staged
    entry = [e for e in manifest['files'] if e['path'].endswith('/refs/main')][0]
    entry['sha256'] = '0' * 64
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_bundle.verify_bundle(bundle, manifest)
    assert err.value.msg == ('bundle %s: %s does not match the manifest: sha256 %s, the manifest says %s; nothing was '
                             'changed in the cache' % (bundle, entry['path'],
                                                       hashlib.sha256(layout.COMMIT.encode()).hexdigest(), '0' * 64))


def test_extra_and_missing_members(staged):
    bundle, manifest, _specs = staged
    dropped = manifest['files'].pop(0)
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_bundle.verify_bundle(bundle, manifest)
    assert err.value.msg == 'bundle %s: %s is not listed in the manifest; nothing was changed in the cache' % (
        bundle, dropped['path'])
    manifest['files'].insert(0, dropped)
    manifest['files'].append({'path': layout.FOLDER + '/blobs/extra', 'type': 'file', 'size': 1, 'sha256': 'a' * 64})
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_bundle.verify_bundle(bundle, manifest)
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
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_bundle.load_manifest(path)
    assert message in err.value.msg


def test_sources_stay_put(tmp_path):
    # Nothing here may touch the fixture model itself.
    before = layout.tree_listing(layout.MODEL)
    layout.make_cache(tmp_path)
    shutil.rmtree(str(tmp_path))
    assert layout.tree_listing(layout.MODEL) == before


# --------------------------------------------------------------------------- what a cache member can plant
def test_unpack_refuses_a_symlinked_directory(staged, tmp_path):
    bundle, manifest, _specs = staged
    outside = tmp_path / 'outside'
    outside.mkdir()
    live = tmp_path / 'live'
    (live / layout.FOLDER).mkdir(parents=True)
    (live / layout.FOLDER / 'blobs').symlink_to(str(outside))
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_bundle.unpack_bundle(bundle, manifest, str(live))
    assert err.value.kind == 'unsafe_path' and '/blobs is a symlink or not a directory' in err.value.msg
    assert os.listdir(str(outside)) == []
    assert sorted(os.listdir(str(live))) == [layout.FOLDER]  # no staging directory left


def test_unpack_replaces_planted_links_and_fifos(staged, tmp_path):
    bundle, manifest, _specs = staged
    secret = tmp_path / 'secret'
    secret.write_text('root only')
    os.chmod(str(secret), 0o600)
    live = tmp_path / 'live'
    (live / layout.FOLDER / 'refs').mkdir(parents=True)
    (live / layout.FOLDER / 'refs' / 'main').symlink_to(str(secret))
    blob = [e for e in manifest['files'] if e['type'] == 'file' and '/blobs/' in e['path']][0]['path']
    (live / layout.FOLDER / 'blobs').mkdir()
    os.mkfifo(str(live / blob))
    hf_bundle.unpack_bundle(bundle, manifest, str(live))
    assert secret.read_text() == 'root only' and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert layout.tree_listing(live, modes=False) == layout.tree_listing(tmp_path / 'stage', modes=False)


def test_tar_bomb_is_refused_before_anything_is_written(staged, tmp_path, monkeypatch):
    bundle, manifest, _specs = staged
    live = tmp_path / 'live'
    live.mkdir()
    monkeypatch.setattr(hf_bundle.safefs, 'free_bytes', lambda fd: 1000)
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_bundle.unpack_bundle(bundle, manifest, str(live))
    assert err.value.kind == 'no_space' and 'bytes free: nothing was written' in err.value.msg
    assert os.listdir(str(live)) == []


def test_a_member_bigger_than_the_manifest_says_is_refused(staged, tmp_path):
    bundle, manifest, _specs = staged
    entry = [e for e in manifest['files'] if e['type'] == 'file'][0]
    entry['size'] -= 1
    live = tmp_path / 'live'
    live.mkdir()
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_bundle.unpack_bundle(bundle, manifest, str(live))
    assert err.value.kind == 'bundle_mismatch' and 'the manifest says %d' % entry['size'] in err.value.msg
    assert os.listdir(str(live)) == []


def test_check_mode_build_writes_nothing(tmp_path, monkeypatch):
    layout.make_cache(tmp_path / 'cache')
    (spec,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    scratch = tmp_path / 'tmp'
    scratch.mkdir()
    monkeypatch.setenv('TMPDIR', str(scratch))
    monkeypatch.setattr(tempfile, 'tempdir', None)
    dest = tmp_path / 'out' / 'b.tar'
    changed, manifest = hf_bundle.build_bundle(str(tmp_path / 'cache'), [(spec, layout.COMMIT)], str(dest),
                                               check_mode=True)
    assert changed and os.listdir(str(scratch)) == [] and not (tmp_path / 'out').exists()
    assert hf_bundle.build_bundle(str(tmp_path / 'cache'), [(spec, layout.COMMIT)], str(dest))[1] == manifest
