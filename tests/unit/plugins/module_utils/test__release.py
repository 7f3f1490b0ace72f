# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release that crosses the gap: built from a small wheel staging directory and a Hugging Face bundle, signed
with keys made here by the real ssh-keygen (a file, and ssh-agent), verified by _release_verify (the module_utils
and its command line); every tampering after signing refused naming the file; a delta that carries only what its
base lacks; the bad inputs."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _release_build as build
from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import render_lock
from ansible_collections.codex.offline_ml.plugins.module_utils._sbom import validate_sbom
from ansible_collections.codex.offline_ml.plugins.modules import release_build, release_verify

COMMIT = 'c0ffee' + '0' * 34
VERIFY_SCRIPT = rv.__file__


def sha(path):
    return hashlib.sha256(open(str(path), 'rb').read()).hexdigest()


def keygen(path, passphrase=''):
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', passphrase, '-C', 'test', '-f', str(path)], check=True)
    return path


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp('keys')
    keygen(base / 'stager')
    keygen(base / 'intruder')
    keygen(base / 'locked', passphrase='a passphrase nobody types')
    allowed = base / 'allowed_signers'
    allowed.write_text(build.allowed_signers_line('lab-stager', (base / 'stager.pub').read_text().strip()))
    return {'key': str(base / 'stager'), 'intruder': str(base / 'intruder'), 'locked': str(base / 'locked'),
            'allowed': str(allowed)}


def staging_dir(root, write_wheel, beta='1.0'):
    """A wheel staging directory as wheel_stage writes it: wheels/, locks/app.txt, manifest.json."""
    wheels = root / 'wheels'
    files, entries = [], {}
    for name, version in (('alpha', '1.0'), ('beta', beta)):
        wheel = write_wheel(wheels, name, version, {'%s.py' % name: 'V = %r\n' % version})
        digest = sha(wheel)
        files.append({'filename': wheel.name, 'name': name, 'version': version, 'sha256': digest,
                      'size': wheel.stat().st_size, 'index': 'https://pypi.example/simple/'})
        entries[name] = {'version': version, 'hashes': [digest]}
    (root / 'locks').mkdir()
    (root / 'locks' / 'app.txt').write_text(render_lock(entries, header=['lock of app']))
    (root / 'manifest.json').write_text(json.dumps({
        'schema': 1, 'python_version': '3.11', 'platforms': ['manylinux_2_28_x86_64'], 'installer': [],
        'sets': {'app': ['alpha==1.0']}, 'files': files,
        'indexes': {'app': {'indexes': ['https://pypi.example/simple/'], 'packages': {}}}}))
    return str(root)


def bundle(root):
    """A Hugging Face bundle file and the manifest hf_bundle writes beside it (one repo, a file and a linked blob)."""
    root.mkdir(parents=True, exist_ok=True)
    tar = root / 'hf-bundle.tar'
    tar.write_bytes(b'a bundle stands in here\n')
    folder = 'models--codex-test--tiny-bert'
    blob = '%s/blobs/%s' % (folder, 'b' * 64)
    (root / 'hf-bundle.tar.manifest.json').write_text(json.dumps({
        'schema': 1, 'format': 'codex.offline_ml hf-bundle', 'bundle': tar.name, 'bundle_sha256': sha(tar),
        'repos': [{'repo_id': 'codex-test/tiny-bert', 'repo_type': 'model', 'revision': 'main', 'commit': COMMIT,
                   'folder': folder}],
        'files': [{'path': blob, 'type': 'file', 'sha256': 'b' * 64, 'size': 10},
                  {'path': '%s/snapshots/%s/model.safetensors' % (folder, COMMIT), 'type': 'symlink',
                   'target': '../../blobs/' + 'b' * 64},
                  {'path': '%s/snapshots/%s/config.json' % (folder, COMMIT), 'type': 'file', 'sha256': 'c' * 64,
                   'size': 3}]}))
    return str(tar)


@pytest.fixture
def release(tmp_path, write_wheel, keys):
    stage = staging_dir(tmp_path / 'stage', write_wheel)
    changed, result = build.build_release(stage, [bundle(tmp_path / 'hf')], str(tmp_path / 'releases'), 'r1', '0.3.0',
                                          signing_key=keys['key'], preflight={'sets': {}, 'gaps': []})
    assert changed
    return result


