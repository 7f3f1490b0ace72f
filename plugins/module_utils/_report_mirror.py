# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report: the mirror host's row (check ``mirror``) and each node compared with the release the
mirror host serves (check ``release``).

Private to the collection; runs on the controller (module ``fleet_report``). Standard library only.

A mirror host's record holds ``mirror`` (module ``mirror_audit``, through the offline_mirror role's audit entry
point): the role's facts file, the served release with the verdict on its signature (verified again, not taken from
the facts), each kept release's locks (their wheel hashes) and models, and the live health check. A node's venvs are
matched to a release by the fingerprint of their release marker's wheel hashes (``lock_fingerprint``: the same
lock file gives the same one), its seeded Hugging Face repos by commit; a node on a release the mirror keeps but
no longer serves is named with that release.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import (
    FAIL,
    NA,
    PASS,
    lock_fingerprint,
    plural,
    result,
    short,
    summarize,
)

MIRROR_ROLE = "offline_mirror"
FACT_KEYS = ("release", "manifest_sha256")


# --------------------------------------------------------------------------- the mirror host's row
def _releases_by_id(mirror):
    return dict((r.get("release"), r) for r in mirror.get("releases") or [] if isinstance(r, dict))


def _signature(served, allow_unsigned):
    """(verdict text, problem or None) of the served release's signature."""
    if served.get("signer"):
        return "signed by %s" % served["signer"], None
    if served.get("signed"):
        why = served.get("signature_error") or "the signature was not verified"
        return "bad signature: %s" % why, "release %s: %s" % (served.get("release"), why)
    if allow_unsigned:
        return "unsigned (allowed by offline_mirror_allow_unsigned)", None
    return "unsigned", ("release %s is unsigned: stage it signed (stage_signing_key), or accept unsigned releases "
                        "explicitly with offline_mirror_allow_unsigned" % served.get("release"))


def _lock_problems(release):
    problems = []
    for name, lock in sorted((release.get("locks") or {}).items()):
        lock = lock if isinstance(lock, dict) else {}
        if lock.get("error"):
            problems.append("release %s, lock of set %s: %s" % (release.get("release"), name, lock["error"]))
        elif lock.get("listed") and lock.get("sha256") != lock.get("listed"):
            problems.append("release %s: %s has sha256 %s, the signed manifest says %s" % (
                release.get("release"), lock.get("path"), short(lock.get("sha256")), short(lock.get("listed"))))
    return problems


def _fact_problems(fact, served, signer):
    if not isinstance(fact, dict):
        return ["no ansible_local.offline_mirror facts (/etc/ansible/facts.d/offline_mirror.fact): the offline_mirror "
                "role has not finished on this host"]
    problems = []
    for key in FACT_KEYS:
        if fact.get(key) != served.get(key):
            problems.append("the facts file says %s %s, the store serves %s" % (
                key.replace("_", " "), fact.get(key), served.get(key)))
    if signer and fact.get("signer") and fact.get("signer") != signer:
        problems.append("the facts file says signer %s, the signature verifies as %s" % (fact.get("signer"), signer))
    return problems


