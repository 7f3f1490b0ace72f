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
    description:
      - The role whose variables error messages name as what to fix (V(torch_cpu) names V(torch_cpu_mirror_url)).
      - A trailing V(_) is optional (V(torch_cpu_) is the same). Empty, the messages give no such hint.
    type: str
    default: ""
  check_requires:
    description:
      - Distributions (for example V(torchvision)) whose chosen wheel's C(Requires-Dist) is read from the mirror (the
        wheel file itself) and must be met by the other pins; a C(Requires-Dist) naming another version of a pinned
        distribution (V(torch==2.11.0) against V(torch==2.13.0+cpu)) fails with kind V(requires_mismatch).
      - With O(files) (a wheelhouse still on the controller) the files cannot be read here; run the check where the
        wheelhouse is (O(wheelhouse) and O(any_platform)).
    type: list
    elements: str
    default: []
  any_platform:
    description: Accept a wheel of the pinned version whatever its tags (for reading metadata on another machine).
    type: bool
    default: false
  mirror_host:
    description:
      - Inventory name of the lab's mirror host (role C(codex.offline_ml.offline_mirror)) that serves O(mirror_url).
        When the mirror does not answer, the message names this host and says to converge it or start its service.
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
requires:
  description: For each distribution of O(check_requires), the C(Requires-Dist) lines of its chosen wheel.
  returned: success
  type: dict
  sample: {"torchvision": ["numpy", "torch (==2.13.0)", "pillow (!=8.3.*,>=5.3.0)"]}
kind:
  description: On failure, what kind of problem (unreachable, missing_package, no_compatible_wheel, lock_for_other_python,
    hash_mismatch, invalid_pin, requires_mismatch).
  returned: failure
  type: str
  sample: missing_package
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError, variable_prefix
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_http import (
    MIRROR_URL_REQUIRED_IF,
    list_mirror,
    mirror_spec,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import (
    hide_mirror_url,
    redact_url,
    scrub,
    url_secrets,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import (
    check_availability,
    listing_from_names,
    probe_interpreter,
    tags_for,
    wanted_set,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._wheel_requires import (
    metadata_requires,
    read_wheel,
    requirement_conflicts,
)

_HINTS = {
    "unreachable": "check {p}mirror_url / {p}mirror_mode and that the mirror serves on that address",
    "missing_package": "stage it into the mirror with playbooks/stage_wheels.yml, or fix the pin in {p}packages",
    "no_compatible_wheel": "stage wheels for this host's Python/platform, or do not apply this role to the host",
    "hash_mismatch": "the mirror's file differs from {p}lock_file: re-stage the mirror or restore the file",
    "lock_for_other_python": ("set {p}lock_file to a lock staged for this host's Python (playbooks/stage_wheels.yml"
                              " with stage_wheels_set_python_versions), or do not apply this role to the host"),
    "invalid_pin": "fix the pin in {p}packages",
    "invalid_lock": "fix {p}lock_file (write it with playbooks/stage_wheels.yml)",
    "lock_mismatch": "make {p}packages agree with {p}lock_file",
    "requires_mismatch": "pin companions built for the pinned torch ({p}companions) and re-stage the mirror",
    "no_python": "set {p}python to an existing interpreter",
}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **mirror_spec("python", "requirements", "lock", "mirror_mode", "mirror_url", "wheelhouse"),
            files=dict(type="list", elements="str"),
            **mirror_spec("trusted_host", "ca_bundle"),
            timeout=dict(type="int", default=15),
            variable_prefix=dict(type="str", default=""),
            check_requires=dict(type="list", elements="str", default=[]),
            any_platform=dict(type="bool", default=False),
            mirror_host=dict(type="str", default=""),
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
        tags = tags_for(info)
        if p["any_platform"]:
            tags = set(tag for files in listing.values() for entry in files for tag in entry["tags"])
        chosen = check_availability(wanted, listing, tags, info, label, lock)
        requires = _check_requires(p, wanted, listing, chosen, mirror_url)
    except MirrorError as exc:
        msg = exc.msg
        hint = _HINTS.get(exc.kind)
        if exc.kind == "unreachable" and p["mirror_mode"] == "wheelhouse":
            hint = "check {p}mirror_wheelhouse and {p}mirror_mode"
        prefix = variable_prefix(p["variable_prefix"])
        if exc.kind == "unreachable" and p["mirror_host"] and p["mirror_mode"] != "wheelhouse":
            # The lab's own mirror host: the fix is on that host, not in this node's variables.
            msg = "the mirror host %s does not answer: %s" % (p["mirror_host"], msg)
            hint = ("converge the mirror host first (site.yml applies offline_mirror to mirror_hosts before the nodes) "
                    "or start its service; check {p}mirror_url")
        if hint and prefix:
            msg = "%s. Fix: %s" % (msg, hint.format(p=prefix))
        module.fail_json(msg=scrub(msg, url_secrets(mirror_url)), kind=exc.kind)
    except Exception as exc:  # pylint: disable=broad-except
        # Last net: a message naming the mirror (redacted), never a traceback, never a secret.
        module.fail_json(msg="reading mirror %s failed unexpectedly: %s: %s" % (
            label, type(exc).__name__, scrub(str(exc), url_secrets(mirror_url))), kind="error")
    module.exit_json(changed=False, wheels=chosen, python_tag=info["python_tag"], platform_tag=info["platform_tag"],
                     requires=requires)


def _check_requires(p, wanted, listing, chosen, mirror_url):
    """Read the Requires-Dist of each wheel of check_requires; MirrorError when one needs another pinned version."""
    requires, problems = {}, []
    for raw in p["check_requires"]:
        name = raw.strip().lower().replace("_", "-").replace(".", "-")
        if name not in chosen:
            raise MirrorError("check_requires names %s, which is not pinned" % raw, kind="invalid_pin")
        if p["mirror_mode"] == "wheelhouse" and p["files"] is not None:
            raise MirrorError("check_requires needs the wheel files: give wheelhouse, not files", kind="invalid")
        entry = [f for f in listing[name] if f["filename"] == chosen[name]][0]
        try:
            requires[name] = metadata_requires(read_wheel(entry, max(p["timeout"], 60), p["ca_bundle"],
                                                          p["trusted_host"], auth_from=mirror_url))
        except MirrorError as exc:
            raise MirrorError("reading the metadata of %s from the mirror failed: %s" % (chosen[name], exc.msg),
                              kind=exc.kind)
        problems += requirement_conflicts(name, wanted[name], requires[name], wanted)
    if problems:
        raise MirrorError("; ".join(problems), kind="requires_mismatch")
    return requires


if __name__ == "__main__":
    main()
