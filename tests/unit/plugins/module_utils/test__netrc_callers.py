# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wheel_stage (_stage.netrc_env) and offline_venv (_offline_venv.Builder) write the mirror's credentials with the
same netrc writer: they refuse the same passwords and write the same file."""

from __future__ import absolute_import, division, print_function

import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _offline_venv, _stage
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError


def _stage_netrc(url, workdir):
    env, clean = _stage.netrc_env([url], str(workdir))
    assert clean == {url: 'https://mirror.lab/simple/'}
    return env.get('NETRC')


def _venv_netrc(url, workdir):
    builder = _offline_venv.Builder(str(workdir / 'venv'), sys.executable, {}, None, None, [], 'pip', 'index',
                                    mirror_url=url)
    assert builder.plain_url == 'https://mirror.lab/simple/'
    return builder._write_netrc(str(workdir))  # pylint: disable=protected-access


CALLERS = [_stage_netrc, _venv_netrc]


@pytest.mark.parametrize('writer', CALLERS, ids=['wheel_stage', 'offline_venv'])
@pytest.mark.parametrize('url, text', [
    ('https://alice:s3cret-pw@mirror.lab/simple/', 'machine mirror.lab\nlogin alice\npassword "s3cret-pw"\n'),
    ('https://alice:p%40ss%3Aw0rd@mirror.lab/simple/', 'machine mirror.lab\nlogin alice\npassword "p@ss:w0rd"\n'),
    ('https://T0KEN@mirror.lab/simple/', 'machine mirror.lab\nlogin T0KEN\npassword ""\n'),
    ('https://mirror.lab/simple/', None),
])
def test_both_callers_write_the_same_netrc(writer, url, text, tmp_path):
    path = writer(url, tmp_path)
    if text is None:
        assert path is None
        return
    assert path == str(tmp_path / 'netrc')
    with open(path) as handle:
        assert handle.read() == text
    assert (tmp_path / 'netrc').stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize('writer', CALLERS, ids=['wheel_stage', 'offline_venv'])
@pytest.mark.parametrize('password', ['Pw%20Zq9x', 'Pw%22Zq9x', 'Pw%5CZq9x', 'Pw%23Zq9x', 'Pw%09Zq9x'])
def test_both_callers_refuse_what_netrc_cannot_carry(writer, password, tmp_path):
    with pytest.raises(MirrorError) as info:
        writer('https://alice:%s@mirror.lab/simple/' % password, tmp_path)
    assert info.value.kind == 'invalid_credentials'
    assert 'https://alice:***@mirror.lab/simple/' in info.value.msg
    assert 'Zq9x' not in info.value.msg and 'Pw' not in info.value.msg
    assert not (tmp_path / 'netrc').exists()