def check_mirror(record):
    """The mirror host: the release it serves readable and signed by an allowed key (verified again), its locks the
    signed manifest's, the served address healthy, and the role's facts file naming that release."""
    mirror = record.get("mirror")
    if not isinstance(mirror, dict):
        msg = "the mirror host's part of the audit was not collected (module mirror_audit)"
        return result(FAIL, msg, [msg]), {}
    served = mirror.get("served") or {}
    health = mirror.get("health") or {}
    kept = [r.get("release") for r in mirror.get("releases") or [] if isinstance(r, dict)]
    problems = []
    if served.get("error") or not served.get("release"):
        problems.append("the served release cannot be read: %s" % (served.get("error") or "no release is served"))
        signature = None
    else:
        signature, problem = _signature(served, mirror.get("allow_unsigned"))
        problems.extend([problem] if problem else [])
        problems.extend(_lock_problems(_releases_by_id(mirror).get(served["release"]) or {}))
    if not health.get("ok"):
        problems.append("health: %s" % (health.get("error") or "not checked"))
    problems.extend(_fact_problems(mirror.get("fact"), served, served.get("signer")))
    details = {"release": served.get("release"), "manifest_sha256": served.get("manifest_sha256"),
               "signer": served.get("signer"), "signature": signature, "releases": kept, "url": mirror.get("url"),
               "health": {"ok": bool(health.get("ok")), "checks": health.get("checks") or [],
                          "check": health.get("check")}}
    comparables = {"mirror.release": served.get("release"), "mirror.manifest_sha256": served.get("manifest_sha256")}
    if problems:
        return result(FAIL, summarize(problems), problems, **details), comparables
    return result(PASS, "serves %s (manifest %s), %s; health: %s; %s kept" % (
        served["release"], short(served.get("manifest_sha256")), signature,
        "; ".join(health.get("checks") or []) or "ok", plural(len(kept), "release")), **details), comparables


# --------------------------------------------------------------------------- what the nodes are compared with
def _release_keys(release):
    """({lock fingerprint: set}, {(repo_type, repo_id): commit}) of one kept release."""
    locks = {}
    for name, lock in sorted((release.get("locks") or {}).items()):
        fp = lock_fingerprint((lock or {}).get("hashes")) if isinstance(lock, dict) else None
        if fp:
            locks.setdefault(fp, name)
    models = dict(((m.get("repo_type") or "model", m.get("repo_id")), m.get("commit"))
                  for m in release.get("models") or [] if isinstance(m, dict))
    return locks, models


def served_reference(records):
    """What the nodes are compared with, from the raw records of the hosts expected to have offline_mirror: {'hosts',
    'served': {release: {'hosts', 'locks', 'models'}}, 'kept': {release: {'locks', 'models'}}, 'errors'}; None
    without a mirror host in the audit."""
    mirrors = [r for r in records if isinstance(r, dict) and MIRROR_ROLE in (r.get("roles") or [])]
    if not mirrors:
        return None
    ref = {"hosts": sorted(r.get("host") for r in mirrors), "served": {}, "kept": {}, "errors": []}
    for rec in sorted(mirrors, key=lambda r: r.get("host") or ""):
        mirror = rec.get("mirror") if not rec.get("unreachable") else None
        served = (mirror or {}).get("served") or {}
        if not served.get("release") or served.get("error"):
            if rec.get("unreachable"):
                why = "not audited (%s)" % (rec.get("unreachable_msg") or "unreachable")
            else:
                why = served.get("error") or "serves no release"
            ref["errors"].append("%s: %s" % (rec.get("host"), why))
            continue
        for release_id, release in sorted(_releases_by_id(mirror).items()):
            locks, models = _release_keys(release)
            ref["kept"].setdefault(release_id, {"locks": locks, "models": models})
        entry = ref["served"].setdefault(served["release"], dict(ref["kept"].get(served["release"]) or
                                                                 {"locks": {}, "models": {}}, hosts=[]))
        entry["hosts"].append(rec.get("host"))
    return ref


def _served_text(ref):
    if len(ref["hosts"]) == 1:
        return "the mirror serves %s" % ", ".join(sorted(ref["served"]))
    return "the mirror hosts serve %s" % ", ".join(
        "%s (%s)" % (rid, ", ".join(e["hosts"])) for rid, e in sorted(ref["served"].items()))


def _find(ref, kind, key, value=None):
    """(served release, older release) holding KEY (a lock fingerprint, or a repo with commit VALUE)."""
    def holds(entry):
        return key in entry[kind] if kind == "locks" else entry[kind].get(key) == value
    served = sorted(rid for rid, e in ref["served"].items() if holds(e))
    older = sorted(rid for rid, e in ref["kept"].items() if rid not in ref["served"] and holds(e))
    return (served[0] if served else None), (older[-1] if older else None)


