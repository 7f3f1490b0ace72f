#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hf_cache_share
short_description: Keep a shared Hugging Face cache writable for every member of its group
version_added: 0.2.0
description:
  - Gives every entry under O(paths) the group O(group), group read/write, setgid directories and no write bit for
    others, and (O(acl)) every directory the default ACL C(user::rwx group::rwx mask::rwx other::r-x), so that what a
    member creates there later through C(huggingface_hub) (blobs, snapshots, lock files under C(.locks)) is group
    read/write whatever that member's umask (a directory's default ACL replaces the umask, see C(acl(5))).
  - The ACL is written as the C(system.posix_acl_default) extended attribute through each directory's descriptor
    (no C(setfacl), so no C(acl) package on the host). Whether the file system stores ACLs is detected on the first
    directory, by the kernel's answer, never guessed from the file system's name.
  - With O(create), the layout too. O(group) is created as a system group (C(groupadd --system)) when it does
    not exist, and each of O(paths) is made (its missing parents outside the list like C(mkdir -p)) and given
    owner root, group O(group) and mode C(2775). One call for the group, the directories and the share, since a
    converged host's re-run pays a round trip per module call.
  - Every change goes through descriptors opened without following links; mount points and what lies under them
    are left alone (see docs/security.md). With O(create), a path below another of O(paths) is walked down to the
    same way (a member can write there), so a planted symlink is refused, never followed.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  paths:
    description: Directories of the shared cache (absolute paths; missing ones are skipped unless O(create)).
    type: list
    elements: path
    required: true
  group:
    description:
      - Group (name or id) the entries are given.
      - With O(create), a name that is not a group yet is created; an id that is not one is refused.
    type: str
    required: true
  create:
    description:
      - Create the group when it is missing, and make each of O(paths) a directory C(root:group) mode C(2775).
      - Without it, the group must exist and missing paths are skipped.
    type: bool
    default: false
  acl:
    description:
      - V(auto) sets the default ACLs where the file system stores them and reports RV(acl=unsupported) (with a
        warning naming the fallback) where it does not; V(required) fails there instead; V(off) sets none.
    type: str
    choices: [auto, required, "off"]
    default: auto
  variable_prefix:
    description:
      - The role whose variables messages name instead of the option names (V(hf_offline_cache) names
        V(hf_offline_cache_endpoint)).
      - A trailing V(_) is optional (V(hf_offline_cache_) is the same).
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: Keep the shared cache group-writable for every member
  codex.offline_ml.hf_cache_share:
    paths: [/srv/huggingface, /srv/huggingface/hub, /srv/huggingface/datasets]
    group: hf-cache

- name: Create the group and the directories too, then share them
  codex.offline_ml.hf_cache_share:
    paths: [/srv/huggingface, /srv/huggingface/hub, /srv/huggingface/datasets]
    group: hf-cache
    create: true
"""

RETURN = r"""
group_created:
  description: Whether O(group) was created (would be, in check mode); always V(false) without O(create).
  returned: always
  type: bool
  sample: false
directories_fixed:
  description: Number of O(paths) made or given owner, group or mode (would be, in check mode); V(0) without O(create).
  returned: always
  type: int
  sample: 0
acl:
  description: V(default) (the directories carry the default ACL), V(unsupported) (the file system stores no ACLs)
    or V(off).
  returned: always
  type: str
  sample: default
acl_changed:
  description: Number of directories whose default ACL was set (would be set, in check mode).
  returned: always
  type: int
  sample: 0
permissions_fixed:
  description: Number of entries whose group or mode was corrected.
  returned: always
  type: int
  sample: 0
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_share
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type='list', elements='path', required=True),
            group=dict(type='str', required=True),
            create=dict(type='bool', default=False),
            acl=dict(type='str', choices=['auto', 'required', 'off'], default='auto'),
            variable_prefix=dict(type='str', default=''),
        ),
        supports_check_mode=True,
    )
    try:
        result = _hf_share.share(module.params, module.check_mode, module.run_command, module.warn)
    except HfCacheError as exc:
        module.fail_json(msg=exc.msg, kind=exc.kind)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot share the cache: %s%s' % (
            exc.strerror or exc, ' (%s)' % exc.filename if getattr(exc, 'filename', None) else ''), kind='os_error')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
