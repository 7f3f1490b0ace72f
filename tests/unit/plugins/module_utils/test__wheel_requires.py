# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Companion preflight: Requires-Dist read from the wheel in the mirror (the registry's real torchvision wheel,
small made-up ones) over a real pypiserver and a wheelhouse, through wheel_mirror_info's main()."""

from __future__ import absolute_import, division, print_function

import os
import shutil
import sys
from pathlib import Path

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._wheel_requires import (
    metadata_requires,
    parse_requirement,
    requirement_conflicts,
)
from ansible_collections.codex.offline_ml.plugins.modules import wheel_mirror_info

REPO_ROOT = Path(__file__).resolve().parents[4]
TORCHVISION = 'torchvision-0.28.0-cp311-cp311-manylinux_2_28_x86_64.whl'
TORCH = 'torch==2.13.0+cpu'


@pytest.fixture(scope='module')
def family_mirror(tmp_path_factory, write_wheel):
    """A wheelhouse: the registry's torchvision 0.28.0 (Requires-Dist: torch (==2.13.0)), a torch, and a made-up
    torchaudio built for torch 2.11.0."""
    source = Path(os.environ.get('CODEX_FAMILY_WHEELS') or REPO_ROOT / 'build' / 'family-wheels') / TORCHVISION
    if not source.is_file():
        pytest.fail('%s is missing: run `make family-wheels`' % source, pytrace=False)
    out = tmp_path_factory.mktemp('family-mirror')
    shutil.copy(str(source), str(out / TORCHVISION))
    write_wheel(out, 'torch', '2.13.0+cpu', {'torch/__init__.py': ''})
    write_wheel(out, 'torchaudio', '2.11.0', {'torchaudio/__init__.py': ''},
                metadata_extra=['Requires-Dist: torch==2.11.0', 'Requires-Dist: torch==2.0; extra == "old"'])
    return out


@pytest.fixture(scope='module')
def family_index(servers, family_mirror):
    return servers.pypiserver(family_mirror)


def test_real_torchvision_metadata(family_mirror):
    requires = metadata_requires((family_mirror / TORCHVISION).read_bytes())
    assert 'torch (==2.13.0)' in requires
    assert parse_requirement('torch (==2.13.0)') == ('torch', '==2.13.0')
    assert parse_requirement("scipy ; extra == 'scipy'") is None


def test_conflict_names_both_versions_and_the_fix():
    wanted = {'torch': '2.13.0+cpu', 'torchaudio': '2.11.0'}
    problems = requirement_conflicts('torchaudio', '2.11.0', ['torch==2.11.0'], wanted)
    assert problems == ['torchaudio==2.11.0 requires torch==2.11.0, but torch==2.13.0+cpu is pinned: pin the '
                        'torchaudio built for torch 2.13.0+cpu (from the same index as torch), or pin the torch it '
                        'requires']
    assert requirement_conflicts('torchvision', '0.28.0', ['torch (==2.13.0)'], {'torch': '2.13.0+cpu'}) == []


def run(run_module, **args):
    args.setdefault('python', sys.executable)
    args.setdefault('variable_prefix', 'torch_cpu')
    return run_module(wheel_mirror_info, **args)


def test_index_reads_the_real_wheel(run_module, family_index):
    failed, result = run(run_module, mirror_url=family_index, any_platform=True,
                         requirements=[TORCH, 'torchvision==0.28.0'], check_requires=['torchvision'])
    assert not failed, result['msg']
    assert 'torch (==2.13.0)' in result['requires']['torchvision']


@pytest.mark.parametrize('mode', ['index', 'wheelhouse'])
def test_requires_another_torch_fails(run_module, family_index, family_mirror, mode):
    if mode == 'index':
        where = dict(mirror_url=family_index)
    else:
        where = dict(mirror_mode='wheelhouse', wheelhouse=str(family_mirror))
    failed, result = run(run_module, requirements=[TORCH, 'torchaudio==2.11.0'], check_requires=['torchaudio'],
                         **where)
    assert failed and result['kind'] == 'requires_mismatch'
    assert 'torchaudio==2.11.0 requires torch==2.11.0, but torch==2.13.0+cpu is pinned' in result['msg']
    assert 'Fix: pin companions built for the pinned torch (torch_cpu_companions)' in result['msg']


def test_companion_missing_names_the_package(run_module, family_mirror):
    failed, result = run(run_module, mirror_mode='wheelhouse', wheelhouse=str(family_mirror),
                         requirements=[TORCH, 'torchvision==0.29.0'], check_requires=['torchvision'])
    assert failed and result['kind'] == 'missing_package'
    assert 'torchvision==0.29.0 (mirror has: 0.28.0)' in result['msg']
