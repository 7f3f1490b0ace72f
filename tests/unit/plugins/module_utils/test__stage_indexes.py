# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Staging from named indexes with the REAL pip: two pypiservers on 127.0.0.1, one standing in for the PyTorch CPU
index and one for PyPI, while this machine's pip configuration (PIP_FIND_LINKS / PIP_INDEX_URL, a global pip.conf
through XDG_CONFIG_DIRS, and /etc/pip.conf where the machine has one) points at other sources holding other bytes
under the same names."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import subprocess
import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _stage
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import parse_lock
from ansible_collections.codex.offline_ml.plugins.modules import wheel_stage

PIP = [sys.executable, '-m', 'pip']
SETS = {'torch_cpu': ['torch==2.13.0+cpu', 'torchvision==0.29.0+cpu']}


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def upstreams(tmp_path_factory, write_wheel, servers):
    base = tmp_path_factory.mktemp('upstreams')
    cpu, pypi, local = base / 'cpu', base / 'pypi', base / 'machine'
    torch_meta = ['Requires-Dist: filelock']
    write_wheel(cpu, 'torch', '2.13.0+cpu', {'torch/__init__.py': 'INDEX = "cpu"\n'}, metadata_extra=torch_meta)
    write_wheel(cpu, 'torchvision', '0.29.0+cpu', {'torchvision/__init__.py': ''},
                metadata_extra=['Requires-Dist: torch==2.13.0'])
    write_wheel(cpu, 'filelock', '3.0', {'filelock.py': 'INDEX = "cpu"\n'})     # the CPU index mirrors deps too
    write_wheel(pypi, 'filelock', '3.0', {'filelock.py': 'INDEX = "pypi"\n'})
    write_wheel(pypi, 'torch', '2.13.0', {'torch/__init__.py': 'INDEX = "pypi (CUDA)"\n'}, metadata_extra=torch_meta)
    # this machine's own configured source: same names, other bytes
    write_wheel(local, 'torch', '2.13.0+cpu', {'torch/__init__.py': 'INDEX = "machine"\n'}, metadata_extra=torch_meta)
    write_wheel(local, 'filelock', '3.0', {'filelock.py': 'INDEX = "machine"\n'})
    write_wheel(local, 'codex-only-here', '1.0', {'codex_only_here.py': ''})
    xdg = base / 'xdg'
    (xdg / 'pip').mkdir(parents=True)
    (xdg / 'pip' / 'pip.conf').write_text('[global]\nfind-links = %s\nindex-url = http://127.0.0.1:9/simple/\n' % local)
    return {'cpu': servers.pypiserver(cpu), 'pypi': servers.pypiserver(pypi), 'dirs': (cpu, pypi, local),
            'xdg': xdg}


