# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The torch diagnostic itself, against real virtual environments: in process, as a script, as codex_ml."""

from __future__ import absolute_import, division, print_function

import ast
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _torch_checks
from ansible_collections.codex.offline_ml.plugins.module_utils._child import module_source, run_function

REPO_ROOT = Path(__file__).resolve().parents[4]
CHECKS = REPO_ROOT / 'plugins' / 'module_utils' / '_torch_checks.py'
KEYS = set(_torch_checks.base_facts())
DATASET = 'from torch.utils.data import Dataset failed'


def run_script(python, *args, **kwargs):
    """Run the diagnostic as a script; return (exit status, facts, stderr)."""
    cwd = kwargs.pop('cwd', None) or str(Path(str(python)).parent)
    cmd = kwargs.pop('cmd', None) or [str(CHECKS)]
    proc = subprocess.run([str(python)] + cmd + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, cwd=cwd, timeout=120, check=False, **kwargs)
    try:
        facts = json.loads(proc.stdout)
    except ValueError:
        pytest.fail('stdout is not JSON (rc %d):\n%s\nstderr:\n%s' % (proc.returncode, proc.stdout, proc.stderr))
    return proc.returncode, facts, proc.stderr


def assert_shape(facts, status):
    assert set(facts) == KEYS
    assert facts['status'] == status, facts['problems']
    assert facts['schema'] == 1
    assert set(facts['build']) == set(_torch_checks.BUILD_KEYS)
    assert set(facts['tensor_check']) == {'expression', 'expected', 'result', 'ok'}
    assert (facts['problems'] == []) == (status == 'ok')
    assert isinstance(facts['elapsed_s'], float)


def test_exit_codes():
    assert _torch_checks.EXIT_CODES == {'ok': 0, 'missing': 2, 'stub': 3, 'broken': 4}


@pytest.mark.parametrize('path', ['_torch_checks.py', '_child.py'])
def test_module_utils_parse_as_python_38(path):
    source = (REPO_ROOT / 'plugins' / 'module_utils' / path).read_text()
    ast.parse(source, filename=path, feature_version=(3, 8))


def test_diagnose_in_process_missing():
    if importlib.util.find_spec('torch') is not None:
        pytest.skip('the interpreter running the tests has a torch module')
    facts = _torch_checks.diagnose()
    assert_shape(facts, 'missing')
    assert facts['python'] == sys.executable
    assert facts['version'] is None and facts['dist_version'] is None and facts['location'] is None
    assert facts['cpu_build'] is None and facts['compiled_core'] is False
    assert facts['problems'] == ['torch is not installed: no torch module and no torch distribution for %s'
                                 % sys.executable]


def test_failure_facts_shape():
    partial = _torch_checks.base_facts()
    partial.update(dist_version='2.13.0+cpu', problems=['earlier'], python_version='3.11.7')
    facts = _torch_checks.failure_facts('/x/bin/python', 'timed out', 1.23456, partial=partial)
    assert_shape(facts, 'broken')
    assert facts['problems'] == ['earlier', 'timed out']
    assert facts['python'] == '/x/bin/python'
    assert facts['dist_version'] == '2.13.0+cpu'
    assert facts['elapsed_s'] == 1.235


# variant, --require-cpu-build, status, problem substrings (all must appear), number of problems or None
CASES = [
    ('stub', False, 'stub', [DATASET, 'torch._C cannot be imported',
                             "module 'torch' has no attribute 'arange'"], 3),
    ('ok', True, 'ok', [], 0),
    ('import_error', False, 'broken', ['import torch failed: ImportError: libtorch_cpu.so: cannot open'], 1),
    ('system_exit', False, 'broken', ['import torch failed: SystemExit: 3'], 1),
    ('no_core', False, 'broken', ['torch has no compiled core: torch._C cannot be imported'], 1),
    ('py_core', False, 'broken', ['torch._C is not an extension module', '_C.py'], 1),
    ('version_mismatch', False, 'broken',
     ['torch.__version__ is 2.12.0 but the installed torch distribution is 2.13.0+cpu'], 1),
    ('bad_tensor', False, 'broken', ['gave [4.0, 13.0], expected [3.0, 12.0]'], 1),
    ('cuda', False, 'ok', [], 0),
    ('cuda', True, 'broken', ['CUDA build (CUDA 12.1)'], 1),
    ('metadata_only', False, 'broken', ['distribution torch 2.13.0+cpu is installed but no torch module'], 1),
    ('noisy', True, 'ok', [], 0),
]


