#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: wheel_mirror_info
short_description: Check that a local wheel mirror is reachable and holds a fitting wheel for every pin
version_added: 0.1.0
description:
  - Reads the mirror's listing (PEP 503 index pages, a flat directory listing over HTTP, or a wheelhouse directory on
    the host) and checks that every pinned distribution (or every entry of a hash-pinned lock) has a wheel whose tags
    fit O(python) on this host. Where the index publishes sha256 fragments they are compared with the lock.
  - Fails naming the mirror URL (credentials hidden), the package and the Python tag. Changes nothing.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.attributes.read_only
  - codex.offline_ml.wheel_mirror
options:
  files:
    description:
      - For O(mirror_mode=wheelhouse), the wheel file names of a wheelhouse that is still on the controller (checked
        before it is pushed). Takes the place of O(wheelhouse).
    type: list
    elements: str
  timeout:
    description: Seconds for each HTTP request.
    type: int
    default: 15
  variable_prefix:
    description: Role variable prefix used in error messages to name what to fix (for example V(torch_cpu)).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Is everything the lock names in the mirror, for this host's Python?
  codex.offline_ml.wheel_mirror_info:
    python: /usr/bin/python3
    lock: "{{ lookup('ansible.builtin.file', 'mirror/locks/torch_cpu.txt') }}"
    mirror_mode: index
    mirror_url: http://127.0.0.1:3141/simple/
  register: mirror
"""

RETURN = r"""
wheels:
  description: For each wanted distribution, the wheel file chosen from the mirror.
  returned: success
  type: dict
  sample: {"torch": "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"}
python_tag:
  description: The interpreter's CPython tag.
  returned: success
  type: str
  sample: cp311
platform_tag:
  description: The most specific platform tag of the host.
  returned: success
  type: str
  sample: manylinux_2_36_x86_64
kind:
  description: On failure, what kind of problem (unreachable, missing_package, no_compatible_wheel, lock_for_other_python, hash_mismatch, invalid_pin).
  returned: failure
  type: str
  sample: missing_package
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror import (
    MIRROR_URL_REQUIRED_IF,
    MirrorError,
    check_availability,
    hide_mirror_url,
    list_mirror,
    listing_from_names,
    mirror_spec,
    probe_interpreter,
    redact_url,
    scrub,
    tags_for,
    url_secrets,
    wanted_set,
)

_HINTS = {
    "unreachable": "check {p}_mirror_url / {p}_mirror_mode and that the mirror serves on that address",
    "missing_package": "stage it into the mirror with playbooks/stage_wheels.yml, or fix the pin in {p}_packages",
    "no_compatible_wheel": "stage wheels for this host's Python/platform, or do not apply this role to the host",
    "hash_mismatch": "the mirror's file differs from {p}_lock_file: re-stage the mirror or restore the file",
    "lock_for_other_python": ("set {p}_lock_file to a lock staged for this host's Python (playbooks/stage_wheels.yml"
                              " with stage_wheels_set_python_versions), or do not apply this role to the host"),
    "invalid_pin": "fix the pin in {p}_packages",
    "invalid_lock": "fix {p}_lock_file (write it with playbooks/stage_wheels.yml)",
    "lock_mismatch": "make {p}_packages agree with {p}_lock_file",
    "no_python": "set {p}_python to an existing interpreter",
}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **mirror_spec("python", "requirements", "lock", "mirror_mode", "mirror_url", "wheelhouse"),
            files=dict(type="list", elements="str"),
            **mirror_spec("trusted_host", "ca_bundle"),
            timeout=dict(type="int", default=15),
            variable_prefix=dict(type="str", default=""),
        ),
        required_if=MIRROR_URL_REQUIRED_IF + [("mirror_mode", "wheelhouse", ["wheelhouse", "files"], True)],
        supports_check_mode=True,
    )
    p = hide_mirror_url(module)
    mirror_url = p["mirror_url"]
    label = redact_url(p["mirror_url"]) if p["mirror_mode"] != "wheelhouse" else p["wheelhouse"]
    try:
        wanted, lock = wanted_set(p["requirements"], p["lock"])
        info = probe_interpreter(p["python"])
        if p["mirror_mode"] == "wheelhouse" and p["files"] is not None:
            label = "wheelhouse %s(on the controller)" % ((p["wheelhouse"] + " ") if p["wheelhouse"] else "")
            listing = listing_from_names(p["files"], sorted(wanted))
        else:
            listing = list_mirror(p["mirror_mode"], p["mirror_url"], p["wheelhouse"], sorted(wanted), p["timeout"],
                                  p["ca_bundle"], p["trusted_host"])
        chosen = check_availability(wanted, listing, tags_for(info), info, label, lock)
    except MirrorError as exc:
        msg = exc.msg
        hint = _HINTS.get(exc.kind)
        if exc.kind == "unreachable" and p["mirror_mode"] == "wheelhouse":
            hint = "check {p}_mirror_wheelhouse and {p}_mirror_mode"
        if hint and p["variable_prefix"]:
            msg = "%s. Fix: %s" % (msg, hint.format(p=p["variable_prefix"]))
        module.fail_json(msg=scrub(msg, url_secrets(mirror_url)), kind=exc.kind)
    except Exception as exc:  # pylint: disable=broad-except
        # Last net: a message naming the mirror (redacted), never a traceback, never a secret.
        module.fail_json(msg="reading mirror %s failed unexpectedly: %s: %s" % (
            label, type(exc).__name__, scrub(str(exc), url_secrets(mirror_url))), kind="error")
    module.exit_json(changed=False, wheels=chosen, python_tag=info["python_tag"], platform_tag=info["platform_tag"])


if __name__ == "__main__":
    main()
