# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_safefs: the permission pass and the descriptor-relative primitives."""

from __future__ import absolute_import, division, print_function

import os
import stat

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs as hf_safefs

from conftest import file_state as _state, load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')


def test_share_tree(tmp_path):
    base = layout.make_cache(tmp_path / 'hub')
    os.chmod(str(base / 'refs' / 'main'), 0o646)
    gid = os.getgid()
    changed = hf_safefs.share_tree([str(tmp_path / 'hub')], gid, check_mode=True)
    assert changed > 0
    assert oct(os.stat(str(base / 'refs' / 'main')).st_mode & 0o7777) == '0o646'
    assert hf_safefs.share_tree([str(tmp_path / 'hub')], gid) == changed
    assert hf_safefs.share_tree([str(tmp_path / 'hub')], gid) == 0
    assert os.stat(str(base / 'refs' / 'main')).st_mode & 0o7777 == 0o664
    blobs = os.stat(str(base / 'blobs')).st_mode
    assert blobs & stat.S_ISGID and blobs & 0o070 == 0o070 and not blobs & 0o002
    for root, dirs, files in os.walk(str(tmp_path / 'hub')):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            if not os.path.islink(os.path.join(root, name)):
                assert not st.st_mode & 0o002


# --------------------------------------------------------------------------- what a cache member can plant
def test_share_tree_does_not_follow_a_planted_symlink(tmp_path, secret):
    base = layout.make_cache(tmp_path / 'hub')
    (base / 'blobs' / 'evil').symlink_to(str(secret))
    (base / 'evil-dir').symlink_to(str(secret.parent))
    before = _state(secret)
    hf_safefs.share_tree([str(tmp_path / 'hub')], os.getgid())
    assert _state(secret) == before


def test_share_tree_skips_hard_links_and_fifos(tmp_path, secret):
    base = layout.make_cache(tmp_path / 'hub')
    os.link(str(secret), str(base / 'blobs' / 'hardlinked'))
    os.mkfifo(str(base / 'blobs' / 'fifo'), 0o600)
    before = _state(secret)
    hf_safefs.share_tree([str(tmp_path / 'hub')], os.getgid())  # returns: a FIFO opened for reading would block
    assert _state(secret) == before
    assert stat.S_IMODE(os.lstat(str(base / 'blobs' / 'fifo')).st_mode) == 0o600


def test_the_walks_refuse_directories_nested_deeper_than_max_depth(tmp_path, monkeypatch):
    monkeypatch.setattr(hf_safefs, 'MAX_DEPTH', 2)
    monkeypatch.setattr(hf_safefs, 'set_default_acl', lambda fd, check_mode=False: True)
    (tmp_path / 'hub' / 'a').mkdir(parents=True)
    (tmp_path / 'hub' / 'a' / 'file').write_text('x')
    assert hf_safefs.share_tree([str(tmp_path / 'hub')], os.getgid(), check_mode=True) >= 0
    assert hf_safefs.acl_tree([str(tmp_path / 'hub')]) == ('default', 2)
    (tmp_path / 'hub' / 'a' / 'b').mkdir()
    for walk in (lambda top: hf_safefs.share_tree([top], os.getgid()), hf_safefs.acl_tree):
        with pytest.raises(hf_safefs.UnsafePath, match='nested deeper than 2 levels'):
            walk(str(tmp_path / 'hub'))


def test_acl_tree_counts_each_directory_once_and_skips_what_refuses_acls(tmp_path, monkeypatch):
    for rel in ('hub/a/deep', 'hub/b/deep', 'datasets'):
        (tmp_path / rel).mkdir(parents=True)
    (tmp_path / 'hub' / 'file').write_text('x')
    (tmp_path / 'hub' / 'link').symlink_to(str(tmp_path / 'datasets'))
    done = []

    def fake_acl(fd, check_mode=False):
        path = os.readlink('/proc/self/fd/%d' % fd)
        if path.endswith('/a'):
            raise hf_safefs.AclUnsupported('a')
        done.append(os.path.relpath(path, str(tmp_path)))
        return not check_mode

    monkeypatch.setattr(hf_safefs, 'set_default_acl', fake_acl)
    paths = [str(tmp_path / 'hub'), str(tmp_path / 'hub' / 'b'), str(tmp_path / 'datasets')]
    assert hf_safefs.acl_tree(paths) == ('default', 4)
    assert done == ['hub', 'hub/b', 'hub/b/deep', 'datasets']  # not a/deep (below a refusal), not through the link
    assert hf_safefs.acl_tree(paths, check_mode=True) == ('default', 0)
    assert hf_safefs.acl_tree([str(tmp_path / 'hub' / 'a')]) == ('unsupported', 0)


def test_open_dir_refuses_a_symlinked_directory(tmp_path, secret):
    (tmp_path / 'hub').mkdir()
    (tmp_path / 'hub' / 'refs').symlink_to(str(secret.parent))
    root = hf_safefs.open_root(str(tmp_path / 'hub'))
    try:
        with pytest.raises(hf_safefs.UnsafePath) as err:
            hf_safefs.open_dir(root, 'refs/x', create=True, where='/c')
    finally:
        os.close(root)
    assert err.value.kind == 'unsafe_path'
    assert err.value.msg.startswith('/c/refs is a symlink or not a directory; root does not follow it')
    assert os.listdir(str(secret.parent)) == ['secret']


@pytest.mark.parametrize('rel', ['../x', 'a/../b', '/etc', 'a//b', '.'])
def test_components_refuse_escapes(rel):
    with pytest.raises(hf_safefs.UnsafePath):
        hf_safefs.components(rel)


def test_put_file_replaces_a_symlink_and_a_fifo_without_writing_through(tmp_path, secret):
    directory = tmp_path / 'd'
    directory.mkdir()
    (directory / 'link').symlink_to(str(secret))
    os.mkfifo(str(directory / 'fifo'))
    before = _state(secret)
    fd = os.open(str(directory), os.O_RDONLY | os.O_DIRECTORY)
    try:
        hf_safefs.put_file(fd, 'link', [b'abc'], mode=0o664)
        hf_safefs.put_file(fd, 'fifo', [b'def'], mode=0o664)
        assert hf_safefs.read_text(fd, 'link') == 'abc'
        (directory / 'dir').mkdir()
        with pytest.raises(hf_safefs.UnsafePath):
            hf_safefs.put_file(fd, 'dir', [b'x'])
    finally:
        os.close(fd)
    assert _state(secret) == before
    assert not (directory / 'link').is_symlink() and (directory / 'fifo').read_bytes() == b'def'
    assert stat.S_IMODE(os.stat(str(directory / 'link')).st_mode) == 0o664
    assert sorted(os.listdir(str(directory))) == ['dir', 'fifo', 'link']  # no temp file left


def test_reading_a_fifo_or_a_link_gives_nothing(tmp_path, secret):
    os.mkfifo(str(tmp_path / 'fifo'))
    (tmp_path / 'link').symlink_to(str(secret))
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert hf_safefs.read_text(fd, 'fifo') is None  # returns at once: O_NONBLOCK, then not S_ISREG
        assert hf_safefs.read_text(fd, 'link') is None
        assert hf_safefs.sha256_at(fd, 'fifo') is None
    finally:
        os.close(fd)
