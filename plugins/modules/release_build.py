#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_build
short_description: Assemble the signed release that crosses the air gap, with its manifest, SBOM and a delta
version_added: 0.3.0
description:
  - Connected side. Links the wheels and locks of a wheel staging directory (C(codex.offline_ml.wheel_stage)'s
    O(stage_dir)) and the Hugging Face bundles of O(bundles) into O(releases_dir)/O(release_id), and writes
    C(manifest.json) (every file with its path, size and sha256, whether this release carries it, the sets, locks,
    indexes and models with their commits, the tool's version, the base of a delta), C(SHA256SUMS), a CycloneDX 1.6
    SBOM C(sbom.cdx.json) (generated with cyclonedx-python-lib and validated against the schema), the staging
    preflight report C(preflight.json), and C(manifest.json.sig), an OpenSSH signature (C(ssh-keygen -Y sign),
    namespace C(codex.offline_ml-release)).
  - With O(base), a delta - a file whose sha256 the base release holds is listed but not carried.
  - The release is built beside its place, checked with the same verifier the other side runs
    (C(codex.offline_ml.release_verify)), then renamed into place; a killed run leaves no release.
  - A release of the same id with the same content is left alone (no change); with other content it is refused.
  - In check mode only the inputs are checked (the id, that the key signs, the base); nothing is written.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
attributes:
  check_mode:
    support: partial
    details: Checks the inputs only (release id, signing key, base manifest); reports no change.
  diff_mode:
    support: none
requirements:
  - ssh-keygen (OpenSSH 8.2 or later)
  - cyclonedx-python-lib[json-validation] on the staging machine
options:
  stage_dir:
    description: A wheel staging directory written by C(codex.offline_ml.wheel_stage) (C(wheels/), C(locks/), C(manifest.json)).
    type: path
    required: true
  bundles:
    description: Hugging Face bundles (C(codex.offline_ml.hf_bundle)'s tar files; each C(.manifest.json) beside it) to carry under C(hf/).
    type: list
    elements: path
    default: []
  releases_dir:
    description: Directory the release directory is created in (on the staging cache's file system, so that files are hard-linked, not copied).
    type: path
    required: true
  release_id:
    description: Name of the release (letters, digits, C(.), C(_), C(-); at most 64).
    type: str
    required: true
  signing_key:
    description:
      - OpenSSH private key that signs the manifest (without a passphrase), or the public key (C(.pub)) of a key
        loaded in ssh-agent (C(SSH_AUTH_SOCK) in the environment). Only its path reaches C(ssh-keygen).
      - Required unless O(unsigned=true).
    type: path
  unsigned:
    description: Stage without a signature on purpose; the manifest records C(signed=false) and verifiers refuse the release unless allowed explicitly.
    type: bool
    default: false
  base:
    description: The release a lab already has (its directory or its C(manifest.json)); the new release carries only the files it lacks.
    type: path
  preflight:
    description: The staging preflight report (the C(preflight) result of C(codex.offline_ml.wheel_stage)) to carry as C(preflight.json).
    type: dict
  tar:
    description: Also write O(releases_dir)/O(release_id)C(.tar) (deterministic).
    type: bool
    default: false
  tool_version:
    description: Version of the collection that stages (recorded in the manifest and the SBOM).
    type: str
    required: true
  variable_prefix:
    description:
      - The prefix of the variables error messages name instead of the option names (V(stage) names V(stage_release_id),
        C(playbooks/stage.yml)'s variables).
      - A trailing V(_) is optional (V(stage_) is the same).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: A signed release of what was staged
  codex.offline_ml.release_build:
    stage_dir: /srv/stage/wheels
    bundles: [/srv/stage/hf/hf-bundle.tar]
    releases_dir: /srv/releases
    release_id: "2026-12-04"
    signing_key: /root/.ssh/release_ed25519
    tool_version: 0.3.0

- name: A delta over the release the lab has
  codex.offline_ml.release_build:
    stage_dir: /srv/stage/wheels
    releases_dir: /srv/releases
    release_id: "2027-01-08"
    base: /srv/releases/2026-12-04
    signing_key: /root/.ssh/release_ed25519.pub   # the key is in ssh-agent
    tool_version: 0.3.0
"""

RETURN = r"""
release:
  description: The release id.
  returned: success
  type: str
  sample: "2026-12-04"
path:
  description: The release directory.
  returned: success
  type: str
  sample: /srv/releases/2026-12-04
manifest_sha256:
  description: sha256 of C(manifest.json) (what a delta names as its base and the mirror reports as served).
  returned: success
  type: str
signed:
  description: Whether the manifest is signed.
  returned: success
  type: bool
base:
  description: The base release (C(release), C(manifest_sha256)) of a delta, else None.
  returned: success
  type: dict
files:
  description: Files the manifest lists (the whole release).
  returned: success
  type: int
carried:
  description: Files this release carries (all of them, but in a delta).
  returned: success
  type: int
bytes:
  description: Size of the whole release.
  returned: success
  type: int
carried_bytes:
  description: Size of what this release carries.
  returned: success
  type: int
models:
  description: The models carried, as C(repo_id@commit).
  returned: success
  type: list
  elements: str
tar:
  description: Path of the tar, when O(tar=true).
  returned: success
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import variable_prefix
from ansible_collections.codex.offline_ml.plugins.module_utils._release_build import (
    build_release,
    check_inputs,
    write_tar,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._release_verify import ReleaseError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            stage_dir=dict(type="path", required=True),
            bundles=dict(type="list", elements="path", default=[]),
            releases_dir=dict(type="path", required=True),
            release_id=dict(type="str", required=True),
            signing_key=dict(type="path"),
            unsigned=dict(type="bool", default=False),
            base=dict(type="path"),
            preflight=dict(type="dict"),
            tar=dict(type="bool", default=False),
            tool_version=dict(type="str", required=True),
            variable_prefix=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    p = module.params
    prefix = variable_prefix(p["variable_prefix"])
    try:
        if module.check_mode:
            check_inputs(p["release_id"], p["signing_key"], p["unsigned"], p["base"], prefix=prefix)
            module.exit_json(changed=False, release=p["release_id"])
        changed, result = build_release(p["stage_dir"], p["bundles"], p["releases_dir"], p["release_id"],
                                        p["tool_version"], signing_key=p["signing_key"], unsigned=p["unsigned"],
                                        base=p["base"], preflight=p["preflight"], prefix=prefix)
        if p["tar"]:
            result["tar"] = os.path.join(p["releases_dir"], "%s.tar" % p["release_id"])
            changed |= write_tar(result["path"], result["tar"])
    except (ReleaseError, RuntimeError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
