# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures of the unit tests.

* Makes ``ansible_collections.codex.offline_ml`` importable when the tests run with plain pytest from the
  collection root (ansible-test lays the tree out itself; then nothing is added).
* Builds throw-away virtual environments with ``uv``: bare ones, ones holding the impersonations of torch
  from ``tests/fixtures/stub_torch/build_stub_wheel.py``, and one with the REAL torch wheel, installed
  offline from the directory named by ``CODEX_TEST_WHEELHOUSE`` (torch 2.13.0+cpu and its dependencies).
"""

from __future__ import absolute_import, division, print_function

import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / 'tests' / 'fixtures'
REAL_TORCH_PIN = 'torch==2.13.0+cpu'
WHEELHOUSE_VAR = 'CODEX_TEST_WHEELHOUSE'


def _collections_root():
    """A directory holding ansible_collections/codex/offline_ml (this checkout)."""
    parents = REPO_ROOT.parents
    if REPO_ROOT.name == 'offline_ml' and parents[0].name == 'codex' and parents[1].name == 'ansible_collections':
        return parents[2]
    root = Path(tempfile.mkdtemp(prefix='codex-collections-'))
    atexit.register(shutil.rmtree, str(root), True)
    (root / 'ansible_collections' / 'codex').mkdir(parents=True)
    (root / 'ansible_collections' / 'codex' / 'offline_ml').symlink_to(REPO_ROOT, target_is_directory=True)
    return root


COLLECTIONS_ROOT = _collections_root()
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))


def load_fixture_module(relative, name):
    """Import a helper script of tests/fixtures by path."""
    spec = importlib.util.spec_from_file_location(name, str(FIXTURES / relative))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


stub_wheels = load_fixture_module('stub_torch/build_stub_wheel.py', 'codex_build_stub_wheel')


@pytest.fixture(scope='session')
def collections_root():
    """Directory to use as ANSIBLE_COLLECTIONS_PATH."""
    return COLLECTIONS_ROOT


@pytest.fixture(scope='session')
def uv_bin():
    """The uv of the dev virtual environment (or of PATH)."""
    candidate = Path(sys.executable).parent / 'uv'
    found = str(candidate) if candidate.exists() else shutil.which('uv')
    if not found:
        pytest.fail('uv is needed to build the test virtual environments: install the dev requirements '
                    '(make venv) or put uv on PATH')
    return found


def _run(cmd, **kwargs):
    proc = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False, **kwargs)
    if proc.returncode != 0:
        pytest.fail('command failed (%d): %s\n%s' % (proc.returncode, ' '.join(map(str, cmd)), proc.stdout))
    return proc.stdout


class VenvFactory(object):
    """Creates (once per session and per name) virtual environments with uv."""

    def __init__(self, uv, base):
        self.uv = uv
        self.base = base
        self.cache = {}

    def create(self, name):
        path = self.base / name
        _run([self.uv, 'venv', '--quiet', '--python', sys.executable, path])
        return path / 'bin' / 'python'

    def install(self, python, *wheels, **kwargs):
        cmd = [self.uv, 'pip', 'install', '--quiet', '--python', python, '--no-index', '--offline']
        if kwargs.get('no_cache', True):
            cmd.append('--no-cache')
        _run(cmd + list(kwargs.get('extra', [])) + list(wheels))

    def bare(self):
        if 'bare' not in self.cache:
            self.cache['bare'] = self.create('bare')
        return self.cache['bare']

    def wheel(self, variant, version=stub_wheels.DEFAULT_VERSION):
        key = ('wheel', variant, version)
        if key not in self.cache:
            self.cache[key] = stub_wheels.build_wheel(self.base / 'wheels' / variant / version, variant, version)
        return self.cache[key]

    def torch(self, variant, version=stub_wheels.DEFAULT_VERSION, extra_wheels=(), name=None):
        """Interpreter of a venv holding torch ``variant`` (plus ``extra_wheels``)."""
        name = name or 'torch-%s-%s' % (variant, version)
        if name not in self.cache:
            python = self.create(name)
            self.install(python, self.wheel(variant, version), *extra_wheels)
            self.cache[name] = python
        return self.cache[name]


@pytest.fixture(scope='session')
def venvs(uv_bin, tmp_path_factory):
    """Factory of throw-away virtual environments (see VenvFactory)."""
    return VenvFactory(uv_bin, tmp_path_factory.mktemp('venvs'))


@pytest.fixture(scope='session')
def nvidia_wheel(tmp_path_factory):
    """A fake nvidia-cuda-runtime-cu12 wheel (only its name matters to the diagnostic)."""
    return stub_wheels.write_wheel(tmp_path_factory.mktemp('nvidia'), 'nvidia-cuda-runtime-cu12', '12.1.105',
                                   {'nvidia/cuda_runtime/__init__.py': ''})


@pytest.fixture(scope='session')
def real_torch_python(venvs):
    """Interpreter of a venv with the REAL torch 2.13.0+cpu, from $CODEX_TEST_WHEELHOUSE. Never skipped."""
    wheelhouse = os.environ.get(WHEELHOUSE_VAR)
    if not wheelhouse:
        pytest.fail('%s is not set: point it at a directory holding %s and its dependencies (filelock, '
                    'typing-extensions, setuptools, sympy, mpmath, networkx, jinja2, markupsafe, fsspec); '
                    '`make test` sets it to the staged mirror' % (WHEELHOUSE_VAR, REAL_TORCH_PIN), pytrace=False)
    if not os.path.isdir(wheelhouse):
        pytest.fail('%s=%s is not a directory' % (WHEELHOUSE_VAR, wheelhouse), pytrace=False)
    python = venvs.create('real-torch')
    venvs.install(python, REAL_TORCH_PIN, no_cache=False, extra=['--find-links', wheelhouse])
    return python
