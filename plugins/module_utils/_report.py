# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report: verdicts from raw host records, drift, and fleet.json / fleet.html / junit.xml.

Private to the collection; runs on the controller (module ``fleet_report``). Standard library only (plus the
collection's own version comparison), no templating engine: the HTML is built here with every value escaped.

Flow: ``playbooks/audit.yml`` collects one *host record* per host (what it found, read-only; layout in
docs/audit.md) -> :func:`build_report` turns the records and the staging manifest into the report document
(schema :data:`SCHEMA`) -> :func:`render_json`, :func:`render_html`, :func:`render_junit` ->
:func:`write_report` writes one folder per run plus a ``latest`` symlink.

Everything but ``generated_at`` is a pure function of the inputs, with sorted keys and hosts, so two audits of
the same fleet state give byte-identical verdicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import time
import xml.etree.ElementTree as ET

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror import normalize_name, same_version

try:
    from html import escape as _html_escape
except ImportError:  # pragma: no cover - Python 2 is not supported on the controller
    _html_escape = None

SCHEMA = 1
GENERATOR = "codex.offline_ml.fleet_report"

PASS = "pass"
FAIL = "fail"
NA = "n/a"
STATUSES = (PASS, FAIL, NA)

# Which role a check belongs to: a check applies to a host when the host is expected to have that role.
CHECK_ROLES = {
    "torch": "torch_cpu",
    "exports": "hf_offline_cache",
    "hf_cache": "hf_offline_cache",
    "gates": "ci_gates",
}
# Column order of the fixed checks; the per-venv checks "wheels:<name>" come right after "torch".
FIXED_ORDER = ("torch", "exports", "hf_cache", "gates")

EXPORT_KEYS = ("HF_HOME", "HF_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_DATASETS_CACHE",
               "TRANSFORMERS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
OFFLINE_FLAGS = ("TRANSFORMERS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
CACHE_KEYS = ("HF_HOME", "HF_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_DATASETS_CACHE")

# What `python -m venv` seeds (pip, and setuptools up to 3.11): not from the mirror, not a finding unless the
# release marker asks for them (same rule as plugins/module_utils/_offline_venv.py).
SEEDED_DISTS = frozenset(["pip", "setuptools"])

# Fields of the torch diagnostic the facts file (ansible_local.torch_cpu.diagnostic) must agree on.
TORCH_FACT_KEYS = ("status", "version", "dist_version", "cuda_version", "cpu_build", "compiled_core",
                   "dataset_available", "python_version", "location")
# Keys that change on every run and never reach the report.
VOLATILE_KEYS = frozenset(["elapsed_s"])

_CONTROL_RE = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ReportError(Exception):
    """Bad input for the report (a record or the manifest), with a message for the operator."""

    def __init__(self, msg):
        super(ReportError, self).__init__(msg)
        self.msg = msg


# --------------------------------------------------------------------------- small helpers
def _strip_volatile(value):
    if isinstance(value, dict):
        return dict((k, _strip_volatile(v)) for k, v in value.items() if k not in VOLATILE_KEYS)
    if isinstance(value, (list, tuple)):
        return [_strip_volatile(v) for v in value]
    return value


def _short(digest, n=12):
    return (digest or "")[:n]


def _result(verdict, summary, problems=None, **details):
    details["problems"] = list(problems or [])
    return {"status": verdict, "summary": summary, "details": _strip_volatile(details)}


def _plural(n, word, plural=None):
    return "%d %s" % (n, word if n == 1 else (plural or word + "s"))


def fingerprint(value):
    """sha256 of the canonical JSON of VALUE (sorted keys, sorted lists of hashes)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- the staging manifest
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


def _manifest_version(index, name, version):
    """The manifest's version string equal to VERSION (PEP 440-ish), or None."""
    for candidate in sorted(index.get(name, {})):
        if same_version(candidate, version):
            return candidate
    return None


# --------------------------------------------------------------------------- checks
def _not_applicable(record, check):
    role = CHECK_ROLES.get(check) or " or ".join(record.get("_venv_roles", {}).get(check) or ["its role"])
    groups = ", ".join(record.get("groups") or []) or "no group"
    source = record.get("roles_source") or "groups"
    if source == "groups":
        why = "%s is not applied to this host's groups (%s)" % (role, groups)
    else:
        why = "%s is not in this host's %s" % (role, source)
    return _result(NA, why, role=role)


def _unreachable(record):
    return "host was not audited: %s" % (record.get("unreachable_msg") or "unreachable")


def check_torch(record, venvs_by_path=None):
    torch = record.get("torch") or {}
    diag = torch.get("diagnostic")
    facts = torch.get("facts")
    python = torch.get("python")
    problems = []
    if not diag:
        problems.append(torch.get("error") or "no torch diagnostic was collected for %s" % python)
        return _result(FAIL, problems[0], problems, python=python, facts_file=bool(facts)), {}
    status = diag.get("status")
    if status != "ok":
        problems.append("torch in %s is %s" % (python, status))
        problems.extend(diag.get("problems") or [])
    if not facts:
        problems.append("no ansible_local.torch_cpu facts (/etc/ansible/facts.d/torch_cpu.fact): the torch_cpu "
                        "role's verify phase has not run on this host")
    else:
        fdiag = facts.get("diagnostic") or {}
        for key in TORCH_FACT_KEYS:
            if fdiag.get(key) != diag.get(key):
                problems.append("facts file says %s=%s, the live diagnostic says %s" % (
                    key, json.dumps(fdiag.get(key)), json.dumps(diag.get(key))))
        fgit = (fdiag.get("build") or {}).get("git_version")
        lgit = (diag.get("build") or {}).get("git_version")
        if fgit != lgit:
            problems.append("facts file says build git_version=%s, the live diagnostic says %s" % (
                json.dumps(fgit), json.dumps(lgit)))
        live = ((venvs_by_path or {}).get(torch.get("venv")) or {}).get("dists")
        fdists = facts.get("distributions")
        if isinstance(live, dict) and isinstance(fdists, dict):
            for name in sorted(set(live) | set(fdists)):
                if name in SEEDED_DISTS and name not in fdists:
                    continue
                if not (name in live and name in fdists and same_version(live[name], fdists[name])):
                    problems.append("facts file lists %s=%s, the venv holds %s" % (
                        name, fdists.get(name, "(absent)"), live.get(name, "(absent)")))
    build = diag.get("build") or {}
    variant = "cpu" if diag.get("cpu_build") else ("cuda %s" % diag["cuda_version"] if diag.get("cuda_version")
                                                   else "unknown build")
    comparables = {
        "torch.version": diag.get("version"),
        "torch.build": "%s (%s)" % (_short(build.get("git_version")) or "?", variant) if diag.get("version") else None,
        "torch.lock_sha256": (facts or {}).get("lock_sha256"),
    }
    details = {
        "python": python,
        "diagnostic_status": status,
        "version": diag.get("version"),
        "dist_version": diag.get("dist_version"),
        "cuda_version": diag.get("cuda_version"),
        "cpu_build": diag.get("cpu_build"),
        "git_version": build.get("git_version"),
        "facts_status": ((facts or {}).get("diagnostic") or {}).get("status"),
        "lock_sha256": (facts or {}).get("lock_sha256"),
    }
    if problems:
        summary = ("torch is %s" % status) if status != "ok" else problems[0]
        return _result(FAIL, summary, problems, **details), comparables
    return _result(PASS, "torch %s ok (%s), facts file agrees" % (diag.get("version"), variant), **details), comparables


def check_venv(venv, index, manifest_error, require_lock_hashes):
    """One venv against its release marker and the staging manifest."""
    path = venv.get("path")
    problems = []
    base = {"path": path, "target": venv.get("target"), "python_version": venv.get("python_version")}
    if venv.get("exists") is None:
        msg = "venv %s was not examined: %s" % (path, venv.get("error") or "not collected")
        return _result(FAIL, msg, [msg], **base), {}
    if not venv.get("exists"):
        msg = "venv %s does not exist" % path
        return _result(FAIL, msg, [msg], **base), {}
    if venv.get("error") or not venv.get("python_version"):
        msg = "venv %s does not run: %s" % (path, (venv.get("error") or "bin/python missing").strip())
        return _result(FAIL, msg, [msg], **base), {}
    installed = dict((normalize_name(k), v) for k, v in (venv.get("dists") or {}).items())
    marker = venv.get("marker")
    comparables = dict(("dist.%s" % n, v) for n, v in installed.items())
    if not isinstance(marker, dict):
        problems.append("no release marker (.codex-release.json) in %s: the venv was not built by "
                        "codex.offline_ml.offline_venv" % (venv.get("target") or path))
        marker = {}
    wanted = dict((normalize_name(k), v) for k, v in (marker.get("wanted") or {}).items())
    hashes = marker.get("hashes")
    if isinstance(hashes, dict):
        hashes = dict((normalize_name(k), sorted(h.lower() for h in v)) for k, v in hashes.items())
        comparables["lock"] = fingerprint(hashes)
    else:
        hashes = None
        comparables["lock"] = None
    if marker and hashes is None:
        msg = ("the release marker records no lock hashes (built without a lock, or by an offline_venv older than "
               "the audit): the wheels cannot be matched to the manifest by sha256; rebuild the venv from a lock")
        if require_lock_hashes:
            problems.append(msg)
    if manifest_error:
        problems.append(manifest_error)
    dists = {}
    seeded = []
    for name in sorted(set(installed) | set(wanted)):
        have = installed.get(name)
        entry = {"version": have, "wanted": wanted.get(name), "sha256": (hashes or {}).get(name), "verdict": "ok"}
        dists[name] = entry
        if have is None:
            entry["verdict"] = "missing"
            problems.append("%s==%s is wanted by the release marker but not installed" % (name, wanted[name]))
            continue
        if name not in wanted and name in SEEDED_DISTS:
            entry["verdict"] = "seeded by venv"
            seeded.append("%s==%s" % (name, have))
            continue
        if marker and name not in wanted:
            entry["verdict"] = "not in the release"
            problems.append("%s==%s is installed but not in the release marker (added after the build)" % (name, have))
        elif name in wanted and not same_version(have, wanted[name]):
            entry["verdict"] = "version differs from the release"
            problems.append("%s is %s, the release marker wants %s" % (name, have, wanted[name]))
        if index is None:
            continue
        if name not in index:
            entry["verdict"] = "unknown to the manifest"
            problems.append("%s==%s is not in the staging manifest (unknown distribution)" % (name, have))
            continue
        mversion = _manifest_version(index, name, have)
        if mversion is None:
            entry["verdict"] = "version not in the manifest"
            problems.append("%s is %s, the staging manifest has %s" % (
                name, have, ", ".join(sorted(index[name]))))
            continue
        if hashes is None:
            entry["verdict"] = "version matches (no locked hash to compare)"
        else:
            locked = hashes.get(name) or []
            staged = index[name][mversion]
            if not locked:
                entry["verdict"] = "no locked hash"
                problems.append("%s==%s has no sha256 in the release marker's lock" % (name, have))
            elif not set(locked) & staged:
                entry["verdict"] = "hash not in the manifest"
                problems.append("%s==%s: locked sha256 %s not among the staging manifest's sha256 for it (%s)" % (
                    name, have, ", ".join(_short(h) for h in locked), ", ".join(_short(h) for h in sorted(staged))))
    verified = sum(1 for n, e in dists.items() if e["verdict"] in ("ok", "version matches (no locked hash to compare)")
                   and e["version"] is not None)
    details = dict(base, installer=marker.get("installer"), mirror=marker.get("mirror"), built=marker.get("built"),
                   dists=dists, seeded=seeded, installed=len(installed), verified=verified,
                   hashes_recorded=hashes is not None)
    if problems:
        summary = problems[0] if len(problems) == 1 else "%s; first: %s" % (_plural(len(problems), "problem"),
                                                                            problems[0])
        return _result(FAIL, summary, problems, **details), comparables
    how = "sha256" if hashes is not None else "version only"
    return _result(PASS, "%s match the release and the staging manifest (%s)" % (
        _plural(verified, "distribution"), how), **details), comparables


def check_exports(record):
    exp = record.get("exports") or {}
    profile = exp.get("profile") or {}
    login = exp.get("login_env")
    expected = exp.get("expected") or {}
    problems = []
    if not profile.get("exists"):
        problems.append("%s does not exist" % (profile.get("path") or "the profile script"))
    elif not profile.get("managed"):
        problems.append("%s has no 'Ansible managed' header: it was not written by the hf_offline_cache role"
                        % profile.get("path"))
    values = {}
    if not isinstance(login, dict):
        problems.append("the login shell environment could not be read: %s" % (exp.get("error") or "not collected"))
    else:
        values = dict((k, login.get(k)) for k in EXPORT_KEYS)
        for key in EXPORT_KEYS:
            if not values[key]:
                problems.append("%s is not set in a login shell (bash -lc)" % key)
        for key in OFFLINE_FLAGS:
            if values[key] and values[key] != "1":
                problems.append("%s=%s in a login shell, expected 1" % (key, values[key]))
        for key in CACHE_KEYS:
            if values[key] and not values[key].startswith("/"):
                problems.append("%s=%s is not an absolute path" % (key, values[key]))
        if values["TRANSFORMERS_CACHE"] and values["HF_HUB_CACHE"] and \
                values["TRANSFORMERS_CACHE"] != values["HF_HUB_CACHE"]:
            problems.append("TRANSFORMERS_CACHE=%s differs from HF_HUB_CACHE=%s: transformers would not find the "
                            "seeded models" % (values["TRANSFORMERS_CACHE"], values["HF_HUB_CACHE"]))
        for key in sorted(expected):
            have = values.get(key, login.get(key))
            if expected[key] is not None and have and have != expected[key]:
                problems.append("%s=%s in a login shell, the inventory expects %s" % (key, have, expected[key]))
    env_file = exp.get("env_file")
    if isinstance(env_file, dict) and env_file.get("path"):
        if not env_file.get("exists"):
            problems.append("environment file %s does not exist" % env_file["path"])
        elif isinstance(login, dict):
            file_values = env_file.get("values") or {}
            for key in EXPORT_KEYS:
                if file_values.get(key) != values.get(key):
                    problems.append("environment file %s has %s=%s, the login shell has %s" % (
                        env_file["path"], key, file_values.get(key), values.get(key)))
    comparables = dict(("exports.%s" % k, v) for k, v in values.items())
    details = {"profile": profile.get("path"), "profile_managed": bool(profile.get("managed")), "values": values,
               "env_file": (env_file or {}).get("path")}
    if problems:
        return _result(FAIL, problems[0] if len(problems) == 1 else "%s; first: %s" % (
            _plural(len(problems), "problem"), problems[0]), problems, **details), comparables
    return _result(PASS, "offline exports set in a login shell; hub cache %s" % values["HF_HUB_CACHE"],
                   **details), comparables


def check_hf_cache(record):
    hf = record.get("hf_cache") or {}
    facts = hf.get("facts")
    problems = []
    if not hf.get("module", True):
        msg = ("not audited: the module codex.offline_ml.hf_cache_facts is not in this collection; install a "
               "collection version that has it")
        return _result(FAIL, msg, [msg], cache_dir=hf.get("cache_dir")), {}
    if not isinstance(facts, dict):
        msg = hf.get("error") or "the hub cache was not scanned"
        return _result(FAIL, msg, [msg], cache_dir=hf.get("cache_dir"), python=hf.get("python")), {}
    if not facts.get("exists"):
        problems.append("the hub cache %s does not exist" % facts.get("cache_dir"))
    for warning in facts.get("warnings") or []:
        problems.append("corrupt cache entry: %s" % warning)
    requested = []
    comparables = {}
    for req in facts.get("requested") or []:
        label = "%s %s@%s" % (req.get("repo_type", "model"), req.get("repo_id"), req.get("revision"))
        requested.append({"repo": label, "resolves_offline": bool(req.get("resolves_offline")),
                          "commit": req.get("commit"), "refs": req.get("refs"), "error": req.get("error")})
        comparables["hf_cache.%s" % label] = req.get("commit") if req.get("resolves_offline") else None
        if not req.get("resolves_offline"):
            problems.append("%s does not resolve offline: %s" % (label, req.get("error") or "not in the cache"))
    repos = sorted("%s %s" % (r.get("repo_type"), r.get("repo_id")) for r in facts.get("repos") or [])
    details = {"cache_dir": facts.get("cache_dir"), "repos": repos, "size_on_disk": facts.get("size_on_disk"),
               "requested": requested, "incomplete_files": sorted(facts.get("incomplete_files") or []),
               "huggingface_hub_version": facts.get("huggingface_hub_version")}
    if problems:
        return _result(FAIL, problems[0] if len(problems) == 1 else "%s; first: %s" % (
            _plural(len(problems), "problem"), problems[0]), problems, **details), comparables
    resolving = ("1 requested repo resolves" if len(requested) == 1
                 else "%d requested repos resolve" % len(requested))
    return _result(PASS, "%s cached, %s offline" % (_plural(len(repos), "repo"), resolving),
                   **details), comparables


def check_gates(record, venvs_by_path):
    gates = record.get("gates") or {}
    problems = []
    files = []
    for item in gates.get("files") or []:
        files.append({"path": item.get("path"), "project": item.get("project"), "exists": bool(item.get("exists")),
                      "kind": item.get("kind")})
        if not item.get("exists"):
            where = (" (project %s)" % item["project"]) if item.get("project") else ""
            problems.append("%s missing%s" % (item.get("path"), where))
        elif item.get("executable") is False:
            problems.append("%s is not executable" % item.get("path"))
    projects = sorted(set(f["project"] for f in files if f.get("project")))
    venv_path = gates.get("venv_path")
    tools = [normalize_name(t) for t in gates.get("tools") or []]
    venv = venvs_by_path.get(venv_path) if venv_path else None
    if venv_path:
        if not venv or not venv.get("exists"):
            problems.append("gate venv %s does not exist" % venv_path)
        elif venv.get("error") or not venv.get("python_version"):
            problems.append("gate venv %s does not run: %s" % (venv.get("path"), venv.get("error") or "no bin/python"))
        else:
            have = dict((normalize_name(k), v) for k, v in (venv.get("dists") or {}).items())
            for tool in tools:
                if tool not in have:
                    problems.append("gate venv %s lacks %s" % (venv.get("path"), tool))
    # each project's name and last gate result (audit.yml reads PROJECT/.codex-gate-result.json)
    results = [{"project": r.get("project"), "name": r.get("name"),
                "last": (r.get("last") if isinstance(r.get("last"), dict) else None)}
               for r in gates.get("results") or [] if isinstance(r, dict)]
    last = "; ".join("%s: %s" % (r["name"] or r["project"], ("last gate %s %s" % (
        r["last"].get("result") or r["last"].get("error") or "unknown", r["last"].get("finished") or "")).strip()
        if r["last"] else "the gate has not run yet") for r in results)
    details = {"projects": projects, "files": sorted(files, key=lambda f: f["path"] or ""),
               "venv": (venv or {}).get("path"), "tools": tools, "results": results}
    if problems:
        return _result(FAIL, problems[0] if len(problems) == 1 else "%s; first: %s" % (
            _plural(len(problems), "problem"), problems[0]), problems, **details), {}
    return _result(PASS, "gate files in place for %s%s; gate venv has %s" % (
        _plural(len(projects), "project"), (" (%s)" % last) if last else "", ", ".join(tools) or "its tools"),
        **details), {}


# --------------------------------------------------------------------------- one host
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


def _roles_of(entry):
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
            by_path[path] = dict(entry, path=path, names=[entry["name"]], roles=_roles_of(entry))
            order.append(path)
        else:
            merged = by_path[path]
            if entry["name"] not in merged["names"]:
                merged["names"].append(entry["name"])
            merged["roles"] = sorted(set(merged["roles"]) | set(_roles_of(entry)))
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


def _venv_check_name(venv):
    return "wheels:%s" % venv.get("name")


def evaluate_host(record, index=None, manifest_error=None, require_lock_hashes=True):
    """(host entry of the report, {check: comparables}) for one raw host record."""
    if not isinstance(record, dict) or not record.get("host"):
        raise ReportError("every host record needs a 'host' name; got %r" % (record,))
    record = normalize_record(record)
    roles = set(record.get("roles") or [])
    venvs = record["venvs"]
    record["_venv_roles"] = dict((_venv_check_name(v), v["roles"]) for v in venvs)
    unreachable = bool(record.get("unreachable"))
    checks = {}
    comparables = {}

    def applies(name):
        wanted = [CHECK_ROLES[name]] if name in CHECK_ROLES else record["_venv_roles"].get(name, [])
        return bool(set(wanted) & roles)

    venvs_by_path = dict((v["path"], v) for v in venvs)
    plan = [("torch", lambda: check_torch(record, venvs_by_path))]
    for venv in sorted(venvs, key=lambda v: v["name"]):
        plan.append((_venv_check_name(venv),
                     (lambda v=venv: check_venv(v, index, manifest_error, require_lock_hashes))))
    plan += [("exports", lambda: check_exports(record)), ("hf_cache", lambda: check_hf_cache(record)),
             ("gates", lambda: check_gates(record, venvs_by_path))]
    for name, run in plan:
        if not applies(name):
            checks[name] = _not_applicable(record, name)
        elif unreachable:
            msg = _unreachable(record)
            checks[name] = _result(FAIL, msg, [msg])
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


def compute_drift(hosts, comparables):
    """Values that differ among the hosts where their check applies, hosts grouped by value.

    A value a host lacks (a distribution not installed there) counts as null.
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
        if len(hosts_here) < 2:
            continue
        groups = {}
        for host in hosts_here:
            value = values.get(host)
            groups.setdefault(json.dumps(value, sort_keys=True), (value, []))[1].append(host)
        if len(groups) < 2:
            continue
        drift.append({"key": key, "check": check,
                      "values": [{"value": v, "hosts": sorted(h)} for _k, (v, h) in sorted(groups.items())]})
    return drift


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
    for record in sorted(records, key=lambda r: (r or {}).get("host") or ""):
        entry, values = evaluate_host(record, index, manifest_info.get("error"), require_lock_hashes)
        if entry["host"] in seen:
            raise ReportError("host %s has two records" % entry["host"])
        seen.add(entry["host"])
        hosts.append(entry)
        comparables[entry["host"]] = values
    checks = check_order(n for h in hosts for n in h["checks"])
    for entry in hosts:  # every host gets every column
        for name in checks:
            entry["checks"].setdefault(name, _result(NA, "%s is not configured for this host" % name))
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
    return "audit: %s of %s not compliant: %s" % (_plural(len(parts), "host"), _plural(len(doc["hosts"]), "host"),
                                                  " | ".join(parts))


def verdicts(doc):
    """The document without generated_at: what must be identical between two audits of the same state."""
    return dict((k, v) for k, v in doc.items() if k != "generated_at")


# --------------------------------------------------------------------------- rendering
def render_json(doc):
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _xml_text(value):
    return _CONTROL_RE.sub(u"\ufffd", u"%s" % (value,))


def render_junit(doc):
    """JUnit XML: a testsuite per host, a testcase per check (classname=host, name=check)."""
    counts = doc["summary"]["counts"]
    total = sum(counts.values())
    root = ET.Element("testsuites", {"name": "codex.offline_ml fleet audit", "tests": str(total),
                                     "failures": str(counts[FAIL]), "errors": "0", "skipped": str(counts[NA]),
                                     "timestamp": doc["generated_at"]})
    for entry in doc["hosts"]:
        statuses = [entry["checks"][c]["status"] for c in doc["checks"]]
        suite = ET.SubElement(root, "testsuite", {
            "name": _xml_text(entry["host"]), "tests": str(len(statuses)), "failures": str(statuses.count(FAIL)),
            "errors": "0", "skipped": str(statuses.count(NA)), "timestamp": doc["generated_at"]})
        for name in doc["checks"]:
            check = entry["checks"][name]
            case = ET.SubElement(suite, "testcase", {"classname": _xml_text(entry["host"]), "name": _xml_text(name)})
            if check["status"] == FAIL:
                problems = check["details"].get("problems") or [check["summary"]]
                node = ET.SubElement(case, "failure", {"message": _xml_text(check["summary"]), "type": "noncompliant"})
                node.text = _xml_text("\n".join(problems))
            elif check["status"] == NA:
                ET.SubElement(case, "skipped", {"message": _xml_text(check["summary"])})
            else:
                out = ET.SubElement(case, "system-out")
                out.text = _xml_text(check["summary"])
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _e(value):
    if value is None:
        return "&#8212;"
    return _html_escape(_CONTROL_RE.sub(u"\ufffd", u"%s" % (value,)), quote=True)


def _anchor(*parts):
    return "c-" + re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(parts))


_CELL = {PASS: ("&#10004;", "pass"), FAIL: ("&#10008;", "FAIL"), NA: ("&#8211;", "n/a")}
_CSS = u"""
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px;
       color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #57606a; margin: 0 0 12px; }
.verdict { display: inline-block; padding: 6px 12px; border-radius: 6px; font-weight: 700; margin: 6px 0 10px; }
.verdict.ok { background: #dafbe1; color: #116329; border: 1px solid #4ac26b; }
.verdict.bad { background: #ffebe9; color: #a40e26; border: 1px solid #ff8182; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid #d0d7de; padding: 6px 8px; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
td.host { font-weight: 600; overflow-wrap: anywhere; max-width: 200px; }
td.host .sub { display: block; font-weight: 400; font-size: 12px; color: #57606a; }
td.small, span.small { color: #57606a; font-size: 12px; }
td.cell { min-width: 90px; max-width: 190px; }
td.pass { background: #dafbe1; color: #116329; }
td.fail { background: #ffebe9; color: #a40e26; border: 2px solid #cf222e; }
td.na { background: #f6f8fa; color: #6e7781; }
.sym { font-weight: 700; font-size: 15px; margin-right: 4px; }
.why { display: block; font-size: 12px; margin-top: 2px; overflow-wrap: anywhere; }
td.fail .why { color: #82071e; }
a { color: inherit; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 8px; border-radius: 4px; }
.legend .pass { background: #dafbe1; color: #116329; } .legend .fail { background: #ffebe9; color: #a40e26; }
.legend .na { background: #f6f8fa; color: #6e7781; }
ul.problems { margin: 4px 0 8px 18px; padding: 0; } ul.problems li { color: #a40e26; overflow-wrap: anywhere; }
details { margin: 4px 0; } summary { cursor: pointer; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; max-width: 100%; white-space: pre-wrap;
      overflow-wrap: anywhere; }
code { font-size: 12px; }
footer { margin-top: 32px; color: #57606a; font-size: 12px; }
"""


def _os_text(os_info):
    if not os_info:
        return None
    text = " ".join(str(os_info[k]) for k in ("distribution", "version") if os_info.get(k))
    if os_info.get("release"):
        text += " (%s)" % os_info["release"]
    return text or None


def render_html(doc):
    """One self-contained page: no script, no external asset, every value escaped."""
    out = []
    w = out.append
    summary = doc["summary"]
    ok = doc["compliant"]
    w(u"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
    w(u"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
    w(u"<title>Fleet audit %s: %s</title>\n" % (_e(doc["generated_at"]), "compliant" if ok else "NOT compliant"))
    w(u"<style>%s</style>\n</head>\n<body>\n" % _CSS)
    w(u"<h1>codex.offline_ml fleet audit</h1>\n")
    w(u"<p class=\"meta\">Generated <strong>%s</strong> (UTC) &#183; report schema %s &#183; %s &#183; staging "
      u"manifest <code>%s</code>%s</p>\n" % (
          _e(doc["generated_at"]), _e(doc["schema"]), _e(_plural(summary["hosts"], "host")),
          _e(doc["manifest"].get("path")),
          (u" (sha256 %s, %s)" % (_e(_short(doc["manifest"].get("sha256"))),
                                  _e(_plural(doc["manifest"]["files"] or 0, "wheel"))))
          if doc["manifest"].get("sha256") else u""))
    if doc["manifest"].get("error"):
        w(u"<p class=\"verdict bad\">&#10008; %s</p>\n" % _e(doc["manifest"]["error"]))
    if ok:
        w(u"<div class=\"verdict ok\">&#10004; COMPLIANT: all %s pass every check that applies to them</div>\n"
          % _e(_plural(summary["hosts"], "host")))
    else:
        w(u"<div class=\"verdict bad\">&#10008; NOT COMPLIANT: %s of %s fail at least one check: %s</div>\n" % (
            _e(len(summary["noncompliant_hosts"])), _e(_plural(summary["hosts"], "host")),
            _e(", ".join(summary["noncompliant_hosts"]) or "no host audited")))
    w(u"<p class=\"legend\">Cells: <span class=\"pass\">&#10004; pass</span><span class=\"fail\">&#10008; FAIL</span>"
      u"<span class=\"na\">&#8211; n/a (the check does not apply to the host)</span> &#183; %s pass, %s fail, "
      u"%s n/a</p>\n" % (_e(summary["counts"][PASS]), _e(summary["counts"][FAIL]), _e(summary["counts"][NA])))

    # matrix
    w(u"<h2 id=\"matrix\">Hosts &#215; checks</h2>\n<table class=\"matrix\">\n<thead><tr><th>host</th>"
      u"<th>verdict</th>")
    for name in doc["checks"]:
        w(u"<th>%s</th>" % _e(name))
    w(u"</tr></thead>\n<tbody>\n")
    for entry in doc["hosts"]:
        w(u"<tr><td class=\"host\" id=\"%s\">%s<span class=\"sub\">%s</span><span class=\"sub\">%s &#183; "
          u"Python %s</span></td>" % (
              _anchor(entry["host"]), _e(entry["host"]), _e(", ".join(entry["groups"]) or "no group"),
              _e(_os_text(entry["os"])), _e(entry["python"])))
        if entry["compliant"]:
            w(u"<td class=\"cell pass\"><span class=\"sym\">&#10004;</span>compliant</td>")
        else:
            w(u"<td class=\"cell fail\"><span class=\"sym\">&#10008;</span>NOT compliant<span class=\"why\">%s</span>"
              u"</td>" % _e(_plural(len(entry["failed_checks"]), "failing check")))
        for name in doc["checks"]:
            check = entry["checks"][name]
            sym, word = _CELL[check["status"]]
            css = {PASS: "pass", FAIL: "fail", NA: "na"}[check["status"]]
            why = check["summary"]
            if len(why) > 110:
                why = why[:107] + "..."
            label = u"<span class=\"sym\">%s</span>%s" % (sym, word)
            if check["status"] == FAIL:
                label = u"<a href=\"#%s\">%s</a>" % (_anchor(entry["host"], name), label)
            w(u"<td class=\"cell %s\" data-host=\"%s\" data-check=\"%s\" data-status=\"%s\">%s<span class=\"why\">%s"
              u"</span></td>" % (css, _e(entry["host"]), _e(name), _e(check["status"]), label, _e(why)))
        w(u"</tr>\n")
    w(u"</tbody>\n</table>\n")

    # failures first, then every check's data
    w(u"<h2 id=\"failures\">What fails</h2>\n")
    failing = [(e, n) for e in doc["hosts"] for n in doc["checks"] if e["checks"][n]["status"] == FAIL]
    if not failing:
        w(u"<p>Nothing fails.</p>\n")
    for entry, name in failing:
        check = entry["checks"][name]
        problems = check["details"].get("problems") or []
        w(u"<h3 id=\"%s\">&#10008; %s &#8212; %s</h3>\n" % (_anchor(entry["host"], name), _e(entry["host"]), _e(name)))
        if problems[:1] != [check["summary"]]:
            w(u"<p>%s</p>\n" % _e(check["summary"]))
        w(u"<ul class=\"problems\">\n")
        for problem in problems:
            w(u"<li>%s</li>\n" % _e(problem))
        w(u"</ul>\n")

    w(u"<h2 id=\"drift\">Drift between hosts</h2>\n")
    if not doc["drift"]:
        w(u"<p>No drift: the hosts where a check applies agree on every compared value (torch version and build, "
          u"distribution versions and lock of each venv, offline exports, cached revisions).</p>\n")
    else:
        w(u"<p>Values that differ among the hosts where the check applies, one table per check: a row per value "
          u"compared, a column per host (&#8212; = absent).</p>\n")
        by_check = {}
        for item in doc["drift"]:
            by_check.setdefault(item["check"], []).append(item)
        for check in [c for c in doc["checks"] if c in by_check] + sorted(set(by_check) - set(doc["checks"])):
            items = by_check[check]
            hosts = sorted(set(h for item in items for group in item["values"] for h in group["hosts"]))
            w(u"<h3>%s</h3>\n<table class=\"drift\"><thead><tr><th>value compared</th>%s</tr></thead>\n<tbody>\n" % (
                _e(check), u"".join(u"<th>%s</th>" % _e(h) for h in hosts)))
            for item in items:
                value_of = dict((h, group["value"]) for group in item["values"] for h in group["hosts"])
                key = item["key"][len(check) + 1:] if item["key"].startswith(check + ".") else item["key"]
                w(u"<tr><td><code>%s</code></td>" % _e(key))
                for host in hosts:
                    value = value_of.get(host)
                    if not isinstance(value, (str, int, float)) and value is not None:
                        value = json.dumps(value, sort_keys=True)
                    if isinstance(value, str) and _SHA256_RE.match(value):
                        value = value[:16] + u"\u2026"  # the full digest is in fleet.json
                    w(u"<td%s><code>%s</code></td>" % (u" class=\"na\"" if value is None else u"", _e(value)))
                w(u"</tr>\n")
            w(u"</tbody></table>\n")

    w(u"<h2 id=\"details\">Every check, in detail</h2>\n")
    for entry in doc["hosts"]:
        w(u"<h3>%s %s <span class=\"small\">(roles expected: %s; from %s)</span></h3>\n" % (
            u"&#10004;" if entry["compliant"] else u"&#10008;", _e(entry["host"]),
            _e(", ".join(entry["roles"]) or "none"), _e(entry["roles_source"])))
        for name in doc["checks"]:
            check = entry["checks"][name]
            sym, word = _CELL[check["status"]]
            data = dict((k, v) for k, v in check["details"].items() if k != "problems")
            w(u"<details%s><summary>%s %s &#8212; <strong>%s</strong>: %s</summary>\n" % (
                u" open" if check["status"] == FAIL else u"", sym, _e(name), word, _e(check["summary"])))
            if check["details"].get("problems"):
                w(u"<ul class=\"problems\">%s</ul>\n" % u"".join(
                    u"<li>%s</li>" % _e(p) for p in check["details"]["problems"]))
            if data:
                w(u"<pre>%s</pre>\n" % _e(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)))
            w(u"</details>\n")

    w(u"<footer>Written by %s (codex.offline_ml, playbooks/audit.yml). Beside this page: fleet.json (the same verdicts, "
      u"machine-readable, schema %s) and junit.xml (one test case per host and check). A check applies to a host when "
      u"the host is expected to have the role it audits%s.</footer>\n" % (
          _e(doc["generator"]), _e(doc["schema"]),
          (u": " + _e("; ".join("%s on %s" % (r, ", ".join(g)) for r, g in sorted(doc["role_groups"].items()))))
          if doc.get("role_groups") else u""))
    w(u"</body>\n</html>\n")
    return u"".join(out)


# --------------------------------------------------------------------------- files
def stamp(now=None):
    return time.strftime(_STAMP_FORMAT, time.gmtime(now if now is not None else time.time()))


def write_report(doc, dest, now=None):
    """Write DEST/<UTC stamp>/{fleet.json,fleet.html,junit.xml} and point DEST/latest at it. Returns the paths."""
    if not os.path.isabs(dest):
        raise ReportError("audit_report_dir must be an absolute path, got %r" % (dest,))
    os.makedirs(dest, exist_ok=True)
    base = stamp(now)
    folder = os.path.join(dest, base)
    n = 1
    while True:
        try:
            os.mkdir(folder)
            break
        except OSError:
            if not os.path.isdir(folder):
                raise
            folder = os.path.join(dest, "%s-%d" % (base, n))
            n += 1
    files = {"json": os.path.join(folder, "fleet.json"), "html": os.path.join(folder, "fleet.html"),
             "junit": os.path.join(folder, "junit.xml")}
    for key, render in (("json", render_json), ("html", render_html), ("junit", render_junit)):
        tmp = files[key] + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(render(doc))
        os.replace(tmp, files[key])
    latest = os.path.join(dest, "latest")
    tmp_link = os.path.join(dest, ".latest.tmp")
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(os.path.basename(folder), tmp_link)
    os.replace(tmp_link, latest)
    return {"dir": folder, "latest": latest, "files": files}
