# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.wheel_mirror_info: main() in process against a real pypiserver, a wheelhouse, file names."""

from __future__ import absolute_import, division, print_function

import hashlib
import platform
import sys

import pytest
import yaml

from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import render_lock
from ansible_collections.codex.offline_ml.plugins.modules import wheel_mirror_info

PY_TAG = 'cp%d%d' % sys.version_info[:2]
FOREIGN = 'cp39-cp39-manylinux_2_17_x86_64' if sys.version_info[:2] != (3, 9) else 'cp38-cp38-manylinux_2_17_x86_64'


@pytest.fixture(scope='module')
def wheelhouse(tmp_path_factory, write_wheel):
    out = tmp_path_factory.mktemp('mirror-info')
    write_wheel(out, 'alpha', '1.0', {'alpha.py': ''})
    write_wheel(out, 'torch', '2.13.0+cpu', {'torch/__init__.py': ''})
    write_wheel(out, 'gamma', '3.0', {'gamma.py': ''}, tag=FOREIGN)
    return out


@pytest.fixture(scope='module')
def index_url(servers, wheelhouse):
    return servers.pypiserver(wheelhouse)


def lock_of(wheelhouse, **versions):
    entries = {}
    for name, version in versions.items():
        wheel = next(wheelhouse.glob('%s-%s-*.whl' % (name, version)))
        entries[name] = {'version': version, 'hashes': [hashlib.sha256(wheel.read_bytes()).hexdigest()]}
    return render_lock(entries)


def run(run_module, **args):
    args.setdefault('python', sys.executable)
    return run_module(wheel_mirror_info, **args)


def test_index_with_lock(run_module, index_url, wheelhouse):
    failed, result = run(run_module, mirror_url=index_url, requirements=['torch==2.13.0+cpu'],
                         lock=lock_of(wheelhouse, alpha='1.0', torch='2.13.0+cpu'))
    assert not failed, result['msg']
    assert result['changed'] is False
    assert result['wheels'] == {'alpha': 'alpha-1.0-py3-none-any.whl',
                                'torch': 'torch-2.13.0+cpu-py3-none-any.whl'}
    assert result['python_tag'] == PY_TAG
    assert result['platform_tag'].endswith(platform.machine())


def test_index_hash_mismatch_with_hint(run_module, index_url):
    lock = render_lock({'alpha': {'version': '1.0', 'hashes': ['0' * 64]}})
    failed, result = run(run_module, mirror_url=index_url, lock=lock, variable_prefix='torch_cpu')
    assert failed and result['kind'] == 'hash_mismatch'
    assert 'hash mismatch in mirror %s: alpha-1.0-py3-none-any.whl' % index_url in result['msg']
    assert result['msg'].endswith('Fix: the mirror\'s file differs from torch_cpu_lock_file: re-stage the mirror or '
                                  'restore the file')


def test_unreachable_names_the_variable(run_module, unused_port):
    url = 'http://ops:t0p-secret@127.0.0.1:%d/simple/' % unused_port()
    failed, result = run(run_module, mirror_url=url, requirements=['torch==2.13.0+cpu'], variable_prefix='torch_cpu',
                         timeout=5)
    assert failed and result['kind'] == 'unreachable'
    assert 't0p-secret' not in result['msg']
    assert 'mirror http://ops:***@127.0.0.1:' in result['msg']
    assert 'Fix: check torch_cpu_mirror_url / torch_cpu_mirror_mode' in result['msg']


def test_unreachable_names_the_mirror_host(run_module, unused_port):
    url = 'http://127.0.0.1:%d/simple/' % unused_port()
    failed, result = run(run_module, mirror_url=url, requirements=['torch==2.13.0+cpu'], variable_prefix='torch_cpu',
                         mirror_host='lab-mirror1', timeout=5)
    assert failed and result['kind'] == 'unreachable'
    assert result['msg'].startswith('the mirror host lab-mirror1 does not answer: mirror %s is unreachable' % url)
    assert 'converge the mirror host first' in result['msg'] and 'check torch_cpu_mirror_url' in result['msg']


def test_no_hint_without_prefix(run_module, unused_port):
    failed, result = run(run_module, mirror_url='http://127.0.0.1:%d/simple/' % unused_port(),
                         requirements=['torch==2.13.0+cpu'], timeout=5)
    assert failed and result['kind'] == 'unreachable' and 'Fix:' not in result['msg']


@pytest.mark.parametrize('args, kind, words', [
    (dict(requirements=['torch==9.9']), 'missing_package',
     ['torch==9.9 (mirror has: 2.13.0+cpu)', 'Fix: stage it into the mirror', 'fix the pin in torch_cpu_packages']),
    (dict(requirements=['gamma==3.0']), 'no_compatible_wheel',
     ['(Python tag %s' % PY_TAG, 'gamma-3.0-%s.whl' % FOREIGN, "Fix: stage wheels for this host's Python"]),
    (dict(requirements=['torch>=2']), 'invalid_pin', ["'torch>=2' is not an exact pin", 'torch_cpu_packages']),
    (dict(requirements=['alpha==2.0'], lock='alpha==1.0 --hash=sha256:%s\n' % ('1' * 64)), 'lock_mismatch',
     ['alpha==2.0 is requested but the lock pins alpha==1.0',
      'Fix: make torch_cpu_packages agree with torch_cpu_lock_file']),
    (dict(lock='alpha==1.0\n'), 'invalid_lock', ['no --hash=sha256', 'Fix: fix torch_cpu_lock_file']),
    (dict(requirements=['alpha==1.0'], python='/nonexistent/python3'), 'no_python',
     ['/nonexistent/python3 does not exist', 'Fix: set torch_cpu_python']),
])
@pytest.mark.parametrize('prefix', ['torch_cpu', 'torch_cpu_'])
def test_problems_name_the_variable(run_module, wheelhouse, args, kind, words, prefix):
    failed, result = run(run_module, mirror_mode='wheelhouse', wheelhouse=str(wheelhouse), variable_prefix=prefix,
                         **args)
    assert failed and result['kind'] == kind, result
    for word in words:
        assert word in result['msg']