def _node_models(record):
    hf = record.get("hf_cache") or {}
    scans = [(None, hf.get("facts"))] + [(u.get("user"), u.get("facts")) for u in hf.get("users") or []
                                         if isinstance(u, dict)]
    for owner, facts in scans:
        if not isinstance(facts, dict):
            continue
        for req in facts.get("requested") or []:
            if isinstance(req, dict) and req.get("commit"):
                yield owner, req


def check_release(record, venvs, ref):
    """A node against the served release: each of VENVS (those of its roles) built from a lock of the served
    release, each seeded repo that a kept release carries at the served release's commit. A node on an older
    release is named with it."""
    if not ref["served"]:
        msg = "the release the mirror serves is unknown (%s): this host cannot be compared with it" % (
            "; ".join(ref["errors"]) or "no mirror host was audited")
        return result(FAIL, msg, [msg], served=[]), {}
    problems, compared, comparables = [], [], {}
    now = _served_text(ref)
    for venv in venvs:
        label = "wheels:%s" % venv.get("name")
        fp = lock_fingerprint((venv.get("marker") or {}).get("hashes")) if isinstance(venv.get("marker"), dict) \
            else None
        if not fp:
            continue  # no lock hashes to compare: the venv's wheels check says why
        served, older = _find(ref, "locks", fp)
        on = served or older
        compared.append({"what": label, "path": venv.get("path"), "release": on})
        comparables["release.%s" % label] = on
        if served:
            continue
        if older:
            problems.append("%s (%s) is on release %s's lock of set %s; %s" % (
                label, venv.get("path"), older, ref["kept"][older]["locks"][fp], now))
        else:
            problems.append("%s (%s) was built from a lock that no release on the mirror holds; %s" % (
                label, venv.get("path"), now))
    for owner, req in _node_models(record):
        repo = (req.get("repo_type") or "model", req.get("repo_id"))
        if not any(repo in e["models"] for e in list(ref["kept"].values())):
            continue  # not a repo the mirror carries: seeded from elsewhere, nothing to compare
        label = "%s%s %s" % ("%s: " % owner if owner else "", repo[0], repo[1])
        served, older = _find(ref, "models", repo, req["commit"])
        on = served or older
        compared.append({"what": label, "commit": req["commit"], "release": on})
        comparables["release.%s" % label] = on
        if served:
            continue
        if older:
            problems.append("%s is at commit %s, release %s's; %s" % (label, short(req["commit"]), older, now))
        else:
            problems.append("%s is at commit %s, which no release on the mirror carries; %s" % (
                label, short(req["commit"]), now))
    details = {"served": sorted(ref["served"]), "compared": compared}
    if problems:
        return result(FAIL, summarize(problems), problems, **details), comparables
    if not compared:
        return result(NA, "nothing to compare with the served release (no venv with lock hashes, no repo the "
                          "mirror carries)", **details), comparables
    return result(PASS, "%s on the served release %s" % (
        plural(len(compared), "venv or repo", "venvs and repos"), ", ".join(sorted(ref["served"]))),
        **details), comparables


# --------------------------------------------------------------------------- the report's mirror section
def fleet_mirror(hosts):
    """The report's 'mirror' section: each mirror host's served release, signature verdict, kept releases and
    health, from its mirror check ([] without a mirror host)."""
    out = []
    for entry in hosts:
        check = entry["checks"].get("mirror")
        if not check or check["status"] == NA:
            continue
        d = check["details"]
        out.append({"host": entry["host"], "status": check["status"], "release": d.get("release"),
                    "manifest_sha256": d.get("manifest_sha256"), "signer": d.get("signer"),
                    "signature": d.get("signature"), "releases": d.get("releases") or [],
                    "health": (d.get("health") or {}).get("ok"), "url": d.get("url")})
    return {"hosts": out, "served": sorted(set(h["release"] for h in out if h["release"]))}
