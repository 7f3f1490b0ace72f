# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.torch_diagnostic: main() in process against real venvs, and once through ansible."""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.codex.offline_ml.plugins.modules import torch_diagnostic

from conftest import run_main

KEYS = {'status', 'version', 'dist_version', 'dataset_available', 'cuda_version', 'cpu_build', 'problems',
        'python', 'python_version', 'location', 'compiled_core', 'tensor_check', 'build', 'nvidia_distributions',
        'elapsed_s', 'schema', 'companions'}


def run_module(**args):
    """Run torch_diagnostic.main() with ARGS; return (failed, result)."""
    return run_main(torch_diagnostic, **args)


def facts_of(result):
    facts = result['ansible_facts']['torch_diagnostic']
    assert set(facts) >= KEYS
    assert (facts['problems'] == []) == (facts['status'] == 'ok')
    return facts


def test_healthy(venvs):
    python = str(venvs.torch('ok'))
    failed, result = run_module(python=python, require_cpu_build=True, fail_on_unhealthy=True)
    assert not failed and result['changed'] is False
    facts = facts_of(result)
    assert facts['status'] == 'ok' and facts['python'] == python
    assert facts['version'] == facts['dist_version'] == '2.13.0+cpu'


def test_python_defaults_to_the_module_interpreter():
    failed, result = run_module()
    facts = facts_of(result)
    assert not failed
    assert facts['python'] == sys.executable
    assert facts['status'] == 'missing'  # the dev venv has no torch


def test_missing(venvs):
    failed, result = run_module(python=str(venvs.bare()))
    assert not failed
    assert facts_of(result)['status'] == 'missing'


def test_stub_is_reported_not_failed(venvs):
    failed, result = run_module(python=str(venvs.torch('stub')))
    assert not failed and result['changed'] is False
    facts = facts_of(result)
    assert facts['status'] == 'stub' and facts['dataset_available'] is False
    assert len(facts['problems']) == 3


def test_fail_on_unhealthy_keeps_the_facts(venvs):
    python = str(venvs.torch('stub'))
    failed, result = run_module(python=python, fail_on_unhealthy=True)
    assert failed
    facts = facts_of(result)
    assert facts['status'] == 'stub'
    assert result['msg'] == 'torch in %s is stub: %s' % (python, '; '.join(facts['problems']))
    assert 'torch.utils.data import Dataset failed' in result['msg']


def test_broken_import(venvs):
    failed, result = run_module(python=str(venvs.torch('import_error')))
    facts = facts_of(result)
    assert not failed and facts['status'] == 'broken'
    assert facts['problems'] == ['import torch failed: ImportError: libtorch_cpu.so: cannot open shared object '
                                 'file: No such file or directory']


def test_cuda_build_with_require_cpu_build(venvs):
    failed, result = run_module(python=str(venvs.torch('cuda')), require_cpu_build=True)
    facts = facts_of(result)
    assert facts['status'] == 'broken' and facts['cuda_version'] == '12.1' and facts['cpu_build'] is False
    assert 'CUDA 12.1' in facts['problems'][0]
    failed, result = run_module(python=str(venvs.torch('cuda')))
    assert facts_of(result)['status'] == 'ok'


def test_nvidia_distributions_with_require_cpu_build(venvs, nvidia_wheel):
    python = str(venvs.torch('ok', extra_wheels=[nvidia_wheel], name='torch-ok-nvidia'))
    failed, result = run_module(python=python, require_cpu_build=True, fail_on_unhealthy=True)
    assert failed
    facts = facts_of(result)
    assert facts['status'] == 'broken' and facts['nvidia_distributions'] == ['nvidia-cuda-runtime-cu12']
    assert 'nvidia-cuda-runtime-cu12' in result['msg']


def test_timeout(venvs):
    failed, result = run_module(python=str(venvs.torch('hang')), timeout=2)
    assert not failed
    facts = facts_of(result)
    assert facts['status'] == 'broken'
    assert facts['problems'] == ['the torch diagnostic timed out after 2 s: the child process group was killed']
    assert 2 <= facts['elapsed_s'] < 20
    assert facts['python_version'] is None


