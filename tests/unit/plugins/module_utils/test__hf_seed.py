# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_seed: what hf_cache_seed does, called directly.

With owner (the per_user layout): root installs a real bundle of the tiny BERT
cache layout into a user's own cache below the user's home, owned by the user, never following a link the user
planted in the home. The user database (pwd) is the boundary mocked: a user whose home is a temp directory."""

from __future__ import absolute_import, division, print_function

import collections
import os
import stat

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_bundle as hf_bundle
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs as safefs
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_seed as hf_seed
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs

from conftest import load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')
Passwd = collections.namedtuple('Passwd', 'pw_name pw_uid pw_gid pw_dir')
UID, GID = 54321, 54322

as_root = pytest.mark.skipif(os.geteuid() != 0, reason='giving files to another user needs root')
DEFAULTS = dict(method='bundle', cache_dir=None, repos=[], variable_prefix='', python=None, endpoint=None, token=None,
                ca_bundle=None, bundle=None, manifest=None, group=None, owner=None, validate_only=False, timeout=3600,
                probe_timeout=10, verify=False, progress_log=None)


@pytest.fixture
def bundle(tiny_bert_bundle):
    return tiny_bert_bundle


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / 'home' / 'ann'
    path.mkdir(parents=True)
    os.chown(str(path), UID, GID)
    users = {'ann': Passwd('ann', UID, GID, str(path))}

    def getpwnam(name):
        return users[name]
    monkeypatch.setattr(hf_seed.pwd, 'getpwnam', getpwnam)
    yield path
    safefs.set_anchor(None)


def seed(check_mode=False, **params):
    """(failed, result or message) of _hf_seed.seed, as the module reports them."""
    try:
        return False, hf_seed.seed(dict(DEFAULTS, **params), params['cache_dir'], check_mode)
    except hf_specs.HfCacheError as exc:
        return True, {'msg': exc.msg, 'kind': exc.kind}


def args(bundle, home, **more):
    out = dict(method='bundle', bundle=bundle, cache_dir=str(home / '.cache' / 'huggingface' / 'hub'), owner='ann',
               repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    out.update(more)
    return out


@as_root
def test_seeds_the_users_cache_owned_by_the_user(bundle, home):
    failed, result = seed(**args(bundle, home))
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
    failed, result = seed(**args(bundle, home))
    assert not failed and result['changed'] is False, result


@as_root
def test_a_symlink_the_user_planted_is_not_followed(bundle, home, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    os.symlink(str(outside), str(home / '.cache'))
    failed, result = seed(**args(bundle, home))
    assert failed and 'is a symlink or not a directory; root does not follow it' in result['msg'], result
    assert os.listdir(str(outside)) == []


@as_root
def test_a_planted_link_deeper_is_not_followed(bundle, home, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (home / '.cache' / 'huggingface').mkdir(parents=True)
    os.symlink(str(outside), str(home / '.cache' / 'huggingface' / 'hub'))
    failed, result = seed(**args(bundle, home))
    assert failed and 'root does not follow it' in result['msg'], result
    assert os.listdir(str(outside)) == []


@as_root
def test_cache_dir_outside_the_home_refused(bundle, home, tmp_path):
    failed, result = seed(**args(bundle, home, cache_dir=str(tmp_path / 'elsewhere')))
    assert failed and result['msg'] == 'cache_dir %s is not inside the home %s of ann' % (tmp_path / 'elsewhere', home)


# --------------------------------------------------------------------------- the pieces
def test_bundle_record_lists_the_snapshot_files_of_the_manifest(bundle):
    manifest = hf_bundle.load_manifest(hf_bundle.manifest_path_for(bundle))
    (repo,) = manifest['repos']
    record = hf_seed.bundle_record(manifest, repo)
    snap = '%s/snapshots/%s/' % (repo['folder'], repo['commit'])
    files = sorted(f['path'][len(snap):] for f in manifest['files'] if f['type'] == 'symlink' and f['path'].startswith(snap))
    assert files and sorted(record['files']) == files
    for entry in record['files'].values():
        assert len(entry['sha256']) == 64 and entry['size'] is not None


def test_bundle_check_mode_writes_nothing(bundle, tmp_path):
    cache = tmp_path / 'hub'
    cache.mkdir()
    failed, result = seed(check_mode=True, bundle=bundle, cache_dir=str(cache),
                          repos=[{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    assert not failed and result['changed'] is True and result['installed'], result
    assert os.listdir(str(cache)) == []


def test_mirror_needs_the_endpoint_named_with_the_prefix(tmp_path):
    failed, result = seed(method='mirror', cache_dir=str(tmp_path), variable_prefix='hf_offline_cache_')
    assert failed and result == {'msg': 'method=mirror needs hf_offline_cache_endpoint: the URL of the Hub mirror',
                                 'kind': 'invalid'}


def test_start_progress_truncates_and_never_follows_a_link(tmp_path):
    log = tmp_path / 'progress.log'
    log.write_text('old run')
    assert hf_seed.start_progress(str(log)) == str(log)
    assert log.read_text() == ''
    assert stat.S_IMODE(log.stat().st_mode) in (0o640, 0o644, 0o600)
    os.symlink(str(tmp_path / 'elsewhere'), str(tmp_path / 'link.log'))
    with pytest.raises(OSError):
        hf_seed.start_progress(str(tmp_path / 'link.log'))
    assert not (tmp_path / 'elsewhere').exists()
    assert hf_seed.start_progress(None) is None


def test_tag_and_incomplete_message():
    (spec,) = hf_specs.normalize_repos([{'repo_id': 'org/model', 'revision': 'main'}])
    assert hf_seed.tag(spec) == 'model org/model@main'
    state = {'complete': False, 'problems': {'a.bin': 'missing'}, 'ref_problems': {}}
    assert hf_seed.incomplete_message([spec], [state], [0], 'down') == (
        'down; the mirror is needed because the cache does not hold these revisions complete: '
        'model org/model@main: a.bin: missing')
