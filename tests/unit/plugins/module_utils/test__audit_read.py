# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The login-shell read of playbooks/audit.yml, run the way the playbook runs it: its source through bash -lc."""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _audit_read

SOURCE = open(_audit_read.__file__.replace('.pyc', '.py')).read()


def login_read(args, env=None):
    """bash -lc 'exec "$0" -I -c "$1" "$2"' PYTHON SOURCE ARGS, as the playbook's command task."""
    proc = subprocess.run(['/bin/bash', '-lc', 'exec "$0" -I -c "$1" "$2"', sys.executable, SOURCE, json.dumps(args)],
                          capture_output=True, text=True, env=env, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / 'profile.sh').write_text('# Ansible managed\nexport HF_HOME=/srv/hf\n')
    (tmp_path / 'big').write_bytes(b'x' * (_audit_read.READ_LIMIT + 10))
    (tmp_path / 'gate').write_text('#!/bin/sh\n')
    (tmp_path / 'gate').chmod(0o755)
    (tmp_path / 'dir').mkdir()
    return tmp_path


def test_env_files_and_stat_through_a_login_shell(tree):
    env = dict(os.environ, CODEX_AUDIT_PROBE='seen')
    out = login_read({'env': ['CODEX_AUDIT_PROBE', 'CODEX_AUDIT_UNSET'],
                      'read': [str(tree / 'profile.sh'), str(tree / 'missing'), str(tree / 'big')],
                      'stat': [str(tree / 'gate'), str(tree / 'profile.sh'), str(tree / 'dir'), str(tree / 'missing')]},
                     env=env)
    assert out['env'] == {'CODEX_AUDIT_PROBE': 'seen', 'CODEX_AUDIT_UNSET': None}
    assert out['read'][str(tree / 'profile.sh')] == '# Ansible managed\nexport HF_HOME=/srv/hf\n'
    assert out['read'][str(tree / 'missing')] is None
    assert len(out['read'][str(tree / 'big')]) == _audit_read.READ_LIMIT
    assert out['stat'] == {
        str(tree / 'gate'): {'exists': True, 'isreg': True, 'executable': True},
        str(tree / 'profile.sh'): {'exists': True, 'isreg': True, 'executable': False},
        str(tree / 'dir'): {'exists': True, 'isreg': False, 'executable': True},
        str(tree / 'missing'): {'exists': False, 'isreg': False, 'executable': False},
    }
    assert out['results'] == {}


def _fifo(path):
    os.mkfifo(str(path))


@pytest.mark.parametrize('make, expected', [
    (lambda p: p.write_text(json.dumps({'result': 'pass', 'total': 91.5, 'floor': 85, 'token': 'x', 'message': None})),
     {'result': 'pass', 'total': '91.5', 'floor': '85'}),
    (lambda p: p.write_text(json.dumps({'message': 'm' * 400})), {'message': 'm' * 300}),
    (lambda p: p.write_text(json.dumps(['not', 'a', 'dict'])), {}),
    (lambda p: p.write_text('{"result": "pass"' + ' ' * _audit_read.RESULT_LIMIT + '}'), {'error': 'JSONDecodeError'}),
    (lambda p: p.write_text('not json'), {'error': 'JSONDecodeError'}),
    (lambda p: p.symlink_to('/etc/passwd'), {'error': 'OSError'}),
    (_fifo, {'error': 'ValueError'}),
    (lambda p: None, None),
], ids=['keys-kept', 'value-cut', 'not-a-dict', 'over-4k', 'not-json', 'symlink-not-followed', 'fifo', 'missing'])
def test_gate_result_files(tmp_path, make, expected):
    path = tmp_path / '.codex-gate-result.json'
    make(path)
    assert login_read({'results': [str(path)]})['results'] == {str(path): expected}


def test_collect_in_process_matches_the_script(tree):
    args = {'env': ['HOME'], 'read': [str(tree / 'profile.sh')], 'stat': [str(tree / 'gate')], 'results': []}
    got = _audit_read.collect(args, environ={'HOME': '/h'})
    assert got == {'env': {'HOME': '/h'}, 'read': {str(tree / 'profile.sh'): (tree / 'profile.sh').read_text()},
                   'stat': {str(tree / 'gate'): {'exists': True, 'isreg': True, 'executable': True}}, 'results': {}}
