# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.offline_venv: main() in process, building real venvs with the real uv from a wheelhouse."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import (
    parse_lock,
    parse_wheel_filename,
    render_lock,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._offline_venv import releases_dir
from ansible_collections.codex.offline_ml.plugins.module_utils._venv_releases import finished_releases
from ansible_collections.codex.offline_ml.plugins.modules import offline_venv


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def mirror(tmp_path_factory, uv_wheel, write_wheel):
    """A wheelhouse (alpha 1.0 and 2.0, the real uv) and a lock of alpha 1.0 + uv."""
    path = tmp_path_factory.mktemp('offline-venv') / 'wheelhouse'
    alpha = {}
    for version in ('1.0', '2.0'):
        # a console script, so that a release holds a bin/ script naming its own interpreter
        alpha[version] = write_wheel(path, 'alpha', version, {
            'alpha.py': 'VALUE = "%s"\n\ndef main():\n    print(VALUE)\n' % version,
            'alpha-%s.dist-info/entry_points.txt' % version: '[console_scripts]\nalpha-say = alpha:main\n'})
    # beta: the same in both locks, with a console script (a re-used release copies it and names its interpreter)
    beta = write_wheel(path, 'beta', '1.0', {
        'beta.py': 'def main():\n    print("beta")\n',
        'beta-1.0.dist-info/entry_points.txt': '[console_scripts]\nbeta-say = beta:main\n'})
    uv = path / uv_wheel.name
    shutil.copyfile(str(uv_wheel), str(uv))
    uv_version = parse_wheel_filename(uv.name)['version']

    def lock(version, *extra):
        entries = {'alpha': {'version': version, 'hashes': [sha256(alpha[version])]},
                   'uv': {'version': uv_version, 'hashes': [sha256(uv)]}}
        if 'beta' in extra:
            entries['beta'] = {'version': '1.0', 'hashes': [sha256(beta)]}
        return render_lock(entries)

    return {'wheelhouse': str(path), 'lock': lock('1.0'), 'uv': 'uv==%s' % uv_version, 'uv_version': uv_version,
            'reuse1': lock('1.0', 'beta'), 'reuse2': lock('2.0', 'beta')}


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
    uv_name, uv_version = mirror['uv'].split('==')
    assert result['packages'] == {'added': [{'name': 'alpha', 'version': '1.0'}, {'name': uv_name, 'version': uv_version}],
                                  'changed': [], 'removed': []}
    assert result['diff'] == {'before': '', 'after': 'alpha==1.0\n%s\n' % mirror['uv'],
                              'before_header': str(path), 'after_header': str(path),
                              'prepared': '%s: 0 changed, 2 added, 0 removed\n  + alpha 1.0\n  + %s %s\n' % (
                                  path, uv_name, uv_version)}
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
                                                   'uv pip sync', 'snapshot', 'prune the uv cache']
    assert 'reused' not in first
    cache = os.path.join(releases_dir(str(path)), '.uv-cache')
    assert first['uv_cache']['path'] == cache and first['uv_cache']['bytes'] > 0
    assert os.stat(cache).st_mode & 0o777 == 0o700
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
    assert check['packages'] == {'changed': [{'name': 'alpha', 'old': '1.0', 'new': '2.0'}], 'added': [], 'removed': []}
    assert check['diff']['prepared'] == '%s: 1 changed, 0 added, 0 removed\n  ~ alpha 1.0 -> 2.0\n' % check['path']
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