@pytest.fixture
def machine_pip_conf(monkeypatch, upstreams, tmp_path):
    """The machine's pip configuration in force for this test (and proven to be: plain pip finds a wheel only it
    knows). This machine's own /etc/pip.conf, where there is one, adds its sources as well."""
    monkeypatch.setenv('XDG_CONFIG_DIRS', str(upstreams['xdg']))
    monkeypatch.setenv('PIP_FIND_LINKS', str(upstreams['dirs'][2]))
    monkeypatch.setenv('PIP_INDEX_URL', 'http://127.0.0.1:9/simple/')
    monkeypatch.delenv('PIP_CONFIG_FILE', raising=False)
    proc = subprocess.run(PIP + ['download', '--no-index', '--no-deps', '--dest', str(tmp_path / 'plain'),
                                 'codex-only-here==1.0'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert (tmp_path / 'plain' / 'codex_only_here-1.0-py3-none-any.whl').is_file()


def test_family_from_the_cpu_index_rest_from_pypi(tmp_path, upstreams, machine_pip_conf):
    cpu, pypi, dummy = upstreams['dirs']
    plan = _stage.index_plan(SETS, upstreams['pypi'], package_indexes={'torch': upstreams['cpu'],
                                                                       'torchvision': upstreams['cpu']})
    dest = tmp_path / 'mirror'
    changed, manifest, _from, _moves, _report = _stage.stage(
        str(dest), SETS, [], PIP, '3.11', ['manylinux_2_28_x86_64'], timeout=300, indexes=plan)
    assert changed
    files = dict((f['filename'], f) for f in manifest['files'])
    expected = {
        'torch-2.13.0+cpu-py3-none-any.whl': (cpu, upstreams['cpu']),
        'torchvision-0.29.0+cpu-py3-none-any.whl': (cpu, upstreams['cpu']),
        'filelock-3.0-py3-none-any.whl': (pypi, upstreams['pypi']),
    }
    assert sorted(files) == sorted(expected)
    for name, (directory, index) in expected.items():
        assert files[name]['sha256'] == sha(directory / name), name   # the index's bytes, not the machine's
        assert files[name]['index'] == index
    lock = (dest / 'locks' / 'torch_cpu.txt').read_text()
    assert parse_lock(lock)['filelock']['hashes'] == [sha(pypi / 'filelock-3.0-py3-none-any.whl')]
    assert '# from %s: torch-2.13.0+cpu-py3-none-any.whl' % upstreams['cpu'] in lock
    assert manifest['indexes'] == {'torch_cpu': {'indexes': [upstreams['pypi']],
                                                 'packages': {'torch': upstreams['cpu'],
                                                              'torchvision': upstreams['cpu']}}}
    assert json.loads((dest / 'manifest.json').read_text()) == manifest


def test_extra_index_is_recorded_per_wheel(tmp_path, upstreams, machine_pip_conf):
    """The seed's way: the CPU index for a whole set, PyPI as an extra index; each wheel names where it was."""
    sets = {'fam': ['torch==2.13.0+cpu']}
    plan = _stage.index_plan(sets, upstreams['pypi'], set_indexes={'fam': {'index_url': upstreams['cpu']}})
    assert plan['fam']['indexes'] == [upstreams['cpu']]
    changed, manifest, _from, _moves, _report = _stage.stage(
        str(tmp_path / 'm'), sets, [], PIP, '3.11', ['manylinux_2_28_x86_64'], timeout=300, indexes=plan)
    assert set(f['index'] for f in manifest['files']) == {upstreams['cpu']}


def test_module_with_credentials_keeps_them_out(run_module, tmp_path, upstreams, machine_pip_conf):
    cpu_url = upstreams['cpu'].replace('http://', 'http://stager:s3cr3t-token-value@')
    failed, result = run_module(wheel_stage, dest=str(tmp_path / 'm'), sets=SETS, installer=[], pip=PIP,
                                index_url=upstreams['pypi'],
                                package_indexes={'torch': cpu_url, 'torchvision': cpu_url})
    assert not failed, result.get('msg')
    text = (tmp_path / 'm' / 'manifest.json').read_text() + (tmp_path / 'm' / 'locks' / 'torch_cpu.txt').read_text()
    assert 's3cr3t-token-value' not in text + json.dumps(result)
    assert result['indexes']['torch_cpu']['packages']['torch'].startswith('http://')


@pytest.mark.parametrize('kwargs, words', [
    (dict(package_indexes={'numpy': 'https://x/simple/'}), 'package_indexes names packages that no set pins: numpy'),
    (dict(set_indexes={'nope': 'https://x/simple/'}), 'set_indexes names sets that are not in sets: nope'),
    (dict(extra_index_urls=['https://x/simple/']), 'but no index_url'),
    (dict(index_url='/srv/simple'), 'is not an http(s):// or file:// URL'),
])
def test_bad_index_input(kwargs, words):
    with pytest.raises(RuntimeError, match=words.replace('(', r'\(').replace(')', r'\)')):
        _stage.index_plan(SETS, **kwargs)


def test_no_index_keeps_the_old_behaviour():
    assert _stage.index_plan(SETS) is None
