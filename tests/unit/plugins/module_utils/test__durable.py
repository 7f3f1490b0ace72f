# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_durable and every publisher that uses it: on real files in tmp_path, the journal of os.fsync (with the path its
descriptor refers to), os.rename / os.replace and os.sync shows the content flushed BEFORE the rename that
publishes it (a tree: os.sync before) and the destination's directory flushed AFTER it.

The os functions are wrapped, not replaced: every write, flush and rename still happens, and each test also checks
what was published.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import stat
import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_bundle as hf_bundle
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_layout as hf_layout
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_record as hf_record
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs as safefs
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs
from ansible_collections.codex.offline_ml.plugins.module_utils import _managed_files as managed
from ansible_collections.codex.offline_ml.plugins.module_utils import _offline_venv as ov
from ansible_collections.codex.offline_ml.plugins.module_utils import _release_build as release_build
from ansible_collections.codex.offline_ml.plugins.module_utils import _stage as stage
from ansible_collections.codex.offline_ml.plugins.module_utils import _venv_releases as rel
from ansible_collections.codex.offline_ml.plugins.module_utils import _venv_reuse as reuse
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import wanted_set
from ansible_collections.codex.offline_ml.plugins.module_utils._report_files import write_report

from conftest import load_fixture_module
from report_cases import build as build_report_doc, load_records

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')


# --------------------------------------------------------------------------- the journal
def canon(path):
    """PATH absolute, its directory resolved (the name itself is kept: it may be a link being published)."""
    path = os.path.abspath(str(path))
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def fd_path(fd):
    return os.readlink('/proc/self/fd/%d' % fd)


def at_path(name, dir_fd):
    if dir_fd is None or os.path.isabs(name):
        return canon(name)
    return os.path.join(fd_path(dir_fd), name)


