# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mirror host's store on real directories, with releases built by _release_build and signed by the real
ssh-keygen: import, serve, the idempotent second call, a delta whose base files are hard links, rollback by serving
a kept release, pruning, check mode, a crash's leftover; every bad input refused naming it with the served release
unchanged and still verifying (the store's own verifier is _release_verify, the staging side's check, so a good
release must pass both). The full-disk case runs on a real, nearly full tmpfs (root)."""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _mirror_store as ms
from ansible_collections.codex.offline_ml.plugins.module_utils import _release_build as build
from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv

# keys is a fixture
from test__release import bundle, keys, staging_dir  # noqa: F401  # pylint: disable=unused-import


def make_release(base, write_wheel, keys, release_id, beta='1.0', on=None, carried='carried'):
    stage = staging_dir(base / ('stage-%s-%s' % (release_id, beta)), write_wheel, beta=beta)
    _changed, result = build.build_release(stage, [bundle(base / ('hf-%s-%s' % (release_id, beta)))],
                                           str(base / carried), release_id, '0.4.0', signing_key=keys['key'],
                                           base=on)
    return result['path']


@pytest.fixture
def lab(tmp_path, write_wheel, keys):
    root = tmp_path / 'store'
    root.mkdir(mode=0o755)
    lab = {'root': str(root), 'tmp': tmp_path, 'keys': keys}
    lab['r1'] = make_release(tmp_path, write_wheel, keys, 'r1')
    lab['release'] = lambda release_id, **kw: make_release(tmp_path, write_wheel, keys, release_id, **kw)
    return lab


def run(lab, check_mode=False, **params):
    args = {'root': lab['root'], 'source': None, 'serve': None, 'keep': 3, 'allowed_signers': lab['keys']['allowed'],
            'allow_unsigned': False, 'variable_prefix': 'offline_mirror'}
    args.update(params)
    return ms.store(args, check_mode)


def served_ok(lab, release_id):
    assert ms.current(lab['root']) == release_id
    verdict = ms.verify_served(lab['root'], lab['keys']['allowed'])
    assert verdict['ok'] and verdict['release'] == release_id, verdict['problems']


def test_a_release_is_imported_served_and_a_second_call_changes_nothing(lab):
    result = run(lab, source=lab['r1'])
    assert result['changed'] and result['imported'] and result['switched'] and result['previous'] is None
    assert result['release'] == 'r1' and result['signer'] == 'lab-stager' and result['releases'] == ['r1']
    assert os.readlink(os.path.join(lab['root'], 'current')) == 'releases/r1'
    served_ok(lab, 'r1')
    # sha256sum -c, not our verifier, agrees with the imported copy
    check = subprocess.run(['sha256sum', '-c', '--quiet', 'SHA256SUMS'], cwd=os.path.join(lab['root'], 'current'),
                           check=False)
    assert check.returncode == 0
    state = json.loads(open(os.path.join(lab['root'], 'state.json')).read())
    assert [e['release'] for e in state['releases']] == ['r1']
    again = run(lab, source=lab['r1'])
    assert not again['changed'] and again['release'] == 'r1' and again['previous'] == 'r1'


def test_a_delta_links_its_base_files_and_a_kept_release_is_served_again(lab):
    run(lab, source=lab['r1'])
    r2 = lab['release']('r2', beta='1.1', on=lab['r1'])
    assert not os.path.exists(os.path.join(r2, 'wheels/alpha-1.0-py3-none-any.whl'))
    result = run(lab, source=r2)
    assert result['imported'] and result['previous'] == 'r1' and result['release'] == 'r2'
    served_ok(lab, 'r2')
    alpha = 'wheels/alpha-1.0-py3-none-any.whl'
    store = os.path.join(lab['root'], 'releases')
    assert os.stat(os.path.join(store, 'r2', alpha)).st_ino == os.stat(os.path.join(store, 'r1', alpha)).st_ino
    back = run(lab, serve='r1')
    assert back['switched'] and back['previous'] == 'r2' and back['release'] == 'r1' and not back['imported']
    served_ok(lab, 'r1')
    assert run(lab, serve='r1')['changed'] is False


def test_keep_removes_the_oldest_but_never_the_served_or_the_replaced_one(lab):
    for number in (1, 2, 3):
        source = lab['r1'] if number == 1 else lab['release']('r%d' % number, beta='1.%d' % number)
        result = run(lab, source=source, keep=2)
    assert result['removed'] == ['r1'] and result['releases'] == ['r2', 'r3']
    assert sorted(os.listdir(os.path.join(lab['root'], 'releases'))) == ['r2', 'r3']
    served_ok(lab, 'r3')
    with pytest.raises(ms.MirrorStoreError) as err:
        run(lab, serve='r1')
    assert err.value.kind == 'not_imported' and 'offline_mirror_serve r1: no such release' in err.value.msg
    assert 'kept: r2, r3' in err.value.msg


def test_check_mode_verifies_and_writes_nothing(lab):
    result = run(lab, check_mode=True, source=lab['r1'])
    assert result['changed'] and result['imported'] and result['switched']
    assert os.listdir(lab['root']) == []


def test_a_crashed_import_is_cleaned_by_the_next_run(lab):
    run(lab, source=lab['r1'])
    leftover = os.path.join(lab['root'], 'releases', '.import-r2-x1y2')
    os.makedirs(os.path.join(leftover, 'wheels'))
    result = run(lab, source=lab['r1'])
    assert result['changed'] and not os.path.exists(leftover)
    assert run(lab, source=lab['r1'])['changed'] is False


def _spoil_byte(lab):
    path = os.path.join(lab['r2'], 'wheels/beta-1.1-py3-none-any.whl')
    data = bytearray(open(path, 'rb').read())
    data[len(data) // 2] ^= 0xFF
    open(path, 'wb').write(bytes(data))


def _truncate(lab):
    path = os.path.join(lab['r2'], 'hf/hf-bundle.tar')
    os.truncate(path, 3)


def _half_copied(lab):
    os.unlink(os.path.join(lab['r2'], 'wheels/alpha-1.0-py3-none-any.whl'))


def _other_signer(lab):
    os.unlink(os.path.join(lab['r2'], 'manifest.json.sig'))
    build.sign_file(os.path.join(lab['r2'], 'manifest.json'), lab['keys']['intruder'])


def _same_id_other_content(lab):
    lab['r2'] = lab['release']('r1', beta='1.7', carried='carried-again')


def _delta_without_base(lab):
    lab['r2'] = lab['release']('r3', beta='1.3', on=lab['r2'])


def _group_writable_root(lab):
    os.chmod(lab['root'], 0o775)


BAD = [
    ('other signer', _other_signer, 'does_not_verify', 'manifest.json.sig: signed by a key that is not in'),
    ('changed after signing', _spoil_byte, 'does_not_verify', 'wheels/beta-1.1-py3-none-any.whl: '),
    ('truncated', _truncate, 'does_not_verify', 'hf/hf-bundle.tar: 3 bytes'),
    ('half copied', _half_copied, 'does_not_verify', 'wheels/alpha-1.0-py3-none-any.whl: missing'),
    ('delta without base', _delta_without_base, 'delta_without_base',
     'is a delta over release r2 (manifest sha256 '),
    ('release id taken', _same_id_other_content, 'release_id_taken',
     'release r1 is already imported with other content'),
    ('unsafe root', _group_writable_root, 'unsafe_path', 'must be root\'s and writable by root alone'),
]


@pytest.mark.parametrize('spoil, kind, needle', [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_release_is_refused_naming_it_and_the_served_one_stays(lab, spoil, kind, needle):
    run(lab, source=lab['r1'])
    lab['r2'] = lab['release']('r2', beta='1.1')
    before = sorted(os.listdir(os.path.join(lab['root'], 'releases')))
    spoil(lab)
    with pytest.raises(ms.MirrorStoreError) as err:
        run(lab, source=lab['r2'])
    assert err.value.kind == kind and needle in err.value.msg, err.value.msg
    assert 'offline_mirror_' in err.value.msg
    os.chmod(lab['root'], 0o755)
    served_ok(lab, 'r1')
    assert sorted(os.listdir(os.path.join(lab['root'], 'releases'))) == before


def test_a_file_changed_between_verify_and_copy_is_caught_by_the_copy(lab, monkeypatch):
    """Another writer on the carried disk: the file is changed right after the verifier read it."""
    real = rv.verify

    def verify_then_change(*args, **kwargs):
        verdict = real(*args, **kwargs)
        with open(os.path.join(lab['r1'], 'locks/app.txt'), 'a') as handle:
            handle.write('# changed\n')
        return verdict

    monkeypatch.setattr(rv, 'verify', verify_then_change)
    with pytest.raises(ms.MirrorStoreError) as err:
        run(lab, source=lab['r1'])
    assert err.value.kind == 'changed_after_verify' and 'locks/app.txt changed while it was imported' in err.value.msg
    assert os.listdir(os.path.join(lab['root'], 'releases')) == [] and ms.current(lab['root']) is None


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs as the store, filled but for 4 KiB."""
    mount = tmp_path / 'small'
    mount.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'codex-test', str(mount)], check=True)
    try:
        st = os.statvfs(str(mount))
        with open(str(mount / 'filler'), 'wb') as handle:
            handle.write(b'\0' * (st.f_bavail * st.f_frsize - 4096))
        yield str(mount)
    finally:
        subprocess.run(['umount', str(mount)], check=True)


