# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The diagnostic's companions (torchvision, torchaudio): the REAL registry wheels over the REAL torch 2.13.0+cpu.

The registry's torchvision 0.28.0 and torchaudio 2.11.1 are CUDA builds (`make family-wheels` puts them in
build/family-wheels; CODEX_FAMILY_WHEELS names another directory). Neither works over a CPU torch, and before the
companions were checked the diagnostic said `ok` for both venvs.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _torch_checks
from ansible_collections.codex.offline_ml.plugins.modules import torch_diagnostic

REPO_ROOT = Path(__file__).resolve().parents[4]
CHECKS = REPO_ROOT / 'plugins' / 'module_utils' / '_torch_checks.py'
FAMILY_VAR = 'CODEX_FAMILY_WHEELS'
REGISTRY_WHEELS = {
    'torchvision': 'torchvision-0.28.0-cp311-cp311-manylinux_2_28_x86_64.whl',
    'torchaudio': 'torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl',
}


def run_script(python, *args):
    proc = subprocess.run([str(python), str(CHECKS)] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=180, check=False)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        pytest.fail('stdout is not JSON (rc %d):\n%s\nstderr:\n%s' % (proc.returncode, proc.stdout, proc.stderr))


@pytest.fixture(scope='session')
def family_wheels():
    """Directory of the registry's torchvision 0.28.0 and torchaudio 2.11.1 wheels. Never skipped."""
    where = Path(os.environ.get(FAMILY_VAR) or REPO_ROOT / 'build' / 'family-wheels')
    missing = [name for name in REGISTRY_WHEELS.values() if not (where / name).is_file()]
    if missing:
        pytest.fail('%s lacks %s: run `make family-wheels` (or set %s)' % (where, ', '.join(missing), FAMILY_VAR),
                    pytrace=False)
    return where


def _real_torch_with(venvs, name, *wheels):
    wheelhouse = os.environ.get('CODEX_TEST_WHEELHOUSE')
    if not wheelhouse:
        pytest.fail('CODEX_TEST_WHEELHOUSE is not set (make unit sets it to the staged mirror)', pytrace=False)
    if name not in venvs.cache:
        python = venvs.create(name)
        venvs.install(python, 'torch==2.13.0+cpu', no_cache=False, extra=['--find-links', wheelhouse])
        venvs.install(python, *[str(w) for w in wheels], no_cache=False, extra=['--no-deps'])
        venvs.cache[name] = python
    return venvs.cache[name]


@pytest.mark.parametrize('name', sorted(REGISTRY_WHEELS))
def test_registry_companion_over_cpu_torch_is_broken(venvs, family_wheels, name):
    python = _real_torch_with(venvs, 'real-torch-' + name, family_wheels / REGISTRY_WHEELS[name])
    rc, facts = run_script(python, '--require-cpu-build')
    assert rc == _torch_checks.EXIT_CODES['broken']
    assert facts['status'] == 'broken'
    # torch itself is fine: the tensor check passed and every problem is the companion's
    assert facts['tensor_check']['ok'] is True and facts['version'] == '2.13.0+cpu'
    assert list(facts['companions']) == [name]
    info = facts['companions'][name]
    assert info['status'] == 'broken' and info['check_ok'] is False
    assert 'libc10_cuda.so' in info['missing_libraries']
    assert len(facts['problems']) == 1
    problem = facts['problems'][0]
    assert problem.startswith('%s %s does not work' % (name, info['dist_version']))
    assert 'CUDA build of %s over a CPU torch 2.13.0+cpu' % name in problem
    assert 'libc10_cuda.so' in problem and 'repair:' in problem and _torch_checks.CPU_INDEX_URL in problem
    human = subprocess.run([str(python), str(CHECKS), '--format', 'human'], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, universal_newlines=True, timeout=180, check=False)
    assert human.returncode == 4 and human.stdout.count('\n') == 1
    assert human.stdout.startswith('torch broken (python %s): %s ' % (python, name))
    print(human.stdout)  # what the closing note quotes


