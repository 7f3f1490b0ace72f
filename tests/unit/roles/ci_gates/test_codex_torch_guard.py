# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pytest guard's verdict: the real diagnostic (plugins/module_utils/_torch_checks.py, laid out as the role
installs it) run in a child of real throw-away venvs holding impersonations of torch."""

from __future__ import absolute_import, division, print_function

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / 'roles' / 'ci_gates' / 'files' / 'lib'))

import codex_torch_guard as guard  # noqa: E402


@pytest.fixture(scope='module')
def lib_dir(tmp_path_factory):
    """The diagnostic as the role installs it: plugins/module_utils/_torch_checks.py as torch_checks.py."""
    lib = tmp_path_factory.mktemp('gates-lib')
    shutil.copy(str(ROOT / 'plugins' / 'module_utils' / '_torch_checks.py'), str(lib / 'torch_checks.py'))
    return lib / 'torch_checks.py'


def diagnose(python, script, timeout=30):
    return guard.run_diagnostic(timeout, python=str(python), path=[], script=str(script))


def test_missing_torch(venvs, lib_dir):
    facts = diagnose(venvs.bare(), lib_dir)
    assert facts['status'] == 'missing'
    assert any('torch is not installed' in p for p in facts['problems'])


def test_stub_torch(venvs, lib_dir):
    facts = diagnose(venvs.torch('stub'), lib_dir)
    assert facts['status'] == 'stub'
    assert any('torch.utils.data import Dataset failed' in p for p in facts['problems'])


def test_broken_torch(venvs, lib_dir):
    facts = diagnose(venvs.torch('import_error'), lib_dir)
    assert facts['status'] == 'broken'
    assert any('libtorch_cpu.so' in p for p in facts['problems'])


def test_a_hang_is_broken_not_a_hung_session(venvs, lib_dir):
    facts = diagnose(venvs.torch('hang'), lib_dir, timeout=2)
    assert facts['status'] == 'broken'
    assert any('timed out' in p for p in facts['problems'])


def test_a_missing_diagnostic_is_broken(venvs, tmp_path):
    facts = diagnose(venvs.bare(), tmp_path / 'torch_checks.py')
    assert facts['status'] == 'broken'
    assert "can't open file" in facts['problems'][0]


def test_the_default_script_is_beside_the_guard():
    assert guard.DIAGNOSTIC_SCRIPT == str(ROOT / 'roles' / 'ci_gates' / 'files' / 'lib' / 'torch_checks.py')


def test_reasons():
    checked = guard.Guard(required=False, timeout=5)
    checked.facts = {'status': 'stub', 'problems': ['from torch.utils.data import Dataset failed']}
    assert not checked.usable()
    assert checked.skip_reason() == ('torch is stub: from torch.utils.data import Dataset failed '
                                     '(set CODEX_REQUIRE_TORCH=1 to fail instead of skipping)')
    assert checked.fail_reason(tagged=False).startswith(
        'torch is required (CODEX_REQUIRE_TORCH=1 or ci_gates_torch_required) but torch is stub')