def test_a_disk_without_room_is_refused_before_copying(lab, full_disk):
    lab['root'] = full_disk
    with pytest.raises(ms.MirrorStoreError) as err:
        run(lab, source=lab['r1'])
    assert err.value.kind == 'no_room' and 'offline_mirror_root %s has 0.0 MB free' % full_disk in err.value.msg
    assert 'importing release r1 needs about' in err.value.msg
    assert sorted(os.listdir(full_disk)) == ['filler']


def test_a_pushed_copy_is_linked_in_removed_after_and_named_before_it_is_there(lab):
    """Push mode: the controller verified the release and names it (id, manifest sha256, size); the host's store
    checks room and base before the push, links the pushed copy in and removes it."""
    manifest_sha = rv.read_manifest(lab['r1'])[1]
    named = dict(release_id='r1', manifest_sha256=manifest_sha, carried_bytes=1000, allowed_signers=None,
                 allowed_signers_text=open(lab['keys']['allowed']).read())
    os.rmdir(lab['root'])
    planned = run(lab, check_mode=True, **named)
    assert planned['imported'] and planned['switched'] and not os.path.exists(lab['root'])
    incoming = os.path.join(lab['root'], 'incoming', 'r1')
    os.makedirs(os.path.dirname(incoming), 0o755)
    os.chmod(lab['root'], 0o755)
    subprocess.run(['cp', '-r', lab['r1'], incoming], check=True)
    result = run(lab, source=incoming, remove_source=True, **named)
    assert result['imported'] and result['signer'] == 'lab-stager' and not os.path.exists(incoming)
    assert result['sets'] == {'app': ['alpha==1.0']}
    served_ok(lab, 'r1')
    again = run(lab, check_mode=True, **named)
    assert not again['changed'] and not again['imported']