# --------------------------------------------------------------------------- kept releases and rollback
def test_rollback_swaps_back_idempotently_and_check_mode_safe(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    v1 = args_for(path, mirror, lock=None, requirements=['alpha==1.0', mirror['uv']])
    v2 = args_for(path, mirror, lock=None, requirements=['alpha==2.0', mirror['uv']])
    first = run_module(offline_venv, **v1)[1]
    second = run_module(offline_venv, **v2)[1]
    assert second['kept'] == [first['release']] and alpha_of(path) == '2.0'

    failed, check = run_module(offline_venv, _ansible_check_mode=True, rollback=True, **v2)
    assert not failed and check['changed'] is True and check['release'] == first['release']
    assert check['installed']['alpha'] == '1.0'
    assert os.readlink(str(path)) == second['release']                      # check mode wrote nothing

    failed, back = run_module(offline_venv, rollback=True, **v2)
    assert not failed and back['changed'] is True
    assert back['reasons'] == ['rollback from %s to %s' % (os.path.basename(second['release']),
                                                           os.path.basename(first['release']))]
    assert os.readlink(str(path)) == first['release'] and alpha_of(path) == '1.0'
    assert os.path.isdir(second['release'])                                # kept for processes still running

    failed, again = run_module(offline_venv, rollback=True, **v2)
    assert not failed and again['changed'] is False and again['release'] == first['release']

    # the next build (the pins fixed to 1.0): nothing to build, the release rolled back from is removed
    failed, fixed = run_module(offline_venv, **v1)
    assert not failed and fixed['changed'] is True and fixed['reasons'] == []
    assert fixed['removed'] == [second['release']] and not os.path.exists(second['release'])
    assert run_module(offline_venv, **v1)[1]['changed'] is False


def test_rollback_without_a_previous_release_fails_clearly(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    first = run_module(offline_venv, keep_releases=0, **args_for(path, mirror))[1]
    failed, result = run_module(offline_venv, rollback=True, **args_for(path, mirror))
    assert failed and result['msg'].startswith('nothing to roll back to: ')
    assert 'keep_releases' in result['msg'] and os.readlink(str(path)) == first['release']


def test_keep_releases_zero_removes_the_previous_release(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    first = run_module(offline_venv, keep_releases=0, **args_for(path, mirror))[1]
    newer = args_for(path, mirror, lock=None, requirements=['alpha==2.0', mirror['uv']], keep_releases=0)
    second = run_module(offline_venv, **newer)[1]
    assert second['removed'] == [first['release']] and second['kept'] == []


def test_negative_keep_releases(tmp_path, mirror, run_module):
    failed, result = run_module(offline_venv, keep_releases=-1, **args_for(tmp_path / 'venv', mirror))
    assert failed and result['msg'] == 'keep_releases must be 0 or more (it is -1)'


# --------------------------------------------------------------------------- every failure: fail_json, no release left
def _no_release_left(path):
    rdir = releases_dir(str(path))
    return not os.path.exists(rdir) or [e for e in os.listdir(rdir) if not e.startswith('.')] == []


def test_health_check_timeout_fails_and_leaves_no_release(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    args = args_for(path, mirror, timeout=3, verify_command=['-c', 'import time; time.sleep(60)'])
    failed, result = run_module(offline_venv, **args)
    assert failed and "health check did not finish within 3s" in result['msg']
    assert _no_release_left(path) and not os.path.lexists(str(path))


def test_write_pth_failure_fails_and_leaves_no_release(tmp_path, mirror, run_module, monkeypatch):
    from ansible_collections.codex.offline_ml.plugins.module_utils import _offline_venv as ov
    real_run = ov.subprocess.run

    def purelib_fails(argv, **kwargs):
        if any('purelib' in str(a) for a in argv):
            raise subprocess.CalledProcessError(9, argv, b'', b'no sysconfig here')
        return real_run(argv, **kwargs)  # pylint: disable=subprocess-run-check

    monkeypatch.setattr(ov.subprocess, 'run', purelib_fails)
    path = tmp_path / 'venv'
    failed, result = run_module(offline_venv, **args_for(path, mirror, extra_paths=['/opt/codex/lib']))
    assert failed and "cannot tell its site-packages (exit 9): no sysconfig here" in result['msg']
    assert _no_release_left(path)


def test_inspect_timeout_of_the_live_venv_means_rebuild(tmp_path, mirror, run_module, monkeypatch):
    """A live venv whose python hangs is rebuilt (reason named), not a traceback."""
    from ansible_collections.codex.offline_ml.plugins.module_utils import _offline_venv as ov
    path = tmp_path / 'venv'
    (path / 'bin').mkdir(parents=True)
    (path / 'bin' / 'python').write_text('#!/bin/sh\nexec sleep 30\n')
    (path / 'bin' / 'python').chmod(0o755)
    real_inspect = ov.inspect_venv
    monkeypatch.setattr(offline_venv, 'inspect_venv', lambda p, timeout=60: real_inspect(p, timeout=1))
    failed, result = run_module(offline_venv, _ansible_check_mode=True, **args_for(path, mirror))
    assert not failed and result['changed'] is True
    assert 'did not answer within 1s' in result['reasons'][0]


def test_unexpected_error_is_a_message_without_secret(tmp_path, mirror, run_module, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError('disk on fire at http://alice:s3cret-pw@mirror.lab/simple/')

    monkeypatch.setattr(offline_venv, 'stale_releases', boom)
    failed, result = run_module(offline_venv, **args_for(tmp_path / 'venv', mirror))
    assert failed and result['msg'].startswith('offline_venv failed unexpectedly on ')
    assert 'RuntimeError: disk on fire at http://alice:***@mirror.lab/simple/' in result['msg']
    assert 's3cret' not in repr(result)


def test_swap_failure_fails_and_leaves_no_release(tmp_path, mirror, run_module, monkeypatch):
    def swap_fails(path, release):
        raise OSError(30, 'Read-only file system')

    monkeypatch.setattr(offline_venv, 'swap', swap_fails)
    path = tmp_path / 'venv'
    failed, result = run_module(offline_venv, **args_for(path, mirror))
    assert failed and 'OSError: [Errno 30] Read-only file system' in result['msg']
    assert _no_release_left(path)


def test_a_failure_after_the_link_moved_keeps_the_new_live_release(tmp_path, mirror, run_module, monkeypatch):
    """swap fails once the link names the new release (the history write, a full disk): that release is live and
    whole, so it stays; the message says so, and the next run changes nothing."""
    path = tmp_path / 'venv'
    monkeypatch.setenv('CODEX_FAULT', 'venv.swapped:enospc')
    failed, result = run_module(offline_venv, **args_for(path, mirror))
    assert failed and 'is live, but recording it failed: OSError: [Errno 28]' in result['msg'], result['msg']
    live = os.path.realpath(str(path))
    assert os.path.isdir(live) and alpha_of(path) == '1.0'
    monkeypatch.delenv('CODEX_FAULT')
    failed, again = run_module(offline_venv, **args_for(path, mirror))
    assert not failed and again['changed'] is False and again['release'] == live


def test_a_removal_cut_short_is_finished_by_the_next_run(tmp_path, mirror, run_module, monkeypatch):
    """A stale release is renamed out of the releases before it is removed: what a killed removal leaves (ENOSPC
    here stands for the kill) is never a finished release, and the next run removes it."""
    path = tmp_path / 'venv'
    first = run_module(offline_venv, **args_for(path, mirror))[1]['release']
    run_module(offline_venv, force=True, force_reason='second', **args_for(path, mirror))
    monkeypatch.setenv('CODEX_FAULT', 'venv.prune:enospc')
    failed, result = run_module(offline_venv, force=True, force_reason='third', **args_for(path, mirror))
    assert failed and 'fault point venv.prune' in result['msg']
    left = os.path.join(os.path.dirname(first), '.removing-' + os.path.basename(first))
    assert os.path.isdir(left) and not os.path.exists(first)
    assert first not in finished_releases(str(path))
    monkeypatch.delenv('CODEX_FAULT')
    failed, check = run_module(offline_venv, _ansible_check_mode=True, **args_for(path, mirror))
    assert not failed and check['changed'] is True and check['removed'] == [left]
    failed, result = run_module(offline_venv, **args_for(path, mirror))
    assert not failed and result['removed'] == [left] and not os.path.exists(left)
    assert run_module(offline_venv, **args_for(path, mirror))[1]['changed'] is False


def test_releases_dir_that_cannot_be_created(tmp_path, mirror, run_module):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    failed, result = run_module(offline_venv, **args_for(blocker / 'venv', mirror))
    assert failed and result['msg'].startswith('cannot create or lock %s' % releases_dir(str(blocker / 'venv')))


# --------------------------------------------------------------------------- the secret never leaves the module
@pytest.mark.parametrize('url, secret', [
    ('http://alice:s3cret-pw@127.0.0.1:9/simple/', 's3cret-pw'),
    ('http://T0KEN-abcdef:x-oauth-basic@127.0.0.1:9/simple/', 'T0KEN-abcdef'),
    ('http://alice:k@127.0.0.1:9/simple/', ':k@'),
])
def test_result_and_invocation_hold_only_the_redacted_url(tmp_path, mirror, run_module, url, secret):
    args = args_for(tmp_path / 'venv', mirror, mirror_mode='index', mirror_url=url)
    del args['wheelhouse']
    failed, result = run_module(offline_venv, **args)
    assert failed                                   # nothing listens on port 9
    assert secret not in repr(result)
    assert '127.0.0.1:9' in result['msg']


@pytest.mark.parametrize('module_name', ['offline_venv', 'wheel_mirror_info'])
@pytest.mark.parametrize('url, secret, shown', [
    ('http://alice:s3cret-pw@127.0.0.1:9/simple/', 's3cret-pw', 'http://alice:***@127.0.0.1:9/simple/'),
    ('http://T0KEN-abcdef:x-oauth-basic@127.0.0.1:9/simple/', 'T0KEN-abcdef', 'http://***@127.0.0.1:9/simple/'),
    ('http://ab@127.0.0.1:9/simple/', 'ab@', 'http://***@127.0.0.1:9/simple/'),
    ('http://alice:k@127.0.0.1:9/simple/', ':k@', 'http://alice:***@127.0.0.1:9/simple/'),
])
def test_real_module_result_with_invocation_has_no_secret(tmp_path, mirror, collections_root, module_name, url,
                                                          secret, shown):
    """The module run as ansible runs it (real AnsibleModule, real fail_json with the invocation)."""
    args = dict(python=sys.executable, requirements=['alpha==1.0', mirror['uv']], mirror_mode='index',
                mirror_url=url, timeout=5)
    if module_name == 'offline_venv':
        args['path'] = str(tmp_path / 'venv')
    argfile = tmp_path / 'args.json'
    argfile.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = dict(os.environ, PYTHONPATH=str(collections_root))
    proc = subprocess.run([sys.executable, '-m', 'ansible_collections.codex.offline_ml.plugins.modules.' + module_name,
                           str(argfile)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                          universal_newlines=True, timeout=120, check=False)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['failed'] is True
    assert secret not in proc.stdout
    assert result['invocation']['module_args']['mirror_url'] == shown
    assert '127.0.0.1:9' in result['msg']


def test_same_versions_from_another_lock_means_rebuild(tmp_path, mirror, run_module):
    """The release marker's wheel hashes are part of "current": a lock of the same versions whose alpha wheel has
    another hash (re-staged) makes the check-mode probe report a rebuild, while the lock it was built from does
    not, and the probe never needs the mirror (a wheelhouse that does not exist)."""
    path = tmp_path / 'venv'
    failed, first = run_module(offline_venv, **args_for(path, mirror))
    assert not failed, first['msg']
    no_mirror = dict(wheelhouse=str(tmp_path / 'no-such-wheelhouse'))
    failed, same = run_module(offline_venv, _ansible_check_mode=True, **args_for(path, mirror, **no_mirror))
    assert not failed and same['changed'] is False and same['reasons'] == [] and same['path'] == str(path)
    alpha_hash = mirror['lock'].split('alpha==1.0', 1)[1].split('--hash=sha256:', 1)[1][:64]
    other = mirror['lock'].replace(alpha_hash, 'f' * 64)
    failed, probe = run_module(offline_venv, _ansible_check_mode=True, **args_for(path, mirror, lock=other, **no_mirror))
    assert not failed
    assert probe['changed'] is True
    assert probe['reasons'] == ['the live release was built from another lock (wheel hashes differ for alpha)']
    assert os.readlink(str(path)) == first['release']


def test_verify_output_is_returned_after_a_build(tmp_path, mirror, run_module):
    """What the health check printed comes back (a caller reads its report instead of running it again)."""
    path = tmp_path / 'venv'
    check = ['-c', 'import json, alpha; print(json.dumps({"status": "ok", "alpha": alpha.VALUE}))']
    failed, result = run_module(offline_venv, **args_for(path, mirror, verify_command=check))
    assert not failed, result['msg']
    assert json.loads(result['verify_output']) == {'status': 'ok', 'alpha': '1.0'}
    failed, again = run_module(offline_venv, **args_for(path, mirror, verify_command=check))
    assert not failed and again['changed'] is False and 'verify_output' not in again


# --------------------------------------------------------------------------- a new release re-uses the live one
def files_of(release):
    """{relative path: (inode, link count, bytes)} of the regular files of a release."""
    out = {}
    for root, _dirs, names in os.walk(release):
        for name in names:
            full = os.path.join(root, name)
            st = os.lstat(full)
            if not os.path.islink(full):
                with open(full, 'rb') as fh:
                    out[os.path.relpath(full, release)] = (st.st_ino, st.st_nlink, fh.read())
    return out


def say(path):
    return subprocess.check_output([os.path.join(str(path), 'bin', 'alpha-say')], universal_newlines=True).strip()


def test_a_one_pin_release_reuses_the_live_release_and_stays_independent(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    failed, first = run_module(offline_venv, **args_for(path, mirror, lock=mirror['reuse1']))
    assert not failed, first['msg']
    assert say(path) == '1.0'

    failed, second = run_module(offline_venv, **args_for(
        path, mirror, requirements=['alpha==2.0'], lock=mirror['reuse2']))
    assert not failed, second['msg']
    assert second['reused']['from'] == first['release'] and second['reused']['files'] > 0
    # the copied entry point named the old release's interpreter: rewritten, and the new release runs it
    assert second['reused']['scripts_rewritten'] == 1 and second['reused']['distributions'] == 2
    with open(os.path.join(second['release'], 'bin', 'beta-say')) as fh:
        assert fh.readline() == '#!%s/bin/python\n' % second['release']
    assert subprocess.check_output([os.path.join(str(path), 'bin', 'beta-say')], universal_newlines=True) == 'beta\n'
    assert say(path) == '2.0' and alpha_of(path) == '2.0'
    assert [s['step'] for s in second['steps']] == ['fetch uv %s' % mirror['uv_version'], 'create venv',
                                                    're-use the live release', 'uv pip sync', 'snapshot', 'prune the uv cache']

    # Independent: no file of either release is a link of another file (of the other release or of the cache),
    # so writing into one in place cannot change the other.
    old, new = files_of(first['release']), files_of(second['release'])
    assert all(nlink == 1 for _ino, nlink, _data in list(old.values()) + list(new.values()))
    shared = [rel for rel in set(old) & set(new) if old[rel][0] == new[rel][0]]
    assert shared == []
    uv_file = [rel for rel in new if rel.endswith(os.path.join('bin', 'uv'))][0]
    with open(os.path.join(second['release'], uv_file), 'r+b') as fh:
        fh.write(b'XXXX')
    assert files_of(first['release'])[uv_file][2] == old[uv_file][2]

    # ... and the rollback is to the bytes that passed their health check
    failed, back = run_module(offline_venv, rollback=True, **args_for(path, mirror, lock=mirror['reuse1']))
    assert not failed and back['release'] == first['release']
    assert say(path) == '1.0' and alpha_of(path) == '1.0'


def test_a_changed_file_in_the_live_release_refuses_reuse(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    failed, first = run_module(offline_venv, **args_for(path, mirror, lock=mirror['reuse1']))
    assert not failed, first['msg']
    # beta stays in the new lock, so its files would be copied
    site = subprocess.check_output([os.path.join(str(path), 'bin', 'python'), '-c',
                                    'import beta; print(beta.__file__)'], universal_newlines=True).strip()
    with open(site, 'a') as fh:      # a hand edit of the live release, in place
        fh.write('BROKEN = True\n')
    failed, second = run_module(offline_venv, **args_for(
        path, mirror, requirements=['alpha==2.0'], lock=mirror['reuse2']))
    assert not failed, second['msg']
    assert second['reused']['refused'] == ('%s differs from what the release held when it passed its health check'
                                           % os.path.relpath(site, first['release']))
    # built from nothing: nothing of the edited release travelled
    assert 'BROKEN' not in open(os.path.join(second['release'], os.path.relpath(site, first['release']))).read()
    assert alpha_of(path) == '2.0' and say(path) == '2.0'


def test_reuse_false_builds_from_nothing(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    assert not run_module(offline_venv, **args_for(path, mirror, lock=mirror['reuse1']))[0]
    failed, second = run_module(offline_venv, reuse=False, **args_for(
        path, mirror, requirements=['alpha==2.0'], lock=mirror['reuse2']))
    assert not failed and 'reused' not in second
    assert 're-use the live release' not in [s['step'] for s in second['steps']]


def test_cache_is_pruned_to_the_kept_releases(tmp_path, mirror, run_module):
    path = tmp_path / 'venv'
    cache = os.path.join(releases_dir(str(path)), '.uv-cache')

    def pointers(name):
        return sorted(os.path.basename(p) for p in
                      subprocess.check_output(['find', cache, '-path', '*wheels-v*/%s/*' % name],
                                              universal_newlines=True).split())

    assert not run_module(offline_venv, **args_for(path, mirror))[0]
    assert [p for p in pointers('alpha') if p.startswith('1.0-')]
    # keep 1: the 1.0 release is kept, so is its cache entry
    failed, second = run_module(offline_venv, **args_for(
        path, mirror, requirements=['alpha==2.0'], lock=mirror['reuse2']))
    assert not failed and second['uv_cache']['pruned'] == []
    assert set(p.split('-')[0] for p in pointers('alpha')) == {'1.0', '2.0'}
    # keep 0: the 1.0 release goes, and with it its entry in the cache
    failed, third = run_module(offline_venv, keep_releases=0, **args_for(path, mirror))
    assert not failed
    failed, fourth = run_module(offline_venv, keep_releases=0, **args_for(
        path, mirror, requirements=['alpha==2.0'], lock=mirror['reuse2']))
    assert not failed
    assert [p for p in fourth['uv_cache']['pruned'] if '/alpha/1.0-' in p]
    assert set(p.split('-')[0] for p in pointers('alpha')) == {'2.0'}
    # uv removed the unpacked 1.0 wheel nothing points at any more: alpha 2.0, beta, uv
    assert len(os.listdir(os.path.join(cache, 'archive-v0'))) == 3
    assert alpha_of(path) == '2.0'


@pytest.mark.parametrize('plant', ['world-writable', 'symlink', 'file'])
def test_a_cache_someone_else_could_write_is_refused(tmp_path, mirror, run_module, plant):
    path = tmp_path / 'venv'
    rdir = releases_dir(str(path))
    os.makedirs(rdir)
    cache = os.path.join(rdir, '.uv-cache')
    if plant == 'world-writable':
        os.mkdir(cache)
        os.chmod(cache, 0o777)
    elif plant == 'symlink':
        os.mkdir(str(tmp_path / 'elsewhere'))
        os.symlink(str(tmp_path / 'elsewhere'), cache)
    else:
        open(cache, 'w').close()
    failed, result = run_module(offline_venv, **args_for(path, mirror))
    assert failed
    assert result['msg'].startswith('the uv cache %s is not a directory of uid' % cache)
    assert 'Fix: remove it' in result['msg']
    assert not os.path.lexists(str(path))
    assert sorted(os.listdir(rdir)) == ['.lock', '.uv-cache']


# --------------------------------------------------------------------------- uv killed while it fills its cache
STAGED = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'build', 'mirror')


def _kill_uv_once_it_unpacks(cache, stop, seen):
    """SIGKILL the `uv pip sync` that uses CACHE as soon as its cache holds anything under construction."""
    import signal
    import time
    while not stop.is_set():
        for pid in os.listdir('/proc'):
            try:
                with open('/proc/%s/cmdline' % pid, 'rb') as fh:
                    cmd = fh.read().split(b'\0')
            except OSError:
                continue
            if b'sync' in cmd and cache.encode() in cmd and os.path.isdir(cache) and any(
                    not e.startswith('.') or e.startswith('.tmp') for e in os.listdir(cache)):
                time.sleep(0.5)
                seen.append(sorted(os.listdir(cache)))
                os.kill(int(pid), signal.SIGKILL)
                return
        time.sleep(0.02)


def tree(path):
    """{relative path: (kind, inode)} under PATH."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            out[os.path.relpath(full, path)] = (st.st_mode >> 12, st.st_ino)
    return out


@pytest.mark.wheels
def test_uv_killed_while_it_fills_its_cache_leaves_the_cache_as_it_was(tmp_path, run_module):
    """The real torch closure (the staged mirror's wheels and lock): uv is SIGKILLed while it unpacks torch. On a
    new host the failed build leaves nothing (no releases directory, no cache); on a host with a live release the
    cache is exactly what it was (the build filled its own linked copy, dropped with the failure), and the next
    build fills it and makes a venv that imports torch."""
    import threading
    lock_path = os.path.join(STAGED, 'locks', 'torch_cpu.txt')
    with open(lock_path) as fh:
        lock = fh.read()
    base = dict(python=sys.executable, requirements=['torch==2.13.0+cpu'], lock=lock, mirror_mode='wheelhouse',
                wheelhouse=os.path.join(STAGED, 'wheels'), timeout=600)
    path = tmp_path / 'venv'
    rdir = releases_dir(str(path))
    build_cache = os.path.join(rdir, '.uv-cache.build')

    def killed_build():
        stop, seen = threading.Event(), []
        watcher = threading.Thread(target=_kill_uv_once_it_unpacks, args=(build_cache, stop, seen))
        watcher.start()
        try:
            failed, result = run_module(offline_venv, path=str(path), **base)
        finally:
            stop.set()
            watcher.join()
        assert seen, 'uv was never seen filling its cache'
        assert failed and 'uv pip sync failed' in result['msg'], result
        assert not os.path.lexists(build_cache)
        return seen[0]

    killed_build()
    assert not os.path.lexists(str(path)) and not os.path.exists(rdir)

    # a live release (a small lock of the same wheelhouse: uv alone), then the torch build killed mid-cache
    uv_entry = parse_lock(lock)['uv']
    failed, first = run_module(offline_venv, path=str(path), **dict(
        base, requirements=['uv==%s' % uv_entry['version']], lock=render_lock({'uv': uv_entry})))
    assert not failed, first['msg']
    cache = os.path.join(rdir, '.uv-cache')
    before = tree(cache)
    seen = killed_build()
    assert [e for e in seen if e.startswith('.tmp')], seen    # uv was writing when it was killed
    assert tree(cache) == before
    assert os.readlink(str(path)) == first['release']

    failed, result = run_module(offline_venv, path=str(path), **base)
    assert not failed, result['msg']
    out = subprocess.check_output([os.path.join(str(path), 'bin', 'python'), '-c',
                                   'import torch; from torch.utils.data import Dataset; print(torch.__version__)'],
                                  universal_newlines=True)
    assert out.strip() == '2.13.0+cpu'
    assert result['uv_cache']['bytes'] > 100 * 1000 * 1000
    assert sorted(e for e in os.listdir(rdir) if e.startswith('.uv-cache')) == ['.uv-cache']
