# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.hf_cache_facts: main() in process, scanning real hub-cache layouts with the real
huggingface_hub (scan_cache_dir, snapshot_download(local_files_only=True)) in a throw-away venv."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.modules import hf_cache_facts

from conftest import load_fixture_module, run_main

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')
hub_python = layout.hub_python  # the session fixture (pytest finds it in this module)


def run_module(**args):
    """Run hf_cache_facts.main() with ARGS; return (failed, result)."""
    return run_main(hf_cache_facts, **args)


@pytest.fixture
def cache(tmp_path):
    root = tmp_path / 'hub'
    root.mkdir()
    layout.make_cache(root)
    return root


def facts_of(result):
    facts = result['ansible_facts']['hf_cache']
    assert set(facts) >= {'cache_dir', 'exists', 'size_on_disk', 'repos', 'warnings', 'incomplete_files', 'requested',
                          'unresolved', 'huggingface_hub_version', 'python', 'elapsed_s'}
    return facts


def test_seeded_repo_is_described_and_resolves_offline(hub_python, cache):
    failed, result = run_module(python=hub_python, cache_dir=str(cache), fail_on_unresolved=True,
                                repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    assert not failed, result.get('msg')
    assert result['changed'] is False
    facts = facts_of(result)
    assert facts['exists'] is True and facts['huggingface_hub_version'] == '2.4.0'
    (repo,) = facts['repos']
    assert repo['repo_id'] == layout.REPO_ID and repo['repo_type'] == 'model'
    assert repo['refs'] == {'main': layout.COMMIT}
    (revision,) = repo['revisions']
    assert revision['commit'] == layout.COMMIT and revision['refs'] == ['main']
    assert 'model.safetensors' in revision['files'] and revision['size_on_disk'] > 30000
    (requested,) = facts['requested']
    assert requested['resolves_offline'] is True and requested['commit'] == layout.COMMIT
    assert requested['refs'] == {'main': layout.COMMIT}
    assert facts['unresolved'] == [] and facts['warnings'] == []


def test_never_seeded_repo_does_not_resolve(hub_python, cache):
    failed, result = run_module(python=hub_python, cache_dir=str(cache), repos=[{'repo_id': 'codex-test/never-seeded'}])
    assert not failed
    facts = facts_of(result)
    (requested,) = facts['requested']
    assert requested['resolves_offline'] is False and 'LocalEntryNotFoundError' in requested['error']
    assert facts['unresolved'] == ['model codex-test/never-seeded@main']


def test_fail_on_unresolved_names_the_repo_and_keeps_the_facts(hub_python, cache):
    failed, result = run_module(python=hub_python, cache_dir=str(cache), fail_on_unresolved=True,
                                repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT},
                                       {'repo_id': 'codex-test/never-seeded', 'repo_type': 'dataset'}])
    assert failed
    assert result['msg'].startswith('not resolvable offline from %s: dataset codex-test/never-seeded@main: ' % cache)
    assert 'tiny-bert' not in result['msg']
    assert facts_of(result)['unresolved'] == ['dataset codex-test/never-seeded@main']


def test_commit_without_a_main_ref_does_not_count(hub_python, tmp_path):
    root = tmp_path / 'hub'
    layout.make_cache(root, refs=())
    failed, result = run_module(python=hub_python, cache_dir=str(root),
                                repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    assert not failed
    (requested,) = facts_of(result)['requested']
    assert requested['resolves_offline'] is False
    assert requested['error'] == ('incomplete: refs/main absent (huggingface_hub: refs main do not resolve offline '
                                  'to %s)' % layout.COMMIT)
    assert requested['problems'] == ['refs/main absent'] and requested['complete'] is None
    failed, result = run_module(python=hub_python, cache_dir=str(root),
                                repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT, 'refs': []}])
    assert facts_of(result)['requested'][0]['resolves_offline'] is True


def test_incomplete_snapshot_does_not_resolve(hub_python, tmp_path):
    root = tmp_path / 'hub'
    base = layout.make_cache(root)
    os.unlink(str(base / 'snapshots' / layout.COMMIT / 'model.safetensors'))
    failed, result = run_module(python=hub_python, cache_dir=str(root), repos=[{'repo_id': layout.REPO_ID}])
    (requested,) = facts_of(result)['requested']
    assert requested['resolves_offline'] is False and 'IncompleteSnapshotError' in requested['error']
    # Seeded with allow_patterns: only those files are expected.
    failed, result = run_module(python=hub_python, cache_dir=str(root),
                                repos=[{'repo_id': layout.REPO_ID, 'allow_patterns': ['*.json', '*.txt']}])
    assert facts_of(result)['requested'][0]['resolves_offline'] is True


def test_corrupt_entry_is_a_warning(hub_python, cache):
    (cache / 'models--codex-test--broken').mkdir()
    failed, result = run_module(python=hub_python, cache_dir=str(cache))
    assert not failed
    facts = facts_of(result)
    assert len(facts['warnings']) == 1 and 'models--codex-test--broken' in facts['warnings'][0]
    assert [r['repo_id'] for r in facts['repos']] == [layout.REPO_ID]


