# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_rules: each check (wheels against the manifest, torch, exports, hf cache, gates).

The host records are tests/fixtures/audit/{ml1,ml2,ci1}.json (the shape playbooks/audit.yml sends: ml1 healthy,
ml2 with a stub torch installed from a stub index, ci1 a Debian 13 CI runner) and the staging manifest is
tests/fixtures/audit/manifest.json (real names, versions and sha256 of the staged wheels), loaded by the
``manifest`` fixture of tests/unit/conftest.py; report_cases.py holds the helpers the _report_* tests share.
"""

from __future__ import absolute_import, division, print_function

import json

from report_cases import FIXTURES, build, check_of, record, venv_of, wheels


# --------------------------------------------------------------------------- wheels against the manifest
def test_wheels_unknown_distribution(manifest):
    rec = record('ml1')
    venv = venv_of(rec)
    venv['dists']['evil'] = '6.6.6'
    venv['marker']['wanted']['evil'] = '6.6.6'
    venv['marker']['hashes']['evil'] = ['ab' * 32]
    check = wheels(manifest, rec)
    assert check['status'] == 'fail'
    assert check['details']['problems'] == ['evil==6.6.6 is not in the staging manifest (unknown distribution)']
    assert check['details']['dists']['evil']['verdict'] == 'unknown to the manifest'


def test_wheels_version_not_in_manifest_and_not_in_release(manifest):
    rec = record('ml1')
    venv = venv_of(rec)
    venv['dists']['sympy'] = '1.13.0'
    problems = wheels(manifest, rec)['details']['problems']
    assert problems == ['sympy is 1.13.0, the release marker wants 1.14.0',
                        'sympy is 1.13.0, the staging manifest has 1.14.0']


def test_wheels_missing_and_added_distributions(manifest):
    rec = record('ml1')
    venv = venv_of(rec)
    del venv['dists']['mpmath']
    venv['dists']['six'] = '1.17.0'
    problems = wheels(manifest, rec)['details']['problems']
    assert 'mpmath==1.3.0 is wanted by the release marker but not installed' in problems
    assert 'six==1.17.0 is installed but not in the release marker (added after the build)' in problems


def test_wheels_seeded_pip_is_not_a_finding(manifest):
    rec = record('ml1')
    venv_of(rec)['dists']['pip'] = '24.0'
    check = wheels(manifest, rec)
    assert check['status'] == 'pass'
    assert check['details']['seeded'] == ['pip==24.0']


def test_wheels_versions_compare_pep440(manifest):
    rec = record('ml1')
    venv_of(rec)['dists']['six'] = '1.17'
    venv_of(rec)['marker']['wanted']['six'] = '1.17.0'
    venv_of(rec)['marker']['hashes']['six'] = [
        f['sha256'] for f in json.loads((FIXTURES / 'manifest.json').read_text())['files'] if f['name'] == 'six'] or \
        ['00' * 32]
    check = wheels(manifest, rec)
    # six is not in the fixture manifest: still reported precisely, whatever the spelling of the version
    assert check['details']['problems'] == ['six==1.17 is not in the staging manifest (unknown distribution)']


def test_wheels_without_recorded_hashes(manifest):
    rec = record('ml1')
    venv_of(rec)['marker']['hashes'] = None
    strict = wheels(manifest, rec)
    assert strict['status'] == 'fail'
    assert strict['summary'].startswith('the release marker records no lock hashes')
    relaxed = wheels(manifest, rec, require_lock_hashes=False)
    assert relaxed['status'] == 'pass'
    assert relaxed['summary'] == '23 distributions match the release and the staging manifest (version only)'


def test_wheels_venv_missing_broken_or_unmarked(manifest):
    rec = record('ml1')
    rec['venv_states'] = [{'path': '/opt/codex/venv', 'exists': False}]
    assert wheels(manifest, rec)['summary'] == 'venv /opt/codex/venv does not exist'
    rec['venv_states'] = [{'path': '/opt/codex/venv', 'exists': True, 'error': 'Exec format error'}]
    assert wheels(manifest, rec)['summary'] == 'venv /opt/codex/venv does not run: Exec format error'
    rec = record('ml1')
    venv_of(rec)['marker'] = None
    venv_of(rec)['dists'].update(pip='23.0.1', setuptools='66.1.1')  # what python -m venv seeds
    check = wheels(manifest, rec)
    assert check['status'] == 'fail'
    assert check['details']['problems'] == [
        'no release marker (.codex-release.json) in /opt/codex/.venv.releases/20261128T114007-92c51afd23-15a4: the '
        'venv was not built by codex.offline_ml.offline_venv']
    assert check['details']['seeded'] == ['pip==23.0.1', 'setuptools==66.1.1']


# --------------------------------------------------------------------------- torch, exports, hf cache, gates
def test_torch_facts_file_missing_or_disagreeing(manifest):
    rec = record('ml1')
    rec['torch']['facts'] = None
    check = check_of(build([rec], manifest), 'ml1', 'torch')
    assert check['status'] == 'fail'
    assert check['summary'].startswith('no ansible_local.torch_cpu facts')
    rec = record('ml1')
    rec['torch']['facts']['diagnostic']['version'] = '2.12.0+cpu'
    rec['torch']['facts']['distributions']['torch'] = '2.12.0+cpu'
    problems = check_of(build([rec], manifest), 'ml1', 'torch')['details']['problems']
    assert problems == ['facts file says version="2.12.0+cpu", the live diagnostic says "2.13.0+cpu"',
                        'facts file lists torch=2.12.0+cpu, the venv holds 2.13.0+cpu']


def test_torch_no_venv(manifest):
    rec = record('ml1')
    rec['torch'].update(diagnostic=None, error='/opt/codex/venv/bin/python does not exist: no torch venv')
    check = check_of(build([rec], manifest), 'ml1', 'torch')
    assert (check['status'], check['summary']) == ('fail', '/opt/codex/venv/bin/python does not exist: no torch venv')


def exports(manifest, rec):
    return check_of(build([rec], manifest), rec['host'], 'exports')


def test_exports_wrong_values(manifest):
    rec = record('ml1')
    rec['exports']['login_env'].update(TRANSFORMERS_CACHE='/srv/huggingface/transformers', HF_HUB_OFFLINE='0')
    problems = exports(manifest, rec)['details']['problems']
    assert 'HF_HUB_OFFLINE=0 in a login shell, expected 1' in problems
    assert ('TRANSFORMERS_CACHE=/srv/huggingface/transformers differs from HF_HUB_CACHE=/srv/huggingface/hub: '
            'transformers would not find the seeded models') in problems
    assert ('environment file /etc/codex/hf-offline.env has HF_HUB_OFFLINE=1, the login shell has 0') in problems
    assert 'TRANSFORMERS_CACHE=/srv/huggingface/transformers in a login shell, the inventory expects /srv/huggingface/hub' \
        in problems


def test_exports_profile_missing_unmanaged_unset(manifest):
    rec = record('ml1')
    rec['exports']['profile']['head'] = "export HF_HOME='/srv/huggingface'\n"
    assert exports(manifest, rec)['details']['problems'] == [
        "/etc/profile.d/hf-offline.sh has no 'Ansible managed' header: it was not written by the hf_offline_cache role"]
    rec = record('ml1')
    rec['exports']['profile'] = {'path': '/etc/profile.d/hf-offline.sh', 'exists': False, 'head': ''}
    rec['exports']['login_env'] = dict((k, None) for k in rec['exports']['login_env'])
    rec['exports']['env_file'] = {'path': '/etc/codex/hf-offline.env', 'exists': False, 'text': ''}
    check = exports(manifest, rec)
    assert check['summary'] == '9 problems; first: /etc/profile.d/hf-offline.sh does not exist'
    assert 'HF_HOME is not set in a login shell (bash -lc)' in check['details']['problems']
    assert 'environment file /etc/codex/hf-offline.env does not exist' in check['details']['problems']


def test_hf_cache_unresolved_and_not_scanned(manifest):
    rec = record('ml1')
    req = rec['hf_cache']['facts']['requested'][0]
    req.update(resolves_offline=False, error='LocalEntryNotFoundError: revision main not in the cache')
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['details']['problems'] == [
        'model codex-test/tiny-bert@5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b does not resolve offline: '
        'LocalEntryNotFoundError: revision main not in the cache']
    rec = record('ml1')
    rec['hf_cache'] = {'facts': None, 'error': None}
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['status'] == 'fail' and check['summary'] == 'the hub cache was not scanned'


def test_gates_files_and_venv(manifest):
    rec = record('ci1')
    rec['gates']['stat']['/usr/local/bin/codex-gate']['executable'] = False
    rec['gates']['stat']['/srv/ci/sample/noxfile.py'] = {'exists': False, 'isreg': False, 'executable': False}
    venv_of(rec, '/opt/codex/gates')['dists'].pop('nox')
    problems = check_of(build([rec], manifest), 'ci1', 'gates')['details']['problems']
    assert problems == ['/usr/local/bin/codex-gate is not executable',
                        '/srv/ci/sample/noxfile.py missing (project /srv/ci/sample)',
                        'gate venv /opt/codex/gates lacks nox']


def test_gates_name_each_project_and_its_last_result(manifest):
    rec = record('ci1')
    rec['gates']['results'] = [
        {'project': '/srv/ci/sample', 'name': 'sample', 'file': '/srv/ci/sample/.codex-gate-result.json',
         'last': {'result': 'passed', 'finished': '2026-11-29T16:31:02Z', 'total': '88.8888'}},
        {'project': '/srv/ci/other', 'name': 'other', 'file': '/srv/ci/other/.codex-gate-result.json', 'last': None}]
    check = check_of(build([rec], manifest), 'ci1', 'gates')
    assert check['status'] == 'pass'
    assert ('(sample: last gate passed 2026-11-29T16:31:02Z; other: the gate has not run yet)'
            in check['summary']), check['summary']
    assert check['details']['results'][0]['last']['total'] == '88.8888'


def test_hf_cache_incomplete_names_the_files(manifest):
    rec = record('ml1')
    req = rec['hf_cache']['facts']['requested'][0]
    req.update(resolves_offline=False, complete=False, problems=['model.safetensors: missing'],
               error='incomplete: model.safetensors: missing')
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['status'] == 'fail'
    assert check['details']['problems'] == [
        'model codex-test/tiny-bert@5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b does not resolve offline: '
        'incomplete: model.safetensors: missing']
    # an older hf_cache_facts that said resolves_offline over named problems still fails
    req.update(resolves_offline=True, error=None)
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['details']['problems'] == [
        'model codex-test/tiny-bert@5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b is incomplete: model.safetensors: missing']


def test_hf_cache_per_user_each_user_must_pass(manifest):
    rec = record('ml1')
    shared = rec['hf_cache']['facts']
    alice = json.loads(json.dumps(shared))
    bob = json.loads(json.dumps(shared))
    alice['cache_dir'], bob['cache_dir'] = '/home/alice/.cache/huggingface/hub', '/home/bob/.cache/huggingface/hub'
    rec['hf_cache'] = {'module': True, 'users': [{'user': 'alice', 'facts': alice}, {'user': 'bob', 'facts': bob}]}
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['status'] == 'pass', check
    assert check['summary'].startswith('per_user: 2 user caches')
    assert [u['user'] for u in check['details']['users']] == ['alice', 'bob']
    # bob's copy lost its weights: the host fails naming bob and the file; alice's cache does not hide it
    bob['requested'][0].update(complete=False, problems=['model.safetensors: missing'])
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['status'] == 'fail'
    assert check['details']['problems'] == [
        'bob: model codex-test/tiny-bert@5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b is incomplete: '
        'model.safetensors: missing']
    # a user whose cache could not be scanned, and a per_user host listing nobody
    rec['hf_cache']['users'] = [{'user': 'carol', 'facts': None, 'error': 'su: user carol does not exist'}]
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['details']['problems'] == ['carol: su: user carol does not exist']
    rec['hf_cache']['users'] = []
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['status'] == 'fail' and 'lists no users' in check['summary']
