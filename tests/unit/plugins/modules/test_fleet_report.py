# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.fleet_report: main() in process on the fixture records (tests/fixtures/audit)."""

from __future__ import absolute_import, division, print_function

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from ansible_collections.codex.offline_ml.plugins.modules import fleet_report

FIXTURES = Path(__file__).resolve().parents[3] / 'fixtures' / 'audit'


def records(*hosts):
    hosts = hosts or ('ml1', 'ml2', 'ci1')
    return [json.loads((FIXTURES / ('%s.json' % h)).read_text()) for h in hosts]


def args(dest, **extra):
    out = dict(records=records(), dest=str(dest), manifest=str(FIXTURES / 'manifest.json'),
               role_groups={'torch_cpu': ['ml_nodes'], 'hf_offline_cache': ['ml_nodes', 'ci_runners'],
                            'ci_gates': ['ci_runners']})
    out.update(extra)
    return out


def test_writes_the_three_files_and_latest(tmp_path, run_module):
    failed, result = run_module(fleet_report, **args(tmp_path))
    assert not failed, result
    assert result['changed'] is False and result['written'] is True
    assert os.path.dirname(result['dir']) == str(tmp_path)
    assert os.path.realpath(result['latest']) == result['dir']
    assert sorted(os.listdir(result['dir'])) == ['fleet.html', 'fleet.json', 'junit.xml']
    doc = json.loads(Path(result['files']['json']).read_text())
    assert doc['schema'] == 1 and doc['generated_at'] == result['generated_at']
    assert result['compliant'] is False
    assert result['noncompliant'] == {'ml2': ['torch', 'wheels:torch+hf']}
    assert result['summary'] == doc['summary']
    assert result['drift'] == doc['drift']
    assert result['failure_message'].startswith('audit: 1 host of 3 hosts not compliant: ml2 (torch: torch is stub;')
    junit = ET.parse(result['files']['junit']).getroot()
    failing = sorted((c.get('classname'), c.get('name')) for c in junit.iter('testcase') if c.find('failure') is not None)
    assert failing == [('ml2', 'torch'), ('ml2', 'wheels:torch+hf')]
    assert 'ml2' in Path(result['files']['html']).read_text()


def test_fail_on_noncompliant_names_hosts_after_writing(tmp_path, run_module):
    failed, result = run_module(fleet_report, fail_on_noncompliant=True, **args(tmp_path))
    assert failed
    assert result['msg'] == result['failure_message']
    assert 'ml2 (torch: torch is stub; wheels:torch+hf:' in result['msg']
    assert 'ml1' not in result['msg'] and 'ci1' not in result['msg']
    assert os.path.isfile(result['files']['html'])


def test_fail_on_noncompliant_passes_a_compliant_fleet(tmp_path, run_module):
    failed, result = run_module(fleet_report, fail_on_noncompliant=True, **args(tmp_path, records=records('ml1', 'ci1')))
    assert not failed, result
    assert result['compliant'] is True and result['failure_message'] == '' and result['noncompliant'] == {}


def test_check_mode_writes_nothing(tmp_path, run_module):
    failed, result = run_module(fleet_report, _ansible_check_mode=True, **args(tmp_path / 'reports'))
    assert not failed, result
    assert result['written'] is False
    assert result['noncompliant'] == {'ml2': ['torch', 'wheels:torch+hf']}
    assert not (tmp_path / 'reports').exists()


def test_relative_dest_is_refused(run_module):
    failed, result = run_module(fleet_report, **args('reports'))
    assert failed and 'dest must be an absolute path' in result['msg']


def test_missing_manifest_fails_the_wheels_checks(tmp_path, run_module):
    failed, result = run_module(fleet_report, **args(tmp_path, manifest=str(tmp_path / 'nope.json'),
                                                     records=records('ml1')))
    assert not failed, result
    assert result['noncompliant'] == {'ml1': ['wheels:torch+hf']}
    doc = json.loads(Path(result['files']['json']).read_text())
    assert 'cannot read the staging manifest %s' % (tmp_path / 'nope.json') in doc['manifest']['error']


def test_bad_record_is_a_clear_error(tmp_path, run_module):
    failed, result = run_module(fleet_report, **args(tmp_path, records=[{'groups': ['x']}]))
    assert failed and "every host record needs a 'host' name" in result['msg']
