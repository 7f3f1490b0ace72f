# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.hf_bundle: main() in process, packing a real hub-cache layout of the tiny BERT."""

from __future__ import absolute_import, division, print_function

import json
import os

from ansible_collections.codex.offline_ml.plugins.module_utils._hf_bundle import sha256_file
from ansible_collections.codex.offline_ml.plugins.modules import hf_bundle

from conftest import load_fixture_module, run_main

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')


def run_module(**args):
    """Run hf_bundle.main() with ARGS; return (failed, result)."""
    return run_main(hf_bundle, **args)


def test_pack_then_nothing_to_do(tmp_path):
    layout.make_cache(tmp_path / 'cache')
    dest = str(tmp_path / 'out' / 'hf-bundle.tar')
    args = dict(cache_dir=str(tmp_path / 'cache'), dest=dest, repos=[{'repo_id': layout.REPO_ID}])
    failed, result = run_module(_ansible_check_mode=True, **args)
    assert not failed and result['changed'] is True and not os.path.exists(dest)
    failed, result = run_module(**args)
    assert not failed and result['changed'] is True
    assert result['bundle_sha256'] == sha256_file(dest) and result['manifest'] == dest + '.manifest.json'
    assert result['repos'][0]['commit'] == layout.COMMIT
    with open(dest + '.manifest.json') as handle:
        assert json.load(handle)['bundle_sha256'] == result['bundle_sha256']
    failed, again = run_module(**args)
    assert not failed and again['changed'] is False and again['bundle_sha256'] == result['bundle_sha256']


def test_repo_not_in_the_cache(tmp_path):
    (tmp_path / 'cache').mkdir()
    failed, result = run_module(cache_dir=str(tmp_path / 'cache'), dest=str(tmp_path / 'b.tar'),
                                repos=[{'repo_id': layout.REPO_ID, 'revision': 'v1'}])
    assert failed and result['msg'] == ('model %s@v1 is not in the cache %s: seed it first (hf_cache_seed)'
                                        % (layout.REPO_ID, tmp_path / 'cache'))


def test_check_mode_writes_nothing_anywhere(tmp_path, monkeypatch):
    import tempfile
    layout.make_cache(tmp_path / 'cache')
    scratch = tmp_path / 'scratch'
    scratch.mkdir()
    monkeypatch.setenv('TMPDIR', str(scratch))
    monkeypatch.setattr(tempfile, 'tempdir', None)
    failed, result = run_module(_ansible_check_mode=True, cache_dir=str(tmp_path / 'cache'),
                                dest=str(tmp_path / 'out' / 'b.tar'), repos=[{'repo_id': layout.REPO_ID}])
    assert not failed and result['changed'] is True and result['bundle_sha256']
    assert os.listdir(str(scratch)) == [] and not (tmp_path / 'out').exists()


def test_dest_that_cannot_be_written(tmp_path):
    layout.make_cache(tmp_path / 'cache')
    (tmp_path / 'file').write_text('x')
    failed, result = run_module(cache_dir=str(tmp_path / 'cache'), dest=str(tmp_path / 'file' / 'b.tar'),
                                repos=[{'repo_id': layout.REPO_ID}])
    assert failed and result['kind'] == 'os_error'
    assert result['msg'].startswith('cannot write the bundle %s: ' % (tmp_path / 'file' / 'b.tar'))


def test_unexpected_error_is_a_message(tmp_path, monkeypatch):
    layout.make_cache(tmp_path / 'cache')
    monkeypatch.setattr(hf_bundle._hf_bundle, 'build_bundle', lambda *a, **k: 1 / 0)
    failed, result = run_module(cache_dir=str(tmp_path / 'cache'), dest=str(tmp_path / 'b.tar'),
                                repos=[{'repo_id': layout.REPO_ID}])
    assert failed and result['kind'] == 'unexpected'
    assert result['msg'] == 'cannot write the bundle %s: unexpected ZeroDivisionError: division by zero' % (
        tmp_path / 'b.tar')


def test_snapshot_link_out_of_the_repo_is_not_packed(tmp_path):
    base = layout.make_cache(tmp_path / 'cache')
    secret = tmp_path / 'secret'
    secret.write_text('root only')
    link = sorted((base / 'snapshots' / layout.COMMIT).iterdir())[0]
    link.unlink()
    link.symlink_to(str(secret))
    failed, result = run_module(cache_dir=str(tmp_path / 'cache'), dest=str(tmp_path / 'b.tar'),
                                repos=[{'repo_id': layout.REPO_ID}])
    assert failed and result['kind'] == 'unsafe_path' and 'refusing to read it' in result['msg']
    assert not (tmp_path / 'b.tar').exists()
