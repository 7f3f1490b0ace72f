# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report: the manifest the venvs are checked against, as an index of wheels. Either the staging
manifest (manifest.json of playbooks/stage_wheels.yml: each entry a wheel with its name, version and sha256) or a
release manifest (manifest.json of playbooks/stage.yml, the one a mirror host serves: wheels are the entries of kind
``wheel``, named by their file name; the locks, bundles and SBOM beside them are not wheels).

Private to the collection; runs on the controller (module ``fleet_report``). Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import (
    normalize_name,
    parse_wheel_filename,
    same_version,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import ReportError

# manifest.json of a release (plugins/module_utils/_release_verify.py FORMAT; not imported: that file stands alone)
RELEASE_FORMAT = "codex.offline_ml release"


def _staged_wheel(entry):
    try:
        return normalize_name(entry["name"]), entry["version"], entry["sha256"].lower()
    except (KeyError, TypeError, AttributeError):
        raise ReportError("staging manifest entry %r lacks name, version or sha256" % (entry,))


def _release_wheel(entry):
    """(name, version, sha256) of a release's wheel entry (kind wheel, path wheels/<file>), None for its other files."""
    if not isinstance(entry, dict):
        raise ReportError("release manifest entry %r is not an object" % (entry,))
    if entry.get("kind") != "wheel":
        return None
    parsed = parse_wheel_filename(str(entry.get("path") or ""))
    digest = entry.get("sha256")
    if parsed is None or not isinstance(digest, str):
        raise ReportError("release manifest entry %r is a wheel without a wheel file name or a sha256" % (entry,))
    return parsed["name"], parsed["version"], digest.lower()


def wheel_entries(manifest):
    """[(name, version, sha256)] of the wheels of a staging or a release manifest (schema 1)."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise ReportError("the manifest has no 'files' list: give the manifest.json written by "
                          "playbooks/stage_wheels.yml or a release's manifest.json (audit_manifest)")
    if manifest.get("schema") != 1:
        raise ReportError("the manifest has schema %r; this audit reads schema 1" % (manifest.get("schema"),))
    read = _release_wheel if manifest.get("format") == RELEASE_FORMAT else _staged_wheel
    return [wheel for wheel in (read(entry) for entry in manifest["files"]) if wheel is not None]


def manifest_index(manifest):
    """{name: {version: set(sha256)}} of the wheels of a staging manifest (plugins/module_utils/_stage.py) or a
    release manifest (plugins/module_utils/_release_build.py)."""
    index = {}
    for name, version, digest in wheel_entries(manifest):
        index.setdefault(name, {}).setdefault(version, set()).add(digest)
    return index


def load_manifest(path):
    """(manifest_info, index or None): a missing or unreadable manifest is reported, not raised."""
    info = {"path": path, "sha256": None, "files": None, "release": None, "error": None}
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        info["sha256"] = hashlib.sha256(raw).hexdigest()
        data = json.loads(raw.decode("utf-8"))
        index = manifest_index(data)
        # what the page counts as the manifest's wheels; a release manifest also lists its locks, bundles, SBOM
        info["files"] = sum(len(digests) for versions in index.values() for digests in versions.values())
        if data.get("format") == RELEASE_FORMAT:
            info["release"] = data.get("release")
        return info, index
    except (IOError, OSError) as exc:
        info["error"] = ("cannot read the staging manifest %s (%s): stage the mirror with playbooks/stage_wheels.yml "
                         "or point audit_manifest at its manifest.json" % (path, exc.strerror or exc))
    except ValueError as exc:
        info["error"] = "the staging manifest %s is not JSON: %s" % (path, exc)
    except ReportError as exc:
        info["error"] = "%s (%s)" % (exc.msg, path)
    return info, None


def manifest_version(index, name, version):
    """The manifest's version string equal to VERSION (PEP 440-ish), or None."""
    for candidate in sorted(index.get(name, {})):
        if same_version(candidate, version):
            return candidate
    return None
