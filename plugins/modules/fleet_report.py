#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Turn the audit's host records into fleet.json, fleet.html and junit.xml
version_added: 0.1.0
description:
  - Runs on the controller (C(delegate_to=localhost), C(run_once=true)) after C(playbooks/audit.yml) has collected one
    host record per host. Decides, host by host, every check (V(pass), V(fail) or V(n/a) when the host is not expected
    to have the role the check audits), compares each venv's distributions and locked wheel hashes with the staging
    manifest O(manifest), checks the mirror host's served release (its signature verified again on the host,
    its health, its facts file) and compares each node's locks and models with that release, naming a node on an
    older one, and groups hosts by value wherever they drifted apart.
  - Writes one folder per run, O(dest)/<UTC timestamp>/, holding C(fleet.json) (versioned schema, sorted, identical
    between two audits of the same state but for C(generated_at)), C(fleet.html) (one self-contained page, no script,
    no external asset) and C(junit.xml) (a test case per host and check), then points O(dest)/latest at it.
  - The layout of the host records and of C(fleet.json) is described in C(docs/audit.md) of the collection.
  - C(changed) is always V(false), because the report is the audit's output, not a change to a managed host.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
attributes:
  check_mode:
    support: full
    details: In check mode the verdicts are computed and returned but no file is written.
  diff_mode:
    support: none
    details: Writes a new report folder each run; there is nothing to diff.
options:
  records:
    description: One host record per audited host, as C(playbooks/audit.yml) builds them (key C(host) required).
    type: list
    elements: dict
    required: true
  dest:
    description: Directory (absolute) that receives one folder per run and the C(latest) symlink.
    type: path
    required: true
  manifest:
    description:
      - The staging manifest (C(manifest.json) written by C(playbooks/stage_wheels.yml)) on the controller, or a
        release's C(manifest.json) (C(playbooks/stage.yml); its wheels are its entries of kind C(wheel)).
      - When it is missing or unreadable every venv check fails, saying so.
    type: path
  require_lock_hashes:
    description:
      - A venv whose release marker records no lock hashes fails its check (its wheels cannot be matched to the
        manifest by sha256). With V(false) such a venv is checked by version only.
    type: bool
    default: true
  role_groups:
    description: Role to inventory groups, as used to decide which checks apply; shown on the page.
    type: dict
    default: {}
  fail_on_noncompliant:
    description: After writing the report, fail naming every non-compliant host and its failing checks.
    type: bool
    default: false
seealso:
  - module: codex.offline_ml.venv_audit
  - module: codex.offline_ml.torch_diagnostic
"""

EXAMPLES = r"""
- name: Write the fleet report
  codex.offline_ml.fleet_report:
    records: "{{ ansible_play_hosts_all | map('extract', hostvars, '__audit_record') | list }}"
    dest: /var/lib/codex-audit
    manifest: /srv/mirror/manifest.json
  delegate_to: localhost
  run_once: true
  register: report

- name: Say where it is
  ansible.builtin.debug:
    msg: "{{ report.files.html }}"
  run_once: true
"""

RETURN = r"""
dir:
  description: The folder of this run (in check mode, the folder it would have been).
  returned: always
  type: str
  sample: /var/lib/codex-audit/20261128T120000Z
latest:
  description: The symlink to the newest folder.
  returned: always
  type: str
  sample: /var/lib/codex-audit/latest
files:
  description: The three files.
  returned: always
  type: dict
  sample: {"json": "/var/lib/codex-audit/20261128T120000Z/fleet.json",
           "html": "/var/lib/codex-audit/20261128T120000Z/fleet.html",
           "junit": "/var/lib/codex-audit/20261128T120000Z/junit.xml"}
written:
  description: Whether the files were written (V(false) in check mode).
  returned: always
  type: bool
  sample: true
compliant:
  description: Whether every host passes every check that applies to it.
  returned: always
  type: bool
  sample: false
noncompliant:
  description: Each non-compliant host with its failing checks.
  returned: always
  type: dict
  sample: {"ml2": ["torch"]}
summary:
  description: Hosts, compliant hosts, non-compliant host names and the count of each status.
  returned: always
  type: dict
  sample: {"hosts": 3, "compliant_hosts": 2, "noncompliant_hosts": ["ml2"],
           "counts": {"pass": 9, "fail": 1, "n/a": 5}}
failure_message:
  description: The message naming the non-compliant hosts and their failing checks; empty when compliant.
  returned: always
  type: str
  sample: "audit: 1 host of 3 hosts not compliant: ml2 (torch: torch is stub)"
drift:
  description: Values that differ between hosts where their check applies, hosts grouped by value.
  returned: always
  type: list
  elements: dict
  sample: [{"key": "torch.version", "check": "torch",
            "values": [{"value": "2.12.0+cpu", "hosts": ["ml2"]}, {"value": "2.13.0+cpu", "hosts": ["ml1"]}]}]
generated_at:
  description: UTC time of the report.
  returned: always
  type: str
  sample: "2026-11-28T12:00:00Z"
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import ReportError
from ansible_collections.codex.offline_ml.plugins.module_utils._report_files import report_time, stamp, write_report
from ansible_collections.codex.offline_ml.plugins.module_utils._report_fleet import (
    build_report,
    failure_message,
    noncompliant,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._report_manifest import load_manifest


def main():
    module = AnsibleModule(
        argument_spec=dict(
            records=dict(type="list", elements="dict", required=True),
            dest=dict(type="path", required=True),
            manifest=dict(type="path"),
            require_lock_hashes=dict(type="bool", default=True),
            role_groups=dict(type="dict", default={}),
            fail_on_noncompliant=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    now, generated_at = report_time(module, "audit_report_dir")
    p = module.params
    if p["manifest"]:
        manifest_info, index = load_manifest(p["manifest"])
    else:
        manifest_info, index = None, None
    try:
        doc = build_report(p["records"], manifest_info, index, p["require_lock_hashes"],
                           generated_at=generated_at,
                           role_groups=p["role_groups"])
        if module.check_mode:
            folder = os.path.join(p["dest"], stamp(now))
            paths = {"dir": folder, "latest": os.path.join(p["dest"], "latest"),
                     "files": dict((k, os.path.join(folder, n)) for k, n in (
                         ("json", "fleet.json"), ("html", "fleet.html"), ("junit", "junit.xml")))}
        else:
            paths = write_report(doc, p["dest"], now)
    except ReportError as exc:
        module.fail_json(msg=exc.msg)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot write the report under %s: %s" % (p["dest"], exc))

    result = dict(changed=False, written=not module.check_mode, compliant=doc["compliant"],
                  noncompliant=noncompliant(doc), summary=doc["summary"], failure_message=failure_message(doc),
                  drift=doc["drift"], generated_at=doc["generated_at"], **paths)
    if p["fail_on_noncompliant"] and not doc["compliant"]:
        module.fail_json(msg=result["failure_message"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
