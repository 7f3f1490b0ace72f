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
  - Every change goes through descriptors opened without following links; mount points and what lies under them
    are left alone (see docs/security.md).
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
    description: Directories of the shared cache (absolute paths; missing ones are skipped).
    type: list
    elements: path
    required: true
  group:
    description: Group (name or id) the entries are given.
    type: str
    required: true
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
"""

RETURN = r"""
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

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import variable_prefix
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError, resolve_gid


def fallback_hint(prefix):
    return ('without ACLs, files a member creates with umask 022 are not writable by the other members: set '
            '%slogin_umask: "0002" (login shells of the group\'s members get umask 0002; services need UMask=0002 in '
            'their unit) or put the cache on a file system with POSIX ACLs (ext4, xfs, btrfs, tmpfs)' % prefix)


def share(module, params):
    paths = params['paths']
    bad = [p for p in paths if not os.path.isabs(p)]
    if bad:
        raise HfCacheError('paths must be absolute, got %s' % ', '.join(bad), kind='invalid')
    if not params['group']:  # resolve_gid reads no group as "leave the group alone": here one is required
        raise HfCacheError('group %r does not exist on this host' % params['group'], kind='invalid')
    gid = resolve_gid(params['group'], module.check_mode)
    prefix = variable_prefix(params['variable_prefix'])
    result = dict(changed=False, acl='off', acl_changed=0, permissions_fixed=0)
    if params['acl'] != 'off':
        state, changed = _hf_safefs.acl_tree(paths, check_mode=module.check_mode)
        result['acl'], result['acl_changed'] = state, changed
        if state == 'unsupported':
            msg = 'the file system of %s stores no POSIX ACLs: %s' % (paths[0], fallback_hint(prefix))
            if params['acl'] == 'required':
                raise HfCacheError('%sacl is required but %s' % (prefix, msg), kind='no_acl')
            module.warn(msg)
    result['permissions_fixed'] = _hf_safefs.share_tree(paths, gid, check_mode=module.check_mode)
    result['changed'] = bool(result['acl_changed'] or result['permissions_fixed'])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type='list', elements='path', required=True),
            group=dict(type='str', required=True),
            acl=dict(type='str', choices=['auto', 'required', 'off'], default='auto'),
            variable_prefix=dict(type='str', default=''),
        ),
        supports_check_mode=True,
    )
    try:
        result = share(module, module.params)
    except HfCacheError as exc:
        module.fail_json(msg=exc.msg, kind=exc.kind)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot share the cache: %s%s' % (
            exc.strerror or exc, ' (%s)' % exc.filename if getattr(exc, 'filename', None) else ''), kind='os_error')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
