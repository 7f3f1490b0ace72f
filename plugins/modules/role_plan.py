#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: role_plan
short_description: Check a role's inputs and work out what it will do, on the controller (internal)
version_added: 0.3.0
description:
  - The first task of each role of this collection. Reads the role's own variables, checks every rule that needs no
    host (exact pins, URLs without credentials, absolute paths, the rules between variables, files the controller
    must hold) and returns the values the role's tasks use, derived once in Python
    (C(plugins/module_utils/_plan_<role>.py)).
  - A wrong input fails here, before any host is touched, with a message that names the variable and the fix.
  - For the public roles it also asks the host, once, whether the tasks run as root (O(root)).
  - Internal to the collection's roles; its result is a role's private variable, not a public interface.
  - The plan never holds a secret (a mirror URL's credentials, a token). The tasks pass those to the modules that
    need them straight from the role's variables.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
attributes:
  check_mode:
    support: full
    details: Changes nothing in any mode.
  diff_mode:
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: An action plugin that runs on the controller; it reaches the host only for the root check (O(root)).
options:
  role:
    description: The role whose variables are read and planned.
    type: str
    required: true
    choices: [hf_offline_cache, offline_venv, torch_cpu, ci_gates]
  root:
    description:
      - For the public roles, also check that the role's tasks run as root on the host (C(id -u) through the play's
        become, in check mode too), failing with the role, the host, why it needs root and the fix.
      - V(false) for the audit entry points, which plan without a call to the host.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check the inputs and plan the role (controller)
  codex.offline_ml.role_plan:
    role: hf_offline_cache
  register: __hf_offline_cache
"""

RETURN = r"""
plan:
  description: The values the role's tasks use; the keys are the role's own (see C(plugins/module_utils/_plan_<role>.py)).
  returned: success
  type: dict
"""