def test_module_reads_the_same_verdict(venvs, family_wheels):
    """The torch_diagnostic module (and so facts.d, the audit) sees the companion's problem too."""
    python = _real_torch_with(venvs, 'real-torch-torchvision', family_wheels / REGISTRY_WHEELS['torchvision'])
    facts = torch_diagnostic.run_diagnostic(str(python), True, 180)
    assert facts['status'] == 'broken'
    assert facts['companions']['torchvision']['status'] == 'broken'
    assert 'torchvision' in facts['problems'][0]


def _hanging_companion(write_wheel, tmp_path):
    return write_wheel(tmp_path, 'torchvision', '0.28.0', {
        'torchvision/__init__.py': 'import time\ntime.sleep(600)\n__version__ = "0.28.0"\n'})


def test_companion_import_that_hangs_is_broken_naming_the_timeout(venvs, write_wheel, tmp_path):
    python = venvs.torch('ok', extra_wheels=[_hanging_companion(write_wheel, tmp_path)], name='stub-hanging-tv')
    start = time.monotonic()
    rc, facts = run_script(python, '--timeout', '3')
    assert time.monotonic() - start < 60
    assert rc == 4 and facts['status'] == 'broken'
    assert facts['problems'] == ['the diagnostic timed out after 3 s (import torchvision hangs)']
    module_facts = torch_diagnostic.run_diagnostic(str(python), False, 3)
    assert module_facts['status'] == 'broken'
    assert module_facts['problems'][0].endswith('the diagnostic timed out after 3 s (import torchvision hangs)')


def test_version_skew_names_both_versions(venvs, write_wheel, tmp_path):
    """A companion whose Requires-Dist names another torch is broken even when its import works."""
    wheel = write_wheel(tmp_path, 'torchaudio', '2.11.1', {
        'torchaudio/__init__.py': '__version__ = "2.11.1"\n',
        'torchaudio/_extension.py': '_IS_TORCHAUDIO_EXT_AVAILABLE = True\n'},
        metadata_extra=['Requires-Dist: torch==2.11.1'])
    python = venvs.torch('ok', name='stub-skewed-ta')
    venvs.install(python, str(wheel), extra=['--no-deps'])  # its Requires-Dist cannot be met, as on a real host
    rc, facts = run_script(python)
    assert rc == 4
    info = facts['companions']['torchaudio']
    assert info['requires_torch'] == '==2.11.1' and info['torch_requirement_ok'] is False
    assert info['check_ok'] is True
    assert len(facts['problems']) == 1
    assert 'torchaudio 2.11.1 requires torch==2.11.1 but torch 2.13.0+cpu is installed' in facts['problems'][0]


@pytest.mark.parametrize('requires, expected', [
    (['numpy', 'torch (==2.13.0)', 'pillow (!=8.3.*,>=5.3.0)'], '==2.13.0'),   # torchvision 0.28.0's METADATA
    (['torch>=2.11'], '>=2.11'),                                               # torchaudio 2.11.1's METADATA
    (['torch==2.13.0; extra == "cuda"'], None),
    (['torchvision==0.28.0'], None),
    (['torch'], ''),
    ([], None),
])
def test_torch_requirement(requires, expected):
    assert _torch_checks.torch_requirement(requires) == expected


@pytest.mark.parametrize('spec, version, expected', [
    ('==2.13.0', '2.13.0+cpu', True),
    ('==2.13', '2.13.0+cpu', True),
    ('==2.11.0', '2.13.0+cpu', False),
    ('==2.13.0+cpu', '2.13.0+cpu', True),
    ('==2.13.0+cu130', '2.13.0+cpu', False),
    ('>=2.11', '2.13.0+cpu', True),
    ('>=2.11,<2.12', '2.13.0+cpu', False),
    ('==2.13.*', '2.13.0+cpu', True),
    ('~=2.12.0', '2.13.0', False),
    ('~=2.13.0', '2.13.5', True),
    ('!=2.13.0', '2.13.0+cpu', False),
    ('', '2.13.0+cpu', True),
    ('@bogus', '2.13.0', None),
])
def test_specifier_allows(spec, version, expected):
    assert _torch_checks.specifier_allows(spec, version) is expected
    if sys.version_info >= (3, 8) and expected is not None:
        packaging = pytest.importorskip('packaging.specifiers')  # the real library as the oracle
        assert packaging.SpecifierSet(spec).contains(version, prereleases=True) is expected
