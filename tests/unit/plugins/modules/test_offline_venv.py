# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.offline_venv: main() in process, building real venvs with the real uv from a wheelhouse."""

from __future__ import absolute_import, division, print_function

import hashlib
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror import parse_wheel_filename, render_lock
from ansible_collections.codex.offline_ml.plugins.module_utils._offline_venv import releases_dir
from ansible_collections.codex.offline_ml.plugins.modules import offline_venv


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def mirror(tmp_path_factory, uv_wheel, write_wheel):
    """A wheelhouse (alpha 1.0 and 2.0, the real uv) and a lock of alpha 1.0 + uv."""
    path = tmp_path_factory.mktemp('offline-venv') / 'wheelhouse'
    alpha = write_wheel(path, 'alpha', '1.0', {'alpha.py': 'VALUE = "1.0"\n'})
    write_wheel(path, 'alpha', '2.0', {'alpha.py': 'VALUE = "2.0"\n'})
    uv = path / uv_wheel.name
    shutil.copyfile(str(uv_wheel), str(uv))
    uv_version = parse_wheel_filename(uv.name)['version']
    lock = render_lock({'alpha': {'version': '1.0', 'hashes': [sha256(alpha)]},
                        'uv': {'version': uv_version, 'hashes': [sha256(uv)]}})
    return {'wheelhouse': str(path), 'lock': lock, 'uv': 'uv==%s' % uv_version, 'uv_version': uv_version}


def args_for(path, mirror, **extra):
    args = dict(path=str(path), python=sys.executable, requirements=['alpha==1.0'], lock=mirror['lock'],
                mirror_mode='wheelhouse', wheelhouse=mirror['wheelhouse'], timeout=300)
    args.update(extra)
    return args


def alpha_of(path):
    return subprocess.check_output([os.path.join(str(path), 'bin', 'python'), '-c',
                                    'import alpha; print(alpha.VALUE)'], universal_newlines=True).strip()


