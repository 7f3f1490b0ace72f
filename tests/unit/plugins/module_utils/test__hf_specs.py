# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_specs: validation of repo specs, cache folder names."""

from __future__ import absolute_import, division, print_function

import grp
import os

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs

from conftest import load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')


def test_normalize_fills_defaults():
    (spec,) = hf_specs.normalize_repos([{'repo_id': 'org/name'}])
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
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_specs.normalize_repos([spec], 'x')
    assert err.value.msg.startswith(message)


def test_two_entries_cannot_claim_the_same_ref():
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_specs.normalize_repos([{'repo_id': 'o/n', 'revision': 'a' * 40}, {'repo_id': 'o/n', 'revision': 'b' * 40}], 'r')
    assert err.value.msg == "r[0] and r[1] both want ref 'main' of model o/n: give refs: [] to one of them"


def test_repo_folder():
    assert hf_specs.repo_folder('model', 'org/name') == 'models--org--name'
    assert hf_specs.repo_folder('dataset', 'name') == 'datasets--name'


def test_resolve_gid():
    assert hf_specs.resolve_gid(None) is None and hf_specs.resolve_gid('') is None
    assert hf_specs.resolve_gid('4242') == 4242
    assert hf_specs.resolve_gid(grp.getgrgid(os.getgid()).gr_name) == os.getgid()
    assert hf_specs.resolve_gid('codex-no-such-group', check_mode=True) is None
    with pytest.raises(hf_specs.HfCacheError) as info:
        hf_specs.resolve_gid('codex-no-such-group')
    assert info.value.msg == "group 'codex-no-such-group' does not exist on this host" and info.value.kind == 'invalid'
