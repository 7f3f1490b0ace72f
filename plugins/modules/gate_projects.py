#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gate_projects
short_description: Inspect gated project directories and their noxfiles without executing them
version_added: 0.1.0
description:
  - For each path in O(paths), reports whether the directory exists and the state of its C(noxfile.py), one of
    C(absent), C(managed) (written by C(codex.offline_ml.ci_gates)) or C(own) (the project's own).
  - A noxfile is read without following a symlink, as a regular file of at most 1 MiB, and parsed with
    Python's C(ast) module; it is never imported or executed, so root never runs a file the CI user can write.
  - It calls the gate when its C(tests) session (decorated with C(nox.session)) calls C(gate(...)) imported
    from C(codex_gate).
  - Read-only; supports check mode.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.attributes.read_only
options:
  paths:
    description: Absolute project directories.
    type: list
    elements: path
    required: true
seealso:
  - module: codex.offline_ml.managed_files
"""

EXAMPLES = r"""
- name: Inspect the projects (read-only)
  codex.offline_ml.gate_projects:
    paths: [/srv/ci/myproject]
  register: projects
"""

RETURN = r"""
projects:
  description: One entry per path, in the order given.
  type: list
  elements: dict
  returned: always
  contains:
    path:
      description: The project directory.
      type: str
      sample: /srv/ci/myproject
    exists:
      description: The path is a directory.
      type: bool
    noxfile:
      description: The noxfile path.
      type: str
      sample: /srv/ci/myproject/noxfile.py
    state:
      description: One of absent, managed (written by the role) or own.
      type: str
      sample: own
    sessions:
      description: The nox sessions the file defines, by name.
      type: list
      elements: str
    calls_gate:
      description: The tests session calls codex_gate.gate.
      type: bool
    gate_line:
      description: Line of that call.
      type: int
    problems:
      description: What is wrong, in words; empty when the gate is called or there is no noxfile.
      type: list
      elements: str
lines_to_add:
  description: The lines a project's own noxfile adds to call the gate.
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.codex.offline_ml.plugins.module_utils._gate_noxfile import LINES_TO_ADD, inspect_project


def main():
    module = AnsibleModule(argument_spec=dict(paths=dict(type="list", elements="path", required=True)),
                           supports_check_mode=True)
    relative = [p for p in module.params["paths"] if not p.startswith("/")]
    if relative:
        module.fail_json(msg="paths must be absolute: %s" % ", ".join(relative))
    projects = [inspect_project(p.rstrip("/") or "/") for p in module.params["paths"]]
    module.exit_json(changed=False, projects=projects, lines_to_add=LINES_TO_ADD)


if __name__ == "__main__":
    main()
