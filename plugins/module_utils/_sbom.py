# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CycloneDX 1.6 SBOM (JSON) of a release: the wheels and Hugging Face bundles carried into the air-gapped lab.

The lab's auditors need to know what crossed the gap: each wheel (name, version, sha256, license, the index it
came from) and each model snapshot (repo, commit, every file's sha256). The document is built with the maintained
``cyclonedx-python-lib`` (objects serialized by its JSON outputter and checked against the 1.6 schema by its own
validator), never by hand, and it is deterministic: the same release gives the same bytes, so it can be signed
and compared.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid
import zipfile
import zlib
from datetime import datetime, timezone
from email.parser import Parser

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import strip_userinfo

try:
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.exception import MissingOptionalDependencyException
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL
except ImportError:
    HAS_CYCLONEDX = False
else:
    HAS_CYCLONEDX = True

MISSING_LIBRARY = ("cyclonedx-python-lib is not installed on the staging machine: "
                   "pip install 'cyclonedx-python-lib[json-validation]'")
TOOL_NAME = 'codex.offline_ml'
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# uuid5 namespace of the BOM serial numbers: one serial per release id
SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, 'https://galaxy.ansible.com/codex/offline_ml/sbom')
MAX_LICENSE_FIELD = 100
MAX_METADATA_BYTES = 4 * 1024 * 1024
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError,
               NotImplementedError)


def _require_library():
    if not HAS_CYCLONEDX:
        raise RuntimeError(MISSING_LIBRARY)


# ---------------------------------------------------------------- wheel license


def _read_metadata(path):
    """The text of the wheel's top-level ``*.dist-info/METADATA``, or None."""
    with zipfile.ZipFile(str(path)) as archive:
        names = sorted(n for n in archive.namelist() if n.count('/') == 1 and n.endswith('.dist-info/METADATA'))
        if not names:
            return None
        with archive.open(names[0]) as handle:
            data = handle.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        return None
    return data.decode('utf-8', 'replace')


def _classifier_licenses(message):
    found = []
    for classifier in message.get_all('Classifier') or ():
        parts = [p.strip() for p in classifier.split('::')]
        if len(parts) < 2 or parts[0] != 'License' or parts[1:] == ['OSI Approved']:
            continue
        if parts[-1] and parts[-1] not in found:
            found.append(parts[-1])
    return ' OR '.join(found) if found else None


def wheel_license(path):
    """The license the wheel at ``path`` declares in its METADATA, or None (also for an unreadable wheel).

    ``License-Expression`` (PEP 639) wins; else a short one-line ``License`` (not ``UNKNOWN``); else the last
    segment of the ``License ::`` classifiers, several joined with `` OR ``.
    """
    try:
        text = _read_metadata(path)
    except _ZIP_ERRORS:
        return None
    if text is None:
        return None
    message = Parser().parsestr(text, headersonly=True)
    expression = (message.get('License-Expression') or '').strip()
    if expression:
        return expression
    field = (message.get('License') or '').strip()
    if field and '\n' not in field and len(field) <= MAX_LICENSE_FIELD and field.upper() != 'UNKNOWN':
        return field
    return _classifier_licenses(message)


# ---------------------------------------------------------------- SBOM


def _sha256(content):
    return [HashType(alg=HashAlgorithm.SHA_256, content=content)] if content else []


def _wheel_component(wheel):
    purl = PackageURL(type='pypi', name=wheel['name'], version=wheel['version'],
                      qualifiers={'file_name': wheel['filename']})
    licenses = [LicenseFactory().make_from_string(wheel['license'])] if wheel.get('license') else []
    references = []
    if wheel.get('index'):
        references.append(ExternalReference(type=ExternalReferenceType.DISTRIBUTION,
                                            url=XsUri(strip_userinfo(wheel['index']))))  # no credential of a private index
    return Component(type=ComponentType.LIBRARY, name=wheel['name'], version=wheel['version'], purl=purl,
                     bom_ref=wheel['path'], hashes=_sha256(wheel.get('sha256')), licenses=licenses,
                     external_references=references, properties=[Property(name='codex:file', value=wheel['path'])])


def _model_component(model):
    repo_id, commit = model['repo_id'], model['commit']
    namespace, _sep, name = repo_id.rpartition('/')
    ref = 'model:%s@%s' % (repo_id, commit)
    files = [Component(type=ComponentType.FILE, name=item['path'], bom_ref='%s/%s' % (ref, item['path']),
                       hashes=_sha256(item.get('sha256')))
             for item in sorted(model.get('files') or (), key=lambda item: item['path'])]
    properties = [Property(name='codex:%s' % key, value=model[key])
                  for key in ('revision', 'bundle') if model.get(key)]
    return Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=repo_id, version=commit,
                     purl=PackageURL(type='huggingface', namespace=namespace or None, name=name, version=commit),
                     bom_ref=ref, properties=properties, components=files)


def build_sbom(release_id, wheels, models, tool_version, timestamp=None):
    """The CycloneDX 1.6 JSON text describing release ``release_id`` (see the module docstring).

    ``wheels``: dicts with path, filename, name (PEP 503), version, sha256, size, index (URL or None), license
    (str or None); ``models``: dicts with repo_id, repo_type, commit, revision, bundle, files (path, sha256,
    size). ``timestamp`` (a datetime; naive means UTC) defaults to the epoch so the output stays deterministic.
    """
    _require_library()
    if timestamp is None:
        timestamp = EPOCH
    elif timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=timezone.utc)
    release = Component(type=ComponentType.APPLICATION, name='%s release %s' % (TOOL_NAME, release_id),
                        version=release_id, bom_ref='release:%s' % release_id)
    components = sorted([_wheel_component(w) for w in wheels] + [_model_component(m) for m in models],
                        key=lambda component: component.bom_ref.value)
    bom = Bom(serial_number=uuid.uuid5(SERIAL_NAMESPACE, release_id), components=components,
              metadata=BomMetaData(component=release, timestamp=timestamp))
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name=TOOL_NAME,
                                                version=tool_version,
                                                bom_ref='tool:%s@%s' % (TOOL_NAME, tool_version)))
    # the release holds (depends on) every wheel and model: without it the library warns of an incomplete graph
    bom.register_dependency(release, components)
    return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string(indent=2)


def validate_sbom(text):
    """Problems of the JSON ``text`` against the strict CycloneDX 1.6 schema: [] when it is valid."""
    _require_library()
    try:
        errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    except MissingOptionalDependencyException as exc:
        raise RuntimeError(MISSING_LIBRARY) from exc
    except ValueError as exc:
        return ['not JSON: %s' % exc]
    return ['%s: %s' % (error.data.json_path, error.data.message) for error in errors or ()]
