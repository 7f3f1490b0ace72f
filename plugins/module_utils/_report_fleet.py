# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report: every host's checks, the columns, drift between hosts, the report document.

Private to the collection; runs on the controller (module ``fleet_report``). Standard library only.

Flow: ``playbooks/audit.yml`` collects one *host record* per host -> :func:`build_report` normalises each
(``_report_normalize``), runs the checks that apply to it (``_report_rules``), groups the hosts by value wherever
they drifted apart and returns the report document (schema ``_report_common.SCHEMA``, laid out in docs/audit.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import (
    FAIL,
    GENERATOR,
    NA,
    SCHEMA,
    STATUSES,
    ReportError,
    plural,
    result,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._report_mirror import (
    check_mirror,
    check_release,
    fleet_mirror,
    served_reference,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._report_normalize import normalize_record, roles_of
from ansible_collections.codex.offline_ml.plugins.module_utils._report_rules import (
    CHECK_ROLES,
    check_exports,
    check_gates,
    check_hf_cache,
    check_torch,
    check_venv,
)

# Column order of the fixed checks; the per-venv checks "wheels:<name>" come right after "torch".
FIXED_ORDER = ("torch", "exports", "hf_cache", "gates", "release", "mirror")
NO_MIRROR = "no mirror host in this audit (offline_mirror): nothing to compare this host's release with"


# --------------------------------------------------------------------------- one host
def _check_roles(record, check):
    """The roles a check audits: it applies to a host expected to have one of them."""
    if check in CHECK_ROLES:
        roles = CHECK_ROLES[check]
        return list(roles) if isinstance(roles, tuple) else [roles]
    return record.get("_venv_roles", {}).get(check) or []


def _not_applicable(record, check):
    role = " or ".join(_check_roles(record, check) or ["its role"])
    groups = ", ".join(record.get("groups") or []) or "no group"
    source = record.get("roles_source") or "groups"
    if source == "groups":
        why = "%s is not applied to this host's groups (%s)" % (role, groups)
    else:
        why = "%s is not in this host's %s" % (role, source)
    return result(NA, why, role=role)


def _unreachable(record):
    return "host was not audited: %s" % (record.get("unreachable_msg") or "unreachable")


def _venv_check_name(venv):
    return "wheels:%s" % venv.get("name")


def _venv_entries_for(entries, roles):
    """The audit_venvs entries that name what this host's venv at each path holds.

    Entries sharing a path become one column named after them all ('torch+hf'); a name whose roles are not on this
    host does not go into it (the CI runner's hf venv at the torch venv's default path is 'wheels:hf', not
    'wheels:torch+hf': it holds huggingface_hub alone). A path none of whose entries apply keeps them all.
    """
    if not isinstance(entries, list):
        return entries
    groups = {}
    for entry in entries:
        path = (entry.get("path") or "").rstrip("/") or "/" if isinstance(entry, dict) else None
        groups.setdefault(path, []).append(entry)
    kept = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("path"):
            kept.append(entry)
            continue
        group = groups[(entry.get("path") or "").rstrip("/") or "/"]
        applying = [e for e in group if set(roles_of(e)) & roles]
        if not applying or entry in applying:
            kept.append(entry)
    return kept


def evaluate_host(record, index=None, manifest_error=None, require_lock_hashes=True, mirror=None):
    """(host entry of the report, {check: comparables}) for one raw host record; MIRROR is what the nodes are
    compared with (``_report_mirror.served_reference``, None without a mirror host)."""
    if not isinstance(record, dict) or not record.get("host"):
        raise ReportError("every host record needs a 'host' name; got %r" % (record,))
    roles = set(record.get("roles") or [])
    record = dict(record, venvs=_venv_entries_for(record.get("venvs"), roles))
    record = normalize_record(record)
    venvs = record["venvs"]
    record["_venv_roles"] = dict((_venv_check_name(v), v["roles"]) for v in venvs)
    unreachable = bool(record.get("unreachable"))
    checks = {}
    comparables = {}

    def applies(name):
        return bool(set(_check_roles(record, name)) & roles)

    venvs_by_path = dict((v["path"], v) for v in venvs)
    plan = [("torch", lambda: check_torch(record, venvs_by_path))]
    for venv in sorted(venvs, key=lambda v: v["name"]):
        plan.append((_venv_check_name(venv),
                     (lambda v=venv: check_venv(v, index, manifest_error, require_lock_hashes))))
    plan += [("exports", lambda: check_exports(record)), ("hf_cache", lambda: check_hf_cache(record)),
             ("gates", lambda: check_gates(record, venvs_by_path)), ("mirror", lambda: check_mirror(record)),
             ("release", lambda: check_release(record, [v for v in venvs if applies(_venv_check_name(v))], mirror))]
    for name, run in plan:
        if not applies(name):
            checks[name] = _not_applicable(record, name)
        elif name == "release" and mirror is None:
            checks[name] = result(NA, NO_MIRROR)
        elif unreachable:
            msg = _unreachable(record)
            checks[name] = result(FAIL, msg, [msg])
        else:
            checks[name], comparables[name] = run()
    failed = sorted(n for n, c in checks.items() if c["status"] == FAIL)
    entry = {
        "host": record["host"],
        "groups": sorted(record.get("groups") or []),
        "roles": sorted(roles),
        "roles_source": record.get("roles_source") or "groups",
        "os": record.get("os") or {},
        "python": record.get("python"),
        "reachable": not unreachable,
        "checks": checks,
        "failed_checks": failed,
        "compliant": not failed,
    }
    return entry, comparables


# --------------------------------------------------------------------------- fleet
def check_order(names):
    names = set(names)
    wheels = sorted(n for n in names if n.startswith("wheels:"))
    fixed = [n for n in FIXED_ORDER if n in names]
    others = sorted(names - set(wheels) - set(fixed))
    return fixed[:1] + wheels + fixed[1:] + others


def _same_lock_groups(check, hosts_here, comparables):
    """Hosts to compare the distributions of a wheels:* check among: those that installed the same lock.

    The lock itself is compared across all of them (one 'lock' row when they differ); two hosts built from different
    locks are expected to hold different distributions, which would only bury real drift.
    """
    groups = {}
    for host in hosts_here:
        lock = ((comparables.get(host) or {}).get(check) or {}).get("lock")
        groups.setdefault(json.dumps(lock), []).append(host)
    return [sorted(g) for _k, g in sorted(groups.items())]


def compute_drift(hosts, comparables):
    """Values that differ among the hosts where their check applies, hosts grouped by value.

    A value a host lacks (a distribution not installed there) counts as null. The distributions of a venv
    (wheels:*) are compared only among hosts that installed the same lock.
    """
    by_key = {}
    applicable = {}
    for entry in hosts:
        host = entry["host"]
        for check, status in ((n, c["status"]) for n, c in entry["checks"].items()):
            if status != NA:
                applicable.setdefault(check, set()).add(host)
        for check, values in comparables.get(host, {}).items():
            for key, value in values.items():
                full = key if key.startswith(check.split(":")[0] + ".") else "%s.%s" % (check, key)
                by_key.setdefault((check, full), {})[host] = value
    drift = []
    for (check, key), values in sorted(by_key.items(), key=lambda kv: kv[0][1]):
        hosts_here = sorted(applicable.get(check, ()))
        if check.startswith("wheels:") and key != "%s.lock" % check:
            cohorts = _same_lock_groups(check, hosts_here, comparables)
        else:
            cohorts = [hosts_here]
        for cohort in cohorts:
            row = _drift_row(check, key, values, cohort)
            if row:
                drift.append(row)
    return drift


def _drift_row(check, key, values, hosts_here):
    if len(hosts_here) < 2:
        return None
    groups = {}
    for host in hosts_here:
        value = values.get(host)
        groups.setdefault(json.dumps(value, sort_keys=True), (value, []))[1].append(host)
    if len(groups) < 2:
        return None
    return {"key": key, "check": check,
            "values": [{"value": v, "hosts": sorted(h)} for _k, (v, h) in sorted(groups.items())]}


def build_report(records, manifest_info=None, index=None, require_lock_hashes=True, generated_at=None,
                 role_groups=None):
    """The report document (schema 1) for RECORDS (raw host records, any order)."""
    if not isinstance(records, (list, tuple)):
        raise ReportError("records must be a list of host records")
    manifest_info = dict(manifest_info or {"path": None, "sha256": None, "files": None,
                                           "error": "no staging manifest given (audit_manifest)"})
    seen = set()
    hosts = []
    comparables = {}
    mirror = served_reference(records)
    for record in sorted(records, key=lambda r: (r or {}).get("host") or ""):
        entry, values = evaluate_host(record, index, manifest_info.get("error"), require_lock_hashes, mirror)
        if entry["host"] in seen:
            raise ReportError("host %s has two records" % entry["host"])
        seen.add(entry["host"])
        hosts.append(entry)
        comparables[entry["host"]] = values
    checks = check_order(n for h in hosts for n in h["checks"])
    for entry in hosts:  # every host gets every column
        for name in checks:
            entry["checks"].setdefault(name, result(NA, "%s is not configured for this host" % name))
    counts = dict((s, 0) for s in STATUSES)
    for entry in hosts:
        for check in entry["checks"].values():
            counts[check["status"]] += 1
    noncompliant = [h["host"] for h in hosts if not h["compliant"]]
    return {
        "schema": SCHEMA,
        "generator": GENERATOR,
        "generated_at": generated_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "manifest": manifest_info,
        "mirror": fleet_mirror(hosts),
        "role_groups": dict((k, sorted(v)) for k, v in (role_groups or {}).items()),
        "checks": checks,
        "hosts": hosts,
        "drift": compute_drift(hosts, comparables),
        "summary": {"hosts": len(hosts), "compliant_hosts": len(hosts) - len(noncompliant),
                    "noncompliant_hosts": noncompliant, "counts": counts},
        "compliant": bool(hosts) and not noncompliant,
    }


def noncompliant(doc):
    """{host: [failing checks]} of the report."""
    return dict((h["host"], list(h["failed_checks"])) for h in doc["hosts"] if not h["compliant"])


def failure_message(doc):
    """The message a play fails with when the fleet is not compliant ('' when it is)."""
    if doc["compliant"]:
        return ""
    if not doc["hosts"]:
        return "audit: no host was audited"
    parts = []
    for entry in doc["hosts"]:
        if entry["compliant"]:
            continue
        if not entry["reachable"]:
            why = entry["checks"][entry["failed_checks"][0]]["summary"]
            parts.append("%s (%s)" % (entry["host"], why if len(why) <= 200 else why[:197] + "..."))
            continue
        parts.append("%s (%s)" % (entry["host"], "; ".join(
            "%s: %s" % (name, entry["checks"][name]["summary"]) for name in entry["failed_checks"])))
    return "audit: %s of %s not compliant: %s" % (plural(len(parts), "host"), plural(len(doc["hosts"]), "host"),
                                                  " | ".join(parts))


def verdicts(doc):
    """The document without generated_at: what must be identical between two audits of the same state."""
    return dict((k, v) for k, v in doc.items() if k != "generated_at")
