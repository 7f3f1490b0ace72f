# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.hf_cache_share: main() in process on a real directory tree; the ACLs are read back from the
kernel (the xattr), and a file created with umask 022 under them is checked with os.stat. A file system without
ACLs is the kernel's EOPNOTSUPP answer, the one boundary mocked here."""

from __future__ import absolute_import, division, print_function

import errno
import os
import stat

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs as safefs
from ansible_collections.codex.offline_ml.plugins.modules import hf_cache_share

from conftest import run_main


def _supports_acl(path):
    try:
        os.setxattr(str(path), safefs.ACL_XATTR, safefs.encode_acl(safefs.SHARED_DEFAULT_ACL))
        os.removexattr(str(path), safefs.ACL_XATTR)
        return True
    except OSError:
        return False


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / 'hf'
    (root / 'hub' / 'models--a--b' / 'blobs').mkdir(parents=True)
    (root / 'datasets').mkdir()
    (root / 'hub' / 'models--a--b' / 'blobs' / 'x').write_text('x')
    os.symlink('/etc', str(root / 'hub' / 'link-out'))
    if not _supports_acl(root):
        pytest.skip('the file system of %s stores no POSIX ACLs' % root)
    return root


def args(tree, **more):
    out = dict(paths=[str(tree), str(tree / 'hub'), str(tree / 'datasets')], group=str(os.getgid()))
    out.update(more)
    return out


def acl_of(path):
    return safefs.decode_acl(os.getxattr(str(path), safefs.ACL_XATTR))


def test_sets_default_acls_then_changes_nothing(tree):
    failed, result = run_main(hf_cache_share, _ansible_check_mode=True, **args(tree))
    assert not failed and result['changed'] is True and result['acl'] == 'default' and result['acl_changed'] == 5
    with pytest.raises(OSError):
        os.getxattr(str(tree), safefs.ACL_XATTR)  # check mode wrote nothing
    failed, result = run_main(hf_cache_share, **args(tree))
    assert not failed and result['changed'] is True and result['acl_changed'] == 5
    for path in (tree, tree / 'hub', tree / 'hub' / 'models--a--b', tree / 'hub' / 'models--a--b' / 'blobs',
                 tree / 'datasets'):
        assert acl_of(path) == ((1, 7), (4, 7), (16, 7), (32, 5)), path
    failed, result = run_main(hf_cache_share, **args(tree))
    assert not failed and result['changed'] is False and result['acl_changed'] == 0
    assert result['permissions_fixed'] == 0


def test_a_file_created_with_umask_022_is_group_writable(tree):
    failed, _result = run_main(hf_cache_share, **args(tree))
    assert not failed
    old = os.umask(0o022)
    try:
        new_dir = tree / 'hub' / '.locks' / 'models--a--b'
        os.makedirs(str(new_dir))
        fd = os.open(str(new_dir / 'e.lock'), os.O_CREAT | os.O_WRONLY, 0o664)
        os.close(fd)
        with open(str(tree / 'hub' / 'models--a--b' / 'blobs' / 'y'), 'w') as handle:
            handle.write('y')
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(str(new_dir / 'e.lock')).st_mode) & 0o060 == 0o060
    assert stat.S_IMODE(os.stat(str(tree / 'hub' / 'models--a--b' / 'blobs' / 'y')).st_mode) & 0o060 == 0o060
    assert stat.S_IMODE(os.stat(str(new_dir)).st_mode) & 0o070 == 0o070
    assert acl_of(new_dir) == ((1, 7), (4, 7), (16, 7), (32, 5))  # inherited: deeper directories too


def test_never_follows_a_link(tree):
    before = os.listxattr('/etc')
    failed, _result = run_main(hf_cache_share, **args(tree))
    assert not failed and os.listxattr('/etc') == before


def _no_acls(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise OSError(errno.EOPNOTSUPP, 'Operation not supported')
    monkeypatch.setattr(os, 'getxattr', refuse)
    monkeypatch.setattr(os, 'setxattr', refuse)


@pytest.mark.parametrize('acl, failed, state, needle', [
    ('auto', False, 'unsupported', 'stores no POSIX ACLs: without ACLs, files a member creates with umask 022 are not '
                                   'writable by the other members: set p_login_umask: "0002"'),
    ('required', True, None, 'p_acl is required but the file system of '),
    ('off', False, 'off', None),
])
def test_file_system_without_acls(tree, monkeypatch, acl, failed, state, needle):
    from ansible.module_utils import basic
    seen = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: seen.append(text))
    _no_acls(monkeypatch)
    got_failed, result = run_main(hf_cache_share, **args(tree, acl=acl, variable_prefix='p_'))
    assert got_failed is failed
    if failed:
        assert needle in result['msg'] and 'set p_login_umask: "0002"' in result['msg']
        return
    assert result['acl'] == state and result['acl_changed'] == 0
    warnings = ' '.join(seen)
    assert (needle in warnings) if needle else warnings == ''


@pytest.mark.parametrize('entries', [((1, 7), (4, 7), (16, 7), (32, 5)), ((32, 0), (1, 6), (4, 4))])
def test_acl_round_trip(entries):
    assert safefs.decode_acl(safefs.encode_acl(entries)) == tuple(sorted(entries))


@pytest.mark.parametrize('value', [b'', b'\x01\x00\x00\x00', b'\x02\x00\x00\x00\x01'])
def test_decode_refuses_what_is_not_an_acl(value):
    assert safefs.decode_acl(value) is None


def test_relative_path_refused(tree):
    failed, result = run_main(hf_cache_share, paths=['hub'], group=str(os.getgid()))
    assert failed and result['msg'] == 'paths must be absolute, got hub'
