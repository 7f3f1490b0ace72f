# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report: a raw host record, as ``playbooks/audit.yml`` sends it, into the shape the rules read.

Private to the collection; runs on the controller (module ``fleet_report``). Standard library only. The record's
layout is described in docs/audit.md; :func:`normalize_record` is idempotent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import ReportError

MANAGED_MARKER = "Ansible managed"


def parse_env_file(text):
    """KEY=VALUE lines of a systemd EnvironmentFile (comments and blank lines skipped, quotes removed)."""
    values = {}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def roles_of(entry):
    roles = entry.get("roles")
    if roles is None:
        roles = [entry["role"]] if entry.get("role") else []
    elif isinstance(roles, str):
        roles = [roles]
    return sorted(set(roles))


def merge_venvs(entries, states=None, error=None):
    """Join venv entries [{name, path, roles}] with what venv_audit found at their paths.

    Entries sharing a path are one venv (one check): names joined with '+', roles united. Without STATES the
    entries are taken to carry the state already.
    """
    by_path = {}
    order = []
    for entry in entries or []:
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("path"):
            raise ReportError("every audit_venvs entry needs a name and a path; got %r" % (entry,))
        path = entry["path"].rstrip("/") or "/"
        if path not in by_path:
            by_path[path] = dict(entry, path=path, names=[entry["name"]], roles=roles_of(entry))
            order.append(path)
        else:
            merged = by_path[path]
            if entry["name"] not in merged["names"]:
                merged["names"].append(entry["name"])
            merged["roles"] = sorted(set(merged["roles"]) | set(roles_of(entry)))
    found = {}
    if states is not None:
        for state in states:
            if isinstance(state, dict) and state.get("path"):
                found[state["path"].rstrip("/") or "/"] = state
    out = []
    for path in order:
        venv = by_path[path]
        venv["name"] = "+".join(venv.pop("names"))
        if states is not None:
            state = found.get(path) or {"exists": None, "error": error or "not collected"}
            venv.update(dict((k, v) for k, v in state.items() if k != "path"))
        out.append(venv)
    return out


def normalize_record(record):
    """The raw record as playbooks/audit.yml sends it -> the shape the checks read (idempotent)."""
    record = dict(record)
    record["venvs"] = merge_venvs(record.get("venvs"), record.get("venv_states"), record.get("venv_error"))
    record.pop("venv_states", None)
    exports = dict(record.get("exports") or {})
    profile = dict(exports.get("profile") or {})
    if "managed" not in profile:
        marker = exports.get("managed_marker") or MANAGED_MARKER
        profile["managed"] = bool(profile.get("exists")) and marker in (profile.get("head") or "")[:2048]
    profile.pop("head", None)
    exports["profile"] = profile
    env_file = exports.get("env_file")
    if isinstance(env_file, dict):
        env_file = dict(env_file)
        if "values" not in env_file:
            env_file["values"] = parse_env_file(env_file.get("text")) if env_file.get("exists") else {}
        env_file.pop("text", None)
        exports["env_file"] = env_file
    record["exports"] = exports
    gates = dict(record.get("gates") or {})
    if "stat" in gates:
        stat = gates.pop("stat") or {}
        files = []
        for item in gates.get("files") or []:
            st = stat.get(item.get("path")) or {}
            item = dict(item)
            item["exists"] = bool(st.get("exists")) and st.get("isreg", True) is not False
            if item.pop("executable", False):
                item["executable"] = bool(st.get("executable")) if item["exists"] else None
            files.append(item)
        gates["files"] = files
    record["gates"] = gates
    return record
