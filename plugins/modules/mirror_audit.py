#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mirror_audit
short_description: The mirror host's part of the fleet audit - the served release, its signature, the kept releases, health
version_added: 0.4.0
description:
  - Internal to the offline_mirror role's audit entry point (C(roles/offline_mirror/tasks/audit.yml), run by
    C(playbooks/audit.yml)); the action plugin fills every option from the role's own variables and adds the role's
    facts file (C(ansible_local.offline_mirror)) to the answer. The task takes no option.
  - The step is the role's C(offline_mirror_audit_step) - V(plan) answers RV(plan) without a call to the host,
    V(collect) reads the mirror host and adds RV(record).
  - Reads the release the store O(root) serves (C(current)) and verifies its OpenSSH signature again against
    O(allowed_signers) - the audit's verdict, not the facts file's word; reads every kept release's locks (the
    wheel hashes a node's venv is matched to) and models; asks O(url) as a node does (the index page, a bundle
    manifest, a wheel's sha256), once.
  - Never fails on what it finds; each finding is in RV(mirror), and the fleet report decides.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.attributes.read_only
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: The action plugin takes the options from the offline_mirror role's variables.
options:
  root:
    description: The store (C(offline_mirror_root)).
    type: path
    required: true
  url:
    description: The served base URL as the mirror host asks itself (C(http://127.0.0.1:3141)).
    type: str
    required: true
  ca_bundle:
    description: CA file that verifies the served certificate (an HTTPS URL).
    type: path
  timeout:
    description: Seconds each health request may take.
    type: int
    default: 30
  allowed_signers:
    description: The OpenSSH allowed_signers text of the keys that may sign releases (public keys only).
    type: str
    default: ""
  allow_unsigned:
    description: Whether the role accepts unsigned releases (reported; an unsigned release is not a finding then).
    type: bool
    default: false
seealso:
  - module: codex.offline_ml.mirror_health
  - module: codex.offline_ml.fleet_report
"""

EXAMPLES = r"""
- name: The offline_mirror part of the audit record (in the role's audit entry point)
  codex.offline_ml.mirror_audit: {}
  register: offline_mirror_audit
"""

RETURN = r"""
plan:
  description: What the audit's shared calls must cover for this role (nothing).
  returned: always
  type: dict
  sample: {"venvs": [], "read": {}}
record:
  description:
    - The offline_mirror part of the host's audit record, C({mirror}) - C(served) (release, manifest sha256, signed,
      signer, signature_error, error), C(releases) (each kept release's locks and models), C(health), C(fact);
      laid out in C(docs/audit.md).
  returned: step collect
  type: dict
mirror:
  description: What the module read on the mirror host; the action plugin returns it, with C(fact) added, under RV(record).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_audit import audit
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_http import fetch


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            url=dict(type="str", required=True),
            ca_bundle=dict(type="path"),
            timeout=dict(type="int", default=30),
            allowed_signers=dict(type="str", default=""),
            allow_unsigned=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params

    def get(url):
        return fetch(url, timeout=p["timeout"], ca_bundle=p["ca_bundle"], accept="*/*")

    ssh_keygen = module.get_bin_path("ssh-keygen") or "ssh-keygen"
    module.exit_json(changed=False, mirror=audit(p["root"], p["url"], get, p["allowed_signers"], p["allow_unsigned"],
                                                 ssh_keygen))


if __name__ == "__main__":
    main()
