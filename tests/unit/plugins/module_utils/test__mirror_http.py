# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_mirror_http: listings read from real servers on 127.0.0.1."""

from __future__ import absolute_import, division, print_function

import hashlib
import sys
from urllib.request import urlopen

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _mirror_http
from ansible_collections.codex.offline_ml.plugins.module_utils import _wheels
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError


H1 = '1' * 64


def raises(kind, func, *args, **kwargs):
    with pytest.raises(MirrorError) as info:
        func(*args, **kwargs)
    assert info.value.kind == kind, info.value.msg
    assert str(info.value) == info.value.msg
    return info.value


# --------------------------------------------------------------------------- listings from real servers
@pytest.fixture(scope='module')
def wheel_dir(tmp_path_factory, write_wheel):
    """Small real wheels (alpha, beta with a local version, gamma) plus two files that are not wheels."""
    out = tmp_path_factory.mktemp('mirror-wheels')
    write_wheel(out, 'alpha', '1.0', {'alpha.py': 'VALUE = 1\n'})
    write_wheel(out, 'alpha', '0.9', {'alpha.py': 'VALUE = 0\n'})
    write_wheel(out, 'beta', '2.0+local', {'beta.py': 'VALUE = 2\n'})
    write_wheel(out, 'gamma', '3.0', {'gamma.py': ''}, tag='cp312-cp312-manylinux_2_28_x86_64')
    (out / 'alpha-1.0.tar.gz').write_bytes(b'not a wheel')
    (out / 'notes.txt').write_text('hello')
    return out