class Journal(object):
    """os.fsync, os.rename, os.replace and os.sync of this process, in call order; each still does its work.

    Entries: ('fsync', path), ('rename' | 'replace', src, dst), ('sync',).
    """

    def __init__(self, monkeypatch):
        self.calls = []
        real = dict((name, getattr(os, name)) for name in ('fsync', 'rename', 'replace', 'sync'))

        def fsync(fd):
            number = fd if isinstance(fd, int) else fd.fileno()
            self.calls.append(('fsync', fd_path(number)))
            return real['fsync'](fd)

        def mover(kind):
            def move(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
                self.calls.append((kind, at_path(src, src_dir_fd), at_path(dst, dst_dir_fd)))
                return real[kind](src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
            return move

        def sync():
            self.calls.append(('sync',))
            return real['sync']()

        monkeypatch.setattr(os, 'fsync', fsync)
        monkeypatch.setattr(os, 'rename', mover('rename'))
        monkeypatch.setattr(os, 'replace', mover('replace'))
        monkeypatch.setattr(os, 'sync', sync)

    def renames(self):
        return [(i, c) for i, c in enumerate(self.calls) if c[0] in ('rename', 'replace')]

    def published(self, dst, content=True, tree=False):
        """Index of the (last) rename onto DST, after checking the flushes around it; returns that index.

        content: the renamed file was fsynced before the rename (by its writer). tree: os.sync() came before it.
        Always: DST's directory was fsynced after it.
        """
        dst = canon(dst)
        onto = [i for i, c in self.renames() if c[2] == dst]
        assert onto, 'nothing was renamed onto %s; journal: %r' % (dst, self.calls)
        at = onto[-1]
        src = self.calls[at][1]
        before, after = self.calls[:at], self.calls[at + 1:]
        if content:
            assert ('fsync', src) in before, '%s was not fsynced before it was renamed onto %s; journal: %r' % (
                src, dst, self.calls)
        if tree:
            assert ('sync',) in before, 'no os.sync() before the rename onto %s; journal: %r' % (dst, self.calls)
        assert ('fsync', os.path.dirname(dst)) in after, (
            'the directory of %s was not fsynced after the rename; journal: %r' % (dst, self.calls))
        return at


@pytest.fixture
def journal(monkeypatch):
    return Journal(monkeypatch)


def mode_of(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


# --------------------------------------------------------------------------- one file, published by rename
def _durable_write_file_bytes(tmp_path):
    path = tmp_path / 'data.bin'
    path.write_bytes(b'old content, longer than the new one')
    _durable.write_file(str(path), b'new', mode=0o640)
    assert path.read_bytes() == b'new' and mode_of(path) == 0o640
    return [path]


def _durable_write_file_text(tmp_path):
    path = tmp_path / 'data.txt'
    _durable.write_file(str(path), u'caf\u00e9\n')
    assert path.read_text(encoding='utf-8') == u'caf\u00e9\n'
    return [path]


def _durable_write_json(tmp_path):
    path = tmp_path / 'data.json'
    _durable.write_json(str(path), {'b': 1, 'a': [2]})
    assert path.read_text() == '{"a": [2], "b": 1}'
    return [path]


def _releases_write_json(tmp_path):
    path = tmp_path / rel.HISTORY
    rel._write_json(str(path), ['/x/a', '/x/b'])
    assert json.loads(path.read_text()) == ['/x/a', '/x/b']
    return [path]


def _reuse_write_snapshot(tmp_path):
    release = tmp_path / 'release'
    (release / 'bin').mkdir(parents=True)
    (release / 'bin' / 'tool').write_text('#!/bin/sh\n')
    data = reuse.snapshot(str(release))
    reuse.write_snapshot(str(release), data)
    assert reuse.read_snapshot(str(release)) == data
    return [release / reuse.SNAPSHOT]


def _stage_write_if_changed(tmp_path):
    path = tmp_path / 'manifest.json'
    assert stage._write_if_changed(str(path), '{"schema": 1}\n') is True
    assert stage._write_if_changed(str(path), '{"schema": 1}\n') is False   # unchanged: nothing renamed
    assert path.read_text() == '{"schema": 1}\n'
    return [path]


def _safefs_put_file(tmp_path):
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = safefs.put_file(fd, 'blob', [b'ab', b'cd'], mode=0o644, where=str(tmp_path))
    finally:
        os.close(fd)
    assert (tmp_path / 'blob').read_bytes() == b'abcd' and mode_of(tmp_path / 'blob') == 0o644
    assert got[0] == 4
    return [tmp_path / 'blob']


def _hf_layout_write_refs(tmp_path):
    base = layout.make_cache(tmp_path, refs=())
    (spec,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    assert hf_layout.write_refs(str(tmp_path), spec, layout.COMMIT) == ['main']
    assert (base / 'refs' / 'main').read_text() == layout.COMMIT
    return [base / 'refs' / 'main']


def _hf_record_write_record(tmp_path):
    base = layout.make_cache(tmp_path)
    snap = base / 'snapshots' / layout.COMMIT
    meta = dict((p.name, {'size': p.stat().st_size, 'etag': os.readlink(str(p)).rsplit('/', 1)[-1]})
                for p in snap.iterdir())
    spec = {'repo_id': layout.REPO_ID, 'repo_type': 'model'}
    record = hf_record.make_record(spec, layout.COMMIT, sorted(meta), meta, 'mirror')
    assert hf_record.write_record(str(tmp_path), layout.FOLDER, record) is True
    path = base / hf_record.RECORD_DIR / (layout.COMMIT + '.json')
    assert json.loads(path.read_text()) == record and mode_of(path) == 0o644
    return [path]


class FakeModule(object):
    """The outside boundary of _managed_files: AnsibleModule.atomic_move is a rename."""
    check_mode = False

    def atomic_move(self, src, dst):
        os.rename(src, dst)   # looked up when called: the journal sees it


def _managed_files_write(tmp_path):
    path = tmp_path / 'etc' / 'codex.conf'
    path.parent.mkdir()
    path.write_text('old\n')
    managed._write(FakeModule(), str(path), str(path.parent), b'new\n', '0640')
    assert path.read_bytes() == b'new\n' and mode_of(path) == 0o640
    assert os.listdir(str(path.parent)) == ['codex.conf']
    return [path]


def _release_build_write_tar(tmp_path):
    release = tmp_path / 'r1'
    (release / 'wheels').mkdir(parents=True)
    (release / 'wheels' / 'a.whl').write_bytes(b'wheel')
    tar = tmp_path / 'r1.tar'
    assert release_build.write_tar(str(release), str(tar)) is True
    assert tar.stat().st_size > 0
    return [tar]


@pytest.mark.parametrize('publish', [
    _release_build_write_tar,
    _durable_write_file_bytes,
    _durable_write_file_text,
    _durable_write_json,
    _releases_write_json,
    _reuse_write_snapshot,
    _stage_write_if_changed,
    _safefs_put_file,
    _hf_layout_write_refs,
    _hf_record_write_record,
    _managed_files_write,
], ids=lambda f: f.__name__.lstrip('_'))
def test_file_is_synced_before_its_rename_and_its_directory_after(journal, tmp_path, publish):
    for path in publish(tmp_path):
        journal.published(path)


# --------------------------------------------------------------------------- _durable.rename and sync_tree
@pytest.mark.parametrize('other_dir', [False, True], ids=['same-dir', 'other-dir'])
def test_rename_flushes_the_directories_after_the_rename(journal, tmp_path, other_dir):
    src_dir, dst_dir = tmp_path / ('a' if other_dir else 'b'), tmp_path / 'b'
    src_dir.mkdir(exist_ok=True)
    dst_dir.mkdir(exist_ok=True)
    src, dst = src_dir / 'x', dst_dir / 'y'
    src.write_text('x')
    _durable.rename(str(src), str(dst))
    assert dst.read_text() == 'x' and not src.exists()
    journal.published(dst, content=False)
    expected = [('rename', str(src), str(dst)), ('fsync', str(dst_dir))]
    if other_dir:
        expected.append(('fsync', str(src_dir)))     # the name left that directory: flushed too
    assert journal.calls == expected


def test_sync_tree_syncs_then_flushes_the_top(journal, tmp_path):
    _durable.sync_tree(str(tmp_path))
    assert journal.calls == [('sync',), ('fsync', str(tmp_path))]


# --------------------------------------------------------------------------- _hf_safefs: links and moves
def test_put_symlink_flushes_its_directory_after_the_rename(journal, tmp_path):
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        (tmp_path / 'link').symlink_to('old-target')
        safefs.put_symlink(fd, 'link', '../../blobs/abc', where=str(tmp_path))
    finally:
        os.close(fd)
    assert os.readlink(str(tmp_path / 'link')) == '../../blobs/abc'
    at = journal.published(tmp_path / 'link', content=False)
    assert journal.calls[at][0] == 'replace'


def test_move_flushes_the_destination_directory_after_the_rename(journal, tmp_path):
    (tmp_path / 'staging').mkdir()
    (tmp_path / 'cache').mkdir()
    with open(str(tmp_path / 'staging' / 'm000001'), 'wb') as fh:   # the writer syncs what it wrote
        fh.write(b'blob')
        fh.flush()
        os.fsync(fh.fileno())
    src = os.open(str(tmp_path / 'staging'), os.O_RDONLY | os.O_DIRECTORY)
    dst = os.open(str(tmp_path / 'cache'), os.O_RDONLY | os.O_DIRECTORY)
    try:
        safefs.move(src, 'm000001', dst, 'blob', where=str(tmp_path / 'cache'))
    finally:
        os.close(src)
        os.close(dst)
    assert (tmp_path / 'cache' / 'blob').read_bytes() == b'blob'
    at = journal.published(tmp_path / 'cache' / 'blob')
    assert journal.calls[at] == ('replace', str(tmp_path / 'staging' / 'm000001'), str(tmp_path / 'cache' / 'blob'))


# --------------------------------------------------------------------------- _hf_bundle
@pytest.fixture
def staged(tmp_path):
    """A staged cache with the tiny BERT; returns (cache dir, resolved [(spec, commit)])."""
    cache = tmp_path / 'stage'
    layout.make_cache(cache)
    specs = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    return cache, [(specs[0], layout.COMMIT)]


@pytest.mark.parametrize('before', ['nothing', 'tar-lost'])
def test_build_bundle_syncs_the_tar_and_the_manifest_before_their_renames(monkeypatch, tmp_path, staged, before):
    cache, resolved = staged
    bundle = tmp_path / 'out' / 'hf-bundle.tar'
    mpath = hf_bundle.manifest_path_for(str(bundle))
    if before == 'tar-lost':   # the manifest is up to date: only the tar is published (and must be flushed alone)
        hf_bundle.build_bundle(str(cache), resolved, str(bundle))
        bundle.unlink()
    log = Journal(monkeypatch)
    changed, manifest = hf_bundle.build_bundle(str(cache), resolved, str(bundle))
    assert changed and manifest['bundle_sha256'] == hf_bundle.sha256_file(str(bundle))
    assert hf_bundle.load_manifest(mpath) == manifest
    tar_at = log.published(bundle)
    if before == 'nothing':
        assert tar_at < log.published(mpath)      # the manifest never names a tar that is not there
    else:
        assert [c for _i, c in log.renames() if c[2] == canon(mpath)] == []
    assert not [n for n in os.listdir(str(tmp_path / 'out')) if n.startswith('.')]


def test_unpack_bundle_syncs_each_member_before_its_move(monkeypatch, tmp_path, staged):
    cache, resolved = staged
    bundle = str(tmp_path / 'out' / 'hf-bundle.tar')
    _changed, manifest = hf_bundle.build_bundle(str(cache), resolved, bundle)
    live = tmp_path / 'live'
    live.mkdir()
    log = Journal(monkeypatch)
    installed = hf_bundle.unpack_bundle(bundle, manifest, str(live))
    assert sorted(installed) == sorted(e['path'] for e in manifest['files'])
    assert layout.tree_listing(live, modes=False) == layout.tree_listing(cache, modes=False)
    kinds = set()
    for entry in manifest['files']:
        # A file member was written (and fsynced) in the staging directory by verify_bundle, then moved.
        at = log.published(live / entry['path'], content=entry['type'] == 'file')
        src = log.calls[at][1]
        assert os.path.basename(os.path.dirname(src)).startswith(hf_layout.STAGING_PREFIX), src
        kinds.add(entry['type'])
    assert kinds == {'file', 'symlink'}


# --------------------------------------------------------------------------- _managed_files, _report_files
def test_report_files_are_synced_before_latest_points_at_them(journal, tmp_path, manifest):
    doc = build_report_doc(load_records(), manifest)
    dest = tmp_path / 'reports'
    paths = write_report(doc, str(dest), 1795867200.0)
    assert os.readlink(str(dest / 'latest')) == '20261128T120000Z'
    latest_at = journal.published(dest / 'latest', content=False)   # a symlink: nothing to flush but its dir
    for key in ('json', 'html', 'junit'):
        assert journal.published(paths['files'][key]) < latest_at
    assert not [n for n in os.listdir(str(dest)) + os.listdir(paths['dir']) if n.endswith('.tmp')]


# --------------------------------------------------------------------------- venv releases
def make_release(venv, name, files=('bin/python',)):
    release = os.path.join(rel.releases_dir(venv), name)
    for f in files:
        full = os.path.join(release, f)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'w') as fh:
            fh.write(name)
    with open(os.path.join(release, rel.MARKER), 'w') as fh:
        json.dump({'schema': 1}, fh)
    return release


@pytest.mark.parametrize('before', ['nothing', 'link', 'directory'])
def test_swap_syncs_the_tree_before_the_link_and_its_directory_after(monkeypatch, tmp_path, before):
    venv = str(tmp_path / 'venv')
    if before == 'link':
        rel.swap(venv, make_release(venv, 'old'))
    elif before == 'directory':
        os.makedirs(os.path.join(venv, 'bin'))     # a venv made before releases existed
    release = make_release(venv, 'new')
    log = Journal(monkeypatch)
    rel.swap(venv, release)
    assert os.path.realpath(venv) == release and os.path.islink(venv)
    at = log.published(venv, content=False, tree=True)
    assert log.calls[at][1] == os.path.join(rel.releases_dir(venv), '.swap-link')
    assert ('fsync', release) in log.calls[:at]                 # sync_tree: the release's own entries too
    assert ('fsync', rel.releases_dir(venv)) in log.calls[at + 1:]   # the link left the releases directory
    legacy = [c for c in log.calls[:at] if c[0] == 'rename' and c[1] == venv]
    if before == 'directory':
        assert len(legacy) == 1 and os.path.isdir(legacy[0][2])
        log.published(legacy[0][2], content=False)
    else:
        assert legacy == []
    history = os.path.join(rel.releases_dir(venv), rel.HISTORY)
    assert log.published(history) > at                         # the history follows the link
    with open(history) as fh:
        assert json.load(fh)[-1] == release


def test_rollback_record_is_synced(monkeypatch, tmp_path):
    venv = str(tmp_path / 'venv')
    first = make_release(venv, 'a')
    rel.swap(venv, first)
    rel.swap(venv, make_release(venv, 'b'))
    log = Journal(monkeypatch)
    rel.rollback(venv, first)
    assert os.path.realpath(venv) == first
    at = log.published(venv, content=False, tree=True)
    assert log.published(os.path.join(rel.releases_dir(venv), rel.ROLLED_BACK)) > at


@pytest.mark.parametrize('live', [False, True], ids=['first-cache', 'replaces-cache'])
def test_commit_cache_flushes_the_releases_directory_after_each_rename(monkeypatch, tmp_path, live):
    rdir = tmp_path / '.venv.releases'
    rdir.mkdir()
    if live:
        os.mkdir(str(rdir / reuse.CACHE), 0o700)
        (rdir / reuse.CACHE / 'old-entry').write_text('old')
    os.mkdir(str(rdir / reuse.BUILD_CACHE), 0o700)
    (rdir / reuse.BUILD_CACHE / 'entry').write_text('new')
    log = Journal(monkeypatch)
    reuse.commit_cache(str(rdir))
    assert sorted(os.listdir(str(rdir))) == [reuse.CACHE]
    assert os.listdir(str(rdir / reuse.CACHE)) == ['entry']
    # A tree: its files were synced by the swap that came before (modules/offline_venv.py), only the renames here.
    at = log.published(rdir / reuse.CACHE, content=False)
    assert log.calls[at][1] == str(rdir / reuse.BUILD_CACHE)
    if live:
        aside = log.published(rdir / (reuse.CACHE + '.old'), content=False)
        assert aside < at


# --------------------------------------------------------------------------- the release marker of a build
def test_build_publishes_the_snapshot_then_the_marker_last(monkeypatch, tmp_path, write_wheel):
    """A real (small, offline) pip build: the marker, which makes the release count as finished, is the last thing
    published, synced before its rename, its directory after."""
    wheelhouse = tmp_path / 'wheelhouse'
    wheelhouse.mkdir()
    write_wheel(wheelhouse, 'alpha', '1.0', {'alpha.py': 'VALUE = 1\n'})
    requirements = ['alpha==1.0']
    wanted, lock = wanted_set(requirements, None)
    builder = ov.Builder(str(tmp_path / 'venv'), sys.executable, wanted, lock, None, requirements, 'pip',
                         'wheelhouse', wheelhouse=str(wheelhouse), timeout=300)
    release = ov.new_release_path(str(tmp_path / 'venv'), builder.wanted, 'pip')
    log = Journal(monkeypatch)
    builder.build(release)
    assert rel.read_marker(release)['wanted'] == wanted
    snapshot_at = log.published(os.path.join(release, reuse.SNAPSHOT))
    marker_at = log.published(os.path.join(release, rel.MARKER))
    assert snapshot_at < marker_at
    assert log.renames()[-1][0] == marker_at, 'the marker must be the last rename of the build'
