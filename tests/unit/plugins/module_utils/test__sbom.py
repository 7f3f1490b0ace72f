# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _sbom: the CycloneDX 1.6 SBOM of a release, built and validated with cyclonedx-python-lib."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import zipfile
from datetime import datetime, timezone

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _sbom

TORCH_FILE = 'torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl'
TORCH_SHA = '1f' * 32
FILELOCK_SHA = '2e' * 32
COMMIT = '0123456789abcdef0123456789abcdef01234567'
CONFIG_SHA = '3d' * 32
WEIGHTS_SHA = '4c' * 32
WHEELS = [
    {'path': 'wheels/' + TORCH_FILE, 'filename': TORCH_FILE, 'name': 'torch', 'version': '2.13.0+cpu',
     'sha256': TORCH_SHA, 'size': 1234, 'index': 'https://download.pytorch.org/whl/cpu', 'license': 'MIT'},
    {'path': 'wheels/filelock-3.16.1-py3-none-any.whl', 'filename': 'filelock-3.16.1-py3-none-any.whl',
     'name': 'filelock', 'version': '3.16.1', 'sha256': FILELOCK_SHA, 'size': 16, 'index': None, 'license': None},
]
MODELS = [
    {'repo_id': 'codex-test/tiny-bert', 'repo_type': 'model', 'commit': COMMIT, 'revision': 'main',
     'bundle': 'hf/hf-bundle.tar',
     'files': [{'path': 'config.json', 'sha256': CONFIG_SHA, 'size': 10},
               {'path': 'model.safetensors', 'sha256': WEIGHTS_SHA, 'size': 20}]},
]


def _build(**kwargs):
    return _sbom.build_sbom('2025-06-01', WHEELS, MODELS, '1.4.0', **kwargs)


def _by_ref(document):
    return dict((c['bom-ref'], c) for c in document['components'])


def test_build_sbom_is_valid_cyclonedx_1_6():
    text = _build()
    assert _sbom.validate_sbom(text) == []
    document = json.loads(text)
    assert document['bomFormat'] == 'CycloneDX'
    assert document['specVersion'] == '1.6'
    assert document['metadata']['component']['name'] == 'codex.offline_ml release 2025-06-01'
    assert document['metadata']['timestamp'] == '1970-01-01T00:00:00+00:00'
    tools = document['metadata']['tools']['components']
    assert [(t['name'], t['version']) for t in tools] == [('codex.offline_ml', '1.4.0')]
    assert sorted(_by_ref(document)) == sorted(['wheels/' + TORCH_FILE, 'wheels/filelock-3.16.1-py3-none-any.whl',
                                                'model:codex-test/tiny-bert@' + COMMIT])


def test_wheel_components():
    components = _by_ref(json.loads(_build()))
    torch = components['wheels/' + TORCH_FILE]
    assert torch['type'] == 'library'
    assert (torch['name'], torch['version']) == ('torch', '2.13.0+cpu')
    # packageurl percent-encodes the '+' of the local version, in the version and in the qualifier
    assert torch['purl'] == ('pkg:pypi/torch@2.13.0%2Bcpu'
                             '?file_name=torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl')
    assert torch['hashes'] == [{'alg': 'SHA-256', 'content': TORCH_SHA}]
    assert torch['licenses'] == [{'license': {'id': 'MIT'}}]
    assert torch['externalReferences'] == [{'type': 'distribution', 'url': 'https://download.pytorch.org/whl/cpu'}]
    assert torch['properties'] == [{'name': 'codex:file', 'value': 'wheels/' + TORCH_FILE}]

    filelock = components['wheels/filelock-3.16.1-py3-none-any.whl']
    assert filelock['purl'] == 'pkg:pypi/filelock@3.16.1?file_name=filelock-3.16.1-py3-none-any.whl'
    assert filelock['hashes'] == [{'alg': 'SHA-256', 'content': FILELOCK_SHA}]
    assert 'licenses' not in filelock
    assert 'externalReferences' not in filelock


def test_model_component():
    model = _by_ref(json.loads(_build()))['model:codex-test/tiny-bert@' + COMMIT]
    assert model['type'] == 'machine-learning-model'
    assert (model['name'], model['version']) == ('codex-test/tiny-bert', COMMIT)
    assert model['purl'] == 'pkg:huggingface/codex-test/tiny-bert@' + COMMIT
    assert sorted((p['name'], p['value']) for p in model['properties']) == [
        ('codex:bundle', 'hf/hf-bundle.tar'), ('codex:revision', 'main')]
    files = dict((f['name'], f) for f in model['components'])
    assert sorted(files) == ['config.json', 'model.safetensors']
    for path, sha in (('config.json', CONFIG_SHA), ('model.safetensors', WEIGHTS_SHA)):
        assert files[path]['type'] == 'file'
        assert files[path]['bom-ref'] == 'model:codex-test/tiny-bert@%s/%s' % (COMMIT, path)
        assert files[path]['hashes'] == [{'alg': 'SHA-256', 'content': sha}]


@pytest.mark.parametrize('license_text, expected', [
    ('Apache-2.0 OR MIT', {'expression': 'Apache-2.0 OR MIT'}),
    ('BSD License', {'license': {'name': 'BSD License'}}),
])
def test_license_expression_or_name(license_text, expected):
    wheel = dict(WHEELS[1], license=license_text)
    text = _sbom.build_sbom('r', [wheel], [], '1.0')
    assert _sbom.validate_sbom(text) == []
    assert json.loads(text)['components'][0]['licenses'] == [expected]


