# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_mirror_audit: the mirror host's part of the audit record read from a real store - a release built and signed
here with the real ssh-keygen (test__release's staging directory and bundle), its signature verified again against
the allowed keys (a key that is not allowed, an unsigned release), its locks' wheel hashes, a store that serves
nothing; the health check asked through a GET that answers from the release's own files."""

from __future__ import absolute_import, division, print_function

import os
import shutil

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _mirror_audit as ma
from ansible_collections.codex.offline_ml.plugins.module_utils import _release_build as build
from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import lock_fingerprint
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import parse_lock

from test__release import bundle, keygen, staging_dir


@pytest.fixture(scope='module')
def signers(tmp_path_factory):
    base = tmp_path_factory.mktemp('signers')
    keygen(base / 'stager')
    keygen(base / 'intruder')
    return {'key': str(base / 'stager'),
            'allowed': build.allowed_signers_line('stager@lab', (base / 'stager.pub').read_text().strip()),
            'other': build.allowed_signers_line('intruder@lab', (base / 'intruder.pub').read_text().strip())}


def store(tmp_path, write_wheel, signers, signed=True):
    """A mirror store serving r1 (built and signed here), with the hidden work directory an import leaves."""
    stage = staging_dir(tmp_path / 'stage', write_wheel)
    build.build_release(stage, [bundle(tmp_path / 'hf')], str(tmp_path / 'built'), 'r1', '0.3.0',
                        signing_key=signers['key'] if signed else None, unsigned=not signed,
                        preflight={'sets': {}, 'gaps': []})
    root = tmp_path / 'store'
    (root / 'releases').mkdir(parents=True)
    shutil.copytree(str(tmp_path / 'built' / 'r1'), str(root / 'releases' / 'r1'))
    (root / 'releases' / '.import-r2-x').mkdir()
    os.symlink('releases/r1', str(root / 'current'))
    return str(root)


def answering(root):
    """GET from the served release's files, as the mirror's servers answer."""
    release = os.path.realpath(os.path.join(root, 'current'))
    wheels = sorted(os.listdir(os.path.join(release, 'wheels')))

    def get(url):
        path = url.split('://', 1)[1].split('/', 1)[1]
        if path.startswith('simple/'):
            return 200, ''.join('<a href="/packages/%s">%s</a>' % (w, w) for w in wheels).encode()
        local = os.path.join(release, 'wheels', path[len('packages/'):]) if path.startswith('packages/') else \
            os.path.join(release, path[len('release/'):])
        if not os.path.isfile(local):
            return 404, b''
        with open(local, 'rb') as handle:
            return 200, handle.read()
    return get


def test_a_signed_release_is_verified_again_and_its_locks_read(tmp_path, write_wheel, signers):
    root = store(tmp_path, write_wheel, signers)
    answer = ma.audit(root, 'http://127.0.0.1:3141', answering(root), signers['allowed'])
    served = answer['served']
    assert served['release'] == 'r1' and served['error'] is None
    assert served['signed'] is True and served['signer'] == 'stager@lab' and served['signature_error'] is None
    assert [r['release'] for r in answer['releases']] == ['r1']  # the import's work directory is not a release
    lock = answer['releases'][0]['locks']['app']
    assert lock['error'] is None and lock['sha256'] == lock['listed']
    with open(os.path.join(root, 'current', 'locks', 'app.txt')) as handle:
        locked = parse_lock(handle.read())
    # the same fingerprint as a venv built from this lock records (its release marker's hashes)
    assert lock_fingerprint(lock['hashes']) == lock_fingerprint(dict((n, e['hashes']) for n, e in locked.items()))
    assert answer['releases'][0]['models'][0]['repo_id'] == 'codex-test/tiny-bert'
    assert answer['health']['ok'] is True, answer['health']


def test_a_key_that_is_not_allowed_and_an_unsigned_release(tmp_path, write_wheel, signers):
    root = store(tmp_path / 'a', write_wheel, signers)
    served = ma.served(root, signers['other'])
    assert served['signer'] is None
    assert 'signed by a key that is not in offline_mirror_allowed_signers' in served['signature_error']
    assert ma.served(root, '')['signature_error'].startswith('signed, but no allowed signers')
    unsigned = ma.served(store(tmp_path / 'b', write_wheel, signers, signed=False), signers['allowed'])
    assert unsigned['signed'] is False and unsigned['signer'] is None and unsigned['signature_error'] is None


def test_what_is_wrong_with_the_store_is_in_the_answer(tmp_path, write_wheel, signers):
    root = store(tmp_path, write_wheel, signers)
    lock = os.path.join(root, 'releases', 'r1', 'locks', 'app.txt')
    with open(lock, 'a') as handle:
        handle.write('# edited on the mirror host\n')
    answer = ma.audit(root, 'http://127.0.0.1:3141', lambda url: (502, b''), signers['allowed'])
    lock = answer['releases'][0]['locks']['app']
    assert lock['sha256'] != lock['listed']
    assert answer['health'] == {'ok': False, 'checks': [], 'check': 'index',
                                'error': 'index: http://127.0.0.1:3141/simple/beta/ answered HTTP 502'}
    os.unlink(os.path.join(root, 'current'))
    served = ma.served(root, signers['allowed'])
    assert served['release'] is None and 'is not a link to a release of the store' in served['error']
    os.symlink('/tmp', os.path.join(root, 'current'))
    assert 'not at a release of' in ma.served(root, signers['allowed'])['error']
