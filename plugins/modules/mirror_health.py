#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mirror_health
short_description: Check that the mirror host serves its release, or that its port is free to serve it
version_added: 0.4.0
description:
  - With O(check=served), asks O(url) as a node does, from what the store's served C(manifest.json) (O(root)C(/current))
    says - the PEP 503 index page of the release's smallest wheel's project lists that wheel; one Hugging Face bundle
    manifest under C(/release/hf/) is the release's file by sha256; the wheel downloaded through the index has the
    signed manifest's sha256. A service just (re)started gets O(attempts) tries of the first request. Fails naming
    the first check that does not hold (RV(check)).
  - With O(check=port), fails when O(address):O(port) cannot be bound and O(service) is not the active unit holding
    it - another program's port, or an address this host does not have - before anything is installed.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.attributes.read_only
options:
  check:
    description: What to check.
    type: str
    choices: [served, port]
    default: served
  root:
    description: The store (as for C(codex.offline_ml.mirror_release)); needed for O(check=served).
    type: path
  url:
    description: The served base URL (C(http://127.0.0.1:3141)); needed for O(check=served).
    type: str
  ca_bundle:
    description: CA file that verifies the served certificate (an HTTPS URL).
    type: path
  timeout:
    description: Seconds each request may take.
    type: int
    default: 30
  attempts:
    description: Tries of the first request (one a second), for a service that is still starting.
    type: int
    default: 15
  address:
    description: Address the service binds (O(check=port)).
    type: str
  port:
    description: Port the service binds (O(check=port)).
    type: int
  service:
    description:
      - The mirror's systemd unit (without C(.service)); when it is active and O(unit_path) binds O(address):O(port),
        it holds the port itself (O(check=port)).
    type: str
  unit_path:
    description: The unit file of O(service) (O(check=port)).
    type: path
"""

EXAMPLES = r"""
- name: Check the port before installing the service
  codex.offline_ml.mirror_health:
    check: port
    address: 0.0.0.0
    port: 3141
    service: codex-offline-mirror

- name: Check the served release as a node sees it
  codex.offline_ml.mirror_health:
    root: /srv/offline-mirror
    url: http://127.0.0.1:3141
"""

RETURN = r"""
release:
  description: The served release (O(check=served)).
  returned: success
  type: str
manifest_sha256:
  description: sha256 of the served C(manifest.json) (O(check=served)).
  returned: success
  type: str
checks:
  description: What was checked, one line each (O(check=served)).
  returned: success
  type: list
  elements: str
check:
  description: On failure, the check that failed (C(index), C(bundle manifest), C(file sha256), C(port)).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_health import (
    MirrorHealthError,
    bound_by_unit,
    check,
    port_problem,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            check=dict(type="str", choices=["served", "port"], default="served"),
            root=dict(type="path"),
            url=dict(type="str"),
            ca_bundle=dict(type="path"),
            timeout=dict(type="int", default=30),
            attempts=dict(type="int", default=15),
            address=dict(type="str"),
            port=dict(type="int"),
            service=dict(type="str"),
            unit_path=dict(type="path"),
        ),
        required_if=[("check", "served", ["root", "url"]),
                     ("check", "port", ["address", "port", "service", "unit_path"])],
        supports_check_mode=True,
    )
    p = module.params
    if p["check"] == "port":
        rc, out, _err = module.run_command(["systemctl", "is-active", p["service"] + ".service"])
        try:
            with open(p["unit_path"]) as handle:
                unit = handle.read()
        except (IOError, OSError):
            unit = ""
        problem = port_problem(p["address"], p["port"],
                               out.strip() == "active" and bound_by_unit(unit, p["address"], p["port"]))
        if problem:
            module.fail_json(msg=problem, check="port")
        module.exit_json(changed=False)

    def get(url):
        try:
            response = open_url(url, timeout=p["timeout"], ca_path=p["ca_bundle"], use_proxy=False,
                                follow_redirects="safe")
            return response.getcode(), response.read()
        except HTTPError as exc:
            return exc.code, b""

    try:
        result = check(p["root"], p["url"], get, attempts=max(1, p["attempts"]))
    except MirrorHealthError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except (IOError, OSError, ValueError, KeyError) as exc:
        module.fail_json(msg="the served release in %s cannot be read: %s" % (p["root"], exc), check="manifest")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
