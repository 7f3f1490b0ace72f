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
    ('https://u:hunter2@x', 'endpoint must not carry credentials (got https://u:***@x)'),
    ('https://hunter2@x/', 'endpoint must not carry credentials (got https://***@x/)'),
    ('http://u:hunter2@127.0.0.1:8090/hub', 'endpoint must not carry credentials (got http://u:***@127.0.0.1:8090/hub)'),
    ('https://:hunter2@x', 'endpoint must not carry credentials (got https://***@x)'),
    ('https://@x', 'endpoint must not carry credentials (got https://@x)'),
])
def test_endpoint_checks(url, message):
    with pytest.raises(hf_specs.HfCacheError) as err:
        hf_probe.check_endpoint(url)
    assert err.value.msg.startswith(message)
    assert 'hunter2' not in err.value.msg


def test_credentials_message_names_the_token_variable():
    msg = hf_probe.credentials_message('https://t0k3n@x', 'hf_offline_cache_')
    assert msg.startswith('hf_offline_cache_endpoint must not carry credentials (got https://***@x)')
    assert msg.endswith('put the secret in hf_offline_cache_token, which only the download gets')
    assert 't0k3n' not in msg


@pytest.mark.parametrize('url', ['https://x', 'http://127.0.0.1:8090', 'https://x/a@b', 'https://x/?q=a@b'])
def test_endpoint_without_credentials_passes(url):
    assert hf_probe.check_endpoint(url) == url.rstrip('/')


@pytest.mark.parametrize('ca_bundle, prefix, expected', [
    (None, 'hf_offline_cache_', 'the TLS certificate of the Hub mirror https://m does not verify against the system '
                                'CAs (r): set hf_offline_cache_endpoint_ca_bundle to the path on the host of the CA '
                                'bundle (PEM) that signed it'),
    ('/ca.pem', 'hf_offline_cache_', 'the TLS certificate of the Hub mirror https://m does not verify against '
                                     'hf_offline_cache_endpoint_ca_bundle=/ca.pem (r): give the CA bundle (PEM) that '
                                     "signed the mirror's certificate"),
    (None, '', 'the TLS certificate of the Hub mirror https://m does not verify against the system CAs (r): set '
               'ca_bundle to the path on the host of the CA bundle (PEM) that signed it'),
])
def test_tls_message(ca_bundle, prefix, expected):
    assert hf_probe.tls_message('https://m', 'r', ca_bundle, prefix) == expected


@pytest.mark.parametrize('text, tls, reason', [
    ('httpx2.ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer '
     'certificate (_ssl.c:1000)', True, 'certificate verify failed: unable to get local issuer certificate'),
    ('Traceback (most recent call last):\n  File "x"\nssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] '
     'certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1000)', True,
     'certificate verify failed: self-signed certificate in certificate chain'),
    ('ConnectionRefusedError: [Errno 111] Connection refused', False, 'TLS handshake failed'),
])
def test_tls_failure_detection(text, tls, reason):
    assert hf_probe.is_tls_failure(text) is tls
    assert hf_probe.tls_reason(text) == reason


def test_probe_tls_without_the_ca_names_the_variable(tmp_path):
    """A real TLS server with a self-signed certificate: the probe fails naming the CA variable, no traceback."""
    import ssl
    import subprocess
    import threading
    from http.server import HTTPServer
    key, cert = str(tmp_path / 'k.pem'), str(tmp_path / 'c.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1'], check=True, capture_output=True)
    server = HTTPServer(('127.0.0.1', 0), _Hub)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = 'https://127.0.0.1:%d' % server.server_address[1]
    spec = hf_specs.normalize_repos([{'repo_id': 'a/b'}])
    try:
        with pytest.raises(hf_specs.HfCacheError) as err:
            hf_probe.probe_mirror(url, spec, prefix='hf_offline_cache_')
        assert err.value.kind == 'tls'
        assert err.value.msg.startswith('the TLS certificate of the Hub mirror %s does not verify against the '
                                        'system CAs (' % url)
        assert 'set hf_offline_cache_endpoint_ca_bundle to the path' in err.value.msg
        with pytest.raises(hf_specs.HfCacheError) as err:
            hf_probe.probe_mirror(url, spec, prefix='hf_offline_cache_', ca_bundle=cert)
        assert err.value.kind != 'tls'  # the certificate verifies against the CA given: the probe got an answer
    finally:
        server.shutdown()
        server.server_close()
