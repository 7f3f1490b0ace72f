# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.hf_cache_seed with owner (the per_user layout): root installs a real bundle of the tiny BERT
cache layout into a user's own cache below the user's home, owned by the user, never following a link the user
planted in the home. The user database (pwd) is the boundary mocked: a user whose home is a temp directory."""

from __future__ import absolute_import, division, print_function

import collections
import os

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_bundle as hf_bundle
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs as safefs
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs
from ansible_collections.codex.offline_ml.plugins.modules import hf_cache_seed

from conftest import load_fixture_module, run_main

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')
Passwd = collections.namedtuple('Passwd', 'pw_name pw_uid pw_gid pw_dir')
UID, GID = 54321, 54322

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='giving files to another user needs root')


@pytest.fixture
def bundle(tmp_path):
    stage = tmp_path / 'stage'
    layout.make_cache(stage)
    (spec,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    path = str(tmp_path / 'b' / 'hf-bundle.tar')
    hf_bundle.build_bundle(str(stage), [(spec, layout.COMMIT)], path)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / 'home' / 'ann'
    path.mkdir(parents=True)
    os.chown(str(path), UID, GID)
    users = {'ann': Passwd('ann', UID, GID, str(path))}

    def getpwnam(name):
        return users[name]
    monkeypatch.setattr(hf_cache_seed.pwd, 'getpwnam', getpwnam)
    yield path
    safefs.set_anchor(None)


def args(bundle, home, **more):
    out = dict(method='bundle', bundle=bundle, cache_dir=str(home / '.cache' / 'huggingface' / 'hub'), owner='ann',
               repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    out.update(more)
    return out


def test_seeds_the_users_cache_owned_by_the_user(bundle, home):
    failed, result = run_main(hf_cache_seed, **args(bundle, home))
    assert not failed, result
    assert result['changed'] is True
    hub = home / '.cache' / 'huggingface' / 'hub'
    assert (hub / layout.FOLDER / 'refs' / 'main').read_text() == layout.COMMIT
    owners = set()
    for top, dirs, files in os.walk(str(home / '.cache')):
        for name in dirs + files + ['.']:
            st = os.lstat(os.path.join(top, name))
            owners.add((st.st_uid, st.st_gid))
    assert owners == {(UID, GID)}
    failed, result = run_main(hf_cache_seed, **args(bundle, home))
    assert not failed and result['changed'] is False, result


def test_a_symlink_the_user_planted_is_not_followed(bundle, home, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    os.symlink(str(outside), str(home / '.cache'))
    failed, result = run_main(hf_cache_seed, **args(bundle, home))
    assert failed and 'is a symlink or not a directory; root does not follow it' in result['msg'], result
    assert os.listdir(str(outside)) == []


def test_a_planted_link_deeper_is_not_followed(bundle, home, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (home / '.cache' / 'huggingface').mkdir(parents=True)
    os.symlink(str(outside), str(home / '.cache' / 'huggingface' / 'hub'))
    failed, result = run_main(hf_cache_seed, **args(bundle, home))
    assert failed and 'root does not follow it' in result['msg'], result
    assert os.listdir(str(outside)) == []


def test_cache_dir_outside_the_home_refused(bundle, home, tmp_path):
    failed, result = run_main(hf_cache_seed, **args(bundle, home, cache_dir=str(tmp_path / 'elsewhere')))
    assert failed and result['msg'] == 'cache_dir %s is not inside the home %s of ann' % (tmp_path / 'elsewhere', home)