def test_a_refused_pushed_copy_is_removed(lab):
    incoming = os.path.join(lab['root'], 'incoming', 'r1')
    os.makedirs(os.path.dirname(incoming), 0o755)
    subprocess.run(['cp', '-r', lab['r1'], incoming], check=True)
    os.unlink(os.path.join(incoming, 'locks', 'app.txt'))
    with pytest.raises(ms.MirrorStoreError) as err:
        run(lab, source=incoming, remove_source=True, release_id='r1',
            manifest_sha256=rv.read_manifest(lab['r1'])[1])
    assert 'locks/app.txt: missing' in err.value.msg and not os.path.exists(incoming)


def test_a_delta_to_push_over_a_missing_base_is_refused_before_the_push(lab):
    with pytest.raises(ms.MirrorStoreError) as err:
        run(lab, check_mode=True, release_id='r2', manifest_sha256='a' * 64, base_release='r1',
            base_manifest_sha256='b' * 64)
    assert err.value.kind == 'delta_without_base'
    assert 'offline_mirror_source_controller release r2 is a delta over release r1' in err.value.msg


def test_a_release_without_the_server_set_is_refused_before_it_is_imported(lab):
    with pytest.raises(ms.MirrorStoreError) as err:
        run(lab, source=lab['r1'], require_set='offline_mirror')
    assert err.value.kind == 'no_server_set' and 'release r1 has no wheel set offline_mirror (' in err.value.msg
    assert 'it has app' in err.value.msg and os.listdir(lab['root']) == []
    assert run(lab, source=lab['r1'], require_set='app')['release'] == 'r1'
