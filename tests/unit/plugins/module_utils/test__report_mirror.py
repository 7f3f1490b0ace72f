# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_mirror: the mirror host's row (check mirror), each node against the release it serves (check release),
the report's mirror section and its line on the page.

The mirror host's record is report_cases.mirror_record: it keeps r1 (another torch wheel in the lock, the model at
another commit) and r2 (the lock ml1's venv was built from, ml1's model commit) and serves r2 unless told otherwise.
"""

from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._report_render import render_html, render_junit

from report_cases import MIRROR_GROUPS, MODEL, build, check_of, mirror_record, record, statuses


def report(manifest, *records):
    return build(list(records), manifest, role_groups=MIRROR_GROUPS)


@pytest.mark.parametrize('kwargs, status, needle', [
    ({}, 'pass', 'serves r2 (manifest r2r2r2r2r2r2), signed by stager@lab; health: index lists '),
    ({'signer': None}, 'fail', 'release r2: manifest.json.sig: signed by a key that is not in allowed_signers'),
    ({'signed': False}, 'fail', 'release r2 is unsigned: stage it signed'),
    ({'signed': False, 'allow_unsigned': True}, 'pass', 'unsigned (allowed by offline_mirror_allow_unsigned)'),
    ({'health': False}, 'fail', 'health: index: http://127.0.0.1:3141/simple/alpha/ answered HTTP 502'),
    ({'fact': False}, 'fail', 'no ansible_local.offline_mirror facts'),
])
def test_the_mirror_row(manifest, kwargs, status, needle):
    check = check_of(report(manifest, mirror_record(**kwargs)), 'mirror1', 'mirror')
    assert check['status'] == status
    assert needle in check['summary']


def test_the_mirror_row_fails_when_the_facts_file_names_another_release(manifest):
    rec = mirror_record()
    rec['mirror']['fact']['release'] = 'r1'
    check = check_of(report(manifest, rec), 'mirror1', 'mirror')
    assert check['status'] == 'fail'
    assert check['details']['problems'] == ['the facts file says release r1, the store serves r2']


def test_the_mirror_row_fails_on_a_lock_that_is_not_the_signed_one(manifest):
    rec = mirror_record()
    rec['mirror']['releases'][1]['locks']['torch_cpu']['sha256'] = 'b' * 64
    check = check_of(report(manifest, rec), 'mirror1', 'mirror')
    assert check['status'] == 'fail'
    assert 'release r2: locks/torch_cpu.txt has sha256 bbbbbbbbbbbb, the signed manifest says aaaaaaaaaaaa' in \
        check['summary']


def test_the_checks_of_the_nodes_are_not_applicable_to_the_mirror_host(manifest):
    doc = report(manifest, mirror_record(), record('ml1'), record('ci1'))
    mirror_row = statuses(doc)['mirror1']
    assert mirror_row.pop('mirror') == 'pass'
    assert set(mirror_row.values()) == {'n/a'}
    assert check_of(doc, 'mirror1', 'torch')['summary'] == \
        "torch_cpu is not applied to this host's groups (mirror_hosts)"
    assert check_of(doc, 'ml1', 'mirror')['status'] == 'n/a'
    assert check_of(doc, 'mirror1', 'release')['summary'] == \
        "torch_cpu or hf_offline_cache or ci_gates is not applied to this host's groups (mirror_hosts)"


def test_a_node_on_the_served_release_passes(manifest):
    check = check_of(report(manifest, mirror_record(), record('ml1')), 'ml1', 'release')
    assert check['status'] == 'pass', check
    assert check['summary'] == '2 venvs and repos on the served release r2'
    assert [c['release'] for c in check['details']['compared']] == ['r2', 'r2']


def test_a_node_on_an_older_release_is_named(manifest):
    # the mirror serves r2 now, the node was built from r1's lock and seeded with r1's model
    ml1 = record('ml1')
    ml1['venv_states'][0]['marker']['hashes']['torch'] = ['0' * 64]
    ml1['hf_cache']['facts']['requested'][0]['commit'] = 'old0' * 10
    doc = report(manifest, mirror_record(), ml1)
    check = check_of(doc, 'ml1', 'release')
    assert check['status'] == 'fail'
    assert check['details']['problems'] == [
        "wheels:torch+hf (/opt/codex/venv) is on release r1's lock of set torch_cpu; the mirror serves r2",
        'model %s is at commit old0old0old0, release r1\'s; the mirror serves r2' % MODEL]
    assert doc['summary']['noncompliant_hosts'] == ['ml1']
    assert "is on release r1's lock" in render_junit(doc)


def test_a_node_built_from_a_lock_no_release_holds(manifest):
    ml1 = record('ml1')
    ml1['venv_states'][0]['marker']['hashes']['torch'] = ['9' * 64]
    check = check_of(report(manifest, mirror_record(), ml1), 'ml1', 'release')
    assert check['status'] == 'fail'
    assert check['summary'] == ('wheels:torch+hf (/opt/codex/venv) was built from a lock that no release on the '
                                'mirror holds; the mirror serves r2')


def test_the_mirror_serving_the_older_release_fails_the_newer_node(manifest):
    check = check_of(report(manifest, mirror_record(served='r1'), record('ml1')), 'ml1', 'release')
    assert check['status'] == 'fail'
    assert "release r2's lock" in check['summary'] and 'the mirror serves r1' in check['summary']


def test_release_is_not_applicable_without_a_mirror_host(manifest):
    doc = report(manifest, record('ml1'), record('ci1'))
    for host in ('ml1', 'ci1'):
        check = check_of(doc, host, 'release')
        assert check['status'] == 'n/a'
        assert check['summary'].startswith('no mirror host in this audit')
    assert doc['mirror'] == {'hosts': [], 'served': []}


def test_a_mirror_host_not_audited_fails_the_comparison(manifest):
    down = {'host': 'mirror1', 'groups': ['mirror_hosts'], 'roles': ['offline_mirror'], 'unreachable': True,
            'unreachable_msg': 'Failed to connect to the host via ssh'}
    doc = report(manifest, down, record('ml1'))
    assert check_of(doc, 'mirror1', 'mirror')['status'] == 'fail'
    check = check_of(doc, 'ml1', 'release')
    assert check['status'] == 'fail'
    assert 'mirror1: not audited (Failed to connect to the host via ssh)' in check['summary']


def test_the_mirror_section_and_the_page(manifest):
    doc = report(manifest, mirror_record(), record('ml1'))
    assert doc['mirror'] == {'served': ['r2'], 'hosts': [{
        'host': 'mirror1', 'status': 'pass', 'release': 'r2', 'manifest_sha256': 'r2' * 32, 'signer': 'stager@lab',
        'signature': 'signed by stager@lab', 'releases': ['r1', 'r2'], 'health': True,
        'url': 'http://127.0.0.1:3141'}]}
    page = render_html(doc)
    assert ('mirror host <strong>mirror1</strong> serves release <strong>r2</strong> (manifest sha256 r2r2r2r2r2r2) '
            '&#183; signed by stager@lab &#183; health ok &#183; kept: r1, r2') in page
    # the lock hashes stay in the record: the report says which release each venv is on, not the hashes
    torch_hash = record('ml1')['venv_states'][0]['marker']['hashes']['torch'][0]
    assert torch_hash not in json.dumps(doc['mirror']) + json.dumps(check_of(doc, 'ml1', 'release'))
