#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: managed_files
short_description: Bring the directories and small text files a role owns to their state in one call
version_added: 0.1.0
description:
  - Creates O(directories) in the order given, then writes O(files) whose content differs, atomically (a
    temporary file in the same directory, renamed over the old one), and sets mode, owner and group of each.
  - The roles of this collection render their files on the controller (C(ansible.builtin.template) lookups) and
    hand them over in one task, so an idempotent run costs one round trip per role instead of about three per
    file (C(ansible.builtin.template) and C(ansible.builtin.copy) each make a remote temporary directory,
    C(stat), C(file) and remove the directory).
  - Meant for configuration files, scripts and facts of some kilobytes, not for payloads.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: One entry per change, path by path - a directory created, a file's old and new content, a mode or
      ownership change.
options:
  directories:
    description:
      - Directories to create or fix, in this order (a parent before its children). Missing parents that are
        not listed are created like C(mkdir -p) (mode 0755 minus the umask, owned by the user running the module).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      mode:
        description: Octal mode as a quoted string, for example V("0755").
        type: str
        required: true
      owner: &owner
        description: Owner; left as it is when omitted.
        type: str
      group: &group
        description: Group; left as it is when omitted.
        type: str
  files:
    description:
      - Regular files to write. Their directory must exist or be in O(directories).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path. A symlink or anything else that is not a regular file there is an error.
        type: path
        required: true
      content:
        description: The whole content, UTF-8 text.
        type: str
        required: true
      mode:
        description: Octal mode as a quoted string, for example V("0644").
        type: str
        required: true
      owner: *owner
      group: *group
notes:
  - Paths are checked before anything is changed (absolute, listed once, modes octal strings); a failure
    after that leaves the files already handled in their new state and the others untouched.
seealso:
  - module: ansible.builtin.template
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Install a script and its facts file
  codex.offline_ml.managed_files:
    directories:
      - {path: /etc/ansible/facts.d, mode: "0755", owner: root, group: root}
    files:
      - path: /usr/local/bin/codex-torch-check
        content: "{{ lookup('ansible.builtin.template', 'usr/local/bin/codex-torch-check.j2') }}"
        mode: "0755"
        owner: root
        group: root
      - path: /etc/ansible/facts.d/torch_cpu.fact
        content: "{{ facts | to_nice_json }}\n"
        mode: "0644"
"""

RETURN = r"""
changed_paths:
  description: The paths created or changed (content, mode or ownership), directories first.
  type: list
  elements: str
  returned: always
  sample: ["/etc/ansible/facts.d/torch_cpu.fact"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.codex.offline_ml.plugins.module_utils._managed_files import ManagedFilesError, ensure

_ATTRS = dict(
    path=dict(type="path", required=True),
    mode=dict(type="str", required=True),
    owner=dict(type="str"),
    group=dict(type="str"),
)


def main():
    file_options = dict(_ATTRS, content=dict(type="str", required=True))
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="dict", default=[], options=_ATTRS),
            files=dict(type="list", elements="dict", default=[], options=file_options),
        ),
        supports_check_mode=True,
    )
    try:
        changed, paths, diffs = ensure(module, module.params["directories"], module.params["files"])
    except (ManagedFilesError, OSError) as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=changed, changed_paths=paths)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
