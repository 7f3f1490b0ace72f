# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_venv_reuse: the snapshot, what a clone copies or refuses, the cache's pruning (real files, no venv needed)."""

from __future__ import absolute_import, division, print_function

import csv
import os

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._venv_reuse import (
    ReuseRefused,
    clone,
    commit_cache,
    discard_cache,
    owned_files,
    prune_cache,
    read_snapshot,
    snapshot,
    stage_cache,
    write_snapshot,
)

SITE = os.path.join('lib', 'python3.11', 'site-packages')


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as fh:
        fh.write(text)


def fake_release(root, name='rel', home='/usr/bin', record_extra=()):
    """A release with pyvenv.cfg, dist 'keep' (a module, its .pyc, a bin script) and dist 'drop', snapshotted."""
    rel = str(root / name)
    write(os.path.join(rel, 'pyvenv.cfg'), 'home = %s\nversion = 3.11.7\n' % home)
    site = os.path.join(rel, SITE)
    write(os.path.join(site, 'keep.py'), 'X = 1\n')
    write(os.path.join(site, '__pycache__', 'keep.cpython-311.pyc'), 'compiled')
    write(os.path.join(rel, 'bin', 'keep-run'), '#!%s/bin/python\nimport keep\n' % rel)
    write(os.path.join(site, 'drop.py'), 'Y = 1\n')
    write(os.path.join(site, '__pycache__', 'drop.cpython-311.pyc'), 'compiled')
    rows = [['keep.py', 'sha256=x', '6'], ['../../../bin/keep-run', 'sha256=x', '1'],
            ['keep-1.0.dist-info/RECORD', '', '']] + [list(r) for r in record_extra]
    os.makedirs(os.path.join(site, 'keep-1.0.dist-info'))
    with open(os.path.join(site, 'keep-1.0.dist-info', 'RECORD'), 'w', newline='') as fh:
        csv.writer(fh, lineterminator='\n').writerows(rows)
    write(os.path.join(site, 'drop-1.0.dist-info', 'RECORD'), 'drop.py,sha256=x,6\n')
    write_snapshot(rel, snapshot(rel))
    return rel


def fresh(root, name='new', home='/usr/bin'):
    rel = str(root / name)
    write(os.path.join(rel, 'pyvenv.cfg'), 'home = %s\nversion = 3.11.7\n' % home)
    return rel


def test_owned_files_are_the_record_and_the_pyc_of_its_sources(tmp_path):
    rel = fake_release(tmp_path)
    owned = owned_files(rel, read_snapshot(rel)['files'], {'keep'})
    assert owned == {os.path.join(SITE, 'keep.py'), os.path.join(SITE, '__pycache__', 'keep.cpython-311.pyc'),
                     os.path.join('bin', 'keep-run'), os.path.join(SITE, 'keep-1.0.dist-info', 'RECORD')}


def test_clone_copies_the_kept_distribution_only_and_rewrites_its_script(tmp_path):
    src = fake_release(tmp_path)
    dst = fresh(tmp_path)
    stats = clone(src, dst, {'keep'})
    assert stats == {'files': 4, 'bytes': stats['bytes'], 'scripts_rewritten': 1, 'distributions': 1}
    assert not os.path.exists(os.path.join(dst, SITE, 'drop.py'))
    assert not os.path.exists(os.path.join(dst, SITE, '__pycache__', 'drop.cpython-311.pyc'))
    with open(os.path.join(dst, 'bin', 'keep-run')) as fh:
        body = fh.read()
    assert body == '#!%s/bin/python\nimport keep\n' % dst
    with open(os.path.join(dst, SITE, 'keep-1.0.dist-info', 'RECORD')) as fh:
        row = [r for r in csv.reader(fh) if r and r[0] == '../../../bin/keep-run'][0]
    assert row[2] == str(len(body)) and row[1].startswith('sha256=')
    # the copies keep their bytes, mode and times (a .pyc stays valid for its source) and are new files
    for rel in (os.path.join(SITE, 'keep.py'), os.path.join(SITE, '__pycache__', 'keep.cpython-311.pyc')):
        a, b = os.stat(os.path.join(src, rel)), os.stat(os.path.join(dst, rel))
        assert a.st_mtime_ns == b.st_mtime_ns and a.st_mode == b.st_mode and a.st_ino != b.st_ino
        with open(os.path.join(src, rel), 'rb') as x, open(os.path.join(dst, rel), 'rb') as y:
            assert x.read() == y.read()


def _no_snapshot(rel):
    os.unlink(os.path.join(rel, '.codex-files.json'))


def _old_snapshot(rel):
    with open(os.path.join(rel, '.codex-files.json'), 'w') as fh:
        fh.write('{"schema": 1, "files": {"a": ["x", 1, 420]}, "links": {}}')


def _edit(rel):
    write(os.path.join(rel, SITE, 'keep.py'), 'X = 2\n')


