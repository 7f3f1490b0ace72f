# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mirror's health check against a real HTTP server on 127.0.0.1 serving a store laid out as the role lays it
out (the stdlib's static server stands in for gunicorn: what is checked is what the answers hold), each way a
served release can be wrong named by its check; and the port check with a real listener."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import socket

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _mirror_health as mh

from http_cases import get, static_site

WHEEL = 'alpha-1.0-py3-none-any.whl'


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def served(tmp_path):
    """A store whose current release has a wheel and a bundle manifest, and a server answering /simple/alpha/,
    /packages/<wheel> and /release/<path> from the directory `site`."""
    release = tmp_path / 'store' / 'releases' / 'r1'
    (release / 'wheels').mkdir(parents=True)
    (release / 'hf').mkdir()
    (release / 'wheels' / WHEEL).write_bytes(b'wheel bytes')
    (release / 'wheels' / 'beta-2.0-py3-none-any.whl').write_bytes(b'a larger wheel, not the one checked')
    (release / 'hf' / 'b.tar.manifest.json').write_bytes(b'{"bundle": "b.tar"}')
    files = [{'path': 'wheels/%s' % WHEEL, 'size': 11, 'sha256': sha(b'wheel bytes')},
             {'path': 'wheels/beta-2.0-py3-none-any.whl', 'size': 35, 'sha256': 'f' * 64},
             {'path': 'hf/b.tar.manifest.json', 'size': 19, 'sha256': sha(b'{"bundle": "b.tar"}')}]
    (release / 'manifest.json').write_text(json.dumps({'release': 'r1', 'files': files}))
    os.symlink('releases/r1', str(tmp_path / 'store' / 'current'))
    site = tmp_path / 'site'
    (site / 'simple' / 'alpha').mkdir(parents=True)
    (site / 'simple' / 'alpha' / 'index.html').write_text('<a href="/packages/%s">%s</a>' % (WHEEL, WHEEL))
    shutil.copytree(str(release / 'wheels'), str(site / 'packages'))
    shutil.copytree(str(release), str(site / 'release'))
    with static_site(site) as base:
        yield {'root': str(tmp_path / 'store'), 'site': site, 'url': base}


def test_a_healthy_release_passes_every_check(served):
    result = mh.check(served['root'], served['url'], get, attempts=1)
    assert result['release'] == 'r1' and result['checks'] == [
        'index lists %s' % WHEEL, 'bundle manifest hf/b.tar.manifest.json', '%s sha256 %s' % (WHEEL, sha(b'wheel bytes'))]


BROKEN = [
    ('index', lambda site: (site / 'simple' / 'alpha' / 'index.html').write_text('<a href="/x">x</a>'),
     'index: http://127.0.0.1:PORT/simple/alpha/ does not list %s' % WHEEL),
    ('index', lambda site: shutil.rmtree(str(site / 'simple')), 'index: http://127.0.0.1:PORT/simple/alpha/ answered HTTP 404'),
    ('bundle manifest', lambda site: (site / 'release' / 'hf' / 'b.tar.manifest.json').write_text('{}'),
     'bundle manifest: http://127.0.0.1:PORT/release/hf/b.tar.manifest.json is not the release\'s file'),
    ('file sha256', lambda site: (site / 'packages' / WHEEL).write_bytes(b'other bytes'),
     'file sha256: http://127.0.0.1:PORT/packages/%s has sha256 %s' % (WHEEL, sha(b'other bytes'))),
]


@pytest.mark.parametrize('check, spoil, needle', BROKEN, ids=[b[2][:30] for b in BROKEN])
def test_each_wrong_answer_is_named_by_its_check(served, check, spoil, needle):
    spoil(served['site'])
    with pytest.raises(mh.MirrorHealthError) as err:
        mh.check(served['root'], served['url'], get, attempts=1)
    assert err.value.details['check'] == check
    assert needle.replace('PORT', served['url'].rsplit(':', 1)[1]) in err.value.msg


def test_a_server_that_is_not_up_yet_gets_its_tries(served):
    calls = []

    def late(url):
        calls.append(url)
        if len(calls) < 3:
            raise OSError('connection refused')
        return get(url)

    mh.check(served['root'], served['url'], late, attempts=5, sleep=lambda _s: None)
    assert len(calls) == 5  # two refused, then index, bundle manifest, wheel
    with pytest.raises(mh.MirrorHealthError) as err:
        mh.check(served['root'], 'http://127.0.0.1:1', get, attempts=2, sleep=lambda _s: None)
    assert err.value.details['check'] == 'index' and 'cannot be fetched' in err.value.msg


def test_the_port_check():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        assert 'offline_mirror_port %d on 127.0.0.1 is in use by another program' % port in \
            mh.port_problem('127.0.0.1', port, False)
        assert mh.port_problem('127.0.0.1', port, True) is None
    finally:
        listener.close()
    assert mh.port_problem('127.0.0.1', port, False) is None
    assert 'is not an address of this host' in mh.port_problem('192.0.2.77', port, False)
    unit = 'ExecStart=/v/bin/gunicorn --bind 127.0.0.1:%d --workers 2 app:app\n' % port
    assert mh.bound_by_unit(unit, '127.0.0.1', port) and not mh.bound_by_unit(unit, '127.0.0.1', port + 1)
