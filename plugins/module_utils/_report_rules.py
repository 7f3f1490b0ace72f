# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report: the compliance rules, one function per check.

Private to the collection; runs on the controller (module ``fleet_report``). Standard library only.

Each ``check_*`` reads a normalised host record (``_report_normalize``) and returns ``(result, comparables)``:
the verdict (``_report_common.result``; a failing check's summary is ``summarize(problems)``) and the values
that are compared between hosts for drift (``_report_fleet.compute_drift``). Which role a check audits is
:data:`CHECK_ROLES` (a tuple: any of them); whether it applies to a host is decided in ``_report_fleet``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import normalize_name, same_version
from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import (
    FAIL,
    PASS,
    lock_fingerprint,
    plural,
    result,
    short,
    summarize,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._report_manifest import manifest_version

# Which role a check belongs to: a check applies to a host when the host is expected to have that role.
CHECK_ROLES = {
    "torch": "torch_cpu",
    "exports": "hf_offline_cache",
    "hf_cache": "hf_offline_cache",
    "gates": "ci_gates",
    # _report_mirror: the mirror host's row, and a node's venvs and models against the release it serves
    "mirror": "offline_mirror",
    "release": ("torch_cpu", "hf_offline_cache", "ci_gates"),
}

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


def check_torch(record, venvs_by_path=None):
    """torch in the torch_cpu venv: the live diagnostic ok, and the role's facts file agreeing with it and the venv."""
    torch = record.get("torch") or {}
    diag = torch.get("diagnostic")
    facts = torch.get("facts")
    python = torch.get("python")
    problems = []
    if not diag:
        problems.append(torch.get("error") or "no torch diagnostic was collected for %s" % python)
        return result(FAIL, problems[0], problems, python=python, facts_file=bool(facts)), {}
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
        if "companions" in fdiag and _companion_verdicts(fdiag) != _companion_verdicts(diag):
            problems.append("facts file says companions %s, the live diagnostic says %s" % (
                _companion_text(fdiag) or "none", _companion_text(diag) or "none"))
    build = diag.get("build") or {}
    variant = "cpu" if diag.get("cpu_build") else ("cuda %s" % diag["cuda_version"] if diag.get("cuda_version")
                                                   else "unknown build")
    comparables = {
        "torch.version": diag.get("version"),
        "torch.build": "%s (%s)" % (short(build.get("git_version")) or "?", variant) if diag.get("version") else None,
        "torch.lock_sha256": (facts or {}).get("lock_sha256"),
    }
    for name, (version, verdict) in _companion_verdicts(diag).items():
        comparables["torch.companion.%s" % name] = "%s (%s)" % (version, verdict)
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
        "companions": dict((n, {"version": v, "status": st}) for n, (v, st) in _companion_verdicts(diag).items()),
    }
    companions = _companion_text(diag)
    if problems:
        summary = ("torch is %s" % status) if status != "ok" else problems[0]
        broken = [n for n, (v, st) in _companion_verdicts(diag).items() if st != "ok"]
        if broken and status != "ok":
            summary += " (%s: %s)" % ("companion" if len(broken) == 1 else "companions", companions)
        return result(FAIL, summary, problems, **details), comparables
    return result(PASS, "torch %s ok (%s)%s, facts file agrees" % (
        diag.get("version"), variant, ("; " + companions) if companions else ""), **details), comparables


def _companion_verdicts(diag):
    """{name: (version, verdict)} of the companions (torchvision, torchaudio) the diagnostic found."""
    out = {}
    for name, info in sorted((diag.get("companions") or {}).items()):
        info = info if isinstance(info, dict) else {}
        out[name] = (info.get("version") or info.get("dist_version") or "?", info.get("status") or "unknown")
    return out


def _companion_text(diag):
    """'torchvision 0.28.0 broken, torchaudio 2.13.0+cpu ok' ('' without companions)."""
    return ", ".join("%s %s %s" % (n, v, st) for n, (v, st) in _companion_verdicts(diag).items())


def check_venv(venv, index, manifest_error, require_lock_hashes):
    """One venv against its release marker and the staging manifest."""
    path = venv.get("path")
    problems = []
    base = {"path": path, "target": venv.get("target"), "python_version": venv.get("python_version")}
    if venv.get("exists") is None:
        msg = "venv %s was not examined: %s" % (path, venv.get("error") or "not collected")
        return result(FAIL, msg, [msg], **base), {}
    if not venv.get("exists"):
        msg = "venv %s does not exist" % path
        return result(FAIL, msg, [msg], **base), {}
    if venv.get("error") or not venv.get("python_version"):
        msg = "venv %s does not run: %s" % (path, (venv.get("error") or "bin/python missing").strip())
        return result(FAIL, msg, [msg], **base), {}
    installed = dict((normalize_name(k), v) for k, v in (venv.get("dists") or {}).items())
    marker = venv.get("marker")
    comparables = dict(("dist.%s" % n, v) for n, v in installed.items())
    if not isinstance(marker, dict):
        problems.append("no release marker (.codex-release.json) in %s: the venv was not built by "
                        "codex.offline_ml.offline_venv" % (venv.get("target") or path))
        marker = {}
    wanted = dict((normalize_name(k), v) for k, v in (marker.get("wanted") or {}).items())
    hashes = marker.get("hashes")
    comparables["lock"] = lock_fingerprint(hashes)
    if isinstance(hashes, dict):
        hashes = dict((normalize_name(k), sorted(h.lower() for h in v)) for k, v in hashes.items())
    else:
        hashes = None
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
        mversion = manifest_version(index, name, have)
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
                    name, have, ", ".join(short(h) for h in locked), ", ".join(short(h) for h in sorted(staged))))
    verified = sum(1 for n, e in dists.items() if e["verdict"] in ("ok", "version matches (no locked hash to compare)")
                   and e["version"] is not None)
    details = dict(base, installer=marker.get("installer"), mirror=marker.get("mirror"), built=marker.get("built"),
                   dists=dists, seeded=seeded, installed=len(installed), verified=verified,
                   hashes_recorded=hashes is not None)
    if problems:
        return result(FAIL, summarize(problems), problems, **details), comparables
    how = "sha256" if hashes is not None else "version only"
    return result(PASS, "%s match the release and the staging manifest (%s)" % (
        plural(verified, "distribution"), how), **details), comparables