@pytest.mark.parametrize('variant, cpu, status, expected, count', CASES,
                         ids=['%s%s' % (case[0], '-cpu' if case[1] else '') for case in CASES])
def test_script_classifies(venvs, variant, cpu, status, expected, count):
    python = venvs.torch(variant)
    args = ['--require-cpu-build'] if cpu else []
    rc, facts, dummy = run_script(python, *args)
    assert_shape(facts, status)
    assert rc == _torch_checks.EXIT_CODES[status]
    text = '\n'.join(facts['problems'])
    for fragment in expected:
        assert fragment in text
    assert len(facts['problems']) == count, facts['problems']
    assert facts['python'] == str(python)
    if variant != 'metadata_only':
        assert facts['dist_version'] == '2.13.0+cpu'


def test_script_missing(venvs):
    rc, facts, dummy = run_script(venvs.bare(), '--require-cpu-build')
    assert rc == 2
    assert_shape(facts, 'missing')
    assert facts['problems'][0].startswith('torch is not installed')
    assert facts['python_version'] == '%d.%d.%d' % sys.version_info[:3]


def test_stub_fixture_is_what_molecule_expects(venvs):
    """The Molecule fixture: same version as the real wheel, import works, no Dataset."""
    wheel = venvs.wheel('stub')
    assert wheel.name == 'torch-2.13.0+cpu-py3-none-any.whl'
    rc, facts, dummy = run_script(venvs.torch('stub'))
    assert rc == 3
    assert facts['version'] == facts['dist_version'] == '2.13.0+cpu'
    assert facts['dataset_available'] is False and facts['compiled_core'] is False
    assert facts['cpu_build'] is None


def test_healthy_fake_details(venvs):
    rc, facts, dummy = run_script(venvs.torch('ok'))
    assert rc == 0
    assert facts['version'] == facts['dist_version'] == '2.13.0+cpu'
    assert facts['compiled_core'] is True and facts['dataset_available'] is True
    assert facts['cpu_build'] is True and facts['cuda_version'] is None
    assert facts['tensor_check'] == {'expression': 'torch.arange(6.).reshape(2, 3) @ torch.ones(3)',
                                     'expected': [3.0, 12.0], 'result': [3.0, 12.0], 'ok': True}
    assert facts['location'] == str(Path(str(venvs.torch('ok'))).parent.parent / 'lib' / (
        'python%d.%d' % sys.version_info[:2]) / 'site-packages' / 'torch')
    assert facts['build']['num_threads'] == 1


def test_cuda_build_facts(venvs):
    rc, facts, dummy = run_script(venvs.torch('cuda'))
    assert rc == 0
    assert facts['cuda_version'] == '12.1' and facts['cpu_build'] is False


def test_nvidia_distributions(venvs, nvidia_wheel):
    python = venvs.torch('ok', extra_wheels=[nvidia_wheel], name='torch-ok-nvidia')
    rc, facts, dummy = run_script(python)
    assert rc == 0
    assert facts['nvidia_distributions'] == ['nvidia-cuda-runtime-cu12']
    assert facts['cpu_build'] is False
    rc, facts, dummy = run_script(python, '--require-cpu-build')
    assert rc == 4
    assert_shape(facts, 'broken')
    assert facts['problems'] == ['a CPU-only torch is required but NVIDIA CUDA distributions are installed: '
                                 'nvidia-cuda-runtime-cu12']


