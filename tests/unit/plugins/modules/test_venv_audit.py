# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.venv_audit (and _venv_audit): real venvs built with uv, read-only, in process."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._offline_venv import MARKER
from ansible_collections.codex.offline_ml.plugins.module_utils._venv_audit import audit_venv
from ansible_collections.codex.offline_ml.plugins.modules import venv_audit


def tree(path):
    """Every file under PATH with its mtime and size (what 'read-only' must leave as it was)."""
    out = {}
    for root, dirs, files in os.walk(str(path)):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            out[full] = (st.st_mtime_ns, st.st_size)
    return out


@pytest.fixture(scope='module')
def release_venv(tmp_path_factory, venvs, write_wheel):
    """A venv laid out like offline_venv's: PATH -> .venv.releases/<id>, holding alpha 1.0, with a marker."""
    base = tmp_path_factory.mktemp('venv-audit')
    wheel = write_wheel(base / 'wheels', 'alpha', '1.0', {'alpha.py': 'VALUE = 1\n'})
    releases = base / '.venv.releases'
    releases.mkdir()
    release = releases / '20261128T120000-0123456789-abcd'
    factory = type(venvs)(venvs.uv, releases)  # a factory of its own: create() puts the venv under its base
    python = factory.create(release.name)
    factory.install(python, wheel)
    marker = {'schema': 1, 'installer': 'uv', 'wanted': {'alpha': '1.0'}, 'hashes': {'alpha': ['ab' * 32]},
              'mirror': 'http://127.0.0.1:18141/simple/', 'built': 1795867200}
    (release / MARKER).write_text(json.dumps(marker))
    link = base / 'venv'
    link.symlink_to(release)
    return {'path': str(link), 'release': str(release), 'marker': marker, 'base': base}


def test_describes_a_release_venv(release_venv, run_module):
    before = tree(release_venv['base'])
    failed, result = run_module(venv_audit, venvs=[release_venv['path'] + '/'])
    assert not failed, result
    assert result['changed'] is False
    (venv,) = result['venvs']
    assert venv['path'] == release_venv['path']
    assert venv['exists'] is True and venv['is_symlink'] is True
    assert venv['target'] == os.path.realpath(release_venv['release'])
    assert venv['python_version'].count('.') == 2
    assert venv['dists']['alpha'] == '1.0'
    assert venv['marker'] == release_venv['marker']
    assert venv['marker_path'] == os.path.join(venv['target'], MARKER)
    assert venv['error'] is None
    assert tree(release_venv['base']) == before


def test_missing_and_dangling(tmp_path, run_module):
    (tmp_path / 'dangling').symlink_to(tmp_path / 'gone')
    failed, result = run_module(venv_audit, venvs=[str(tmp_path / 'absent'), str(tmp_path / 'dangling')])
    assert not failed, result
    absent, dangling = result['venvs']
    assert absent['exists'] is False and absent['error'] is None and absent['dists'] == {}
    assert dangling['exists'] is False and dangling['error'] == 'dangling symlink to %s' % (tmp_path / 'gone')


def test_directory_without_interpreter_or_marker(tmp_path):
    (tmp_path / 'notavenv').mkdir()
    state = audit_venv(str(tmp_path / 'notavenv'))
    assert state['exists'] is True and state['marker'] is None
    assert state['error'] == '%s/bin/python does not exist' % (tmp_path / 'notavenv')


def test_unreadable_marker_is_reported(tmp_path, venvs):
    type(venvs)(venvs.uv, tmp_path).create('plain')
    (tmp_path / 'plain' / MARKER).write_text('{not json')
    state = audit_venv(str(tmp_path / 'plain'))
    assert state['python_version'] and state['marker'] is None
    assert 'is not JSON' in state['error']


def test_check_mode_is_the_same(release_venv, run_module):
    normal = run_module(venv_audit, venvs=[release_venv['path']])[1]
    checked = run_module(venv_audit, _ansible_check_mode=True, venvs=[release_venv['path']])[1]
    assert normal['venvs'] == checked['venvs']


def test_relative_paths_and_bad_timeout_are_refused(run_module):
    failed, result = run_module(venv_audit, venvs=['opt/venv'])
    assert failed and result['msg'] == 'venvs must be absolute paths; not absolute: opt/venv'
    failed, result = run_module(venv_audit, venvs=['/opt/venv'], timeout=0)
    assert failed and 'timeout must be at least 1 second' in result['msg']