def digests(directory):
    return dict((p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in directory.glob('*.whl'))


@pytest.fixture(scope='module')
def index_url(servers, wheel_dir):
    return servers.pypiserver(wheel_dir)


@pytest.fixture(scope='module')
def findlinks_url(servers, wheel_dir):
    return servers.http(wheel_dir)


def summary(listing):
    return dict((name, sorted((f['filename'], f['version'], f['sha256']) for f in files))
                for name, files in listing.items())


def test_list_mirror_index(index_url, wheel_dir):
    sums = digests(wheel_dir)
    listing = _mirror_http.list_mirror('index', index_url, names=['alpha', 'beta', 'gamma', 'absent'])
    assert summary(listing) == {
        'alpha': [('alpha-0.9-py3-none-any.whl', '0.9', sums['alpha-0.9-py3-none-any.whl']),
                  ('alpha-1.0-py3-none-any.whl', '1.0', sums['alpha-1.0-py3-none-any.whl'])],
        'beta': [('beta-2.0+local-py3-none-any.whl', '2.0+local', sums['beta-2.0+local-py3-none-any.whl'])],
        'gamma': [('gamma-3.0-cp312-cp312-manylinux_2_28_x86_64.whl', '3.0',
                   sums['gamma-3.0-cp312-cp312-manylinux_2_28_x86_64.whl'])],
        'absent': [],
    }
    # the file URLs are absolute and serve the very bytes the sha256 fragment names
    beta = listing['beta'][0]
    assert beta['url'].startswith(index_url.rsplit('/simple/', 1)[0] + '/')
    assert hashlib.sha256(urlopen(beta['url'], timeout=10).read()).hexdigest() == beta['sha256']


def test_list_mirror_index_without_trailing_slash_and_credentials(index_url):
    """pypiserver runs without authentication: credentials in the URL are sent and ignored."""
    url = index_url.rstrip('/').replace('http://', 'http://alice:s3cret@')
    listing = _mirror_http.list_mirror('index', url, names=['alpha'])
    assert [f['version'] for f in listing['alpha']] == ['0.9', '1.0']


def test_list_mirror_find_links(findlinks_url, wheel_dir):
    listing = _mirror_http.list_mirror('find_links', findlinks_url, names=['alpha', 'beta', 'absent'])
    assert summary(listing) == {
        'alpha': [('alpha-0.9-py3-none-any.whl', '0.9', None), ('alpha-1.0-py3-none-any.whl', '1.0', None)],
        'beta': [('beta-2.0+local-py3-none-any.whl', '2.0+local', None)],
        'absent': [],
    }
    beta = listing['beta'][0]
    assert beta['url'] == findlinks_url + 'beta-2.0%2Blocal-py3-none-any.whl'
    assert urlopen(beta['url'], timeout=10).read() == (wheel_dir / 'beta-2.0+local-py3-none-any.whl').read_bytes()


def test_list_mirror_find_links_http_error(findlinks_url):
    error = raises('unreachable', _mirror_http.list_mirror, 'find_links', findlinks_url + 'nowhere/', names=['alpha'])
    assert 'answered HTTP 404' in error.msg and findlinks_url + 'nowhere/' in error.msg


def test_list_mirror_wheelhouse(wheel_dir):
    listing = _mirror_http.list_mirror('wheelhouse', wheelhouse=str(wheel_dir), names=['alpha', 'beta'])
    assert summary(listing) == {
        'alpha': [('alpha-0.9-py3-none-any.whl', '0.9', None), ('alpha-1.0-py3-none-any.whl', '1.0', None)],
        'beta': [('beta-2.0+local-py3-none-any.whl', '2.0+local', None)],
    }
    assert listing['beta'][0]['url'] == str(wheel_dir / 'beta-2.0+local-py3-none-any.whl')


def test_list_mirror_find_links_on_a_host_directory(wheel_dir):
    """A mirror host builds its servers' venv from its own release's wheels/: find_links with an absolute path."""
    listing = _mirror_http.list_mirror('find_links', str(wheel_dir), names=['alpha', 'beta'])
    assert summary(listing) == summary(_mirror_http.list_mirror('wheelhouse', wheelhouse=str(wheel_dir),
                                                                names=['alpha', 'beta']))
    assert listing['alpha'][0]['url'] == str(wheel_dir / 'alpha-0.9-py3-none-any.whl')


def test_list_mirror_wheelhouse_missing(tmp_path):
    error = raises('unreachable', _mirror_http.list_mirror, 'wheelhouse', wheelhouse=str(tmp_path / 'none'), names=['a'])
    assert str(tmp_path / 'none') in error.msg and 'does not exist' in error.msg


@pytest.mark.parametrize('mode', ['index', 'find_links'])
def test_list_mirror_unreachable_is_redacted(mode, unused_port):
    port = unused_port()  # nothing listens there
    url = 'http://alice:s3cret-pw@127.0.0.1:%d/simple/' % port
    error = raises('unreachable', _mirror_http.list_mirror, mode, url, names=['alpha'], timeout=5)
    assert 's3cret-pw' not in error.msg and 's3cret-pw' not in repr(error.details)
    assert 'mirror http://alice:***@127.0.0.1:%d/simple/ is unreachable' % port in error.msg
    assert error.details['url'] == 'http://alice:***@127.0.0.1:%d/simple/' % port


def test_list_mirror_bad_arguments():
    assert 'no mirror URL' in raises('invalid', _mirror_http.list_mirror, 'index', None, names=['a']).msg
    error = raises('invalid', _mirror_http.list_mirror, 'ftp', 'ftp://x/', names=['a'])
    assert "'ftp'" in error.msg and 'index, find_links, wheelhouse' in error.msg


def test_check_availability_against_pypiserver(index_url, wheel_dir, tmp_path):
    """End to end: a lock written from the files, the listing of the real index, the host's real tags."""
    sums = digests(wheel_dir)
    info = _wheels.probe_interpreter(sys.executable)
    good = {'alpha': {'version': '1.0', 'hashes': [sums['alpha-1.0-py3-none-any.whl']]},
            'beta': {'version': '2.0+local', 'hashes': [sums['beta-2.0+local-py3-none-any.whl']]}}
    wanted, lock = _wheels.wanted_set(['beta==2.0+local'], _wheels.render_lock(good))
    listing = _mirror_http.list_mirror('index', index_url, names=sorted(wanted))
    chosen = _wheels.check_availability(wanted, listing, _wheels.tags_for(info), info, index_url, lock)
    assert chosen == {'alpha': 'alpha-1.0-py3-none-any.whl', 'beta': 'beta-2.0+local-py3-none-any.whl'}

    bad = dict(good, beta={'version': '2.0+local', 'hashes': [H1]})
    wanted, lock = _wheels.wanted_set([], _wheels.render_lock(bad))
    error = raises('hash_mismatch', _wheels.check_availability, wanted, _mirror_http.list_mirror('index', index_url,
                   names=sorted(wanted)), _wheels.tags_for(info), info, index_url, lock)
    assert 'beta-2.0+local-py3-none-any.whl (mirror sha256 %s, lock expects %s)' % (
        sums['beta-2.0+local-py3-none-any.whl'], H1) in error.msg

    if info['python_tag'] != 'cp312':
        wanted = {'gamma': '3.0'}
        error = raises('no_compatible_wheel', _wheels.check_availability, wanted,
                       _mirror_http.list_mirror('index', index_url, names=['gamma']), _wheels.tags_for(info), info, 'L')
        assert 'Python tag %s' % info['python_tag'] in error.msg
