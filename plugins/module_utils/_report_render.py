# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report rendered: fleet.json, junit.xml and fleet.html.

Private to the collection; runs on the controller (module ``fleet_report``). Standard library only: the page is
filled from the ``string.Template`` text of ``_report_template`` with autoescape (:func:`fill` escapes every
value that is not a :class:`Markup` fragment, rendered from a template itself).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import string
import xml.etree.ElementTree as ET

from ansible_collections.codex.offline_ml.plugins.module_utils import _report_template as T
from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import FAIL, NA, PASS, plural, short

try:
    from html import escape as _html_escape
except ImportError:  # pragma: no cover - Python 2 is not supported on the controller
    _html_escape = None

_CONTROL_RE = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------- fleet.json and junit.xml
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


# --------------------------------------------------------------------------- the template, autoescaped
class Markup(str):
    """Text that is HTML already (a rendered fragment, an entity): :func:`fill` puts it in as it is."""


def escape(value):
    """VALUE as HTML text: None as an em dash, control characters replaced, <>&'" escaped; Markup as it is."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup(u"&#8212;")
    return Markup(_html_escape(_CONTROL_RE.sub(u"\ufffd", u"%s" % (value,)), quote=True))


def fill(template, **values):
    """TEMPLATE (``$name`` placeholders) with every value escaped; a placeholder without a value is an error."""
    return Markup(string.Template(template).substitute(dict((k, escape(v)) for k, v in values.items())))


def join(fragments):
    """The fragments one after the other (each escaped unless it is Markup already)."""
    return Markup(u"".join(escape(f) for f in fragments))


# --------------------------------------------------------------------------- fleet.html
def _anchor(*parts):
    return "c-" + re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(parts))


# status -> (symbol, word, CSS class) of a cell
_CELL = {PASS: (Markup(u"&#10004;"), "pass", "pass"), FAIL: (Markup(u"&#10008;"), "FAIL", "fail"),
         NA: (Markup(u"&#8211;"), "n/a", "na")}


def _os_text(os_info):
    if not os_info:
        return None
    text = " ".join(str(os_info[k]) for k in ("distribution", "version") if os_info.get(k))
    if os_info.get("release"):
        text += " (%s)" % os_info["release"]
    return text or None


def _header(doc):
    summary = doc["summary"]
    manifest = doc["manifest"]
    hosts = plural(summary["hosts"], "host")
    if doc["compliant"]:
        verdict = fill(T.VERDICT_OK, hosts=hosts)
    else:
        verdict = fill(T.VERDICT_BAD, failing=len(summary["noncompliant_hosts"]), hosts=hosts,
                       names=", ".join(summary["noncompliant_hosts"]) or "no host audited")
    return dict(
        generated_at=doc["generated_at"], title_verdict="compliant" if doc["compliant"] else "NOT compliant",
        schema=doc["schema"], hosts=hosts, manifest_path=manifest.get("path"),
        manifest_digest=fill(T.MANIFEST_DIGEST, sha256=short(manifest.get("sha256")),
                             wheels=plural(manifest["files"] or 0, "wheel")) if manifest.get("sha256") else Markup(),
        manifest_error=fill(T.MANIFEST_ERROR, error=manifest["error"]) if manifest.get("error") else Markup(),
        mirror=_mirror(doc), verdict=verdict, passed=summary["counts"][PASS], failed=summary["counts"][FAIL],
        not_applicable=summary["counts"][NA])


def _mirror(doc):
    return join(fill(T.MIRROR, symbol=_CELL[m["status"]][0], host=m["host"], release=m["release"] or "nothing",
                     sha256=short(m["manifest_sha256"]) or None, signature=m["signature"] or "not verified",
                     health="ok" if m["health"] else "FAILED", releases=", ".join(m["releases"]) or "none")
                for m in (doc.get("mirror") or {}).get("hosts") or [])


def _matrix_row(doc, entry):
    if entry["compliant"]:
        verdict = Markup(T.HOST_COMPLIANT)
    else:
        verdict = fill(T.HOST_NONCOMPLIANT, failing=plural(len(entry["failed_checks"]), "failing check"))
    cells = []
    for name in doc["checks"]:
        check = entry["checks"][name]
        symbol, word, css = _CELL[check["status"]]
        why = check["summary"]
        if len(why) > 110:
            why = why[:107] + "..."
        label = fill(T.CELL_LABEL, symbol=symbol, word=word)
        if check["status"] == FAIL:
            label = fill(T.CELL_LINK, anchor=_anchor(entry["host"], name), label=label)
        cells.append(fill(T.CELL, css=css, host=entry["host"], check=name, status=check["status"], label=label,
                          why=why))
    return fill(T.MATRIX_ROW, anchor=_anchor(entry["host"]), host=entry["host"],
                groups=", ".join(entry["groups"]) or "no group", os=_os_text(entry["os"]), python=entry["python"],
                verdict=verdict, cells=join(cells))


def _failures(doc):
    failing = [(e, n) for e in doc["hosts"] for n in doc["checks"] if e["checks"][n]["status"] == FAIL]
    if not failing:
        return Markup(T.NOTHING_FAILS)
    out = []
    for entry, name in failing:
        check = entry["checks"][name]
        problems = check["details"].get("problems") or []
        summary = fill(T.FAILURE_SUMMARY, summary=check["summary"]) if problems[:1] != [check["summary"]] else Markup()
        out.append(fill(T.FAILURE, anchor=_anchor(entry["host"], name), host=entry["host"], check=name,
                        summary=summary, problems=join(fill(T.FAILURE_PROBLEM, problem=p) for p in problems)))
    return join(out)


def _drift_value(value):
    if not isinstance(value, (str, int, float)) and value is not None:
        value = json.dumps(value, sort_keys=True)
    if isinstance(value, str) and _SHA256_RE.match(value):
        value = value[:16] + u"\u2026"  # the full digest is in fleet.json
    return fill(T.DRIFT_ABSENT if value is None else T.DRIFT_VALUE, value=value)


def _drift(doc):
    if not doc["drift"]:
        return Markup(T.NO_DRIFT)
    out = [Markup(T.DRIFT_INTRO)]
    by_check = {}
    for item in doc["drift"]:
        by_check.setdefault(item["check"], []).append(item)
    for check in [c for c in doc["checks"] if c in by_check] + sorted(set(by_check) - set(doc["checks"])):
        items = by_check[check]
        hosts = sorted(set(h for item in items for group in item["values"] for h in group["hosts"]))
        rows = []
        for item in items:
            value_of = dict((h, group["value"]) for group in item["values"] for h in group["hosts"])
            key = item["key"][len(check) + 1:] if item["key"].startswith(check + ".") else item["key"]
            rows.append(fill(T.DRIFT_ROW, key=key, cells=join(_drift_value(value_of.get(h)) for h in hosts)))
        out.append(fill(T.DRIFT_TABLE, check=check, hosts=join(fill(T.DRIFT_HOST, host=h) for h in hosts),
                        rows=join(rows)))
    return join(out)


def _check_details(name, check):
    symbol, word, _css = _CELL[check["status"]]
    data = dict((k, v) for k, v in check["details"].items() if k != "problems")
    problems = check["details"].get("problems")
    return fill(T.CHECK_DETAILS, open=Markup(u" open" if check["status"] == FAIL else u""), symbol=symbol,
                check=name, word=word, summary=check["summary"],
                problems=fill(T.DETAIL_PROBLEMS, items=join(fill(T.DETAIL_PROBLEM, problem=p) for p in problems))
                if problems else Markup(),
                data=fill(T.DETAIL_DATA, data=json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
                if data else Markup())


def _details(doc):
    return join(fill(T.HOST_DETAILS, symbol=_CELL[PASS if entry["compliant"] else FAIL][0], host=entry["host"],
                     roles=", ".join(entry["roles"]) or "none", source=entry["roles_source"],
                     checks=join(_check_details(name, entry["checks"][name]) for name in doc["checks"]))
                for entry in doc["hosts"])


def render_html(doc):
    """One self-contained page: no script, no external asset, every value escaped."""
    role_groups = Markup()
    if doc.get("role_groups"):
        role_groups = fill(T.ROLE_GROUPS, role_groups="; ".join(
            "%s on %s" % (r, ", ".join(g)) for r, g in sorted(doc["role_groups"].items())))
    return str(fill(T.PAGE, check_headers=join(fill(T.CHECK_HEADER, check=name) for name in doc["checks"]),
                    matrix_rows=join(_matrix_row(doc, entry) for entry in doc["hosts"]), failures=_failures(doc),
                    drift=_drift(doc), details=_details(doc), generator=doc["generator"], role_groups=role_groups,
                    **_header(doc)))
