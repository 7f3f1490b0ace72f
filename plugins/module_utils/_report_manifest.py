# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report: the staging manifest (manifest.json of playbooks/stage_wheels.yml) as an index.

Private to the collection; runs on the controller (module ``fleet_report``). Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import normalize_name, same_version
from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import ReportError


def manifest_index(manifest):
    """{name: {version: set(sha256)}} from a manifest.json written by plugins/module_utils/_stage.py."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise ReportError("the staging manifest has no 'files' list: give the manifest.json written by "
                          "playbooks/stage_wheels.yml (audit_manifest)")
    if manifest.get("schema") != 1:
        raise ReportError("the staging manifest has schema %r; this audit reads schema 1" % (manifest.get("schema"),))
    index = {}
    for entry in manifest["files"]:
        try:
            name, version, digest = normalize_name(entry["name"]), entry["version"], entry["sha256"].lower()
        except (KeyError, TypeError, AttributeError):
            raise ReportError("staging manifest entry %r lacks name, version or sha256" % (entry,))
        index.setdefault(name, {}).setdefault(version, set()).add(digest)
    return index


def load_manifest(path):
    """(manifest_info, index or None): a missing or unreadable manifest is reported, not raised."""
    info = {"path": path, "sha256": None, "files": None, "error": None}
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        info["sha256"] = hashlib.sha256(raw).hexdigest()
        data = json.loads(raw.decode("utf-8"))
        index = manifest_index(data)
        info["files"] = len(data["files"])
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
