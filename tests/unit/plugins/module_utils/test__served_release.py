# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The served release as a node reads it: a release manifest signed by the real ssh-keygen, served by a real HTTP
server on 127.0.0.1 (the stdlib's static server stands in for the mirror's: what is checked is what the answers
hold); each way the served release can be untrustworthy or unreachable named by its kind and by the mirror host."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import socket
import subprocess
import tempfile

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv
from ansible_collections.codex.offline_ml.plugins.module_utils import _served_release as sr

from http_cases import get, static_site

BUNDLE = 'hf/hf-bundle.tar'
BUNDLE_MANIFEST = 'hf/hf-bundle.tar.manifest.json'
COMMIT = '98e98c5452e67e2486bba8b369e5a810876abdeb'


def sha(data):
    return hashlib.sha256(data).hexdigest()


def keygen(path):
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', str(path)], check=True)
    return {'principal': 'lab-stager', 'key': (path.parent / (path.name + '.pub')).read_text().strip(),
            'private': str(path)}


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp('keys')
    return {'stager': keygen(base / 'stager'), 'intruder': keygen(base / 'intruder')}


def signers(keys, name='stager'):
    return [{'principal': keys[name]['principal'], 'key': keys[name]['key']}]


def manifest_bytes(release='r1'):
    """A release manifest as playbooks/stage.yml writes it, with two wheel sets' locks, a bundle and a model."""
    files = [{'path': path, 'sha256': sha(path.encode()), 'size': len(path), 'kind': kind, 'carried': True}
             for path, kind in ((BUNDLE, 'hf_bundle'), (BUNDLE_MANIFEST, 'hf_bundle_manifest'),
                                ('locks/hf_offline_cache.txt', 'lock'), ('locks/offline_mirror.txt', 'lock'))]
    manifest = {'format': rv.FORMAT, 'schema': rv.SCHEMA, 'release': release, 'base': None, 'signed': True,
                'files': files,
                'sets': {'hf_offline_cache': {'lock': 'locks/hf_offline_cache.txt', 'pins': [], 'python': '3.11'},
                         'offline_mirror': {'lock': 'locks/offline_mirror.txt', 'pins': [], 'python': '3.11'}},
                'models': [{'repo_id': 'codex-test/tiny-bert', 'repo_type': 'model', 'revision': 'main',
                            'commit': COMMIT, 'bundle': BUNDLE, 'files': []}]}
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def sign(release_dir, key):
    subprocess.run(['ssh-keygen', '-q', '-Y', 'sign', '-f', key['private'], '-n', rv.NAMESPACE,
                    str(release_dir / rv.MANIFEST)], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def served(tmp_path, keys):
    """site/release/ holds a signed release (manifest.json and its .sig), served on 127.0.0.1."""
    release = tmp_path / 'site' / 'release'
    release.mkdir(parents=True)
    (release / rv.MANIFEST).write_bytes(manifest_bytes())
    sign(release, keys['stager'])
    with static_site(tmp_path / 'site') as base:
        yield {'release': release, 'url': base + '/release/', 'keys': keys}


def closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_a_signed_release_gives_its_digests_locks_and_models(served):
    result = sr.fetch(served['url'].rstrip('/'), get, allowed_signers=signers(served['keys']),
                      paths=[BUNDLE, BUNDLE_MANIFEST], mirror_host='mirror1')
    assert result == {
        'url': served['url'], 'release': 'r1', 'manifest_sha256': sha(manifest_bytes()), 'signer': 'lab-stager',
        'files': {BUNDLE: {'sha256': sha(BUNDLE.encode()), 'size': len(BUNDLE)},
                  BUNDLE_MANIFEST: {'sha256': sha(BUNDLE_MANIFEST.encode()), 'size': len(BUNDLE_MANIFEST)}},
        'checksums': {BUNDLE: 'sha256:' + sha(BUNDLE.encode()), BUNDLE_MANIFEST: 'sha256:' + sha(BUNDLE_MANIFEST.encode())},
        'locks': {'hf_offline_cache': sha(b'locks/hf_offline_cache.txt'),
                  'offline_mirror': sha(b'locks/offline_mirror.txt')},
        'models': [{'repo_id': 'codex-test/tiny-bert', 'repo_type': 'model', 'revision': 'main', 'commit': COMMIT}]}


def _intruder_signs(served):
    sign_over = served['release'] / rv.SIGNATURE
    sign_over.unlink()
    sign(served['release'], served['keys']['intruder'])


def _edit_after_signing(served):
    path = served['release'] / rv.MANIFEST
    path.write_bytes(path.read_bytes().replace(b'"r1"', b'"r2"'))


def _remove_signature(served):
    (served['release'] / rv.SIGNATURE).unlink()


def _not_json(served):
    (served['release'] / rv.MANIFEST).write_bytes(b'<html>a web page</html>')


def _not_a_release(served):
    (served['release'] / rv.MANIFEST).write_bytes(b'{"files": []}')


# (spoil the served release, fetch's keyword arguments, kind, what the message says after the mirror's name)
REFUSED = [
    ('key not allowed', _intruder_signs, {},
     'signature', ' serves release r1 with a signature this node refuses: manifest.json.sig: signed by a key that is '
                  'not in allowed_signers'),
    ('manifest changed after signing', _edit_after_signing, {},
     'signature', ' serves release r2 with a signature this node refuses: manifest.json.sig: not a good signature of '
                  'manifest.json in namespace codex.offline_ml-release'),
    ('unsigned refused', _remove_signature, {},
     'signature', ' serves release r1 without manifest.json.sig (HTTP 404): '),
    ('HTTP 404', None, {'url': 'ROOT/nowhere/'},
     'http', ' answers HTTP 404 for http://127.0.0.1:PORT/nowhere/manifest.json: is this the address of its served '
             'release'),
    ('path not in manifest', None, {'paths': [BUNDLE, 'hf/other.tar']},
     'missing', ' serves release r1, which has no file hf/other.tar: '),
    ('not JSON', _not_json, {}, 'manifest', ' answers, but its manifest.json is not JSON: '),
    ('not a release', _not_a_release, {},
     'manifest', ' answers, but its manifest.json is not a release manifest of codex.offline_ml'),
    ('no allowed signers', None, {'allowed_signers': []}, 'invalid', 'allowed_signers is empty: name the public key'),
]


@pytest.mark.parametrize('spoil, kwargs, kind, needle', [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_each_untrustworthy_answer_is_refused_naming_the_mirror_host(served, spoil, kwargs, kind, needle):
    if spoil:
        spoil(served)
    args = dict(allowed_signers=signers(served['keys']), mirror_host='mirror1')
    args.update(kwargs)
    url = args.pop('url', served['url']).replace('ROOT/', served['url'][:-len('release/')])
    with pytest.raises(sr.ServedReleaseError) as err:
        sr.fetch(url, get, **args)
    port = served['url'].split(':')[2].split('/')[0]
    who = 'mirror1 (%s)' % url if kind != 'invalid' else ''
    assert err.value.kind == kind
    assert ('the mirror host ' + who if who else '') + needle.replace('PORT', port) in err.value.msg


def test_unsigned_is_taken_only_when_allowed(served):
    _remove_signature(served)
    for allowed in ([], signers(served['keys'])):
        result = sr.fetch(served['url'], get, allowed_signers=allowed, allow_unsigned=True)
        assert result['release'] == 'r1' and result['signer'] is None
    # a signature that is served is still checked when keys are given
    sign(served['release'], served['keys']['intruder'])
    assert sr.fetch(served['url'], get, allow_unsigned=True)['signer'] is None
    with pytest.raises(sr.ServedReleaseError) as err:
        sr.fetch(served['url'], get, allowed_signers=signers(served['keys']), allow_unsigned=True)
    assert err.value.kind == 'signature'


def test_a_mirror_that_does_not_answer_is_named_with_the_fix():
    url = 'http://127.0.0.1:%d/release/' % closed_port()
    with pytest.raises(sr.ServedReleaseError) as err:
        sr.fetch(url, get, allow_unsigned=True, mirror_host='fleet-mirror1')
    assert err.value.kind == 'unreachable'
    assert err.value.msg.startswith('the mirror host fleet-mirror1 (%s) does not answer (' % url)
    assert 'Connection refused' in err.value.msg and err.value.msg.endswith(sr.UNREACHABLE_FIX)
    with pytest.raises(sr.ServedReleaseError) as err:
        sr.fetch(url.rstrip('/'), get, allow_unsigned=True)
    assert err.value.msg.startswith('the mirror at %s does not answer (' % url)


def test_credentials_in_the_url_never_reach_a_message():
    url = 'http://builder:hunter2-secret@127.0.0.1:%d/release/' % closed_port()

    def refused(where):
        raise OSError('cannot reach %s' % where)

    with pytest.raises(sr.ServedReleaseError) as err:
        sr.fetch(url, refused, allow_unsigned=True, mirror_host='m1')
    assert 'hunter2' not in err.value.msg and 'http://builder:***@127.0.0.1' in err.value.msg


def test_the_signature_is_checked_in_a_private_directory_removed_after(served, tmp_path, monkeypatch):
    scratch = tmp_path / 'scratch'
    scratch.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(scratch))
    modes = []
    verify = rv.verify_signature

    def spy(release_dir, allowed, ssh_keygen='ssh-keygen'):
        modes.append(os.stat(release_dir).st_mode & 0o777)
        return verify(release_dir, allowed, ssh_keygen)

    monkeypatch.setattr(rv, 'verify_signature', spy)
    assert sr.fetch(served['url'], get, allowed_signers=signers(served['keys']))['signer'] == 'lab-stager'
    assert modes == [0o700] and os.listdir(str(scratch)) == []


@pytest.mark.parametrize('entry', [
    {'principal': 'a\nevil', 'key': 'ssh-ed25519 AAAA'},
    {'principal': 'lab', 'key': 'not a key'},
    {'principal': 'lab'},
], ids=['principal with a line break', 'not a key', 'no key'])
def test_a_signer_that_could_add_its_own_line_is_refused(entry):
    with pytest.raises(sr.ServedReleaseError) as err:
        sr.allowed_signers_text([entry])
    assert err.value.kind == 'invalid' and err.value.msg.startswith('allowed_signers must be a list of {principal:')


def test_the_allowed_signers_file_allows_release_signatures_only(keys):
    text = sr.allowed_signers_text(signers(keys))
    assert text == 'lab-stager namespaces="%s" %s\n' % (rv.NAMESPACE, ' '.join(keys['stager']['key'].split()[:2]))
