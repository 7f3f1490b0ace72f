# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/offline_venv/meta/argument_specs.yml: the one spec of offline_venv_settings (its main entry point, which
the role_plan action validates the settings against; preflight and install have no spec of their own, so that
Ansible adds no validation task per call), as Ansible reads it, and the README table tests/tools/role_docs.py
renders."""

from __future__ import absolute_import, division, print_function

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[4]
ROLE = ROOT / 'roles' / 'offline_venv'
SPEC_FILE = ROLE / 'meta' / 'argument_specs.yml'
ENTRY_POINTS = ('main',)


def load_role_docs():
    spec = importlib.util.spec_from_file_location('codex_role_docs', str(ROOT / 'tests' / 'tools' / 'role_docs.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def entry_points(collections_root):
    """The role's entry points as ansible-doc reads them (Ansible's YAML loader resolves the alias)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root), ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([str(Path(sys.executable).parent / 'ansible-doc'), '--json', '-t', 'role',
                           'codex.offline_ml.offline_venv'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)['codex.offline_ml.offline_venv']['entry_points']


def test_the_settings_are_written_once():
    text = SPEC_FILE.read_text()
    assert text.count('offline_venv_settings:') == 1


def test_only_main_has_a_spec(entry_points):
    assert sorted(entry_points) == list(ENTRY_POINTS)
    assert set(entry_points['main']['options']['offline_venv_settings']['options']) >= {
        'path', 'python', 'packages', 'lock_file', 'mirror_mode', 'mirror_url', 'keep_releases', 'variable_prefix'}


def test_role_docs_renders_the_readme_table():
    role_docs = load_role_docs()
    options = yaml.safe_load(SPEC_FILE.read_text())['argument_specs']['main']['options']
    rows = role_docs.table(options)
    readme = (ROLE / 'README.md').read_text()
    block = readme.split(role_docs.BEGIN, 1)[1].split(role_docs.END, 1)[0]
    assert block.strip('\n').split('\n') == rows
    settings = options['offline_venv_settings']['options']
    assert len(rows) == 2 + 1 + len(settings)
    for name in settings:
        assert any(row.startswith('| `offline_venv_settings.%s` |' % name) for row in rows), name
