# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host side of the audit: what a virtual environment holds and what its release marker says. Read-only.

The distributions are listed by the venv's own interpreter (importlib.metadata, isolated mode), the same way
plugins/module_utils/_offline_venv.py checks a venv before and after a build; the release marker is the
``.codex-release.json`` that offline_venv writes into every release directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess

from ansible_collections.codex.offline_ml.plugins.module_utils._offline_venv import MARKER, inspect_venv

_MAX_MARKER = 4 * 1024 * 1024


def read_marker(release):
    """(marker dict or None, problem or None) of the release directory RELEASE."""
    path = os.path.join(release, MARKER)
    if not os.path.isfile(path):
        return None, None
    try:
        if os.path.getsize(path) > _MAX_MARKER:
            return None, "release marker %s is larger than %d bytes" % (path, _MAX_MARKER)
        with open(path) as fh:
            data = json.load(fh)
    except (IOError, OSError) as exc:
        return None, "cannot read the release marker %s: %s" % (path, exc)
    except ValueError as exc:
        return None, "the release marker %s is not JSON: %s" % (path, exc)
    if not isinstance(data, dict):
        return None, "the release marker %s is not a JSON object" % path
    return data, None


def audit_venv(path, timeout=60):
    """What the venv at PATH is: existence, release, interpreter, distributions, release marker."""
    path = path.rstrip("/") or "/"
    out = {"path": path, "exists": False, "is_symlink": os.path.islink(path), "target": None,
           "python_version": None, "dists": {}, "marker": None, "marker_path": None, "error": None}
    if not os.path.lexists(path):
        return out
    if not os.path.exists(path):
        out["error"] = "dangling symlink to %s" % os.readlink(path)
        out["target"] = os.readlink(path)
        return out
    out["exists"] = True
    release = os.path.realpath(path)
    out["target"] = release
    try:
        state = inspect_venv(path, timeout=timeout)
    except subprocess.TimeoutExpired:
        out["error"] = "bin/python did not list its distributions within %ss" % timeout
        state = None
    except (OSError, ValueError) as exc:
        out["error"] = "bin/python could not list its distributions: %s" % exc
        state = None
    if state is not None:
        if state.get("error"):
            out["error"] = state["error"].strip().splitlines()[-1] if state["error"].strip() else "bin/python failed"
        elif state.get("python_version") is None:
            out["error"] = "%s/bin/python does not exist" % path
        out["python_version"] = state.get("python_version")
        out["dists"] = state.get("dists") or {}
    marker, problem = read_marker(release)
    out["marker"] = marker
    out["marker_path"] = os.path.join(release, MARKER) if marker is not None else None
    if problem:
        out["error"] = "; ".join(p for p in (out["error"], problem) if p)
    return out
