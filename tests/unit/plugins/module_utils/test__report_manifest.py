# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_manifest: the staging manifest and a release manifest both index their wheels; a missing or bad one is
reported, and fails the wheels checks.

The host records are tests/fixtures/audit/{ml1,ml2,ci1}.json (the shape playbooks/audit.yml sends: ml1 healthy,
ml2 with a stub torch installed from a stub index, ci1 a Debian 13 CI runner) and the staging manifest is
tests/fixtures/audit/manifest.json (real names, versions and sha256 of the staged wheels), loaded by the
``manifest`` fixture of tests/unit/conftest.py; report_cases.py holds the helpers the _report_* tests share.
"""

from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import ReportError
from ansible_collections.codex.offline_ml.plugins.module_utils._report_fleet import build_report
from ansible_collections.codex.offline_ml.plugins.module_utils._report_manifest import load_manifest, manifest_index

from report_cases import STAMP, check_of, record


def test_wheels_manifest_missing(tmp_path):
    info, index = load_manifest(str(tmp_path / 'nope.json'))
    assert index is None and 'cannot read the staging manifest' in info['error']
    doc = build_report([record('ml1')], info, index, generated_at=STAMP)
    check = check_of(doc, 'ml1', 'wheels:torch+hf')
    assert check['status'] == 'fail'
    assert str(tmp_path / 'nope.json') in check['summary']
    (tmp_path / 'bad.json').write_text('{"schema": 2, "files": []}')
    info, index = load_manifest(str(tmp_path / 'bad.json'))
    assert index is None and 'schema 2' in info['error']


WHEEL_SHA = 'a' * 64


@pytest.mark.parametrize('manifest, index', [
    # the staging manifest of playbooks/stage_wheels.yml: every entry a wheel with its name and version
    ({'schema': 1, 'files': [{'name': 'Typing_Extensions', 'version': '4.15.0', 'sha256': WHEEL_SHA.upper(),
                              'filename': 'typing_extensions-4.15.0-py3-none-any.whl'}]},
     {'typing-extensions': {'4.15.0': {WHEEL_SHA}}}),
    # a release's manifest.json: the wheels named by their file names, its locks, bundles and SBOM not wheels
    ({'schema': 1, 'format': 'codex.offline_ml release', 'release': 'r1', 'files': [
        {'path': 'wheels/typing_extensions-4.15.0-py3-none-any.whl', 'kind': 'wheel', 'sha256': WHEEL_SHA,
         'size': 1, 'carried': True},
        {'path': 'wheels/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl', 'kind': 'wheel',
         'sha256': 'b' * 64, 'size': 1, 'carried': False},
        {'path': 'locks/torch_cpu.txt', 'kind': 'lock', 'sha256': 'c' * 64, 'size': 1, 'carried': True},
        {'path': 'hf/hf-bundle.tar', 'kind': 'hf_bundle', 'sha256': 'd' * 64, 'size': 1, 'carried': True},
        {'path': 'sbom.cdx.json', 'kind': 'sbom', 'sha256': 'e' * 64, 'size': 1, 'carried': True}]},
     {'typing-extensions': {'4.15.0': {WHEEL_SHA}}, 'torch': {'2.13.0+cpu': {'b' * 64}}}),
])
def test_both_manifest_shapes_index_their_wheels(tmp_path, manifest, index):
    assert manifest_index(manifest) == index
    path = tmp_path / 'manifest.json'
    path.write_text(json.dumps(manifest))
    info, loaded = load_manifest(str(path))
    assert info['error'] is None and loaded == index
    assert info['files'] == sum(len(v) for versions in index.values() for v in versions.values())
    assert info['release'] == manifest.get('release')


@pytest.mark.parametrize('entry, needle', [
    ({'path': 'wheels/not-a-wheel.tar.gz', 'kind': 'wheel', 'sha256': WHEEL_SHA}, 'without a wheel file name'),
    ({'path': 'wheels/alpha-1.0-py3-none-any.whl', 'kind': 'wheel'}, 'or a sha256'),
])
def test_a_release_wheel_entry_without_its_file_name_or_sha256_is_refused(entry, needle):
    with pytest.raises(ReportError) as err:
        manifest_index({'schema': 1, 'format': 'codex.offline_ml release', 'files': [entry]})
    assert needle in err.value.msg


def test_a_staging_entry_without_a_name_is_refused():
    with pytest.raises(ReportError) as err:
        manifest_index({'schema': 1, 'files': [{'path': 'wheels/alpha-1.0-py3-none-any.whl', 'sha256': WHEEL_SHA}]})
    assert 'lacks name, version or sha256' in err.value.msg