def test_crash(venvs):
    failed, result = run_module(python=str(venvs.torch('crash')), fail_on_unhealthy=True)
    assert failed
    facts = facts_of(result)
    assert facts['status'] == 'broken'
    assert facts['problems'][0].startswith('the torch diagnostic crashed with SIGABRT')
    assert 'SIGABRT' in result['msg']


def test_noisy_import(venvs):
    failed, result = run_module(python=str(venvs.torch('noisy')))
    assert not failed and facts_of(result)['status'] == 'ok'


def test_check_mode_runs_the_same(venvs):
    failed, result = run_module(python=str(venvs.torch('stub')), _ansible_check_mode=True)
    assert not failed
    assert result['changed'] is False
    assert facts_of(result)['status'] == 'stub'


@pytest.mark.parametrize('fail_on_unhealthy', [False, True])
def test_nonexistent_python_fails(tmp_path, fail_on_unhealthy):
    missing = str(tmp_path / 'nowhere' / 'bin' / 'python')
    failed, result = run_module(python=missing, fail_on_unhealthy=fail_on_unhealthy)
    assert failed
    assert missing in result['msg'] and 'does not exist' in result['msg'] and 'option python' in result['msg']
    assert 'ansible_facts' not in result


def test_non_executable_python_fails(tmp_path):
    fake = tmp_path / 'python'
    fake.write_text('')
    fake.chmod(0o644)
    failed, result = run_module(python=str(fake))
    assert failed
    assert str(fake) in result['msg'] and 'not executable' in result['msg']


def test_timeout_must_be_positive():
    failed, result = run_module(timeout=0)
    assert failed and 'timeout must be at least 1 second' in result['msg']


def test_return_documents_every_fact():
    returned = yaml.safe_load(torch_diagnostic.RETURN)['ansible_facts']['contains']['torch_diagnostic']['contains']
    assert set(returned) == KEYS


def test_real_torch_module_agrees_with_script(real_torch_python):
    """The module (source shipped to the child) and the script report the same facts for the real wheel."""
    failed, result = run_module(python=str(real_torch_python), require_cpu_build=True, fail_on_unhealthy=True)
    assert not failed, result.get('msg')
    facts = facts_of(result)
    assert facts['status'] == 'ok' and facts['version'] == '2.13.0+cpu'
    script = Path(torch_diagnostic.__file__).resolve().parents[1] / 'module_utils' / '_torch_checks.py'
    proc = subprocess.run([str(real_torch_python), str(script), '--require-cpu-build'], stdout=subprocess.PIPE,
                          universal_newlines=True, timeout=120, check=False)
    assert proc.returncode == 0
    from_script = json.loads(proc.stdout)
    for value in (facts, from_script):
        value.pop('elapsed_s')
        value.pop('python')
    assert facts == from_script


def test_end_to_end_through_ansible(venvs, collections_root, tmp_path):
    """ansible localhost -m codex.offline_ml.torch_diagnostic: AnsiballZ zips module_utils, the source still ships."""
    ansible = Path(sys.executable).parent / 'ansible'
    python = str(venvs.torch('stub'))
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': str(collections_root),
        'ANSIBLE_HOME': str(tmp_path / 'home'),
        'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'local_tmp'),
        'ANSIBLE_REMOTE_TEMP': str(tmp_path / 'remote_tmp'),
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_STDOUT_CALLBACK': 'json',
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'ANSIBLE_NOCOLOR': '1',
    })
    proc = subprocess.run([str(ansible), 'localhost', '-m', 'codex.offline_ml.torch_diagnostic',
                           '-a', 'python=%s require_cpu_build=true' % python],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          cwd=str(tmp_path), timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = json.loads(proc.stdout)
    result = output['plays'][0]['tasks'][0]['hosts']['localhost']
    assert result.get('failed') is not True, result
    assert result['changed'] is False
    facts = facts_of(result)
    assert facts['status'] == 'stub' and facts['python'] == python
    assert facts['version'] == facts['dist_version'] == '2.13.0+cpu'
    assert any('Dataset failed' in problem for problem in facts['problems'])