def test_a_signed_release_verifies_and_lists_everything(release, keys):
    verdict = rv.verify(release['path'], keys['allowed'])
    assert verdict['problems'] == [] and verdict['ok'] and verdict['signer'] == 'lab-stager'
    manifest = json.loads(open(os.path.join(release['path'], 'manifest.json')).read())
    assert sorted(f['path'] for f in manifest['files']) == [
        'hf/hf-bundle.tar', 'hf/hf-bundle.tar.manifest.json', 'locks/app.txt', 'preflight.json', 'sbom.cdx.json',
        'wheels/alpha-1.0-py3-none-any.whl', 'wheels/beta-1.0-py3-none-any.whl']
    assert manifest['models'][0]['files'] == [{'path': 'config.json', 'sha256': 'c' * 64, 'size': 3},
                                              {'path': 'model.safetensors', 'sha256': 'b' * 64, 'size': 10}]
    assert manifest['signed'] is True and manifest['base'] is None and manifest['tool']['version'] == '0.3.0'
    assert manifest['targets'] == [{'python': '3.11', 'platforms': ['manylinux_2_28_x86_64'], 'sets': ['app']}]
    assert manifest['sets'] == {'app': {'pins': ['alpha==1.0'], 'lock': 'locks/app.txt', 'python': '3.11'}}
    sbom_text = open(os.path.join(release['path'], 'sbom.cdx.json')).read()
    assert validate_sbom(sbom_text) == []
    sbom = json.loads(sbom_text)
    wheel = [c for c in sbom['components'] if c['name'] == 'beta'][0]
    beta = [f for f in manifest['files'] if f['path'].endswith('beta-1.0-py3-none-any.whl')][0]
    assert wheel['hashes'] == [{'alg': 'SHA-256', 'content': beta['sha256']}]
    model = [c for c in sbom['components'] if c['type'] == 'machine-learning-model'][0]
    assert model['name'] == 'codex-test/tiny-bert' and model['version'] == COMMIT
    # sha256sum -c accepts SHA256SUMS as it is
    check = subprocess.run(['sha256sum', '-c', '--quiet', 'SHA256SUMS'], cwd=release['path'], check=False)
    assert check.returncode == 0