def test_module_without_metadata(venvs):
    python = venvs.torch('ok', name='torch-no-metadata')
    site = Path(str(python)).parent.parent / 'lib' / ('python%d.%d' % sys.version_info[:2]) / 'site-packages'
    for dist_info in site.glob('torch-*.dist-info'):
        shutil.rmtree(str(dist_info))
    rc, facts, dummy = run_script(python)
    assert rc == 4
    assert_shape(facts, 'broken')
    assert facts['dist_version'] is None
    assert len(facts['problems']) == 1
    assert 'has no distribution metadata' in facts['problems'][0]


def test_leftover_directory_is_broken(venvs):
    """A torch directory without __init__.py imports as a namespace package: broken, not stub."""
    python = venvs.create('leftovers')
    site = Path(str(python)).parent.parent / 'lib' / ('python%d.%d' % sys.version_info[:2]) / 'site-packages'
    (site / 'torch' / 'lib').mkdir(parents=True)
    (site / 'torch' / 'lib' / 'libtorch_cpu.so').write_bytes(b'')
    rc, facts, dummy = run_script(python)
    assert rc == 4
    assert_shape(facts, 'broken')
    assert facts['location'] == str(site / 'torch')
    assert facts['problems'] == ['torch at %s is a directory without __init__.py (leftovers of an uninstall?), '
                                 'not a torch package: remove it and reinstall torch' % (site / 'torch')]


def test_noisy_import_keeps_stdout_pure_json(venvs):
    rc, facts, stderr = run_script(venvs.torch('noisy'))
    assert rc == 0 and facts['status'] == 'ok'
    assert 'torch: loading weights' in stderr and 'raw fd junk' in stderr


def test_script_timeout(venvs):
    start = time.monotonic()
    rc, facts, dummy = run_script(venvs.torch('hang'), '--timeout', '1.5')
    assert time.monotonic() - start < 30
    assert rc == 4
    assert_shape(facts, 'broken')
    assert facts['problems'] == ['the diagnostic timed out after 1.5 s (import torch or the tensor check hangs)']
    assert facts['dist_version'] == '2.13.0+cpu'  # learnt before the hang
    assert facts['python_version'] == '%d.%d.%d' % sys.version_info[:3]


