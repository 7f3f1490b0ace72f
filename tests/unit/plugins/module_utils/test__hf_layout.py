# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_layout: refs, staging leftovers, and what root reads and writes in the cache layout."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_layout as hf_layout
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs

from conftest import file_state as _state, load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')


def test_local_commit_and_refs(tmp_path):
    layout.make_cache(tmp_path, refs=())
    (by_commit,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    (by_branch,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID}])
    assert hf_layout.local_commit(str(tmp_path), by_commit) == layout.COMMIT
    assert hf_layout.local_commit(str(tmp_path), by_branch) is None
    assert hf_layout.write_refs(str(tmp_path), by_commit, layout.COMMIT) == ['main']
    assert hf_layout.write_refs(str(tmp_path), by_commit, layout.COMMIT) == []
    assert hf_layout.local_commit(str(tmp_path), by_branch) == layout.COMMIT


def test_clean_staging(tmp_path):
    (tmp_path / (hf_layout.STAGING_PREFIX + 'x')).mkdir()
    assert hf_layout.clean_staging(str(tmp_path)) == [str(tmp_path / (hf_layout.STAGING_PREFIX + 'x'))]
    assert hf_layout.clean_staging(str(tmp_path)) == []


# --------------------------------------------------------------------------- what a cache member can plant
def test_a_ref_planted_as_a_symlink_is_replaced_not_written_through(tmp_path, secret):
    base = layout.make_cache(tmp_path, refs=())
    (base / 'refs').mkdir()
    (base / 'refs' / 'main').symlink_to(str(secret))
    (base / 'refs' / 'main.codex-tmp').symlink_to(str(secret))  # the old fixed temp name
    (spec,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    before = _state(secret)
    assert hf_layout.write_refs(str(tmp_path), spec, layout.COMMIT) == ['main']
    assert _state(secret) == before
    assert not (base / 'refs' / 'main').is_symlink() and (base / 'refs' / 'main').read_text() == layout.COMMIT


def test_refs_replaced_by_a_symlink_is_refused(tmp_path, secret):
    base = layout.make_cache(tmp_path, refs=())
    (base / 'refs').symlink_to(str(secret.parent))
    (spec,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_layout.write_refs(str(tmp_path), spec, layout.COMMIT)
    assert err.value.kind == 'unsafe_path'
    assert err.value.msg == ('%s/%s/refs is a symlink or not a directory; root does not follow it (a cache member may '
                             'have planted it): remove it and run again' % (tmp_path, layout.FOLDER))
    assert os.listdir(str(secret.parent)) == ['secret']


def test_a_fifo_ref_reads_as_absent_and_is_replaced(tmp_path):
    base = layout.make_cache(tmp_path, refs=())
    (base / 'refs').mkdir()
    os.mkfifo(str(base / 'refs' / 'main'))
    (by_branch,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID}])
    (by_commit,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    assert hf_layout.local_commit(str(tmp_path), by_branch) is None  # returns: never blocks on the FIFO
    assert hf_layout.write_refs(str(tmp_path), by_commit, layout.COMMIT) == ['main']
    assert hf_layout.local_commit(str(tmp_path), by_branch) == layout.COMMIT


def test_a_snapshot_link_out_of_the_repo_is_never_read(tmp_path, secret):
    base = layout.make_cache(tmp_path)
    link = sorted((base / 'snapshots' / layout.COMMIT).iterdir())[0]
    link.unlink()
    link.symlink_to(str(secret))
    (spec,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_layout.collect_entries(str(tmp_path), spec, layout.COMMIT)
    assert err.value.kind == 'unsafe_path' and 'outside its repo folder: refusing to read it' in err.value.msg


def test_unsafe_entries_names_planted_refs(tmp_path, secret):
    base = layout.make_cache(tmp_path)
    (base / 'refs' / 'evil').symlink_to(str(secret))
    os.mkfifo(str(base / 'refs' / 'fifo'))
    assert hf_layout.unsafe_entries(str(tmp_path)) == [layout.FOLDER + '/refs/evil', layout.FOLDER + '/refs/fifo']
    (base / 'refs' / 'evil').unlink()
    (base / 'refs' / 'fifo').unlink()
    assert hf_layout.unsafe_entries(str(tmp_path)) == []


def test_clean_staging_does_not_follow_a_planted_symlink(tmp_path, secret):
    (tmp_path / (hf_layout.STAGING_PREFIX + 'evil')).symlink_to(str(secret.parent))
    assert hf_layout.clean_staging(str(tmp_path)) == []
    assert secret.exists()


def test_remove_unsafe_refs_unlinks_without_following(tmp_path, secret):
    base = layout.make_cache(tmp_path)
    (base / 'refs' / 'main.codex-tmp').symlink_to(str(secret))
    os.mkfifo(str(base / 'refs' / 'fifo'))
    os.link(str(secret), str(base / 'refs' / 'hard'))
    before = _state(secret)
    expected = [layout.FOLDER + '/refs/' + n for n in ('fifo', 'hard', 'main.codex-tmp')]
    assert hf_layout.remove_unsafe_refs(str(tmp_path), layout.FOLDER, check_mode=True) == expected
    assert len(os.listdir(str(base / 'refs'))) == 4
    assert hf_layout.remove_unsafe_refs(str(tmp_path), layout.FOLDER) == expected
    assert os.listdir(str(base / 'refs')) == ['main'] and _state(secret) == before


@pytest.mark.parametrize('result, text', [
    ({'repos': [{'repo_id': 'o/m', 'repo_type': 'model', 'revision': 'main', 'action': 'present'}]}, ''),
    ({'repos': [{'repo_id': 'o/m', 'repo_type': 'model', 'revision': 'main', 'action': 'would_download'},
                {'repo_id': 'o/d', 'repo_type': 'dataset', 'revision': 'v1', 'action': 'repaired'}],
      'unsafe_removed': ['models--o--m/refs/x'], 'permissions_fixed': 3},
     '/c:\n  model o/m@main: would_download\n  dataset o/d@v1: repaired\n  models--o--m/refs/x: unsafe ref, removed\n'
     '  3 entries: group or mode corrected\n'),
])
def test_describe_seed(result, text):
    assert hf_layout.describe_seed('/c', result) == text