def check_exports(record):
    """The offline exports as a login shell sees them, the managed profile script and the environment file."""
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
        return result(FAIL, summarize(problems), problems, **details), comparables
    return result(PASS, "offline exports set in a login shell; hub cache %s" % values["HF_HUB_CACHE"],
                  **details), comparables


def _hf_cache_scan(facts, owner=None):
    """(problems, details, comparables) of one scanned hub cache (the shared one, or one user's under per_user)."""
    who = "%s: " % owner if owner else ""
    key = "hf_cache.%s" % ("%s." % owner if owner else "")
    problems = []
    if not facts.get("exists"):
        problems.append("%sthe hub cache %s does not exist" % (who, facts.get("cache_dir")))
    for warning in facts.get("warnings") or []:
        problems.append("%scorrupt cache entry: %s" % (who, warning))
    requested = []
    comparables = {}
    for req in facts.get("requested") or []:
        label = "%s %s@%s" % (req.get("repo_type", "model"), req.get("repo_id"), req.get("revision"))
        requested.append({"repo": label, "resolves_offline": bool(req.get("resolves_offline")),
                          "commit": req.get("commit"), "refs": req.get("refs"), "error": req.get("error"),
                          "complete": req.get("complete"), "problems": req.get("problems") or []})
        comparables[key + label] = req.get("commit") if req.get("resolves_offline") else None
        if not req.get("resolves_offline"):
            problems.append("%s%s does not resolve offline: %s" % (who, label, req.get("error") or "not in the cache"))
        elif req.get("complete") is False or req.get("problems"):
            # an older hf_cache_facts may say resolves_offline over missing files: the named files decide
            problems.append("%s%s is incomplete: %s" % (who, label, "; ".join(req.get("problems") or ["files missing"])))
    repos = sorted("%s %s" % (r.get("repo_type"), r.get("repo_id")) for r in facts.get("repos") or [])
    details = {"cache_dir": facts.get("cache_dir"), "repos": repos, "size_on_disk": facts.get("size_on_disk"),
               "requested": requested, "incomplete_files": sorted(facts.get("incomplete_files") or []),
               "huggingface_hub_version": facts.get("huggingface_hub_version")}
    return problems, details, comparables


def check_hf_cache(record):
    """The Hugging Face hub cache: present, no corrupt entry, every requested repo resolving offline with all the
    files of its record (hf_cache_facts names the missing, wrong-size or corrupt ones). The per_user layout has one
    cache per listed user (hf_cache.users, each scanned as that user): every one of them must pass."""
    hf = record.get("hf_cache") or {}
    if hf.get("users") is not None:
        return _check_hf_user_caches(hf)
    facts = hf.get("facts")
    if not isinstance(facts, dict):
        msg = hf.get("error") or "the hub cache was not scanned"
        return result(FAIL, msg, [msg], cache_dir=hf.get("cache_dir"), python=hf.get("python")), {}
    problems, details, comparables = _hf_cache_scan(facts)
    if problems:
        return result(FAIL, summarize(problems), problems, **details), comparables
    repos, requested = details["repos"], details["requested"]
    resolving = ("1 requested repo resolves" if len(requested) == 1
                 else "%d requested repos resolve" % len(requested))
    return result(PASS, "%s cached, %s offline" % (plural(len(repos), "repo"), resolving),
                  **details), comparables


