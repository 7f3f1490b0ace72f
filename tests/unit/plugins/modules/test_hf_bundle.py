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
