# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_record: the per-revision record and the completeness check, on real cache layouts (tmp_path)."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_record as hf_record
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs

from conftest import load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')
NAMES = sorted(p.name for p in layout.MODEL.iterdir())


def seeded(root, listing=None, files=None, **make):
    """The layout's revision with a record of LISTING (default: its files), as a mirror seed writes it."""
    base = layout.make_cache(root, files=files, **make)
    snap = base / 'snapshots' / layout.COMMIT
    meta = dict((p.name, {'size': p.stat().st_size, 'etag': os.readlink(str(p)).rsplit('/', 1)[-1]})
                for p in snap.iterdir())
    spec = {'repo_id': layout.REPO_ID, 'repo_type': 'model'}
    record = hf_record.make_record(spec, layout.COMMIT, listing or sorted(meta), meta, 'mirror')
    assert hf_record.write_record(str(root), layout.FOLDER, record) is True
    assert hf_record.write_record(str(root), layout.FOLDER, record) is False
    return base


def spec(**more):
    (out,) = hf_specs.normalize_repos([dict({'repo_id': layout.REPO_ID, 'revision': 'main'}, **more)])
    return out


def blob_of(base, name):
    return base / 'blobs' / os.readlink(str(base / 'snapshots' / layout.COMMIT / name)).rsplit('/', 1)[-1]


def test_complete_revision(tmp_path):
    seeded(tmp_path)
    state = hf_record.check(str(tmp_path), spec(), verify=True)
    assert state['complete'] is True and state['record'] is True and state['problems'] == {}
    assert state['files'] == NAMES and state['ref_problems'] == {}
    mode = os.stat(str(tmp_path / layout.FOLDER / '.codex' / (layout.COMMIT + '.json'))).st_mode & 0o777
    assert mode == 0o644


def _delete_blob(base):
    os.unlink(str(blob_of(base, 'model.safetensors')))


def _truncate_blob(base):
    with open(str(blob_of(base, 'model.safetensors')), 'r+b') as handle:
        handle.truncate(10)


def _fifo_blob(base):
    path = blob_of(base, 'model.safetensors')
    os.unlink(str(path))
    os.mkfifo(str(path))


def _drop_link(base):
    os.unlink(str(base / 'snapshots' / layout.COMMIT / 'model.safetensors'))


@pytest.mark.parametrize('damage, why', [
    (_delete_blob, 'blob %s missing or not a regular file'),
    (_fifo_blob, 'blob %s missing or not a regular file'),
    (_truncate_blob, 'size 10, expected %d'),
    (_drop_link, 'missing'),
])
def test_damage_is_named(tmp_path, damage, why):
    base = seeded(tmp_path)
    blob = blob_of(base, 'model.safetensors').name
    size = blob_of(base, 'model.safetensors').stat().st_size
    damage(base)
    state = hf_record.check(str(tmp_path), spec())
    assert state['complete'] is False
    expected = why % (blob if '%s' in why else size) if '%' in why else why
    assert state['problems'] == {'model.safetensors': expected}
    assert hf_record.describe(state) == 'model.safetensors: %s' % expected


def test_verify_finds_same_size_corruption(tmp_path):
    base = seeded(tmp_path)
    path = blob_of(base, 'config.json')
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    assert hf_record.check(str(tmp_path), spec())['complete'] is True
    state = hf_record.check(str(tmp_path), spec(), verify=True)
    assert state['complete'] is False and state['problems']['config.json'].startswith('corrupt: git sha1 ')


def test_widened_allow_patterns_needs_the_rest(tmp_path):
    seeded(tmp_path, listing=NAMES, files=['config.json', 'vocab.txt'])
    assert hf_record.check(str(tmp_path), spec(allow_patterns=['*.json', '*.txt']))['problems'] == dict(
        (n, 'missing (not seeded yet)') for n in NAMES if n.endswith(('.json', '.txt')) and n not in
        ('config.json', 'vocab.txt'))
    assert hf_record.check(str(tmp_path), spec(allow_patterns=['config.json']))['complete'] is True


@pytest.mark.parametrize('text, why', [
    (layout.COMMIT, None),
    (layout.COMMIT + '\n', "holds %r: huggingface_hub reads it without stripping" % (layout.COMMIT + '\n')),
    ('f' * 40, 'names ' + 'f' * 40),
    (None, 'absent'),
])
def test_ref_problem(text, why):
    assert hf_record.ref_problem(text, layout.COMMIT) == why


def test_trailing_newline_ref_is_a_problem_but_the_revision_is_found(tmp_path):
    base = seeded(tmp_path)
    (base / 'refs' / 'main').write_text(layout.COMMIT + '\n')
    state = hf_record.check(str(tmp_path), spec())
    assert state['commit'] == layout.COMMIT and state['complete'] is True
    assert list(state['ref_problems']) == ['main']


def test_no_record_is_unverified(tmp_path):
    layout.make_cache(tmp_path)
    state = hf_record.check(str(tmp_path), spec())
    assert state['complete'] is None and state['record'] is False and state['files'] == NAMES
    assert 'unverified' in hf_record.describe(state)
    _delete_blob(tmp_path / layout.FOLDER)
    assert hf_record.check(str(tmp_path), spec())['complete'] is False


def test_not_ours_is_no_record(tmp_path):
    base = seeded(tmp_path)
    (base / '.codex' / (layout.COMMIT + '.json')).write_text(json.dumps({'format': 99}))
    assert hf_record.check(str(tmp_path), spec())['record'] is False


@pytest.mark.parametrize('name, patterns, selected', [
    ('config.json', None, True),
    ('config.json', ['*.json'], True),
    ('sub/x.bin', ['sub/'], True),
    ('model.safetensors', ['*.json'], False),
])
def test_selects_like_filter_repo_objects(name, patterns, selected):
    assert hf_record.selects(name, patterns) is selected


def test_ensure_links_and_merge(tmp_path):
    base = seeded(tmp_path)
    _drop_link(base)
    blob = blob_of(base, 'config.json').name
    files = {'config.json': {'etag': blob}, 'model.safetensors': {'etag': 'x'}}
    written = hf_record.ensure_links(str(tmp_path), layout.FOLDER, layout.COMMIT, files)
    assert written == ['%s/snapshots/%s/model.safetensors' % (layout.FOLDER, layout.COMMIT)]
    assert hf_record.link_target('a/b.bin', 'e') == '../../../blobs/e'
    old = {'commit': 'c', 'files': {'a': {'size': 1}}, 'listing': ['a', 'b']}
    new = {'commit': 'c', 'files': {'b': {'size': 2}}, 'listing': ['a', 'b']}
    assert hf_record.merge(old, new)['files'] == {'a': {'size': 1}, 'b': {'size': 2}}
