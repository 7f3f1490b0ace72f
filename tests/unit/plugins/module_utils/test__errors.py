# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_errors: one base for the operator's errors, and one reading of the option variable_prefix."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import (
    _child,
    _errors,
    _gate_noxfile,
    _hf_safefs,
    _hf_specs,
    _managed_files,
    _offline_venv,
    _report_common,
    _rollout,
    _venv_releases,
    _venv_reuse,
)


@pytest.mark.parametrize('value, prefix', [
    ('torch_cpu', 'torch_cpu_'),
    ('torch_cpu_', 'torch_cpu_'),
    ('hf_offline_cache_', 'hf_offline_cache_'),
    ('stage', 'stage_'),
    ('', ''),
    (None, ''),
    ('_', ''),
])
def test_variable_prefix(value, prefix):
    assert _errors.variable_prefix(value) == prefix


@pytest.mark.parametrize('cls', [
    _errors.MirrorError, _hf_specs.HfCacheError, _hf_safefs.UnsafePath, _rollout.RolloutError, _child.InterpreterError,
    _gate_noxfile.NoxfileError, _managed_files.ManagedFilesError, _offline_venv.VenvError, _report_common.ReportError,
    _venv_releases.ReleaseError, _venv_reuse.CacheError,
])
def test_every_operator_error_is_an_operator_error(cls):
    error = cls('what is wrong and how to fix it')
    assert isinstance(error, _errors.OperatorError)
    assert error.msg == str(error) == 'what is wrong and how to fix it'
