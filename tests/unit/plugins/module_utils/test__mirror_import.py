# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The import on real directories (root): a store another user could redirect is refused naming the directory;
the copy checks each file against the signed manifest again, so a file changed after the verification is caught
and nothing is published; a pushed copy is linked, not copied. Releases come from _release_build, signed by the
real ssh-keygen."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _mirror_import as mi
from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv

from test__mirror_store import make_release
# keys is a fixture
from test__release import keys  # noqa: F401  # pylint: disable=unused-import


def store(tmp_path):
    root = tmp_path / 'store'
    (root / 'releases').mkdir(parents=True)
    os.chmod(str(root), 0o755)
    return str(root)


UNSAFE = [
    ('group-writable store', lambda root: os.chmod(root, 0o775), 'offline_mirror_root %s belongs to uid 0 with mode 0775'),
    ('a link as the store', lambda root: (os.rename(root, root + '.real'), os.symlink(root + '.real', root)),
     'offline_mirror_root %s is a symbolic link'),
    ('a writable directory above', lambda root: os.chmod(os.path.dirname(root), 0o777),
     'the directory above offline_mirror_root, %s belongs to uid 0 with mode 0777'),
]


@pytest.mark.parametrize('spoil, needle', [u[1:] for u in UNSAFE], ids=[u[0] for u in UNSAFE])
def test_a_store_another_user_could_redirect_is_refused(tmp_path, spoil, needle):
    root = store(tmp_path)
    spoil(root)
    try:
        with pytest.raises(mi.MirrorStoreError) as err:
            mi.check_root(root, 'offline_mirror_')
        where = os.path.dirname(root) if 'above' in needle else root
        assert needle % where in err.value.msg and err.value.kind == 'unsafe_path'
    finally:
        os.chmod(str(tmp_path), 0o755)
    mi.check_root(store(tmp_path / 'fine'), 'offline_mirror_')


def test_the_copy_checks_every_file_again_and_publishes_only_a_whole_release(tmp_path, write_wheel, keys):
    source = make_release(tmp_path, write_wheel, keys, 'r1')
    root = store(tmp_path)
    manifest, digest = rv.read_manifest(source)
    path = mi.import_release(root, source, manifest, digest, None)
    assert path == os.path.join(root, 'releases', 'r1')
    assert rv.verify(path, keys['allowed'], complete=True)['ok']
    assert os.stat(os.path.join(path, 'locks/app.txt')).st_ino != os.stat(os.path.join(source, 'locks/app.txt')).st_ino
    with open(os.path.join(source, 'locks/app.txt'), 'a') as handle:
        handle.write('# changed after the verification\n')
    manifest['release'] = 'r1b'
    with pytest.raises(mi.MirrorStoreError) as err:
        mi.import_release(root, source, manifest, digest, None)
    assert err.value.kind == 'changed_after_verify' and 'locks/app.txt changed while it was imported' in err.value.msg
    assert sorted(os.listdir(os.path.join(root, 'releases'))) == ['r1']


def test_a_pushed_copy_is_linked_in(tmp_path, write_wheel, keys):
    root = store(tmp_path)
    source = make_release(tmp_path, write_wheel, keys, 'r1')
    incoming = os.path.join(root, 'incoming', 'r1')
    os.makedirs(os.path.dirname(incoming))
    os.rename(source, incoming)
    assert mi.pushed_copy(root, incoming) and not mi.pushed_copy(root, tmp_path / 'elsewhere')
    manifest, digest = rv.read_manifest(incoming)
    path = mi.import_release(root, incoming, manifest, digest, None)
    assert os.stat(os.path.join(path, 'locks/app.txt')).st_ino == os.stat(os.path.join(incoming, 'locks/app.txt')).st_ino
