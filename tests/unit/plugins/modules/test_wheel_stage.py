# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.wheel_stage: main() in process with a stand-in for `pip download` (the outside boundary)."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import parse_lock
from ansible_collections.codex.offline_ml.plugins.modules import wheel_stage

FAKE_PIP = r'''
import os, shutil, sys
UPSTREAM = %(upstream)r
args = sys.argv[1:]
dest = args[args.index("--dest") + 1]
for pin in [a for a in args if "==" in a]:
    name, version = pin.split("==")
    wheel = "%%s-%%s-py3-none-any.whl" %% (name.replace("-", "_"), version)
    if not os.path.exists(os.path.join(UPSTREAM, wheel)):
        print("Collecting %%s" %% pin)
        print("ERROR: Could not find a version that satisfies the requirement %%s (from versions: none)" %% pin)
        print("ERROR: No matching distribution found for %%s" %% pin)
        sys.exit(1)
    shutil.copyfile(os.path.join(UPSTREAM, wheel), os.path.join(dest, wheel))
'''


@pytest.fixture
def fake_pip(tmp_path, write_wheel):
    upstream = tmp_path / 'upstream'
    write_wheel(upstream, 'alpha', '1.0', {'alpha.py': ''})
    write_wheel(upstream, 'uv', '0.13.9', {'uv.py': ''})
    script = tmp_path / 'fake_pip.py'
    script.write_text(FAKE_PIP % {'upstream': str(upstream)})
    return [sys.executable, str(script)]


def test_stage(run_module, tmp_path, fake_pip):
    dest = tmp_path / 'mirror'
    failed, result = run_module(wheel_stage, dest=str(dest), sets={'torch_cpu': ['alpha==1.0']}, pip=fake_pip)
    assert not failed, result['msg']
    assert result['changed'] is True and result['files'] == 2
    assert result['locks'] == {'torch_cpu': str(dest / 'locks' / 'torch_cpu.txt')}
    assert sorted(parse_lock((dest / 'locks' / 'torch_cpu.txt').read_text())) == ['alpha', 'uv']
    manifest = json.loads((dest / 'manifest.json').read_text())
    assert manifest['installer'] == ['uv==0.13.9'] and manifest['python_version'] == '3.11'
    assert manifest['platforms'] == ['manylinux_2_28_x86_64']

    failed, again = run_module(wheel_stage, dest=str(dest), sets={'torch_cpu': ['alpha==1.0']}, pip=fake_pip)
    assert not failed and again['changed'] is False and again['files'] == 2


def test_pip_failure_is_reported_with_its_output(run_module, tmp_path, fake_pip):
    dest = tmp_path / 'mirror'
    failed, result = run_module(wheel_stage, dest=str(dest), sets={'torch_cpu': ['alpha==1.0', 'nope==9.9']},
                                pip=fake_pip)
    assert failed
    assert result['msg'].startswith('pip download of alpha==1.0 nope==9.9 uv==0.13.9 failed (exit 1):\n')
    assert 'ERROR: No matching distribution found for nope==9.9' in result['msg']
    assert not (dest / 'manifest.json').exists()


def test_missing_pip_command(run_module, tmp_path):
    failed, result = run_module(wheel_stage, dest=str(tmp_path / 'mirror'), sets={'s': ['alpha==1.0']},
                                pip=[str(tmp_path / 'no-such-pip')])
    assert failed
    assert result['msg'].startswith('pip download of alpha==1.0 uv==0.13.9 could not run with pip command %s: ' % (
        tmp_path / 'no-such-pip'))
    assert 'No such file or directory' in result['msg']


def test_bad_pin(run_module, tmp_path, fake_pip):
    failed, result = run_module(wheel_stage, dest=str(tmp_path / 'mirror'), sets={'torch_cpu': ['torch>=2']},
                                pip=fake_pip)
    assert failed and "'torch>=2' is not an exact pin" in result['msg']


def test_check_mode_is_skipped(run_module, tmp_path, fake_pip):
    failed, result = run_module(wheel_stage, _ansible_check_mode=True, dest=str(tmp_path / 'mirror'),
                                sets={'s': ['alpha==1.0']}, pip=fake_pip)
    assert not failed and result.get('skipped') is True and result['changed'] is False
    assert not os.path.exists(str(tmp_path / 'mirror'))


def test_progress_log_holds_no_credential(run_module, tmp_path, write_wheel):
    upstream = tmp_path / 'upstream'
    write_wheel(upstream, 'alpha', '1.0', {'alpha.py': ''})
    write_wheel(upstream, 'uv', '0.13.9', {'uv.py': ''})
    script = tmp_path / 'fake_pip.py'
    script.write_text('print("Downloading https://alice:s3cret-token-123@idx.example/simple/alpha/alpha-1.0.whl")\n'
                      + FAKE_PIP % {'upstream': str(upstream)})
    log = tmp_path / 'mirror' / 'stage.log'
    failed, result = run_module(wheel_stage, dest=str(tmp_path / 'mirror'), sets={'torch_cpu': ['alpha==1.0']},
                                pip=[sys.executable, str(script)], progress_log=str(log), preflight=False,
                                index_url='https://alice:s3cret-token-123@idx.example/simple/')
    assert not failed, result['msg']
    text = log.read_text()
    assert 's3cret-token-123' not in text
    assert '  Downloading https://alice:***@idx.example/simple/alpha/alpha-1.0.whl' in text
    assert '[set 1/1] torch_cpu: 2 wheels (' in text
