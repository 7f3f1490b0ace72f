# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The staging preflight against a real pypiserver on 127.0.0.1 holding wheels for one Python only, an sdist-only
project and a wheel per platform: every gap of every set x target is reported before anything is downloaded, and a
destination without room fails before the download too."""

from __future__ import absolute_import, division, print_function

import collections
import io
import sys
import tarfile

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _stage
from ansible_collections.codex.offline_ml.plugins.module_utils._stage_preflight import check_room, target_tags
from ansible_collections.codex.offline_ml.plugins.modules import wheel_stage

PIP = [sys.executable, '-m', 'pip']
PLATFORMS = ['manylinux_2_28_x86_64']
CP311 = 'cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64'


def sdist(directory, name, version):
    data = b'# an sdist\n'
    path = directory / ('%s-%s.tar.gz' % (name, version))
    with tarfile.open(str(path), 'w:gz') as archive:
        info = tarfile.TarInfo('%s-%s/setup.py' % (name, version))
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path.name


@pytest.fixture(scope='module')
def index(tmp_path_factory, write_wheel, servers):
    directory = tmp_path_factory.mktemp('preflight-index')
    write_wheel(directory, 'alpha', '1.0', {'alpha.py': 'X = 1\n' * 200})
    write_wheel(directory, 'speedy', '7.0', {'speedy.py': ''}, tag=CP311)
    sdist(directory, 'speedy', '7.0')
    sdist(directory, 'onlysrc', '1.0')
    write_wheel(directory, 'armonly', '2.0', {'armonly.py': ''}, tag='cp311-cp311-manylinux_2_28_aarch64')
    write_wheel(directory, 'other', '0.9', {'other.py': ''})
    return servers.pypiserver(directory), directory


SETS = {'fine': ['alpha==1.0'], 'py313': ['speedy==7.0'], 'src': ['onlysrc==1.0'], 'gone': ['other==1.0'],
        'arm': ['armonly==2.0'], 'ok311': ['speedy==7.0']}


def test_every_gap_of_every_set_and_target_before_any_download(index, tmp_path):
    url, _directory = index
    dest = tmp_path / 'mirror'
    plan = _stage.index_plan(SETS, url)
    with pytest.raises(RuntimeError) as info:
        _stage.stage(str(dest), SETS, [], PIP, '3.11', PLATFORMS, timeout=120, indexes=plan,
                     set_python_versions={'py313': '3.13'})
    assert str(info.value).splitlines() == [
        'preflight: nothing was downloaded; 4 package(s) cannot be staged:',
        'set arm, target cp311 manylinux_2_28_x86_64: armonly==2.0: no cp311 wheel for this target; wheels only for '
        'other targets (armonly-2.0-cp311-cp311-manylinux_2_28_aarch64.whl)',
        'set gone, target cp311 manylinux_2_28_x86_64: other==1.0: not on %s (it has: 0.9)' % url,
        'set py313, target cp313 manylinux_2_28_x86_64: speedy==7.0: no cp313 wheel for this target; sdist only '
        '(speedy-7.0.tar.gz); wheels only for other targets (speedy-7.0-%s.whl)' % CP311,
        'set src, target cp311 manylinux_2_28_x86_64: onlysrc==1.0: no cp311 wheel for this target; sdist only '
        '(onlysrc-1.0.tar.gz)',
    ]
    assert not dest.exists() or not any(dest.rglob('*.whl')), 'nothing may be downloaded'


def test_the_report_gives_each_package_its_file_index_and_size(index, tmp_path):
    url, directory = index
    sets = {'fine': ['alpha==1.0'], 'ok311': ['speedy==7.0']}
    changed, manifest, _from, _moves, report = _stage.stage(
        str(tmp_path / 'mirror'), sets, [], PIP, '3.11', PLATFORMS, timeout=120, indexes=_stage.index_plan(sets, url))
    assert changed and report['gaps'] == []
    alpha = report['sets']['fine']['packages']['alpha']
    assert alpha == {'status': 'wheel', 'version': '1.0', 'file': 'alpha-1.0-py3-none-any.whl', 'index': url,
                     'detail': '', 'size': (directory / 'alpha-1.0-py3-none-any.whl').stat().st_size, 'staged': False}
    assert report['sets']['ok311']['scope'] == 'pins' and report['sets']['ok311']['target'] == 'cp311 ' + PLATFORMS[0]
    assert report['download_bytes'] == sum(f['size'] for f in manifest['files'])


def test_a_destination_without_room_fails_before_the_download(index, tmp_path, monkeypatch):
    url, _directory = index
    sets = {'fine': ['alpha==1.0']}
    stat = collections.namedtuple('statvfs', 'f_bavail f_frsize')
    monkeypatch.setattr(_stage.os, 'statvfs', lambda path: stat(0, 4096))
    dest = tmp_path / 'mirror'
    with pytest.raises(RuntimeError) as info:
        _stage.stage(str(dest), sets, [], PIP, '3.11', PLATFORMS, timeout=120, indexes=_stage.index_plan(sets, url))
    assert str(info.value).startswith('dest %s has 0.0 MB free, the download needs about ' % dest)
    assert str(info.value).endswith("MB (the preflight's sizes): free space there or use another file system")
    assert not dest.exists()


def test_module_reports_the_gaps_and_names_the_fix(run_module, index, tmp_path):
    url, _directory = index
    failed, result = run_module(wheel_stage, dest=str(tmp_path / 'm'), sets={'py313': ['speedy==7.0']}, installer=[],
                                pip=PIP, index_url=url, set_python_versions={'py313': '3.13'})
    assert failed
    assert 'set py313, target cp313 manylinux_2_28_x86_64: speedy==7.0: no cp313 wheel for this target; sdist only' \
        in result['msg']


@pytest.mark.parametrize('python, platforms, tag, fits', [
    ('3.11', PLATFORMS, ('cp311', 'cp311', 'manylinux_2_17_x86_64'), True),
    ('3.11', PLATFORMS, ('cp313', 'cp313', 'manylinux_2_17_x86_64'), False),
    ('3.13', PLATFORMS, ('cp311', 'abi3', 'manylinux_2_28_x86_64'), True),
    ('3.11', PLATFORMS, ('py3', 'none', 'any'), True),
    ('3.11', PLATFORMS, ('cp311', 'cp311', 'manylinux_2_34_x86_64'), False),
    ('3.11', PLATFORMS, ('cp311', 'cp311', 'manylinux_2_28_aarch64'), False),
    ('3.12', ['macosx_11_0_arm64'], ('cp312', 'cp312', 'macosx_11_0_arm64'), True),
])
def test_target_tags(python, platforms, tag, fits):
    assert (tag in target_tags(python, platforms)) is fits


def test_check_room_counts_a_margin(tmp_path):
    check_room(str(tmp_path), 100, free=106)
    with pytest.raises(RuntimeError):
        check_room(str(tmp_path), 100, free=104)