def test_wheelhouse_on_the_host(run_module, wheelhouse):
    failed, result = run(run_module, mirror_mode='wheelhouse', wheelhouse=str(wheelhouse),
                         requirements=['alpha==1.0', 'Torch==2.13.0+cpu'])
    assert not failed, result['msg']
    assert result['wheels'] == {'alpha': 'alpha-1.0-py3-none-any.whl', 'torch': 'torch-2.13.0+cpu-py3-none-any.whl'}


def test_wheelhouse_missing_on_the_host(run_module, tmp_path):
    failed, result = run(run_module, mirror_mode='wheelhouse', wheelhouse=str(tmp_path / 'none'),
                         requirements=['alpha==1.0'], variable_prefix='torch_cpu')
    assert failed and result['kind'] == 'unreachable'
    assert 'wheelhouse directory %s does not exist on the host' % (tmp_path / 'none') in result['msg']


def test_files_of_a_controller_wheelhouse(run_module, tmp_path):
    """`files` lists a wheelhouse still on the controller: nothing is read on the host."""
    files = ['alpha-1.0-py3-none-any.whl', 'torch-2.13.0%2Bcpu-' + FOREIGN + '.whl', 'README.txt']
    controller_dir = str(tmp_path / 'not-on-the-host')
    failed, result = run(run_module, mirror_mode='wheelhouse', wheelhouse=controller_dir, files=files,
                         requirements=['alpha==1.0'])
    assert not failed, result['msg']
    assert result['wheels'] == {'alpha': 'alpha-1.0-py3-none-any.whl'}

    failed, result = run(run_module, mirror_mode='wheelhouse', wheelhouse=controller_dir, files=files,
                         requirements=['alpha==1.0', 'torch==2.13.0+cpu'])
    assert failed and result['kind'] == 'no_compatible_wheel'
    assert 'no wheel in mirror wheelhouse %s (on the controller) fits this host' % controller_dir in result['msg']
    assert 'torch-2.13.0+cpu-%s.whl' % FOREIGN in result['msg']

    failed, result = run(run_module, mirror_mode='wheelhouse', files=[], requirements=['alpha==1.0'])
    assert failed and result['kind'] == 'missing_package'
    assert 'alpha==1.0 (mirror has: no versions)' in result['msg']


def test_wheelhouse_or_files_required(run_module):
    failed, result = run(run_module, mirror_mode='wheelhouse', requirements=['alpha==1.0'])
    assert failed and 'wheelhouse' in result['msg'] and 'files' in result['msg']


def test_index_needs_url(run_module):
    failed, result = run(run_module, requirements=['alpha==1.0'])
    assert failed and 'mirror_url' in result['msg']


def test_check_mode(run_module, wheelhouse):
    failed, result = run(run_module, _ansible_check_mode=True, mirror_mode='wheelhouse', wheelhouse=str(wheelhouse),
                         requirements=['alpha==1.0'])
    assert not failed and result['changed'] is False and result['wheels'] == {'alpha': 'alpha-1.0-py3-none-any.whl'}


def test_return_documents_every_failure_kind():
    returned = yaml.safe_load(wheel_mirror_info.RETURN)
    assert set(returned) == {'wheels', 'python_tag', 'platform_tag', 'requires', 'kind'}
    assert set(wheel_mirror_info._HINTS) == set(returned['kind']['description'].split('(', 1)[1].rstrip(').').split(
        ', ')) | {'invalid_lock', 'lock_mismatch', 'no_python'}


# --------------------------------------------------------------------------- every failure path: fail_json
def test_unexpected_error_is_a_message_without_secret(wheelhouse, run_module, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError('socket went away talking to http://ops:t0p-secret@mirror.lab/simple/')

    monkeypatch.setattr(wheel_mirror_info, 'list_mirror', boom)
    failed, result = run_module(wheel_mirror_info, python=sys.executable, requirements=['alpha==1.0'],
                                mirror_mode='index', mirror_url='http://ops:t0p-secret@mirror.lab/simple/')
    assert failed and result['kind'] == 'error'
    assert result['msg'] == ('reading mirror http://ops:***@mirror.lab/simple/ failed unexpectedly: RuntimeError: '
                             'socket went away talking to http://ops:***@mirror.lab/simple/')


def test_interpreter_that_hangs(tmp_path, wheelhouse, run_module, monkeypatch):
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\nexec sleep 60\n')
    fake.chmod(0o755)
    real = wheel_mirror_info.probe_interpreter
    monkeypatch.setattr(wheel_mirror_info, 'probe_interpreter', lambda python: real(python, timeout=1))
    failed, result = run_module(wheel_mirror_info, python=str(fake), requirements=['alpha==1.0'],
                                mirror_mode='wheelhouse', wheelhouse=str(wheelhouse), variable_prefix='torch_cpu')
    assert failed and result['kind'] == 'no_python'
    assert 'did not answer within 1s' in result['msg'] and 'Fix: set torch_cpu_python' in result['msg']
