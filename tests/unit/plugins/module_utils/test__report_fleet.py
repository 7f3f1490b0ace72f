# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_fleet: verdicts host by host, applicability, drift, determinism, the failure message.

The host records are tests/fixtures/audit/{ml1,ml2,ci1}.json (the shape playbooks/audit.yml sends: ml1 healthy,
ml2 with a stub torch installed from a stub index, ci1 a Debian 13 CI runner) and the staging manifest is
tests/fixtures/audit/manifest.json (real names, versions and sha256 of the staged wheels), loaded by the
``manifest`` fixture of tests/unit/conftest.py; report_cases.py holds the helpers the _report_* tests share.
"""

from __future__ import absolute_import, division, print_function

import copy
import json
import random

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import SCHEMA, STATUSES, ReportError
from ansible_collections.codex.offline_ml.plugins.module_utils._report_fleet import failure_message, noncompliant, verdicts
from ansible_collections.codex.offline_ml.plugins.module_utils._report_render import render_html, render_json, render_junit

from report_cases import FIXTURES, build, check_of, load_records, record, statuses, torch_host, venv_of


# --------------------------------------------------------------------------- schema and fixture verdicts
def test_schema_and_shape(manifest):
    doc = build(load_records(), manifest)
    assert doc['schema'] == 1 == SCHEMA
    assert set(doc) == {'schema', 'generator', 'generated_at', 'manifest', 'mirror', 'role_groups', 'checks', 'hosts',
                        'drift', 'summary', 'compliant'}
    assert doc['mirror'] == {'hosts': [], 'served': []}
    assert [h['host'] for h in doc['hosts']] == ['ci1', 'ml1', 'ml2']
    # ci1's /opt/codex/venv holds the hf set alone: its column is wheels:hf, not the ML nodes' wheels:torch+hf
    assert doc['checks'] == ['torch', 'wheels:gates', 'wheels:hf', 'wheels:torch+hf', 'exports', 'hf_cache', 'gates',
                             'release', 'mirror']
    for host in doc['hosts']:
        assert set(host) == {'host', 'groups', 'roles', 'roles_source', 'os', 'python', 'reachable', 'checks',
                             'failed_checks', 'compliant'}
        assert list(host['checks']) and set(host['checks']) == set(doc['checks'])
        for check in host['checks'].values():
            assert set(check) == {'status', 'summary', 'details'}
            assert check['status'] in STATUSES
            assert isinstance(check['details']['problems'], list)
            assert check['summary']
    counts = doc['summary']['counts']
    assert sum(counts.values()) == 3 * len(doc['checks'])
    assert doc['manifest']['files'] == len(json.loads((FIXTURES / 'manifest.json').read_text())['files'])


def test_fixture_verdicts(manifest):
    doc = build(load_records(), manifest)
    assert statuses(doc) == {
        'ci1': {'torch': 'n/a', 'wheels:gates': 'pass', 'wheels:hf': 'pass', 'wheels:torch+hf': 'n/a',
                'exports': 'pass', 'hf_cache': 'pass', 'gates': 'pass', 'release': 'n/a', 'mirror': 'n/a'},
        'ml1': {'torch': 'pass', 'wheels:gates': 'n/a', 'wheels:hf': 'n/a', 'wheels:torch+hf': 'pass',
                'exports': 'pass', 'hf_cache': 'pass', 'gates': 'n/a', 'release': 'n/a', 'mirror': 'n/a'},
        'ml2': {'torch': 'fail', 'wheels:gates': 'n/a', 'wheels:hf': 'n/a', 'wheels:torch+hf': 'fail',
                'exports': 'pass', 'hf_cache': 'pass', 'gates': 'n/a', 'release': 'n/a', 'mirror': 'n/a'},
    }
    assert doc['compliant'] is False
    assert doc['summary']['noncompliant_hosts'] == ['ml2']
    assert noncompliant(doc) == {'ml2': ['torch', 'wheels:torch+hf']}
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
    assert failure_message(doc) == ''
    assert noncompliant(doc) == {}


def test_no_host_is_not_compliant(manifest):
    doc = build([], manifest)
    assert doc['compliant'] is False
    assert failure_message(doc) == 'audit: no host was audited'


def test_audit_host_roles_override(manifest):
    ci1 = record('ci1')
    ci1.update(roles=['ci_gates'], roles_source='audit_host_roles')
    doc = build([ci1], manifest)
    assert check_of(doc, 'ci1', 'exports')['status'] == 'n/a'
    assert check_of(doc, 'ci1', 'exports')['summary'] == "hf_offline_cache is not in this host's audit_host_roles"
    # the /opt/codex/venv check applies through torch_cpu or hf_offline_cache: neither is expected now
    assert check_of(doc, 'ci1', 'wheels:torch+hf')['status'] == 'n/a'
    assert 'wheels:hf' not in doc['checks']
    assert check_of(doc, 'ci1', 'wheels:gates')['status'] == 'pass'


def test_unreachable_host_fails_what_applies(manifest):
    doc = build([{'host': 'ml9', 'groups': ['ml_nodes'], 'roles': ['torch_cpu'], 'unreachable': True,
                  'unreachable_msg': 'Failed to connect to the host via ssh'}], manifest)
    host = doc['hosts'][0]
    assert host['reachable'] is False
    assert host['checks']['torch']['status'] == 'fail'
    assert host['checks']['torch']['summary'] == 'host was not audited: Failed to connect to the host via ssh'
    assert host['checks']['exports']['status'] == 'n/a'
    assert failure_message(doc) == ('audit: 1 host of 1 host not compliant: ml9 (host was not audited: Failed to '
                                    'connect to the host via ssh)')


def test_unreachable_host_keeps_its_venv_checks(manifest):
    doc = build([{'host': 'ci9', 'groups': ['ci_runners'], 'roles': ['ci_gates'], 'unreachable': True,
                  'unreachable_msg': 'x' * 400,
                  'venvs': [{'name': 'gates', 'path': '/opt/codex/gates', 'roles': ['ci_gates']}]}], manifest)
    assert doc['hosts'][0]['failed_checks'] == ['gates', 'wheels:gates']
    assert failure_message(doc).endswith('(%s...)' % ('host was not audited: ' + 'x' * 400)[:197])


def test_record_without_host_is_an_error(manifest):
    with pytest.raises(ReportError, match="needs a 'host' name"):
        build([{'groups': []}], manifest)
    with pytest.raises(ReportError, match='two records'):
        build([record('ml1'), record('ml1')], manifest)


# --------------------------------------------------------------------------- drift
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


def test_demo_fleet_drift_has_no_runner_noise(manifest):
    """The CI runner's venv holds another lock: it is not compared with the ML nodes' venvs at all."""
    doc = build(load_records(), manifest)
    for row in doc['drift']:
        if row['check'].startswith('wheels:'):
            assert 'ci1' not in [h for v in row['values'] for h in v['hosts']], row
    assert not [d for d in doc['drift'] if d['key'].startswith('wheels:torch+hf.dist.')]


def test_distributions_are_compared_only_among_hosts_of_the_same_lock(manifest):
    a, b, c = torch_host('a', '2.13.0+cpu'), torch_host('b', '2.13.0+cpu'), torch_host('c', '2.13.0+cpu')
    marker = venv_of(c)['marker']
    marker['hashes'] = dict(marker['hashes'], six=['0' * 64])      # c installed another lock (one more pin)
    venv_of(c)['dists']['six'] = '1.17.0'
    del venv_of(b)['dists']['mpmath']                               # b drifted inside the same lock as a
    drift = dict((d['key'], d['values']) for d in build([a, b, c], manifest)['drift'])
    assert [v['hosts'] for v in drift['wheels:torch+hf.lock']] in ([['a', 'b'], ['c']], [['c'], ['a', 'b']])
    assert drift['wheels:torch+hf.dist.mpmath'] == [{'value': '1.3.0', 'hosts': ['a']}, {'value': None, 'hosts': ['b']}]
    assert 'wheels:torch+hf.dist.six' not in drift                  # c's extra pin is its lock's, not drift


def test_venv_column_names_the_roles_that_apply():
    from ansible_collections.codex.offline_ml.plugins.module_utils._report_fleet import _venv_entries_for
    entries = [{'name': 'torch', 'path': '/opt/codex/venv', 'roles': ['torch_cpu']},
               {'name': 'hf', 'path': '/opt/codex/venv/', 'roles': ['hf_offline_cache']},
               {'name': 'gates', 'path': '/opt/codex/gates', 'roles': ['ci_gates']}]
    assert [e['name'] for e in _venv_entries_for(entries, {'hf_offline_cache', 'ci_gates'})] == ['hf', 'gates']
    assert [e['name'] for e in _venv_entries_for(entries, {'torch_cpu', 'hf_offline_cache'})] == \
        ['torch', 'hf', 'gates']
    assert [e['name'] for e in _venv_entries_for(entries, set())] == ['torch', 'hf', 'gates']


def _with_companions(rec, **companions):
    for diag in (rec['torch']['diagnostic'], rec['torch']['facts']['diagnostic']):
        diag['companions'] = dict((name, {'version': version, 'status': status})
                                  for name, (version, status) in companions.items())
    return rec


def test_torch_column_names_the_companions_and_their_verdicts(manifest):
    ok = _with_companions(torch_host('a', '2.13.0+cpu'), torchvision=('0.29.0+cpu', 'ok'))
    broken = _with_companions(torch_host('b', '2.13.0+cpu', status='broken'), torchvision=('0.28.0', 'broken'))
    broken['torch']['diagnostic']['problems'] = ['torchvision 0.28.0 does not work: ...']
    doc = build([ok, broken], manifest)
    assert check_of(doc, 'a', 'torch')['summary'] == \
        'torch 2.13.0+cpu ok (cpu); torchvision 0.29.0+cpu ok, facts file agrees'
    assert check_of(doc, 'a', 'torch')['details']['companions'] == {'torchvision': {'version': '0.29.0+cpu',
                                                                                    'status': 'ok'}}
    assert check_of(doc, 'b', 'torch')['summary'] == 'torch is broken (companion: torchvision 0.28.0 broken)'
    drift = dict((d['key'], d['values']) for d in doc['drift'])
    assert drift['torch.companion.torchvision'] == [{'value': '0.28.0 (broken)', 'hosts': ['b']},
                                                    {'value': '0.29.0+cpu (ok)', 'hosts': ['a']}]


def test_facts_file_companions_must_agree(manifest):
    rec = _with_companions(torch_host('a', '2.13.0+cpu'), torchvision=('0.29.0+cpu', 'ok'))
    rec['torch']['facts']['diagnostic']['companions'] = {}
    torch = check_of(build([rec], manifest), 'a', 'torch')
    assert torch['status'] == 'fail'
    assert 'facts file says companions none, the live diagnostic says torchvision 0.29.0+cpu ok' in \
        torch['details']['problems']


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
    assert verdicts(first) == verdicts(second)
    assert render_json(first).replace('12:00:00', '13:30:00') == render_json(second)
    assert render_html(first).replace('12:00:00', '13:30:00') == render_html(second)
    assert render_junit(first).replace('12:00:00', '13:30:00') == render_junit(second)
    assert 'elapsed_s' not in render_json(first)


# --------------------------------------------------------------------------- the failure message
def test_failure_message_names_hosts_and_checks(manifest):
    message = failure_message(build(load_records(), manifest))
    assert message == (
        "audit: 1 host of 3 hosts not compliant: ml2 (torch: torch is stub; wheels:torch+hf: torch==2.13.0+cpu: "
        "locked sha256 0b1f9d1e0c3a not among the staging manifest's sha256 for it (6746dbcbeb52))")
