# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report: verdicts from host records, drift, deterministic output, escaping, JUnit, the failure message, files.

The host records are tests/fixtures/audit/{ml1,ml2,ci1}.json (the shape playbooks/audit.yml sends: ml1 healthy,
ml2 with a stub torch installed from a stub index, ci1 a Debian 13 CI runner) and the staging manifest is
tests/fixtures/audit/manifest.json (real names, versions and sha256 of the staged wheels).
"""

from __future__ import absolute_import, division, print_function

import copy
import json
import os
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _report as R

FIXTURES = Path(__file__).resolve().parents[3] / 'fixtures' / 'audit'
ROLE_GROUPS = {'torch_cpu': ['ml_nodes'], 'hf_offline_cache': ['ml_nodes', 'ci_runners'], 'ci_gates': ['ci_runners']}
STAMP = '2026-11-28T12:00:00Z'


def load_records():
    return [json.loads((FIXTURES / name).read_text()) for name in ('ml1.json', 'ml2.json', 'ci1.json')]


def record(host):
    return dict((r['host'], r) for r in load_records())[host]


@pytest.fixture(scope='module')
def manifest():
    info, index = R.load_manifest(str(FIXTURES / 'manifest.json'))
    assert info['error'] is None and index
    return info, index


def build(records, manifest, **kwargs):
    kwargs.setdefault('generated_at', STAMP)
    kwargs.setdefault('role_groups', ROLE_GROUPS)
    return R.build_report(records, manifest[0], manifest[1], **kwargs)


def statuses(doc):
    return dict((h['host'], dict((n, c['status']) for n, c in h['checks'].items())) for h in doc['hosts'])


def check_of(doc, host, name):
    return dict((h['host'], h) for h in doc['hosts'])[host]['checks'][name]


# --------------------------------------------------------------------------- schema and fixture verdicts
def test_schema_and_shape(manifest):
    doc = build(load_records(), manifest)
    assert doc['schema'] == 1 == R.SCHEMA
    assert set(doc) == {'schema', 'generator', 'generated_at', 'manifest', 'role_groups', 'checks', 'hosts', 'drift',
                        'summary', 'compliant'}
    assert [h['host'] for h in doc['hosts']] == ['ci1', 'ml1', 'ml2']
    assert doc['checks'] == ['torch', 'wheels:gates', 'wheels:torch+hf', 'exports', 'hf_cache', 'gates']
    for host in doc['hosts']:
        assert set(host) == {'host', 'groups', 'roles', 'roles_source', 'os', 'python', 'reachable', 'checks',
                             'failed_checks', 'compliant'}
        assert list(host['checks']) and set(host['checks']) == set(doc['checks'])
        for check in host['checks'].values():
            assert set(check) == {'status', 'summary', 'details'}
            assert check['status'] in R.STATUSES
            assert isinstance(check['details']['problems'], list)
            assert check['summary']
    counts = doc['summary']['counts']
    assert sum(counts.values()) == 3 * len(doc['checks'])
    assert doc['manifest']['files'] == len(json.loads((FIXTURES / 'manifest.json').read_text())['files'])


def test_fixture_verdicts(manifest):
    doc = build(load_records(), manifest)
    assert statuses(doc) == {
        'ci1': {'torch': 'n/a', 'wheels:gates': 'pass', 'wheels:torch+hf': 'pass', 'exports': 'pass',
                'hf_cache': 'pass', 'gates': 'pass'},
        'ml1': {'torch': 'pass', 'wheels:gates': 'n/a', 'wheels:torch+hf': 'pass', 'exports': 'pass',
                'hf_cache': 'pass', 'gates': 'n/a'},
        'ml2': {'torch': 'fail', 'wheels:gates': 'n/a', 'wheels:torch+hf': 'fail', 'exports': 'pass',
                'hf_cache': 'pass', 'gates': 'n/a'},
    }
    assert doc['compliant'] is False
    assert doc['summary']['noncompliant_hosts'] == ['ml2']
    assert R.noncompliant(doc) == {'ml2': ['torch', 'wheels:torch+hf']}
    torch = check_of(doc, 'ml2', 'torch')
    assert torch['summary'] == 'torch is stub'
    assert 'facts file says status="ok", the live diagnostic says "stub"' in torch['details']['problems']
    wheels = check_of(doc, 'ml2', 'wheels:torch+hf')
    assert wheels['details']['problems'] == [
        "torch==2.13.0+cpu: locked sha256 0b1f9d1e0c3a not among the staging manifest's sha256 for it (6746dbcbeb52)"]
    assert wheels['details']['dists']['torch']['verdict'] == 'hash not in the manifest'
    na = check_of(doc, 'ci1', 'torch')
    assert na['summary'] == "torch_cpu is not applied to this host's groups (ci_runners)"
    assert check_of(doc, 'ml1', 'wheels:torch+hf')['summary'] == \
        '23 distributions match the release and the staging manifest (sha256)'


def test_all_pass_is_compliant(manifest):
    records = [r for r in load_records() if r['host'] != 'ml2']
    doc = build(records, manifest)
    assert doc['compliant'] is True
    assert R.failure_message(doc) == ''
    assert R.noncompliant(doc) == {}


def test_no_host_is_not_compliant(manifest):
    doc = build([], manifest)
    assert doc['compliant'] is False
    assert R.failure_message(doc) == 'audit: no host was audited'


def test_audit_host_roles_override(manifest):
    ci1 = record('ci1')
    ci1.update(roles=['ci_gates'], roles_source='audit_host_roles')
    doc = build([ci1], manifest)
    assert check_of(doc, 'ci1', 'exports')['status'] == 'n/a'
    assert check_of(doc, 'ci1', 'exports')['summary'] == "hf_offline_cache is not in this host's audit_host_roles"
    # the /opt/codex/venv check applies through torch_cpu or hf_offline_cache: neither is expected now
    assert check_of(doc, 'ci1', 'wheels:torch+hf')['status'] == 'n/a'
    assert check_of(doc, 'ci1', 'wheels:gates')['status'] == 'pass'


def test_unreachable_host_fails_what_applies(manifest):
    doc = build([{'host': 'ml9', 'groups': ['ml_nodes'], 'roles': ['torch_cpu'], 'unreachable': True,
                  'unreachable_msg': 'Failed to connect to the host via ssh'}], manifest)
    host = doc['hosts'][0]
    assert host['reachable'] is False
    assert host['checks']['torch']['status'] == 'fail'
    assert host['checks']['torch']['summary'] == 'host was not audited: Failed to connect to the host via ssh'
    assert host['checks']['exports']['status'] == 'n/a'
    assert R.failure_message(doc) == ('audit: 1 host of 1 host not compliant: ml9 (host was not audited: Failed to '
                                      'connect to the host via ssh)')


def test_unreachable_host_keeps_its_venv_checks(manifest):
    doc = build([{'host': 'ci9', 'groups': ['ci_runners'], 'roles': ['ci_gates'], 'unreachable': True,
                  'unreachable_msg': 'x' * 400,
                  'venvs': [{'name': 'gates', 'path': '/opt/codex/gates', 'roles': ['ci_gates']}]}], manifest)
    assert doc['hosts'][0]['failed_checks'] == ['gates', 'wheels:gates']
    assert R.failure_message(doc).endswith('(%s...)' % ('host was not audited: ' + 'x' * 400)[:197])


def test_record_without_host_is_an_error(manifest):
    with pytest.raises(R.ReportError, match="needs a 'host' name"):
        build([{'groups': []}], manifest)
    with pytest.raises(R.ReportError, match='two records'):
        build([record('ml1'), record('ml1')], manifest)


# --------------------------------------------------------------------------- wheels against the manifest
def venv_of(rec, path='/opt/codex/venv'):
    return [s for s in rec['venv_states'] if s['path'] == path][0]


def wheels(manifest, rec, name='wheels:torch+hf', **kwargs):
    return check_of(build([rec], manifest, **kwargs), rec['host'], name)


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


def test_wheels_manifest_missing(tmp_path):
    info, index = R.load_manifest(str(tmp_path / 'nope.json'))
    assert index is None and 'cannot read the staging manifest' in info['error']
    doc = R.build_report([record('ml1')], info, index, generated_at=STAMP)
    check = check_of(doc, 'ml1', 'wheels:torch+hf')
    assert check['status'] == 'fail'
    assert str(tmp_path / 'nope.json') in check['summary']
    (tmp_path / 'bad.json').write_text('{"schema": 2, "files": []}')
    info, index = R.load_manifest(str(tmp_path / 'bad.json'))
    assert index is None and 'schema 2' in info['error']


def test_venvs_with_one_path_are_one_check():
    merged = R.merge_venvs([{'name': 'torch', 'path': '/opt/v/', 'roles': ['torch_cpu']},
                            {'name': 'gates', 'path': '/opt/g', 'role': 'ci_gates'},
                            {'name': 'hf', 'path': '/opt/v', 'roles': ['hf_offline_cache']}],
                           [{'path': '/opt/v', 'exists': True}])
    assert [(v['name'], v['path'], v['roles'], v['exists']) for v in merged] == [
        ('torch+hf', '/opt/v', ['hf_offline_cache', 'torch_cpu'], True),
        ('gates', '/opt/g', ['ci_gates'], None)]
    assert merged[1]['error'] == 'not collected' and merged[1]['exists'] is None


def test_venv_audit_failure_is_named(manifest):
    rec = record('ml1')
    rec.update(venv_states=[], venv_error='Cannot run /usr/bin/python3: Permission denied')
    check = wheels(manifest, rec)
    assert check['summary'] == ('venv /opt/codex/venv was not examined: Cannot run /usr/bin/python3: '
                                'Permission denied')
    with pytest.raises(R.ReportError, match='needs a name and a path'):
        R.merge_venvs([{'path': '/x'}])


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


def test_env_file_parsing():
    assert R.parse_env_file("#\n# Ansible managed\nA=1\nexport B='two'\nC=\"x y\"\n\nnot a line\n") == {
        'A': '1', 'B': 'two', 'C': 'x y'}


def test_hf_cache_unresolved_and_module_absent(manifest):
    rec = record('ml1')
    req = rec['hf_cache']['facts']['requested'][0]
    req.update(resolves_offline=False, error='LocalEntryNotFoundError: revision main not in the cache')
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['details']['problems'] == [
        'model codex-test/tiny-bert@5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b does not resolve offline: '
        'LocalEntryNotFoundError: revision main not in the cache']
    rec = record('ml1')
    rec['hf_cache'] = {'module': False, 'facts': None}
    check = check_of(build([rec], manifest), 'ml1', 'hf_cache')
    assert check['status'] == 'fail' and 'hf_cache_facts is not in this collection' in check['summary']


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


# --------------------------------------------------------------------------- drift
def torch_host(host, version, status='ok'):
    rec = record('ml1')
    rec['host'] = host
    rec['torch']['diagnostic'].update(version=version, dist_version=version, status=status)
    rec['torch']['facts']['diagnostic'].update(version=version, dist_version=version, status=status)
    return rec


def test_drift_groups_hosts_by_value(manifest):
    ci1 = record('ci1')  # torch does not apply there: it never takes part in the torch drift
    doc = build([torch_host('a', '2.13.0+cpu'), torch_host('b', '2.12.0+cpu'), torch_host('c', '2.13.0+cpu'), ci1],
                manifest)
    drift = dict((d['key'], d) for d in doc['drift'])
    assert drift['torch.version'] == {'key': 'torch.version', 'check': 'torch', 'values': [
        {'value': '2.12.0+cpu', 'hosts': ['b']}, {'value': '2.13.0+cpu', 'hosts': ['a', 'c']}]}
    assert [d['key'] for d in doc['drift']] == sorted(d['key'] for d in doc['drift'])


def test_no_drift_when_hosts_agree(manifest):
    doc = build([torch_host('a', '2.13.0+cpu'), torch_host('b', '2.13.0+cpu')], manifest)
    assert doc['drift'] == []


def test_drift_exports_and_absent_distributions(manifest):
    a, b = torch_host('a', '2.13.0+cpu'), torch_host('b', '2.13.0+cpu')
    b['exports']['login_env']['HF_HOME'] = '/data/hf'
    b['exports']['expected']['HF_HOME'] = '/data/hf'
    del venv_of(b)['dists']['mpmath']
    drift = dict((d['key'], d['values']) for d in build([a, b], manifest)['drift'])
    assert drift['exports.HF_HOME'] == [{'value': '/data/hf', 'hosts': ['b']},
                                        {'value': '/srv/huggingface', 'hosts': ['a']}]
    assert drift['wheels:torch+hf.dist.mpmath'] == [{'value': '1.3.0', 'hosts': ['a']}, {'value': None, 'hosts': ['b']}]


# --------------------------------------------------------------------------- determinism
def test_same_state_same_verdicts(manifest):
    records = load_records()
    shuffled = copy.deepcopy(records)
    random.Random(7).shuffle(shuffled)
    for rec in shuffled:  # volatile values differ between two audits of the same state
        if rec['torch'].get('diagnostic'):
            rec['torch']['diagnostic']['elapsed_s'] = 99.9
        if rec['hf_cache'].get('facts'):
            rec['hf_cache']['facts']['elapsed_s'] = 12.5
    first = build(records, manifest, generated_at='2026-11-28T12:00:00Z')
    second = build(shuffled, manifest, generated_at='2026-11-28T13:30:00Z')
    assert R.verdicts(first) == R.verdicts(second)
    assert R.render_json(first).replace('12:00:00', '13:30:00') == R.render_json(second)
    assert R.render_html(first).replace('12:00:00', '13:30:00') == R.render_html(second)
    assert R.render_junit(first).replace('12:00:00', '13:30:00') == R.render_junit(second)
    assert 'elapsed_s' not in R.render_json(first)


def test_json_is_sorted(manifest):
    text = R.render_json(build(load_records(), manifest))
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + '\n'


# --------------------------------------------------------------------------- escaping and self-containment
HOSTILE = '<script>alert("x")</script>&\'"'


def hostile_doc(manifest):
    rec = record('ml2')
    rec['host'] = 'ml2' + HOSTILE
    rec['groups'] = ['ml_nodes', '<b>g</b>']
    rec['torch']['diagnostic']['problems'] = ['bad <img src=x onerror=alert(1)> \x01 problem']
    return build([rec, record('ml1')], manifest)


def test_html_escapes_everything(manifest):
    page = R.render_html(hostile_doc(manifest))
    assert '<script' not in page
    assert '<img' not in page
    assert '<b>g</b>' not in page
    assert '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;&quot;' in page
    assert '&lt;img src=x onerror=alert(1)&gt; \ufffd problem' in page
    assert '\x01' not in page


def test_html_is_self_contained(manifest):
    page = R.render_html(build(load_records(), manifest))
    lowered = page.lower()
    for needle in ('<script', '<link', '<img', '<iframe', 'src=', '@import', 'url(', '@font-face'):
        assert needle not in lowered, needle
    assert lowered.startswith('<!doctype html>')
    assert '<style>' in page and '<meta charset="utf-8">' in page
    # the hrefs are in-page anchors only
    assert all(part.startswith('#') for part in page.split('href="')[1:])


def test_html_marks_cells_with_colour_and_text(manifest):
    page = R.render_html(build(load_records(), manifest))
    assert ('<td class="cell fail" data-host="ml2" data-check="torch" data-status="fail"><a href="#c-ml2-torch">'
            '<span class="sym">&#10008;</span>FAIL</a>') in page
    assert '<td class="cell pass" data-host="ml1" data-check="torch" data-status="pass"><span class="sym">&#10004;' \
           '</span>pass' in page
    assert '<td class="cell na" data-host="ci1" data-check="torch" data-status="n/a"><span class="sym">&#8211;' \
           '</span>n/a' in page
    assert 'report schema 1' in page and STAMP in page
    assert '<h3 id="c-ml2-torch">' in page
    assert 'Drift between hosts' in page
    assert '<h3>torch</h3>\n<table class="drift"><thead><tr><th>value compared</th><th>ml1</th><th>ml2</th></tr>' in page
    assert '<tr><td><code>build</code></td><td><code>cf30153c4c13 (cpu)</code></td><td><code>? (unknown build)</code>' \
        in page
    assert '<td class="na"><code>&#8212;</code></td>' in page  # ci1 has no torch in /opt/codex/venv


# --------------------------------------------------------------------------- junit
def test_junit_is_valid_and_agrees_with_json(manifest):
    doc = hostile_doc(manifest)
    root = ET.fromstring(R.render_junit(doc).encode('utf-8'))
    assert root.tag == 'testsuites'
    cases = root.findall('./testsuite/testcase')
    assert len(cases) == len(doc['hosts']) * len(doc['checks'])
    assert int(root.get('tests')) == len(cases)
    by_case = dict(((c.get('classname'), c.get('name')), c) for c in cases)
    for host in doc['hosts']:
        for name, check in host['checks'].items():
            case = by_case[(host['host'], name)]
            failure, skipped = case.find('failure'), case.find('skipped')
            if check['status'] == 'fail':
                assert failure is not None and skipped is None
                assert failure.get('message') == check['summary']
                assert failure.text.splitlines()[0] == check['details']['problems'][0].replace('\x01', '\ufffd')
            elif check['status'] == 'n/a':
                assert skipped is not None and failure is None
                assert skipped.get('message') == check['summary']
            else:
                assert failure is None and skipped is None
    assert int(root.get('failures')) == doc['summary']['counts']['fail'] == len(root.findall('.//failure'))
    assert int(root.get('skipped')) == doc['summary']['counts']['n/a'] == len(root.findall('.//skipped'))
    suites = root.findall('testsuite')
    assert [s.get('name') for s in suites] == [h['host'] for h in doc['hosts']]
    assert ('ml2' + HOSTILE, 'torch') in by_case


# --------------------------------------------------------------------------- the failure message
def test_failure_message_names_hosts_and_checks(manifest):
    message = R.failure_message(build(load_records(), manifest))
    assert message == (
        "audit: 1 host of 3 hosts not compliant: ml2 (torch: torch is stub; wheels:torch+hf: torch==2.13.0+cpu: "
        "locked sha256 0b1f9d1e0c3a not among the staging manifest's sha256 for it (6746dbcbeb52))")


# --------------------------------------------------------------------------- files
def test_write_report_folders_and_latest(tmp_path, manifest):
    doc = build(load_records(), manifest)
    now = 1795867200.0  # 2026-11-28T12:00:00Z
    first = R.write_report(doc, str(tmp_path), now)
    assert first['dir'] == str(tmp_path / '20261128T120000Z')
    assert sorted(os.listdir(first['dir'])) == ['fleet.html', 'fleet.json', 'junit.xml']
    assert os.readlink(str(tmp_path / 'latest')) == '20261128T120000Z'
    assert json.loads(Path(first['files']['json']).read_text()) == json.loads(R.render_json(doc))
    second = R.write_report(doc, str(tmp_path), now)  # same second: a new folder all the same
    assert second['dir'] == str(tmp_path / '20261128T120000Z-1')
    assert os.readlink(str(tmp_path / 'latest')) == '20261128T120000Z-1'
    assert Path(first['files']['html']).read_text() == Path(second['files']['html']).read_text()
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith('.') or n.endswith('.tmp')]
    with pytest.raises(R.ReportError, match='absolute'):
        R.write_report(doc, 'relative/dir', now)
