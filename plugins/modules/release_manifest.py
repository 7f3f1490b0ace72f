#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_manifest
short_description: Read the release a mirror host serves, once its signature holds
version_added: 0.4.0
description:
  - Fetches C(manifest.json) and C(manifest.json.sig) from O(url), the served release of a mirror host (role
    C(codex.offline_ml.offline_mirror)), and verifies the OpenSSH signature (C(ssh-keygen -Y verify), namespace
    C(codex.offline_ml-release)) against O(allowed_signers). Then returns what a node needs before it downloads
    anything - the release's id, its manifest's sha256, the signer, the sha256 and size of each of O(paths), the
    sha256 of each wheel set's lock file, and the models.
  - Fails, naming the mirror host (O(mirror_host)) and with RV(kind), when the mirror does not answer, answers an
    HTTP error, serves no release manifest, serves a signature that is missing, bad or by a key not in
    O(allowed_signers), or a release without one of O(paths).
  - Requests go straight to the mirror, never through a proxy; credentials in O(url) are sent as basic auth.
    C(ssh-keygen) must be on the node.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.attributes.read_only
options:
  url:
    description:
      - The directory the release is served from (C(http://mirror1:3141/release/)); the trailing slash is optional.
      - Credentials in it never appear in a message or the result.
    type: str
    required: true
  allowed_signers:
    description:
      - The public keys that may sign releases (as C(offline_mirror_allowed_signers)).
      - Empty is refused unless O(allow_unsigned=true).
    type: list
    elements: dict
    default: []
    suboptions:
      principal:
        description: The name the key signs as (letters, digits and C(@ . _ + -)).
        type: str
        required: true
      key:
        description: The public key line (C(ssh-ed25519 AAAA...)); a comment after it is ignored.
        type: str
        required: true
  allow_unsigned:
    description:
      - Take a release served without C(manifest.json.sig) unverified (RV(signer) is V(null)), for releases staged
        with C(stage_unsigned=true). A signature that is served is still verified when O(allowed_signers) is given.
    type: bool
    default: false
  paths:
    description: Paths in the release (C(hf/hf-bundle.tar)) whose sha256 and size are returned in RV(files).
    type: list
    elements: str
    default: []
  mirror_host:
    description: The mirror host's inventory name, for the messages.
    type: str
    default: ''
  ca_path:
    description: CA file that verifies the mirror's certificate (an HTTPS O(url)).
    type: path
  timeout:
    description: Seconds each request may take.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Read and verify the release the mirror host serves
  codex.offline_ml.release_manifest:
    url: http://mirror1:3141/release/
    mirror_host: mirror1
    allowed_signers:
      - principal: lab-stager
        key: "{{ lookup('ansible.builtin.file', 'keys/stager.pub') }}"
    paths:
      - hf/hf-bundle.tar
      - hf/hf-bundle.tar.manifest.json
  register: served

- name: A lab that stages unsigned releases
  codex.offline_ml.release_manifest:
    url: http://127.0.0.1:18180/release
    allow_unsigned: true
"""

RETURN = r"""
url:
  description: The served release's directory, credentials hidden, with a trailing slash.
  returned: success
  type: str
  sample: http://mirror1:3141/release/
release:
  description: The served release's id.
  returned: success
  type: str
  sample: "2026-12-05"
manifest_sha256:
  description: sha256 of the served C(manifest.json).
  returned: success
  type: str
signer:
  description: The principal whose key signed the manifest; V(null) when O(allow_unsigned) took a release without a
    signature.
  returned: success
  type: str
  sample: lab-stager
files:
  description: For each of O(paths), its sha256 and size as the signed manifest says.
  returned: success
  type: dict
  sample: {"hf/hf-bundle.tar": {"sha256": "152f9ab071f0a3e998870d3cbeec8d9812eb28afac9ed82341aed49e971b3efd",
                                "size": 61440}}
checksums:
  description: For each of O(paths), its signed sha256 as a checksum argument of C(ansible.builtin.get_url).
  returned: success
  type: dict
  sample: {"hf/hf-bundle.tar.manifest.json": "sha256:8d28e2a9bf3aff5732be5e7701323fd46abae2050b40d48dbe9eb616037af65e"}
locks:
  description: For each wheel set of the release, the sha256 of its lock file.
  returned: success
  type: dict
  sample: {"hf_offline_cache": "57a8a236f2d74fc7f5282fe90a07aa6fa4cebd692a86c2ac7e02df830718d559"}
models:
  description: The Hugging Face repositories the release carries.
  returned: success
  type: list
  elements: dict
  contains:
    repo_id:
      description: The repository (C(owner/name)).
      type: str
    repo_type:
      description: C(model), C(dataset) or C(space).
      type: str
    revision:
      description: The revision asked for when staging.
      type: str
    commit:
      description: The commit it resolved to.
      type: str
kind:
  description: On failure, what is wrong (C(unreachable), C(http), C(manifest), C(signature), C(missing),
    C(invalid)).
  returned: failure
  type: str
status:
  description: On an HTTP error (RV(kind=http)), the status the mirror answered.
  returned: failure
  type: int
path:
  description: On RV(kind=missing), the path of O(paths) the release does not hold.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_http import fetch as http_fetch
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import long_secrets
from ansible_collections.codex.offline_ml.plugins.module_utils._served_release import ServedReleaseError, fetch


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            allowed_signers=dict(type="list", elements="dict", default=[], options=dict(
                principal=dict(type="str", required=True),
                key=dict(type="str", required=True, no_log=False),
            )),
            allow_unsigned=dict(type="bool", default=False),
            paths=dict(type="list", elements="str", default=[]),
            mirror_host=dict(type="str", default=""),
            ca_path=dict(type="path"),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    module.no_log_values.update(long_secrets(p["url"]))

    def get(url):
        return http_fetch(url, timeout=p["timeout"], ca_bundle=p["ca_path"], accept="*/*")

    try:
        result = fetch(p["url"], get, allowed_signers=p["allowed_signers"], allow_unsigned=p["allow_unsigned"],
                       paths=p["paths"], mirror_host=p["mirror_host"])
    except ServedReleaseError as exc:
        module.fail_json(msg=exc.msg, kind=exc.kind, **exc.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
