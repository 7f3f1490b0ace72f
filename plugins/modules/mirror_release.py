#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mirror_release
short_description: Verify a carried release, import it into the mirror host's store and serve it by an atomic switch
version_added: 0.4.0
description:
  - Verifies the release directory O(source) as C(codex.offline_ml.release_verify) does (the signature by a key of
    O(allowed_signers), every file against the signed manifest, nothing extra, no link, device or path that leaves
    the release; a delta only over a base this store holds) before anything is written.
  - Imports it into O(root)C(/releases/<id>) - every file copied while its sha256 is checked again (a pushed copy in
    O(root)C(/incoming) is hard-linked and read back instead), a delta's other files hard-linked from its base (no
    second copy) - in a hidden directory renamed into place when complete, so a crash never leaves a half release
    where a reader looks.
  - Serves O(serve) (default, the release of O(source)) by replacing the symbolic link O(root)C(/current) with a
    rename; readers see the old release or the new one, never a mix. Serving an older kept release is the rollback.
  - Keeps the O(keep) releases last imported or served (the served one and the one it replaced are never removed).
  - Refuses, naming the problem and leaving the served release as it was - a release that does not verify, a
    delta whose base is not in the store, a release id already imported with other content, a disk without room
    for the import, a store or a directory above it that a user other than root could write.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
attributes:
  check_mode:
    support: full
    details: The release is verified and the room checked; nothing is copied, switched or removed.
  diff_mode:
    support: none
requirements:
  - ssh-keygen (OpenSSH 8.2 or later) for a signed release
options:
  root:
    description:
      - The store, an existing directory of root's that no other user can write, nor any directory above it.
    type: path
    required: true
  source:
    description: The carried release directory to verify and import (as C(playbooks/stage.yml) wrote it).
    type: path
  allowed_signers:
    description: OpenSSH allowed_signers file of the keys that may sign releases.
    type: path
  allowed_signers_text:
    description:
      - The content of an allowed_signers file instead of O(allowed_signers) (written to a private file for the
        call, then removed).
    type: str
  release_id:
    description:
      - The release O(source) must be (with O(manifest_sha256)), as the controller verified it before pushing it.
      - When O(source) does not exist and the store holds this release with that manifest, nothing needs
        importing; in check mode a missing O(source) is reported as an import to come (RV(imported)).
    type: str
  manifest_sha256:
    description: The sha256 of the manifest of O(release_id).
    type: str
  base_release:
    description:
      - For a delta O(release_id) still to be pushed (check mode), the release it is a delta over; the store must
        hold it with O(base_manifest_sha256).
    type: str
  base_manifest_sha256:
    description: The sha256 of the manifest of O(base_release).
    type: str
  carried_bytes:
    description:
      - The size of the files O(release_id) carries; in check mode, with O(source) still to be pushed, the store
        must have room for them.
    type: int
  remove_source:
    description:
      - Remove O(source) once the store holds it, or when it is refused, when it lies in O(root)C(/incoming) (a
        pushed copy).
    type: bool
    default: false
  allow_unsigned:
    description: Accept a release staged with C(unsigned=true).
    type: bool
    default: false
  serve:
    description:
      - The release id to serve; it must be in the store (imported now or before).
      - Default, the release of O(source).
    type: str
  require_set:
    description:
      - A wheel set the release to serve must hold (the mirror host's servers); a release without it is refused
        before it is imported or served.
    type: str
  keep:
    description: How many releases the store keeps (the served one included).
    type: int
    default: 3
  variable_prefix:
    description:
      - The role whose variables messages name instead of the option names (V(offline_mirror) names
        V(offline_mirror_source)).
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: Import the carried disk and serve it
  codex.offline_ml.mirror_release:
    root: /srv/offline-mirror
    source: /media/usb/2026-12-04
    allowed_signers: /etc/codex-offline-mirror/allowed_signers

- name: Serve the release before it again
  codex.offline_ml.mirror_release:
    root: /srv/offline-mirror
    serve: 2026-11-20
"""

RETURN = r"""
release:
  description: The release served now.
  returned: success
  type: str
  sample: "2026-12-04"
manifest_sha256:
  description: sha256 of the served release's C(manifest.json).
  returned: success
  type: str
signer:
  description: The principal of O(allowed_signers) whose key signed the served release (None for an unsigned one).
  returned: success
  type: str
previous:
  description: The release served before this call (None when none was).
  returned: success
  type: str
imported:
  description: Whether O(source) was imported by this call.
  returned: success
  type: bool
switched:
  description: Whether the served release changed.
  returned: success
  type: bool
removed:
  description: Release ids removed to keep O(keep).
  returned: success
  type: list
  elements: str
sets:
  description: The served release's wheel sets and their pins (from its signed manifest).
  returned: success
  type: dict
  sample: {"offline_mirror": ["pypiserver==2.4.2", "gunicorn==27.0.1", "whitenoise==6.12.0"]}
releases:
  description: The release ids kept, oldest first (the served one last).
  returned: success
  type: list
  elements: str
path:
  description: The store, O(root).
  returned: success
  type: str
kind:
  description: On failure, what kind of problem it is (for example C(does_not_verify), C(delta_without_base),
    C(release_id_taken), C(no_room), C(unsafe_path), C(not_imported)).
  returned: failure
  type: str
problems:
  description: On a release that does not verify, one line per problem, each naming its file.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_store import MirrorStoreError, store


ARGUMENT_SPEC = dict(
    root=dict(type="path", required=True),
    source=dict(type="path"),
    allowed_signers=dict(type="path"),
    allowed_signers_text=dict(type="str"),
    release_id=dict(type="str"),
    manifest_sha256=dict(type="str"),
    carried_bytes=dict(type="int"),
    base_release=dict(type="str"),
    base_manifest_sha256=dict(type="str"),
    remove_source=dict(type="bool", default=False),
    allow_unsigned=dict(type="bool", default=False),
    serve=dict(type="str"),
    require_set=dict(type="str"),
    keep=dict(type="int", default=3),
    variable_prefix=dict(type="str", default=""),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=[("allowed_signers", "allowed_signers_text")],
                           required_together=[("release_id", "manifest_sha256"), ("base_release", "base_manifest_sha256")],
                           supports_check_mode=True)
    try:
        module.exit_json(**store(module.params, module.check_mode))
    except MirrorStoreError as exc:
        module.fail_json(msg=exc.msg, kind=exc.kind, **exc.details)
    except (IOError, OSError) as exc:
        where = " (%s)" % exc.filename if getattr(exc, "filename", None) else ""
        module.fail_json(msg="Cannot import or serve the release: %s%s" % (exc.strerror or exc, where), kind="os_error")


if __name__ == "__main__":
    main()
