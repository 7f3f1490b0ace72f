#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rollout_summary
short_description: Say who a site.yml or rollback.yml run brought to the new state, who failed and who was not reached
version_added: 0.3.0
description:
  - Runs on the controller (C(delegate_to=localhost), C(run_once=true)) at the end of C(playbooks/site.yml) and
    C(playbooks/rollback.yml), with every host's recorded state (the C(codex.offline_ml.rollout_states) filter).
  - Puts every host in exactly one list, C(done) (every role's tasks passed, their verify phases included),
    C(failed) (with the first failing task and its message, once per host), C(unreachable) (its batch began, it never
    came back) or C(not_attempted) (the rollout stopped before its batch).
  - Writes the summary as JSON to O(dest)/<UTC timestamp>-<playbook>.json and O(dest)/<playbook>-latest.json, for
    scripts and AWX jobs. Messages are cut to 500 characters; the roles never put a secret in a message.
  - C(changed) is always V(false), because the summary is the run's output, not a change to a managed host.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the summary is computed and returned but not written. The playbooks run it with
        C(check_mode=false), so that a C(--check) run leaves its summary too, marked C(check_mode).
  diff_mode:
    support: none
    details: Writes a new file each run; there is nothing to diff.
options:
  states:
    description: Host to its recorded state (V(null), or a dict with C(state) V(started), V(done) or V(failed), and
      C(task) and C(message) for a failure).
    type: dict
    required: true
  hosts:
    description: Every host of the play (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  plan:
    description: The rollout plan of the run, if any (C(site_rollout), C(rollback_rollout)).
    type: raw
  stopped:
    description: Why the rollout stopped, when a batch's gate stopped it.
    type: str
    default: ""
  playbook:
    description: The playbook's name in the summary and the file names.
    type: str
    choices: [site, rollback]
    default: site
  run_check_mode:
    description: Whether the playbook ran in check mode (the module itself runs with C(check_mode=false)).
    type: bool
    default: false
  dest:
    description: Directory (absolute) for the summary files; created when missing.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Write the run's summary on the controller
  codex.offline_ml.rollout_summary:
    states: "{{ hostvars | codex.offline_ml.rollout_states(ansible_play_hosts_all) }}"
    hosts: "{{ ansible_play_hosts_all }}"
    plan: "{{ site_rollout | default(none) }}"
    dest: /var/lib/codex/runs
  delegate_to: localhost
  run_once: true
  check_mode: false
"""

RETURN = r"""
summary:
  description: The summary, as written.
  returned: always
  type: dict
  contains:
    schema:
      description: Version of this layout.
      type: int
      sample: 1
    playbook:
      description: V(site) or V(rollback).
      type: str
    check_mode:
      description: Whether the run was a check.
      type: bool
    plan:
      description: The plan as followed (sizes normalised), or null.
      type: dict
    stopped:
      description: Why the rollout stopped, or null.
      type: str
    hosts:
      description: The lists C(done), C(failed), C(unreachable) and C(not_attempted), each sorted.
      type: dict
    failures:
      description: One entry per failed or unreachable host, with C(host), C(task) and C(message).
      type: list
      elements: dict
    counts:
      description: The length of each list.
      type: dict
    ok:
      description: Every host done.
      type: bool
    line:
      description: The summary in one line.
      type: str
    generated_at:
      description: UTC time of the summary.
      type: str
files:
  description: The summary's file and the latest copy (not written in check mode).
  returned: always
  type: dict
  sample: {json: /var/lib/codex/runs/20261205T040000Z-site.json, latest: /var/lib/codex/runs/site-latest.json}
lines:
  description: The summary as the playbooks print it (the line, one line per failed or lost host, the hosts not
    attempted, the file).
  returned: always
  type: list
  elements: str
written:
  description:
    - Whether the files were written. False in check mode, and with a warning when O(dest) cannot be written (the
      run's outcome stands; the summary is still returned and printed).
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable
from ansible_collections.codex.offline_ml.plugins.module_utils._report_files import report_time, stamp
from ansible_collections.codex.offline_ml.plugins.module_utils._rollout import RolloutError, lines, summary


def main():
    module = AnsibleModule(
        argument_spec=dict(
            states=dict(type="dict", required=True),
            hosts=dict(type="list", elements="str", required=True),
            plan=dict(type="raw"),
            stopped=dict(type="str", default=""),
            playbook=dict(type="str", choices=["site", "rollback"], default="site"),
            run_check_mode=dict(type="bool", default=False),
            dest=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    now, generated_at = report_time(module, "site_summary_dir")
    p = module.params
    try:
        doc = summary(p["states"], p["hosts"], p["plan"], p["stopped"], p["playbook"], p["run_check_mode"])
    except RolloutError as exc:
        module.fail_json(msg=exc.msg)
    doc["generated_at"] = generated_at
    files = {"json": os.path.join(p["dest"], "%s-%s.json" % (stamp(now), p["playbook"])),
             "latest": os.path.join(p["dest"], "%s-latest.json" % p["playbook"])}
    written = False
    if not module.check_mode:
        try:
            os.makedirs(p["dest"], exist_ok=True)
            for path in (files["json"], files["latest"]):
                _durable.write_json(path, doc, indent=1)
            written = True
        except (IOError, OSError) as exc:
            # The hosts' run is over and its outcome stands: a summary that cannot be kept is said, not a failure
            # (a job's collection directory is often read-only: set site_summary_dir).
            module.warn("the run's summary was not written under %s: %s. Set site_summary_dir to a writable "
                        "directory on the controller." % (p["dest"], exc))
    module.exit_json(changed=False, summary=doc, files=files, written=written,
                     lines=lines(doc) + ["summary: " + (files["json"] if written else "not written")])


if __name__ == "__main__":
    main()