def test_index_credentials_are_not_written():
    wheel = dict(WHEELS[1], index='https://user:s3cret@mirror.example/simple')
    text = _sbom.build_sbom('r', [wheel], [], '1.0')
    assert 's3cret' not in text
    ref = json.loads(text)['components'][0]['externalReferences']
    assert ref == [{'type': 'distribution', 'url': 'https://mirror.example/simple'}]


def test_build_sbom_is_deterministic():
    assert _build() == _build()
    assert _build() != _sbom.build_sbom('2025-06-02', WHEELS, MODELS, '1.4.0')


def test_timestamp_and_serial():
    when = datetime(2025, 6, 1, 12, 30, tzinfo=timezone.utc)
    document = json.loads(_build(timestamp=when))
    assert document['metadata']['timestamp'] == '2025-06-01T12:30:00+00:00'
    assert document['serialNumber'] == json.loads(_build())['serialNumber']
    assert document['serialNumber'].startswith('urn:uuid:')


@pytest.mark.parametrize('corrupt', [
    lambda doc: doc.update(bomFormat='Nope'),
    lambda doc: doc['components'][0]['hashes'][0].update(content='not-hex'),
    lambda doc: doc.update(unknownProperty=True),
], ids=['bomFormat', 'hash', 'strict'])
def test_validate_sbom_catches_invalid_documents(corrupt):
    document = json.loads(_build())
    corrupt(document)
    problems = _sbom.validate_sbom(json.dumps(document))
    assert problems
    assert all(isinstance(p, str) for p in problems)


def test_validate_sbom_not_json():
    assert _sbom.validate_sbom('{not json')[0].startswith('not JSON')


def test_missing_library(monkeypatch):
    monkeypatch.setattr(_sbom, 'HAS_CYCLONEDX', False)
    with pytest.raises(RuntimeError, match='cyclonedx-python-lib is not installed'):
        _sbom.build_sbom('r', [], [], '1.0')
    with pytest.raises(RuntimeError, match=r"pip install 'cyclonedx-python-lib\[json-validation\]'"):
        _sbom.validate_sbom('{}')


def _handmade_wheel(path, metadata):
    with zipfile.ZipFile(str(path), 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('demo/__init__.py', '')
        archive.writestr('demo-1.0.dist-info/METADATA', 'Metadata-Version: 2.4\nName: demo\nVersion: 1.0\n' + metadata)
    return path


MIT = 'Classifier: License :: OSI Approved :: MIT License\n'
BSD = 'Classifier: License :: OSI Approved :: BSD License\n'


@pytest.mark.parametrize('metadata, expected', [
    ('License-Expression: Apache-2.0 OR MIT\nLicense: Apache 2.0\n' + MIT, 'Apache-2.0 OR MIT'),
    ('License: BSD-3-Clause\n' + MIT, 'BSD-3-Clause'),
    ('License: UNKNOWN\n' + MIT, 'MIT License'),
    ('License: ' + 'x' * 101 + '\n' + MIT, 'MIT License'),
    ('License: Copyright (c) 2024\n        Permission is hereby granted\n' + MIT, 'MIT License'),
    (MIT + 'Classifier: Programming Language :: Python :: 3\n' + BSD, 'MIT License OR BSD License'),
    ('Classifier: License :: OSI Approved\n', None),
    ('Summary: nothing about licenses\n', None),
], ids=['expression-wins', 'short-license', 'unknown-then-classifier', 'long-license', 'license-text',
        'two-classifiers', 'bare-osi-classifier', 'nothing'])
def test_wheel_license(tmp_path, metadata, expected):
    assert _sbom.wheel_license(_handmade_wheel(tmp_path / 'demo-1.0-py3-none-any.whl', metadata)) == expected


def test_wheel_license_of_stub_wheel(tmp_path, write_wheel):
    wheel = write_wheel(tmp_path, 'demo', '1.0', {'demo/__init__.py': ''})
    assert _sbom.wheel_license(wheel) == 'GPL-3.0-or-later'
    wheel = write_wheel(tmp_path / 'pep639', 'demo', '1.0', {'demo/__init__.py': ''},
                        metadata_extra=['License-Expression: MIT'])
    assert _sbom.wheel_license(wheel) == 'MIT'


def _damaged_member(path):
    """A real zip whose METADATA member's deflate stream is overwritten (zlib error / bad CRC when read)."""
    _handmade_wheel(path, 'License: MIT\n' + 'Summary: %s\n' % ('padding ' * 200))
    data = bytearray(path.read_bytes())
    start = data.index(b'demo-1.0.dist-info/METADATA') + len('demo-1.0.dist-info/METADATA')
    data[start:start + 64] = b'\xff' * 64
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('damage', [
    lambda path: path.write_bytes(b'this is not a zip'),
    lambda path: path.write_bytes(b'PK\x03\x04truncated'),
    lambda path: path.write_bytes(b''),
    _damaged_member,
], ids=['text', 'truncated', 'empty', 'damaged-member'])
def test_wheel_license_of_a_corrupt_file(tmp_path, damage):
    path = tmp_path / 'broken-1.0-py3-none-any.whl'
    damage(path)
    assert _sbom.wheel_license(path) is None


def test_wheel_license_without_metadata_or_file(tmp_path):
    path = tmp_path / 'bare-1.0-py3-none-any.whl'
    with zipfile.ZipFile(str(path), 'w') as archive:
        archive.writestr('bare/__init__.py', '')
    assert _sbom.wheel_license(path) is None
    assert _sbom.wheel_license(tmp_path / 'missing.whl') is None