def test_missing_cache_is_reported_not_failed(hub_python, tmp_path):
    failed, result = run_module(python=hub_python, cache_dir=str(tmp_path / 'absent'),
                                repos=[{'repo_id': layout.REPO_ID}])
    assert not failed
    facts = facts_of(result)
    assert facts['exists'] is False and facts['repos'] == []
    assert facts['requested'][0]['resolves_offline'] is False


def test_check_mode_gives_the_same_facts(hub_python, cache):
    args = dict(python=hub_python, cache_dir=str(cache), repos=[{'repo_id': layout.REPO_ID}])
    plain = run_module(**args)[1]
    checked = run_module(_ansible_check_mode=True, **args)[1]
    assert checked['changed'] is False

    def stable(facts):
        return dict((k, v) for k, v in facts.items() if k != 'elapsed_s')

    assert stable(facts_of(checked)) == stable(facts_of(plain))


def test_environment_cannot_point_elsewhere(hub_python, cache, monkeypatch, tmp_path):
    # A stray HF_HUB_CACHE / HF_HUB_OFFLINE=0 in the module's environment changes nothing.
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path / 'elsewhere'))
    monkeypatch.setenv('HF_HUB_OFFLINE', '0')
    monkeypatch.setenv('HF_ENDPOINT', 'http://127.0.0.1:9')
    failed, result = run_module(python=hub_python, cache_dir=str(cache), repos=[{'repo_id': layout.REPO_ID}])
    assert not failed and facts_of(result)['requested'][0]['resolves_offline'] is True


def test_interpreter_without_huggingface_hub(venvs, cache):
    python = str(venvs.bare())
    failed, result = run_module(python=python, cache_dir=str(cache))
    assert failed
    assert result['msg'] == ('Cannot scan the hub cache: the interpreter %s has no huggingface_hub: give the python of '
                             'a venv that has it (the codex.offline_ml.hf_offline_cache role installs it from the '
                             'wheel mirror)' % python)


def test_nonexistent_interpreter(cache, tmp_path):
    failed, result = run_module(python=str(tmp_path / 'nope' / 'python'), cache_dir=str(cache))
    assert failed and result['msg'].startswith('Cannot scan the hub cache: Python interpreter ')
    assert result['msg'].endswith('(option python)')


def test_relative_cache_dir(hub_python):
    failed, result = run_module(python=hub_python, cache_dir='relative/hub')
    assert failed and result['msg'] == "cache_dir must be an absolute path, got 'relative/hub'"


def test_unknown_repo_type(hub_python, cache):
    failed, result = run_module(python=hub_python, cache_dir=str(cache),
                                repos=[{'repo_id': layout.REPO_ID, 'repo_type': 'space'}])
    assert failed and 'repo_type' in result['msg'] and 'model, dataset' in result['msg']


def test_default_interpreter_is_the_modules(cache):
    # The dev venv running the tests has no huggingface_hub, so the default interpreter is named in the failure.
    failed, result = run_module(cache_dir=str(cache))
    assert failed
    assert result['msg'].startswith('Cannot scan the hub cache: the interpreter %s has no huggingface_hub' % sys.executable)


# --------------------------------------------------------------------------- every way out is fail_json
def test_planted_ref_is_refused_before_huggingface_hub_reads_it(hub_python, cache, tmp_path):
    secret = tmp_path / 'secret'
    secret.write_text('root only')
    (cache / layout.FOLDER / 'refs' / 'evil').symlink_to(str(secret))
    failed, result = run_module(python=hub_python, cache_dir=str(cache))
    assert failed and result['kind'] == 'unsafe_path'
    assert '%s/refs/evil; remove them' % layout.FOLDER in result['msg'] and 'root only' not in json.dumps(result)


def test_child_without_facts_is_a_clear_failure(cache, monkeypatch):
    from ansible_collections.codex.offline_ml.plugins.module_utils._child import ChildResult
    monkeypatch.setattr(hf_cache_facts, 'run_function', lambda *a, **k: ChildResult(True, value='nonsense'))
    failed, result = run_module(python='/usr/bin/python3', cache_dir=str(cache))
    assert failed and result['msg'] == "Cannot scan the hub cache: the cache scan in /usr/bin/python3 returned no facts " \
                                       "('nonsense')"


def test_os_error_and_unexpected_error_are_messages(cache, monkeypatch):
    def oserror(*args, **kwargs):
        raise OSError(5, 'Input/output error')
    monkeypatch.setattr(hf_cache_facts, 'run_function', oserror)
    failed, result = run_module(python='/usr/bin/python3', cache_dir=str(cache))
    assert failed and result['msg'] == 'Cannot scan the hub cache %s: Input/output error' % cache
    monkeypatch.setattr(hf_cache_facts, 'run_function', lambda *a, **k: {}['x'])
    failed, result = run_module(python='/usr/bin/python3', cache_dir=str(cache))
    assert failed and result['msg'] == "Cannot scan the hub cache %s: unexpected KeyError: 'x'" % cache
