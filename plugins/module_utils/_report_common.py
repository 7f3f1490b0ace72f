# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report's shared vocabulary: statuses, the check result, its summary, the input error.

Private to the collection; runs on the controller (module ``fleet_report``), standard library only. The report
is built in steps, one module each:

* ``_report_manifest``  the staging manifest (manifest.json of playbooks/stage_wheels.yml) as an index;
* ``_report_normalize`` a raw host record, as ``playbooks/audit.yml`` sends it, into the shape the rules read;
* ``_report_rules``     the compliance rules, one function per check;
* ``_report_mirror``    the mirror host's row, and each node compared with the release it serves;
* ``_report_fleet``     every host's checks, the columns, drift between hosts, the report document;
* ``_report_render``    fleet.json, junit.xml and fleet.html (the page from ``_report_template``, autoescaped);
* ``_report_files``     one folder per run and the ``latest`` symlink.

Everything but ``generated_at`` is a pure function of the inputs, with sorted keys and hosts, so two audits of
the same fleet state give byte-identical verdicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import normalize_name

SCHEMA = 1
GENERATOR = "codex.offline_ml.fleet_report"

PASS = "pass"
FAIL = "fail"
NA = "n/a"
STATUSES = (PASS, FAIL, NA)

# Keys that change on every run and never reach the report.
VOLATILE_KEYS = frozenset(["elapsed_s"])


class ReportError(OperatorError):
    """Bad input for the report (a record or the manifest), with a message for the operator."""


def strip_volatile(value):
    if isinstance(value, dict):
        return dict((k, strip_volatile(v)) for k, v in value.items() if k not in VOLATILE_KEYS)
    if isinstance(value, (list, tuple)):
        return [strip_volatile(v) for v in value]
    return value


def short(digest, n=12):
    return (digest or "")[:n]


def plural(n, word, plural_word=None):
    return "%d %s" % (n, word if n == 1 else (plural_word or word + "s"))


def result(verdict, summary, problems=None, **details):
    """One check's verdict: {status, summary, details (with its problems, volatile keys dropped)}."""
    details["problems"] = list(problems or [])
    return {"status": verdict, "summary": summary, "details": strip_volatile(details)}


def summarize(problems):
    """The one-line summary of a failing check: its problem, or how many there are and the first."""
    if len(problems) == 1:
        return problems[0]
    return "%s; first: %s" % (plural(len(problems), "problem"), problems[0])


def fingerprint(value):
    """sha256 of the canonical JSON of VALUE (sorted keys, sorted lists of hashes)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def lock_fingerprint(hashes):
    """The fingerprint of a lock's wheel hashes {name: [sha256]} (a venv's release marker records them, a lock file
    parses into them), None without them: two venvs, or a venv and a release's lock, hold the same lock when equal."""
    if not isinstance(hashes, dict):
        return None
    return fingerprint(dict((normalize_name(k), sorted(h.lower() for h in v or [])) for k, v in hashes.items()))
