# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/tools/leftovers.py, the end-of-run check of `make test`: a process that left its session and was
re-parented (as ansible-playbook's workers do after setsid) is found by the run's marker, reported and killed."""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys
import uuid
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / 'tests' / 'tools' / 'leftovers.py'


def run(command):
    return subprocess.run([sys.executable, str(SCRIPT), 'run', '--', 'bash', '-c', command], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, check=False,
                          env=dict(os.environ, CODEX_LEFTOVERS_GRACE='1'))


def test_a_process_left_behind_fails_the_run_and_is_killed():
    tag = uuid.uuid4().hex
    result = run('setsid bash -c "exec -a leftover-%s sleep 120" </dev/null >/dev/null 2>&1 & exit 0' % tag)
    assert result.returncode == 3, result.stdout
    assert 'the run left 1 process(es) running' in result.stdout and 'leftover-%s' % tag in result.stdout
    assert subprocess.run(['pgrep', '-f', 'leftover-%s' % tag], check=False).returncode == 1, 'it must be killed'


def test_a_clean_run_keeps_the_commands_status():
    assert run('exit 0').returncode == 0
    assert run('exit 7').returncode == 7
