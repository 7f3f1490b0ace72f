# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the tests of the fleet report's modules (tests/unit/plugins/module_utils/test__report_*.py).

The host records are tests/fixtures/audit/{ml1,ml2,ci1}.json (the shape playbooks/audit.yml sends: ml1 healthy,
ml2 with a stub torch installed from a stub index, ci1 a Debian 13 CI runner) and the staging manifest is
tests/fixtures/audit/manifest.json (real names, versions and sha256 of the staged wheels), loaded by the
``manifest`` fixture of tests/unit/conftest.py.
"""

from __future__ import absolute_import, division, print_function

import json
from pathlib import Path

from ansible_collections.codex.offline_ml.plugins.module_utils._report_fleet import build_report

FIXTURES = Path(__file__).resolve().parents[3] / 'fixtures' / 'audit'
ROLE_GROUPS = {'torch_cpu': ['ml_nodes'], 'hf_offline_cache': ['ml_nodes', 'ci_runners'], 'ci_gates': ['ci_runners']}
STAMP = '2026-11-28T12:00:00Z'


def load_records():
    return [json.loads((FIXTURES / name).read_text()) for name in ('ml1.json', 'ml2.json', 'ci1.json')]


def record(host):
    return dict((r['host'], r) for r in load_records())[host]


def build(records, manifest, **kwargs):
    kwargs.setdefault('generated_at', STAMP)
    kwargs.setdefault('role_groups', ROLE_GROUPS)
    return build_report(records, manifest[0], manifest[1], **kwargs)


def statuses(doc):
    return dict((h['host'], dict((n, c['status']) for n, c in h['checks'].items())) for h in doc['hosts'])


def check_of(doc, host, name):
    return dict((h['host'], h) for h in doc['hosts'])[host]['checks'][name]


def venv_of(rec, path='/opt/codex/venv'):
    return [s for s in rec['venv_states'] if s['path'] == path][0]


def wheels(manifest, rec, name='wheels:torch+hf', **kwargs):
    return check_of(build([rec], manifest, **kwargs), rec['host'], name)


def torch_host(host, version, status='ok'):
    rec = record('ml1')
    rec['host'] = host
    rec['torch']['diagnostic'].update(version=version, dist_version=version, status=status)
    rec['torch']['facts']['diagnostic'].update(version=version, dist_version=version, status=status)
    return rec


HOSTILE = '<script>alert("x")</script>&\'"'


def hostile_doc(manifest):
    rec = record('ml2')
    rec['host'] = 'ml2' + HOSTILE
    rec['groups'] = ['ml_nodes', '<b>g</b>']
    rec['torch']['diagnostic']['problems'] = ['bad <img src=x onerror=alert(1)> \x01 problem']
    return build([rec, record('ml1')], manifest)


# --------------------------------------------------------------------------- the mirror host and the release it serves
MIRROR_GROUPS = dict(ROLE_GROUPS, offline_mirror=['mirror_hosts'])
MODEL = 'codex-test/tiny-bert'


def ml1_lock():
    """The wheel hashes ml1's venv was built from: the served release's lock of set torch_cpu in mirror_record."""
    return venv_of(record('ml1'))['marker']['hashes']


def kept_release(release_id, lock, commit, created):
    return {'release': release_id, 'manifest_sha256': (release_id * 64)[:64], 'created': created, 'error': None,
            'locks': {'torch_cpu': {'path': 'locks/torch_cpu.txt', 'sha256': 'a' * 64, 'listed': 'a' * 64,
                                    'hashes': lock, 'error': None}},
            'models': [{'repo_id': MODEL, 'repo_type': 'model', 'revision': 'main', 'commit': commit}]}


def mirror_record(host='mirror1', served='r2', signer='stager@lab', signed=True, allow_unsigned=False, health=True,
                  fact=True):
    """A mirror host's record: it keeps r1 (an older lock, model at commit 'old') and r2 (ml1's lock, ml1's model
    commit) and serves SERVED."""
    ml1 = record('ml1')
    commit = ml1['hf_cache']['facts']['requested'][0]['commit']
    old_lock = dict(ml1_lock(), torch=['0' * 64])
    releases = [kept_release('r1', old_lock, 'old0' * 10, '2026-11-01T00:00:00Z'),
                kept_release('r2', ml1_lock(), commit, '2026-12-01T00:00:00Z')]
    manifest_sha256 = [r for r in releases if r['release'] == served][0]['manifest_sha256']
    mirror = {'root': '/srv/offline-mirror', 'url': 'http://127.0.0.1:3141', 'allow_unsigned': allow_unsigned,
              'served': {'release': served, 'path': '/srv/offline-mirror/releases/' + served,
                         'manifest_sha256': manifest_sha256, 'signed': signed,
                         'signer': signer if signed else None, 'error': None,
                         'signature_error': None if signer or not signed else 'manifest.json.sig: signed by a key '
                                                                              'that is not in allowed_signers'},
              'releases': releases,
              'health': {'ok': health, 'checks': ['index lists alpha-1.0-py3-none-any.whl'] if health else [],
                         'check': None if health else 'index',
                         'error': None if health else 'index: http://127.0.0.1:3141/simple/alpha/ answered HTTP 502'},
              'fact': {'release': served, 'manifest_sha256': manifest_sha256, 'signer': signer} if fact else None}
    return {'host': host, 'groups': ['mirror_hosts'], 'roles': ['offline_mirror'], 'roles_source': 'groups',
            'os': {}, 'python': '3.11.2', 'unreachable': False, 'mirror': mirror,
            'venvs': record('ml1')['venvs'], 'venv_states': [], 'venv_error': None}