def test_check_mode_reports_and_creates_nothing(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    failed, result = run_module(offline_venv, _ansible_check_mode=True, _ansible_diff=True, **args_for(path, mirror))
    assert not failed, result['msg']
    assert result['changed'] is True
    assert result['reasons'] == ['venv does not exist']
    assert result['installed'] == {} and result['removed'] == [] and result['release'] == ''
    assert result['diff'] == {'before': '', 'after': 'alpha==1.0\n%s\n' % mirror['uv'],
                              'before_header': str(path), 'after_header': str(path)}
    assert os.listdir(str(tmp_path)) == []


def test_build_then_idempotent(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    failed, first = run_module(offline_venv, **args_for(path, mirror))
    assert not failed, first['msg']
    assert first['changed'] is True and first['reasons'] == ['venv does not exist']
    assert first['installed'] == {'alpha': '1.0', 'uv': mirror['uv_version']}
    assert os.path.islink(str(path)) and os.readlink(str(path)) == first['release']
    assert os.path.dirname(first['release']) == releases_dir(str(path))
    assert [s['step'] for s in first['steps']] == ['fetch uv %s' % mirror['uv_version'], 'create venv',
                                                   'uv pip install']
    assert alpha_of(path) == '1.0'

    failed, second = run_module(offline_venv, _ansible_diff=True, **args_for(path, mirror))
    assert not failed
    assert second['changed'] is False and second['reasons'] == [] and second['removed'] == []
    assert second['release'] == first['release'] and second['installed'] == first['installed']
    assert second['diff']['before'] == second['diff']['after'] == 'alpha==1.0\n%s\n' % mirror['uv']
    assert 'steps' not in second

    # pins without the lock, a newer version: check mode reports it, changes nothing; then the real run swaps
    newer = args_for(path, mirror, lock=None, requirements=['alpha==2.0', mirror['uv']])
    failed, check = run_module(offline_venv, _ansible_check_mode=True, _ansible_diff=True, **newer)
    assert not failed and check['changed'] is True
    assert check['reasons'] == ['alpha is 1.0, wanted 2.0']
    assert check['diff']['before'] == 'alpha==1.0\n%s\n' % mirror['uv']
    assert check['diff']['after'] == 'alpha==2.0\n%s\n' % mirror['uv']
    assert os.readlink(str(path)) == first['release'] and alpha_of(path) == '1.0'

    failed, third = run_module(offline_venv, **newer)
    assert not failed and third['changed'] is True
    assert third['release'] != first['release'] and os.readlink(str(path)) == third['release']
    # keep_releases (default 1): the previous release stays, for running processes and a rollback
    assert third['removed'] == [] and third['kept'] == [first['release']] and os.path.isdir(first['release'])
    assert alpha_of(path) == '2.0'

    failed, forced = run_module(offline_venv, _ansible_check_mode=True, force=True, force_reason='health check failed',
                                **newer)
    assert not failed and forced['changed'] is True and forced['reasons'] == ['health check failed']
    assert os.readlink(str(path)) == third['release']


def test_stale_release_is_removed(tmp_path, mirror, run_module):
    """An unfinished release (a killed run) is reported in check mode and removed by the next run."""
    path = tmp_path / 'venv'
    assert run_module(offline_venv, **args_for(path, mirror))[1]['changed'] is True
    unfinished = os.path.join(releases_dir(str(path)), '20260101T000000-0000000000-dead')
    os.makedirs(os.path.join(unfinished, 'bin'))
    failed, check = run_module(offline_venv, _ansible_check_mode=True, **args_for(path, mirror))
    assert not failed and check['changed'] is True and check['reasons'] == [] and check['removed'] == [unfinished]
    assert os.path.isdir(unfinished)
    failed, result = run_module(offline_venv, **args_for(path, mirror))
    assert not failed and result['changed'] is True and result['removed'] == [unfinished]
    assert not os.path.exists(unfinished)
    assert run_module(offline_venv, **args_for(path, mirror))[1]['changed'] is False


def test_a_plain_venv_becomes_a_release(tmp_path, mirror, run_module, uv_bin):
    """A venv made by hand with the right content is taken over: moved aside, rebuilt, swapped, cleaned."""
    path = tmp_path / 'venv'
    subprocess.check_call([uv_bin, 'venv', '--quiet', '--python', sys.executable, str(path)])
    subprocess.check_call([uv_bin, 'pip', 'install', '--quiet', '--python', str(path / 'bin' / 'python'), '--offline',
                           '--no-index', '--no-cache', '--find-links', mirror['wheelhouse'],
                           'alpha==1.0', mirror['uv']])
    failed, check = run_module(offline_venv, _ansible_check_mode=True, **args_for(path, mirror))
    assert not failed and check['changed'] is True
    assert check['reasons'] == ['venv is not managed as a release yet']
    assert check['installed'] == {'alpha': '1.0', 'uv': mirror['uv_version']}
    assert not os.path.islink(str(path))
    failed, result = run_module(offline_venv, **args_for(path, mirror))
    assert not failed and result['changed'] is True
    assert os.path.islink(str(path)) and alpha_of(path) == '1.0'
    assert [os.path.basename(r).split('-')[0] for r in result['removed']] == ['legacy']
    assert run_module(offline_venv, **args_for(path, mirror))[1]['changed'] is False


def test_failed_health_check_leaves_nothing(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    failed, result = run_module(offline_venv,
                                verify_command=['-c', 'import sys; print("torch is a stub"); sys.exit(3)'],
                                **args_for(path, mirror))
    assert failed
    assert result['msg'] == ('building %s from mirror %s: the new venv failed its health check (exit 3): '
                             'torch is a stub' % (path, mirror['wheelhouse']))
    assert result['reasons'] == ['venv does not exist']
    assert not os.path.lexists(str(path))
    assert not os.path.lexists(releases_dir(str(path)))


@pytest.mark.parametrize('requirements', [['alpha>=1.0'], ['alpha==1.0', 'torch']])
def test_bad_pin(tmp_path, mirror, run_module, requirements):
    failed, result = run_module(offline_venv, **args_for(tmp_path / 'venv', mirror, requirements=requirements))
    assert failed and result['kind'] == 'invalid_pin'
    assert repr(requirements[-1]) in result['msg'] and 'name==version' in result['msg']
    assert os.listdir(str(tmp_path)) == []


def test_pin_disagrees_with_lock(tmp_path, mirror, run_module):
    failed, result = run_module(offline_venv, **args_for(tmp_path / 'venv', mirror, requirements=['alpha==2.0']))
    assert failed and result['kind'] == 'lock_mismatch'
    assert 'alpha==2.0 is requested but the lock pins alpha==1.0' in result['msg']


def test_installer_uv_needs_a_uv_pin(tmp_path, mirror, run_module):
    failed, result = run_module(offline_venv, **args_for(tmp_path / 'venv', mirror, lock=None))
    assert failed
    assert result['msg'] == 'installer uv needs a uv==VERSION pin in requirements or a lock that pins uv'
    assert os.listdir(str(tmp_path)) == []


def test_missing_base_python(tmp_path, mirror, run_module):
    failed, result = run_module(offline_venv, **args_for(tmp_path / 'venv', mirror, python=str(tmp_path / 'py')))
    assert failed and result['kind'] == 'no_python' and str(tmp_path / 'py') in result['msg']


def test_wheelhouse_required(tmp_path, mirror, run_module):
    args = args_for(tmp_path / 'venv', mirror)
    del args['wheelhouse']
    failed, result = run_module(offline_venv, **args)
    assert failed and 'wheelhouse' in result['msg']


def test_documentation_matches_argument_spec(monkeypatch):
    captured = {}

    class Stop(Exception):
        pass

    def fake_module(**kwargs):
        captured.update(kwargs)
        raise Stop()

    monkeypatch.setattr(offline_venv, 'AnsibleModule', fake_module)
    with pytest.raises(Stop):
        offline_venv.main()
    spec = captured['argument_spec']
    assert captured['supports_check_mode'] is True
    doc = yaml.safe_load(offline_venv.DOCUMENTATION)
    assert set(doc['options']) == set(spec)
    for name, option in doc['options'].items():
        assert option['type'] == spec[name]['type'], name
        assert option.get('default') == spec[name].get('default'), name
        assert option.get('choices') == spec[name].get('choices'), name
        assert option.get('elements') == spec[name].get('elements'), name
    assert doc['attributes']['check_mode']['support'] == 'full'
    assert doc['attributes']['diff_mode']['support'] == 'full'
    assert set(yaml.safe_load(offline_venv.RETURN)) == {'reasons', 'release', 'installed', 'kept', 'removed', 'steps'}
    yaml.safe_load(offline_venv.EXAMPLES)