def _edit_same_size_and_time(rel):
    # the same size and modification time as before: the change time still tells
    path = os.path.join(rel, SITE, 'keep.py')
    st = os.stat(path)
    write(path, 'X = 9\n')
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _replaced(rel):
    # a new file renamed over the old one (what pip does when it installs a stub over the release)
    path = os.path.join(rel, SITE, 'keep.py')
    st = os.stat(path)
    write(path + '.new', 'X = 1\n')
    os.chmod(path + '.new', st.st_mode & 0o7777)
    os.utime(path + '.new', ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(path + '.new', path)


def _gone(rel):
    os.unlink(os.path.join(rel, SITE, '__pycache__', 'keep.cpython-311.pyc'))


def _chmod(rel):
    os.chmod(os.path.join(rel, SITE, 'keep.py'), 0o600)


def _link(rel):
    path = os.path.join(rel, SITE, 'keep.py')
    os.unlink(path)
    os.symlink('/etc/hostname', path)


@pytest.mark.parametrize('damage, message', [
    (_no_snapshot, 'has no snapshot of its files'),
    (_old_snapshot, 'has no snapshot of its files'),
    (_edit, 'keep.py differs from what the release held when it passed its health check'),
    (_edit_same_size_and_time, 'keep.py differs from what the release held when it passed its health check'),
    (_replaced, 'keep.py differs from what the release held when it passed its health check'),
    (_gone, 'keep.cpython-311.pyc is missing from the release'),
    (_chmod, 'keep.py has mode 0600, not the 0644 it had when the release passed its health check'),
    (_link, 'keep.py is no longer a regular file'),
])
def test_clone_refuses_a_release_that_is_not_what_passed(tmp_path, damage, message):
    src = fake_release(tmp_path)
    damage(src)
    dst = fresh(tmp_path)
    with pytest.raises(ReuseRefused) as err:
        clone(src, dst, {'keep'})
    assert message in str(err.value)
    # checked before the first copy: nothing was copied
    assert not os.path.exists(os.path.join(dst, SITE))


def test_clone_refuses_another_interpreter(tmp_path):
    src = fake_release(tmp_path)
    with pytest.raises(ReuseRefused, match='made by another interpreter'):
        clone(src, fresh(tmp_path, home='/opt/python3.13/bin'), {'keep'})


def test_clone_refuses_a_record_that_leaves_the_release(tmp_path):
    src = fake_release(tmp_path, record_extra=[('../../../../../etc/shadow', 'sha256=x', '1')])
    with pytest.raises(ReuseRefused, match='out of the release'):
        clone(src, fresh(tmp_path), {'keep'})


def test_prune_cache_forgets_versions_no_release_holds(tmp_path):
    cache = tmp_path / 'cache'
    pkg = cache / 'wheels-v8' / 'index' / 'abc'
    for name, version in (('alpha', '1.0'), ('alpha', '2.0'), ('typing-extensions', '4.16.0')):
        for suffix in ('.rev', '.lock'):
            write(str(pkg / name / ('%s-py3-none-any%s' % (version, suffix))), 'x')
        os.symlink(str(cache / 'archive-v0' / version), str(pkg / name / ('%s-py3-none-any' % version)))
    removed = prune_cache(str(cache), {('alpha', '2.0'), ('typing_extensions', '4.16.0')})
    assert removed == sorted(os.path.join('wheels-v8', 'index', 'abc', 'alpha', '1.0-py3-none-any' + s)
                             for s in ('', '.lock', '.rev'))
    assert sorted(os.listdir(str(pkg / 'alpha'))) == ['2.0-py3-none-any', '2.0-py3-none-any.lock',
                                                      '2.0-py3-none-any.rev']
    assert prune_cache(str(tmp_path / 'none'), set()) == []


def test_a_build_works_on_a_linked_copy_of_the_cache(tmp_path):
    rdir = str(tmp_path)
    cache = os.path.join(rdir, '.uv-cache')
    write(os.path.join(cache, 'archive-v0', 'abc', 'mod.py'), 'X = 1\n')
    os.makedirs(os.path.join(cache, 'wheels-v8', 'index', 'h', 'mod'))
    os.symlink('../../../../archive-v0/abc', os.path.join(cache, 'wheels-v8', 'index', 'h', 'mod', '1.0-py3-none-any'))
    os.chmod(cache, 0o700)
    work = stage_cache(rdir)
    assert work == os.path.join(rdir, '.uv-cache.build') and os.stat(work).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(work, 'archive-v0', 'abc', 'mod.py')).st_ino == \
        os.stat(os.path.join(cache, 'archive-v0', 'abc', 'mod.py')).st_ino
    assert os.readlink(os.path.join(work, 'wheels-v8', 'index', 'h', 'mod', '1.0-py3-none-any')) == \
        '../../../../archive-v0/abc'
    # a failed build: what it added goes, the cache is as it was
    write(os.path.join(work, 'archive-v0', 'new', 'other.py'), 'Y = 1\n')
    discard_cache(rdir)
    assert sorted(os.listdir(rdir)) == ['.uv-cache'] and os.listdir(os.path.join(cache, 'archive-v0')) == ['abc']
    # a build that succeeded: its cache is the cache
    work = stage_cache(rdir)
    write(os.path.join(work, 'archive-v0', 'new', 'other.py'), 'Y = 1\n')
    commit_cache(rdir)
    assert sorted(os.listdir(rdir)) == ['.uv-cache']
    assert sorted(os.listdir(os.path.join(cache, 'archive-v0'))) == ['abc', 'new']
    assert os.stat(cache).st_mode & 0o777 == 0o700


def test_a_build_cache_left_by_a_killed_run_is_replaced(tmp_path):
    rdir = str(tmp_path)
    write(os.path.join(rdir, '.uv-cache.build', '.tmpXYZ', 'half'), 'x')
    work = stage_cache(rdir)
    assert os.listdir(work) == []
