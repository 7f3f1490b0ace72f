# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_probe: the Hub mirror probe, against a real local HTTP server answering like olah."""

from __future__ import absolute_import, division, print_function

import json
import socket

from http.server import BaseHTTPRequestHandler

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_probe as hf_probe
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs

from conftest import load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')


class _Hub(BaseHTTPRequestHandler):
    """A Hub-compatible mirror that knows one repo with branch main, answering like olah (401 RepoNotFound)."""
    commit = 'f' * 40
    seen_auth = []

    def log_message(self, *args):
        pass

    def _send(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self.seen_auth.append(self.headers.get('Authorization'))
        base = '/api/models/codex-test/tiny-bert'
        if self.path in (base + '/revision/main', base + '/revision/' + self.commit):
            return self._send(200, {'id': 'codex-test/tiny-bert', 'sha': self.commit})
        if self.path == base + '/refs':
            return self._send(200, {'branches': [{'name': 'main', 'targetCommit': self.commit}], 'tags': []})
        if self.path.startswith(base + '/revision/' + 'e' * 40):
            return self._send(500, {'error': 'boom'})
        return self._send(401, {'error': 'Repository not found'}, {'x-error-code': 'RepoNotFound'})


@pytest.fixture(scope='module')
def hub_url(serve_handler):
    return serve_handler(_Hub)


def test_probe_resolves(hub_url):
    specs = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID},
                                      {'repo_id': layout.REPO_ID, 'revision': _Hub.commit, 'refs': []}])
    assert hf_probe.probe_mirror(hub_url + '/', specs, token='hf_secret') == {0: _Hub.commit, 1: _Hub.commit}
    assert _Hub.seen_auth[-1] == 'Bearer hf_secret'


def test_probe_repo_not_found(hub_url):
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_probe.probe_mirror(hub_url, hf_specs.normalize_repos([{'repo_id': 'codex-test/nope'}]), prefix='p_')
    assert err.value.kind == 'repo_not_found'
    assert err.value.msg == ('repo codex-test/nope (model) is not on the Hub mirror %s: it answered HTTP 401 '
                             'RepoNotFound; check repo_id and repo_type in p_repos (a private repo needs p_token)'
                             % hub_url)


def test_probe_revision_not_found(hub_url):
    for revision, status in (('v9', '401 RepoNotFound'), ('e' * 40, '500 boom')):
        with pytest.raises(hf_specs.HfCacheError) as err:
            hf_probe.probe_mirror(hub_url, hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': revision}]))
        assert err.value.kind == 'revision_not_found'
        assert err.value.msg == ('revision %s of repo codex-test/tiny-bert (model) is not on the Hub mirror %s '
                                 '(HTTP %s); the mirror has branches: main; tags: none' % (revision, hub_url, status))


def test_probe_unreachable():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_probe.probe_mirror('http://127.0.0.1:%d' % port, hf_specs.normalize_repos([{'repo_id': 'a/b'}]), prefix='p_')
    assert err.value.kind == 'unreachable'
    assert err.value.msg.startswith('the Hub mirror http://127.0.0.1:%d cannot be reached (' % port)
    assert err.value.msg.endswith('): check p_endpoint and that the mirror is up and reachable from this host')


@pytest.mark.parametrize('url, message', [
    ('ftp://x', "endpoint 'ftp://x' is not an http:// or https:// URL of a Hub mirror"),
    ('https://u:hunter2@x', 'endpoint must not carry credentials'),
])
def test_endpoint_checks(url, message):
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_probe.check_endpoint(url)
    assert err.value.msg.startswith(message)
    assert 'hunter2' not in err.value.msg
