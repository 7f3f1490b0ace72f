#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_verify
short_description: Verify a carried release - its OpenSSH signature and every file against its manifest
version_added: 0.3.0
description:
  - Checks a release directory written by C(codex.offline_ml.release_build) before anything serves it - the
    signature of C(manifest.json) (C(ssh-keygen -Y verify), namespace C(codex.offline_ml-release)) by a key of
    O(allowed_signers); every file the manifest lists that this release carries, by size and sha256; no file the
    manifest does not list; no symbolic link, device or FIFO, and no manifest path that leaves the release; a delta
    only with its base (O(base), found by the sha256 of its manifest), whose files are checked in the base.
  - Fails naming every problem (each names its file); the verdict is returned either way with O(fail=false).
  - The same check runs without Ansible - C(python3 plugins/module_utils/_release_verify.py RELEASE
    --allowed-signers FILE [--base DIR]) needs only Python's standard library and ssh-keygen.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.attributes.read_only
requirements:
  - ssh-keygen (OpenSSH 8.2 or later)
options:
  path:
    description: The release directory.
    type: path
    required: true
  allowed_signers:
    description: OpenSSH allowed_signers file of the keys that may sign releases (principal, C(namespaces="codex.offline_ml-release"), key).
    type: path
  base:
    description: For a delta, the directory of the release it is a delta over.
    type: path
  allow_unsigned:
    description: Accept a release staged with C(unsigned=true).
    type: bool
    default: false
  fail:
    description: Fail when the release does not verify (V(false) returns the verdict only).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Verify the carried disk before it is imported
  codex.offline_ml.release_verify:
    path: /media/usb/2026-12-04
    allowed_signers: /etc/codex/release_signers
"""

RETURN = r"""
ok:
  description: Whether the release verifies.
  returned: always
  type: bool
release:
  description: The release id from the manifest (None when it cannot be read).
  returned: always
  type: str
manifest_sha256:
  description: sha256 of C(manifest.json).
  returned: always
  type: str
signed:
  description: Whether the manifest says it is signed.
  returned: always
  type: bool
signer:
  description: The principal of O(allowed_signers) whose key made the good signature, else None.
  returned: always
  type: str
base:
  description: The base (C(release), C(manifest_sha256)) of a delta, else None.
  returned: always
  type: dict
files:
  description: Files the manifest lists.
  returned: always
  type: int
carried:
  description: Files the release carries.
  returned: always
  type: int
bytes:
  description: Size of the whole release by its manifest.
  returned: always
  type: int
carried_bytes:
  description: Size of the carried files by the manifest.
  returned: always
  type: int
problems:
  description: One line per problem, each naming its file.
  returned: always
  type: list
  elements: str
  sample: ["wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl - 1234 bytes, sha256 ...; the manifest says ..."]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._release_verify import verify


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            allowed_signers=dict(type="path"),
            base=dict(type="path"),
            allow_unsigned=dict(type="bool", default=False),
            fail=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    verdict = verify(p["path"], p["allowed_signers"], p["base"], p["allow_unsigned"])
    if not verdict["ok"] and p["fail"]:
        module.fail_json(msg="release %s does not verify: %s" % (p["path"], "; ".join(verdict["problems"])),
                         **verdict)
    module.exit_json(changed=False, **verdict)


if __name__ == "__main__":
    main()