def _change_byte(path):
    data = bytearray(open(path, 'rb').read())
    data[len(data) // 2] ^= 0xFF
    open(path, 'wb').write(bytes(data))


def _edit_manifest(root):
    path = os.path.join(root, 'manifest.json')
    manifest = json.loads(open(path).read())
    manifest['files'][0]['size'] += 1
    open(path, 'w').write(json.dumps(manifest))


TAMPER = [
    ('byte', lambda root, keys: _change_byte(os.path.join(root, 'wheels/beta-1.0-py3-none-any.whl')),
     'wheels/beta-1.0-py3-none-any.whl: '),
    ('removed', lambda root, keys: os.unlink(os.path.join(root, 'locks/app.txt')), 'locks/app.txt: missing'),
    ('added', lambda root, keys: open(os.path.join(root, 'wheels/extra-1.0-py3-none-any.whl'), 'w').write('x'),
     'wheels/extra-1.0-py3-none-any.whl: not in the manifest'),
    ('manifest', lambda root, keys: _edit_manifest(root), 'manifest.json.sig: not a good signature of manifest.json'),
    ('other key', lambda root, keys: (os.unlink(os.path.join(root, 'manifest.json.sig')),
                                      build.sign_file(os.path.join(root, 'manifest.json'), keys['intruder'])),
     'manifest.json.sig: signed by a key that is not in'),
    ('symlink', lambda root, keys: os.symlink('/etc/passwd', os.path.join(root, 'wheels/passwd.whl')),
     'wheels/passwd.whl: a symbolic link'),
    ('fifo', lambda root, keys: os.mkfifo(os.path.join(root, 'locks/pipe.txt')), 'locks/pipe.txt: not a regular file'),
    ('sums', lambda root, keys: open(os.path.join(root, 'SHA256SUMS'), 'a').write('0' * 64 + '  x\n'),
     'SHA256SUMS: does not match the manifest'),
]


@pytest.mark.parametrize('spoil, needle', [(s, n) for _i, s, n in TAMPER], ids=[i for i, _s, _n in TAMPER])
def test_tampering_after_signing_is_refused_naming_it(release, keys, spoil, needle):
    spoil(release['path'], keys)
    verdict = rv.verify(release['path'], keys['allowed'])
    assert not verdict['ok']
    assert [p for p in verdict['problems'] if needle in p], verdict['problems']


def test_the_command_line_verifier_needs_no_ansible(release, keys, tmp_path):
    """The file run by a bare python3 -I (no collection on the path), as a person runs it on the carried disk."""
    script = tmp_path / 'verify_release.py'
    shutil.copyfile(VERIFY_SCRIPT, str(script))
    good = subprocess.run([sys.executable, '-I', str(script), release['path'], '--allowed-signers', keys['allowed']],
                          stdout=subprocess.PIPE, universal_newlines=True, check=False)
    assert good.returncode == 0 and good.stdout.startswith('release r1: OK\n'), good.stdout
    _change_byte(os.path.join(release['path'], 'wheels/alpha-1.0-py3-none-any.whl'))
    bad = subprocess.run([sys.executable, '-I', str(script), release['path'], '--allowed-signers', keys['allowed']],
                         stdout=subprocess.PIPE, universal_newlines=True, check=False)
    assert bad.returncode == 1 and 'REFUSED' in bad.stdout and 'wheels/alpha-1.0-py3-none-any.whl: ' in bad.stdout


def test_a_delta_carries_only_what_its_base_lacks(release, tmp_path, write_wheel, keys):
    stage = staging_dir(tmp_path / 'stage2', write_wheel, beta='1.1')
    changed, delta = build.build_release(stage, [bundle(tmp_path / 'hf')], str(tmp_path / 'releases'), 'r2', '0.3.0',
                                         signing_key=keys['key'], base=release['path'])
    assert changed
    manifest = json.loads(open(os.path.join(delta['path'], 'manifest.json')).read())
    carried = sorted(f['path'] for f in manifest['files'] if f['carried'])
    assert carried == ['locks/app.txt', 'sbom.cdx.json', 'wheels/beta-1.1-py3-none-any.whl']
    assert manifest['base'] == {'release': 'r1', 'manifest_sha256': release['manifest_sha256']}
    assert delta['files'] == 6 and delta['carried'] == 3 and delta['carried_bytes'] < delta['bytes']
    assert not os.path.exists(os.path.join(delta['path'], 'wheels/alpha-1.0-py3-none-any.whl'))
    without = rv.verify(delta['path'], keys['allowed'])
    assert without['problems'] == ['the release is a delta over release r1 (manifest sha256 %s): give its base to '
                                   'verify it' % release['manifest_sha256']]
    assert rv.verify(delta['path'], keys['allowed'], base_dir=release['path'])['ok']
    other = rv.verify(delta['path'], keys['allowed'], base_dir=delta['path'])
    assert [p for p in other['problems'] if "this delta's base is release r1" in p], other['problems']


def test_signed_through_ssh_agent_with_the_public_key(tmp_path, write_wheel, keys):
    sock = str(tmp_path / 'agent.sock')
    agent = subprocess.Popen(['ssh-agent', '-D', '-a', sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env = dict(os.environ, SSH_AUTH_SOCK=sock)
        for _wait in range(50):
            if os.path.exists(sock):
                break
            subprocess.run(['sleep', '0.1'], check=True)
        subprocess.run(['ssh-add', '-q', keys['key']], env=env, check=True, stderr=subprocess.DEVNULL)
        stage = staging_dir(tmp_path / 'stage', write_wheel)
        changed, result = build.build_release(stage, [], str(tmp_path / 'releases'), 'agent', '0.3.0',
                                              signing_key=keys['key'] + '.pub', env=env)
        assert changed and rv.verify(result['path'], keys['allowed'])['signer'] == 'lab-stager'
    finally:
        agent.terminate()
        agent.wait()


def test_unsigned_on_purpose_is_recorded_and_refused_unless_allowed(tmp_path, write_wheel, keys):
    stage = staging_dir(tmp_path / 'stage', write_wheel)
    _changed, result = build.build_release(stage, [], str(tmp_path / 'releases'), 'u1', '0.3.0', unsigned=True)
    assert result['signed'] is False and not os.path.exists(os.path.join(result['path'], 'manifest.json.sig'))
    refused = rv.verify(result['path'], keys['allowed'])
    assert refused['problems'] == ['manifest.json: the release is unsigned (staged with unsigned: true); refused '
                                   'unless unsigned releases are allowed explicitly']
    assert rv.verify(result['path'], keys['allowed'], allow_unsigned=True)['ok']


def test_a_rerun_is_no_change_and_an_id_with_other_content_is_refused(release, tmp_path, write_wheel, keys):
    again = build.build_release(str(tmp_path / 'stage'), [bundle(tmp_path / 'hf')], str(tmp_path / 'releases'), 'r1',
                                '0.3.0', signing_key=keys['key'], preflight={'sets': {}, 'gaps': []})
    assert again[0] is False and again[1]['manifest_sha256'] == release['manifest_sha256']
    other = staging_dir(tmp_path / 'other', write_wheel, beta='2.0')
    with pytest.raises(rv.ReleaseError) as info:
        build.build_release(other, [], str(tmp_path / 'releases'), 'r1', '0.3.0', signing_key=keys['key'])
    assert 'release_id r1: %s exists with other content' % release['path'] in str(info.value)
    assert rv.verify(release['path'], keys['allowed'])['ok'], 'the existing release must be untouched'


@pytest.mark.parametrize('kwargs, message', [
    (dict(), 'no signing_key: give an OpenSSH private key file, or the public key file (.pub) of a key loaded in '
             'ssh-agent; or set unsigned: true'),
    (dict(signing_key='LOCKED'), 'signing_key LOCKED cannot sign (ssh-keygen: '),
    (dict(signing_key='/nonexistent/key'), 'signing_key /nonexistent/key is not a file'),
    (dict(signing_key='KEY', unsigned=True), 'signing_key and unsigned are both given'),
    (dict(signing_key='KEY', base='NOTOURS'), 'base NOTOURS: NOTOURS is not a release manifest of codex.offline_ml'),
    (dict(signing_key='KEY', release_id='../up'), "release_id '../up' is not a release id"),
], ids=['no-key', 'passphrase', 'missing-key', 'both', 'base-not-ours', 'bad-id'])
def test_bad_inputs_fail_before_anything_is_written(tmp_path, write_wheel, keys, kwargs, message):
    notours = tmp_path / 'other-manifest.json'
    notours.write_text(json.dumps({'schema': 1, 'files': []}))
    swap = {'LOCKED': keys['locked'], 'KEY': keys['key'], 'NOTOURS': str(notours)}
    kwargs = dict((k, swap.get(v, v)) for k, v in kwargs.items())
    release_id = kwargs.pop('release_id', 'bad')
    stage = staging_dir(tmp_path / 'stage', write_wheel)
    with pytest.raises(rv.ReleaseError) as info:
        build.build_release(stage, [], str(tmp_path / 'releases'), release_id, '0.3.0', **kwargs)
    for name, value in swap.items():
        message = message.replace(name, value)
    assert message in str(info.value)
    assert not (tmp_path / 'releases').exists() or os.listdir(str(tmp_path / 'releases')) == []


def test_the_tar_is_deterministic_and_verifies_once_extracted(release, tmp_path, keys):
    tar = str(tmp_path / 'r1.tar')
    assert build.write_tar(release['path'], tar) is True
    assert build.write_tar(release['path'], tar) is False
    with tarfile.open(tar) as archive:
        archive.extractall(str(tmp_path / 'carried'), filter='data')
    assert rv.verify(str(tmp_path / 'carried' / 'r1'), keys['allowed'])['ok']


def test_messages_name_the_playbooks_variables(tmp_path, write_wheel):
    with pytest.raises(rv.ReleaseError) as info:
        build.build_release(staging_dir(tmp_path / 'stage', write_wheel), [], str(tmp_path / 'r'), 'x', '0.3.0',
                            prefix='stage_')
    assert str(info.value).startswith('no stage_signing_key: give an OpenSSH private key file')
    assert 'or set stage_unsigned: true' in str(info.value)


def test_modules(run_module, release, tmp_path, keys):
    failed, verdict = run_module(release_verify, path=release['path'], allowed_signers=keys['allowed'])
    assert not failed and verdict['ok'] and verdict['changed'] is False
    _change_byte(os.path.join(release['path'], 'locks/app.txt'))
    failed, verdict = run_module(release_verify, path=release['path'], allowed_signers=keys['allowed'])
    assert failed and verdict['msg'].startswith('release %s does not verify: locks/app.txt: ' % release['path'])
    failed, result = run_module(release_build, stage_dir=str(tmp_path / 'nowhere'), releases_dir=str(tmp_path / 'x'),
                                release_id='r9', unsigned=True, tool_version='0.3.0')
    assert failed and result['msg'].startswith('stage_dir %s holds no staging manifest.json' % (tmp_path / 'nowhere'))


@pytest.fixture
def small_fs(tmp_path):
    """A 64 kB tmpfs (root mounts it; the outside boundary is a real file system that fills up)."""
    mount = tmp_path / 'small'
    mount.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(mount)], check=True)
    yield mount
    subprocess.run(['umount', str(mount)], check=True)


def test_a_release_on_another_file_system_without_room_is_refused(tmp_path, write_wheel, keys, small_fs):
    stage = staging_dir(tmp_path / 'stage', write_wheel)
    with open(os.path.join(stage, 'wheels', 'padding-1.0-py3-none-any.whl'), 'wb') as handle:
        handle.write(os.urandom(200 * 1024))
    manifest = json.loads(open(os.path.join(stage, 'manifest.json')).read())
    manifest['files'].append({'filename': 'padding-1.0-py3-none-any.whl', 'name': 'padding', 'version': '1.0',
                              'sha256': '0' * 64, 'size': 200 * 1024, 'index': None})
    open(os.path.join(stage, 'manifest.json'), 'w').write(json.dumps(manifest))
    with pytest.raises(RuntimeError) as info:
        build.build_release(stage, [], str(small_fs / 'releases'), 'big', '0.3.0', signing_key=keys['key'])
    assert str(info.value).startswith('releases_dir %s has 0.1 MB free, copying the release there needs about 0.2 MB'
                                      % (small_fs / 'releases'))
    assert os.listdir(str(small_fs / 'releases')) == []
