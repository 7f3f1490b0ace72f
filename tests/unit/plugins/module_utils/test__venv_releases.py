# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_venv_releases: kept releases, pruning and rollback on real directories, real venvs and real processes."""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _venv_releases as rel


def make_release(path, name, finished=True):
    release = os.path.join(rel.releases_dir(path), name)
    os.makedirs(os.path.join(release, 'bin'))
    if finished:
        with open(os.path.join(release, rel.MARKER), 'w') as fh:
            json.dump({'schema': 1}, fh)
    time.sleep(0.01)  # distinct marker mtimes
    return release


@pytest.fixture
def venv_path(tmp_path):
    return str(tmp_path / 'venv')


def test_keep_one_previous_release(venv_path):
    a = make_release(venv_path, 'a')
    rel.swap(venv_path, a)
    b = make_release(venv_path, 'b')
    rel.swap(venv_path, b)
    assert rel.stale_releases(venv_path, keep=1) == []
    assert rel.kept_releases(venv_path, keep=1) == [a]
    c = make_release(venv_path, 'c')
    rel.swap(venv_path, c)
    assert rel.stale_releases(venv_path, keep=1) == [a]
    assert rel.stale_releases(venv_path, keep=2) == []
    assert rel.stale_releases(venv_path, keep=0) == [a, b]
    assert rel.remove_stale(venv_path, keep=1) == [a] and not os.path.exists(a)
    assert rel.kept_releases(venv_path, keep=1) == [b]


def test_unfinished_and_legacy_directories_are_always_stale(venv_path):
    a = make_release(venv_path, 'a')
    rel.swap(venv_path, a)
    half = make_release(venv_path, 'half', finished=False)
    assert rel.stale_releases(venv_path, keep=5) == [half]


def test_order_is_last_live_not_name(venv_path):
    """A release made live again (by a rollback) counts as the most recent one."""
    z = make_release(venv_path, 'z-old')
    a = make_release(venv_path, 'a-new')
    rel.swap(venv_path, a)
    rel.swap(venv_path, z)
    assert rel.finished_releases(venv_path) == [z, a]


def test_rollback_is_idempotent_and_pruned_by_the_next_build(venv_path):
    a = make_release(venv_path, 'a')
    rel.swap(venv_path, a)
    b = make_release(venv_path, 'b')
    rel.swap(venv_path, b)
    target, reason = rel.rollback_plan(venv_path)
    assert target == a and reason == 'rollback from b to a'
    rel.rollback(venv_path, target)
    assert os.path.realpath(venv_path) == a
    # the release left stays (processes started from it keep working) until a build prunes it
    assert os.path.isdir(b) and rel.stale_releases(venv_path, keep=1) == [b]
    assert rel.rollback_plan(venv_path) == (None, None)            # second run: nothing to do
    c = make_release(venv_path, 'c')
    rel.swap(venv_path, c)
    rel.clear_rollback(venv_path)
    assert rel.stale_releases(venv_path, keep=1) == [b]             # the bad release goes, a stays
    rel.remove_stale(venv_path, keep=1)
    assert rel.rollback_plan(venv_path)[0] == a


def test_rollback_without_a_previous_release(venv_path):
    a = make_release(venv_path, 'a')
    rel.swap(venv_path, a)
    with pytest.raises(rel.ReleaseError) as info:
        rel.rollback_plan(venv_path)
    assert info.value.msg.startswith('nothing to roll back to: %s keeps no previous release' % rel.releases_dir(venv_path))


def test_process_of_the_previous_release_keeps_importing_after_the_swap(tmp_path):
    """A process started from release A imports a module of A after B is swapped in (and pruning ran)."""
    path = str(tmp_path / 'venv')
    releases = []
    for name in ('a', 'b'):
        release = os.path.join(rel.releases_dir(path), name)
        subprocess.run([sys.executable, '-m', 'venv', '--without-pip', release], check=True)
        site = subprocess.check_output([os.path.join(release, 'bin', 'python'), '-c',
                                        'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                       universal_newlines=True).strip()
        rel.write_release_pth(site)
        with open(os.path.join(site, 'late_mod_%s.py' % name), 'w') as fh:
            fh.write('VALUE = "from %s"\n' % name)
        with open(os.path.join(release, rel.MARKER), 'w') as fh:
            fh.write('{}')
        releases.append(release)
    rel.swap(path, releases[0])
    go = tmp_path / 'go'
    proc = subprocess.Popen([os.path.join(path, 'bin', 'python'), '-c',
                             'import os, sys, time\n'
                             'while not os.path.exists(sys.argv[1]): time.sleep(0.05)\n'
                             'import late_mod_a; print(late_mod_a.VALUE)\n', str(go)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    try:
        time.sleep(0.5)  # the interpreter is up and running from release a
        rel.swap(path, releases[1])
        assert rel.remove_stale(path, keep=1) == []
        go.write_text('')
        out, _err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and out.strip() == 'from a', out
    # with keep 0 the same process would have lost its release: the old behaviour
    assert rel.stale_releases(path, keep=0) == [releases[0]]


def test_without_the_release_pth_a_process_follows_the_symlink(tmp_path):
    """Why the .pth exists: without it, a process started through PATH imports from the NEW release after a swap."""
    path = str(tmp_path / 'venv')
    release_a = os.path.join(rel.releases_dir(path), 'a')
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', release_a], check=True)
    rel.swap(path, release_a)
    out = subprocess.check_output([os.path.join(path, 'bin', 'python'), '-c',
                                   'import sys; print([p for p in sys.path if "site-packages" in p][0])'],
                                  universal_newlines=True).strip()
    assert out.startswith(path + os.sep)
    site = subprocess.check_output([os.path.join(release_a, 'bin', 'python'), '-c',
                                    'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                   universal_newlines=True).strip()
    rel.write_release_pth(site)
    out = subprocess.check_output([os.path.join(path, 'bin', 'python'), '-c',
                                   'import sys; print([p for p in sys.path if "site-packages" in p][0])'],
                                  universal_newlines=True).strip()
    assert out.startswith(release_a + os.sep)