def _check_hf_user_caches(hf):
    """per_user: each listed user's own cache, scanned as that user."""
    problems, users, comparables = [], [], {}
    for entry in hf.get("users") or []:
        owner = entry.get("user")
        facts = entry.get("facts")
        if not isinstance(facts, dict):
            msg = "%s: %s" % (owner, entry.get("error") or "the hub cache was not scanned")
            problems.append(msg)
            users.append({"user": owner, "cache_dir": entry.get("cache_dir"), "error": msg})
            continue
        user_problems, details, user_comparables = _hf_cache_scan(facts, owner)
        problems.extend(user_problems)
        comparables.update(user_comparables)
        users.append(dict(details, user=owner))
    if not users:
        problems.append("layout per_user lists no users (hf_offline_cache_users): no cache to audit")
    if problems:
        return result(FAIL, summarize(problems), problems, layout="per_user", users=users), comparables
    return result(PASS, "per_user: %s, each resolving its requested repos offline"
                  % plural(len(users), "user cache"), layout="per_user", users=users), comparables


def _gate_file(item):
    """What the report shows of one gate file of the record (a field added here shows in the check's details)."""
    return {"path": item.get("path"), "project": item.get("project"), "exists": bool(item.get("exists")),
            "kind": item.get("kind")}


def _gate_file_problem(item):
    """The problem with one gate file of the record, or None."""
    if not item.get("exists"):
        where = (" (project %s)" % item["project"]) if item.get("project") else ""
        return "%s missing%s" % (item.get("path"), where)
    if item.get("executable") is False:
        return "%s is not executable" % item.get("path")
    return None


def _gate_venv_problems(venv_path, venv, tools):
    """The problems with the gate venv: absent, not running, or lacking one of TOOLS."""
    if not venv_path:
        return []
    if not venv or not venv.get("exists"):
        return ["gate venv %s does not exist" % venv_path]
    if venv.get("error") or not venv.get("python_version"):
        return ["gate venv %s does not run: %s" % (venv.get("path"), venv.get("error") or "no bin/python")]
    have = dict((normalize_name(k), v) for k, v in (venv.get("dists") or {}).items())
    return ["gate venv %s lacks %s" % (venv.get("path"), tool) for tool in tools if tool not in have]


def check_gates(record, venvs_by_path):
    """The CI gates: the gate command, its helpers and each project's noxfile in place, the gate venv's tools."""
    gates = record.get("gates") or {}
    items = gates.get("files") or []
    files = [_gate_file(item) for item in items]
    problems = [p for p in (_gate_file_problem(item) for item in items) if p]
    projects = sorted(set(f["project"] for f in files if f.get("project")))
    venv_path = gates.get("venv_path")
    tools = [normalize_name(t) for t in gates.get("tools") or []]
    venv = venvs_by_path.get(venv_path) if venv_path else None
    problems.extend(_gate_venv_problems(venv_path, venv, tools))
    results = _gate_results(gates)
    details = {"projects": projects, "files": sorted(files, key=lambda f: f["path"] or ""),
               "venv": (venv or {}).get("path"), "tools": tools, "results": results}
    if problems:
        return result(FAIL, summarize(problems), problems, **details), {}
    last = "; ".join(_gate_last(r) for r in results)
    return result(PASS, "gate files in place for %s%s; gate venv has %s" % (
        plural(len(projects), "project"), (" (%s)" % last) if last else "", ", ".join(tools) or "its tools"),
        **details), {}


def _gate_results(gates):
    """Each gated project's name and last gate result (audit.yml reads PROJECT/.codex-gate-result.json)."""
    return [{"project": r.get("project"), "name": r.get("name"),
             "last": r.get("last") if isinstance(r.get("last"), dict) else None}
            for r in gates.get("results") or [] if isinstance(r, dict)]


def _gate_last(entry):
    """'sample: last gate passed 2026-…' or 'sample: the gate has not run yet'."""
    last = entry["last"]
    if not last:
        return "%s: the gate has not run yet" % (entry["name"] or entry["project"])
    return ("%s: last gate %s %s" % (entry["name"] or entry["project"],
                                     last.get("result") or last.get("error") or "unknown",
                                     last.get("finished") or "")).strip()
