# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module end to end, in process: ansible's open_url against a real HTTP server on 127.0.0.1 serving a release
signed by the real ssh-keygen; its result on success, and its failures (msg and kind, no traceback, no credentials)."""

from __future__ import absolute_import, division, print_function

import functools
import hashlib
import http.server
import json
import socket
import subprocess
import threading

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv
from ansible_collections.codex.offline_ml.plugins.modules import release_manifest

BUNDLE = 'hf/hf-bundle.tar'
COMMIT = 'c0ffee' + '0' * 34


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope='module')
def signer(tmp_path_factory):
    key = tmp_path_factory.mktemp('keys') / 'stager'
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', str(key)], check=True)
    return {'private': str(key), 'allowed': [{'principal': 'lab-stager',
                                             'key': (key.parent / 'stager.pub').read_text().strip()}]}


@pytest.fixture
def mirror(tmp_path, signer):
    """A signed release under /release/ of a real server on 127.0.0.1: its manifest lists a bundle, a lock and a
    model."""
    release = tmp_path / 'site' / 'release'
    release.mkdir(parents=True)
    manifest = {'format': rv.FORMAT, 'schema': rv.SCHEMA, 'release': 'r7', 'signed': True,
                'files': [{'path': BUNDLE, 'sha256': sha(b'tar'), 'size': 3},
                          {'path': 'locks/app.txt', 'sha256': sha(b'lock'), 'size': 4}],
                'sets': {'app': {'lock': 'locks/app.txt', 'pins': ['alpha==1.0'], 'python': '3.11'}},
                'models': [{'repo_id': 'org/tiny', 'repo_type': 'model', 'revision': 'main', 'commit': COMMIT,
                            'bundle': BUNDLE, 'files': []}]}
    (release / rv.MANIFEST).write_text(json.dumps(manifest))
    subprocess.run(['ssh-keygen', '-q', '-Y', 'sign', '-f', signer['private'], '-n', rv.NAMESPACE,
                    str(release / rv.MANIFEST)], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / 'site'))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {'base': 'http://127.0.0.1:%d' % server.server_port, 'release': release,
               'manifest_sha256': sha((release / rv.MANIFEST).read_bytes())}
    finally:
        server.shutdown()
        server.server_close()


def test_a_signed_release_is_read_in_check_mode_too(run_module, mirror, signer):
    for check_mode in (False, True):
        failed, result = run_module(release_manifest, url=mirror['base'] + '/release', paths=[BUNDLE],
                                    allowed_signers=signer['allowed'], mirror_host='mirror1',
                                    _ansible_check_mode=check_mode)
        assert not failed, result
        assert result['changed'] is False
        assert dict((k, result[k]) for k in ('url', 'release', 'manifest_sha256', 'signer', 'files', 'locks', 'models')) == {
            'url': mirror['base'] + '/release/', 'release': 'r7', 'manifest_sha256': mirror['manifest_sha256'],
            'signer': 'lab-stager', 'files': {BUNDLE: {'sha256': sha(b'tar'), 'size': 3}},
            'locks': {'app': sha(b'lock')},
            'models': [{'repo_id': 'org/tiny', 'repo_type': 'model', 'revision': 'main', 'commit': COMMIT}]}


def _closed_port(mirror):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return 'http://127.0.0.1:%d/release/' % port


# (url from the fixture, extra arguments, kind, the message's start; PORT and URL filled in)
FAILURES = [
    ('server down', _closed_port, {}, 'unreachable', 'the mirror host mirror1 (URL) does not answer ('),
    ('HTTP 404, credentials hidden', lambda m: m['base'].replace('//', '//stager:hunter2-secret@') + '/gone/', {},
     'http', 'the mirror host mirror1 (http://stager:***@127.0.0.1:PORT/gone/) answers HTTP 404 for '
             'http://stager:***@127.0.0.1:PORT/gone/manifest.json'),
    ('path not in manifest', lambda m: m['base'] + '/release/', {'paths': [BUNDLE, 'hf/x.tar']},
     'missing', 'the mirror host mirror1 (URL) serves release r7, which has no file hf/x.tar'),
    ('no allowed signers', lambda m: m['base'] + '/release/', {'allowed_signers': []},
     'invalid', 'allowed_signers is empty'),
    ('unsigned refused', lambda m: (m['release'] / rv.SIGNATURE).unlink() or m['base'] + '/release/', {},
     'signature', 'the mirror host mirror1 (URL) serves release r7 without manifest.json.sig (HTTP 404)'),
]


@pytest.mark.parametrize('url, extra, kind, start', [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_failures_give_msg_and_kind(run_module, mirror, signer, url, extra, kind, start):
    url = url(mirror)
    args = dict(url=url, allowed_signers=signer['allowed'], mirror_host='mirror1')
    args.update(extra)
    failed, result = run_module(release_manifest, **args)
    assert failed and result['kind'] == kind and 'exception' not in result
    assert result['msg'].startswith(start.replace('URL', url).replace('PORT', mirror['base'].rsplit(':', 1)[1]))
    assert 'hunter2' not in json.dumps(result)
    if kind == 'http':
        assert result['status'] == 404
    if kind == 'unreachable':
        assert result['msg'].endswith('or start its service')


def test_unsigned_is_taken_when_allowed(run_module, mirror):
    (mirror['release'] / rv.SIGNATURE).unlink()
    failed, result = run_module(release_manifest, url=mirror['base'] + '/release/', allow_unsigned=True)
    assert not failed and result['signer'] is None and result['release'] == 'r7'