def test_script_crash_is_the_signal(venvs):
    """As a plain command a crash cannot be reported as JSON: the exit status is the signal."""
    proc = subprocess.run([str(venvs.torch('crash')), str(CHECKS)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=str(REPO_ROOT), timeout=60, check=False)
    assert proc.returncode == -signal.SIGABRT


def test_run_as_codex_ml_package(venvs, tmp_path):
    """Layout (c): copied on hosts as codex_ml/utils/torch_checks.py and run with -m."""
    package = tmp_path / 'codex_ml' / 'utils'
    package.mkdir(parents=True)
    (tmp_path / 'codex_ml' / '__init__.py').write_text('')
    (package / '__init__.py').write_text('')
    shutil.copy(str(CHECKS), str(package / 'torch_checks.py'))
    rc, facts, dummy = run_script(venvs.torch('ok'), '--require-cpu-build', cwd=str(tmp_path),
                                  cmd=['-m', 'codex_ml.utils.torch_checks'])
    assert rc == 0
    assert_shape(facts, 'ok')
    rc, facts, dummy = run_script(venvs.torch('stub'), cwd=str(tmp_path), cmd=['-m', 'codex_ml.utils.torch_checks'])
    assert rc == 3


def test_shadowed_torch_is_reported(venvs, tmp_path):
    """A torch directory in the current directory hides the installed one when run with -m."""
    python = venvs.torch('ok')
    site = Path(str(python)).parent.parent / 'lib' / ('python%d.%d' % sys.version_info[:2]) / 'site-packages'
    shutil.copytree(str(site / 'torch'), str(tmp_path / 'torch'))
    package = tmp_path / 'codex_ml' / 'utils'
    package.mkdir(parents=True)
    (tmp_path / 'codex_ml' / '__init__.py').write_text('')
    (package / '__init__.py').write_text('')
    shutil.copy(str(CHECKS), str(package / 'torch_checks.py'))
    rc, facts, dummy = run_script(python, cwd=str(tmp_path), cmd=['-m', 'codex_ml.utils.torch_checks'])
    assert rc == 4
    assert facts['location'] == str(tmp_path / 'torch')
    assert len(facts['problems']) == 1 and 'shadowed' in facts['problems'][0]


def test_child_run_matches_script(venvs):
    """Imported and shipped to another interpreter (the module's way) gives the script's facts."""
    python = venvs.torch('stub')
    result = run_function(str(python), module_source(_torch_checks), 'diagnose', {'require_cpu_build': True},
                          timeout=60)
    assert result.ok, result.error
    rc, facts, dummy = run_script(python, '--require-cpu-build')
    for value in (result.value, facts):
        value.pop('elapsed_s')
    assert result.value == facts


def test_real_torch_is_ok(real_torch_python):
    rc, facts, dummy = run_script(real_torch_python, '--require-cpu-build')
    assert rc == 0, facts['problems']
    assert_shape(facts, 'ok')
    assert facts['version'] == facts['dist_version'] == '2.13.0+cpu'
    assert facts['compiled_core'] is True and facts['dataset_available'] is True
    assert facts['cpu_build'] is True and facts['cuda_version'] is None
    assert facts['tensor_check']['result'] == [3.0, 12.0] and facts['tensor_check']['ok'] is True
    assert facts['nvidia_distributions'] == []
    assert facts['companions'] == {}  # an absent companion is not a problem
    assert isinstance(facts['build']['git_version'], str) and len(facts['build']['git_version']) == 40
    assert facts['build']['debug'] is False
    assert isinstance(facts['build']['mkldnn'], bool) and isinstance(facts['build']['openmp'], bool)
    assert isinstance(facts['build']['num_threads'], int) and facts['build']['num_threads'] >= 1
    assert facts['location'].endswith('/site-packages/torch')


def test_real_torch_facts_are_stable(real_torch_python):
    source = module_source(_torch_checks)
    runs = [run_function(str(real_torch_python), source, 'diagnose', timeout=120) for dummy in range(2)]
    for result in runs:
        assert result.ok, result.error
        result.value.pop('elapsed_s')
    assert runs[0].value == runs[1].value
    assert runs[0].value['status'] == 'ok'


def _human(python, *args, **kwargs):
    proc = subprocess.run([str(python), str(CHECKS)] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120, check=False, **kwargs)
    return proc.returncode, proc.stdout


def test_human_form_is_one_line_with_the_repair(venvs):
    rc, out = _human(venvs.torch('stub'), '--format', 'human')
    assert rc == 3
    assert out.count('\n') == 1
    assert out.startswith('torch stub (python %s): from torch.utils.data import Dataset failed' % venvs.torch('stub'))
    assert out.rstrip().endswith(_torch_checks.REPAIR)


def test_human_form_of_a_healthy_torch(venvs):
    rc, out = _human(venvs.torch('ok'), '--format', 'human')
    assert rc == 0
    assert out.startswith('torch ok: torch 2.13.0+cpu at ')
    assert 'repair' not in out


def test_auto_is_json_for_scripts_and_human_on_a_terminal(venvs):
    rc, out = _human(venvs.torch('stub'))
    assert json.loads(out)['status'] == 'stub'
    import pty
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([str(venvs.torch('stub')), str(CHECKS)], stdout=slave, stderr=subprocess.DEVNULL,
                              timeout=120, check=False)
        os.close(slave)
        data = b''
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
    assert proc.returncode == 3
    assert data.decode().startswith('torch stub (python ')
