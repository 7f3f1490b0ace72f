# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """O(python) and O(timeout) of the modules that run their check in another interpreter on the host (a child
    process, see plugins/module_utils/_child.py); the argument spec is _child.INTERPRETER_ARGUMENT_SPEC."""

    DOCUMENTATION = r"""
options:
  python:
    description:
      - The interpreter the check runs in, for example the C(bin/python) of a virtual environment.
      - Defaults to the interpreter that runs the module.
      - A path that does not exist or is not executable makes the module fail.
    type: path
  timeout:
    description:
      - Seconds the check may take (the interpreter's start and its imports included) before its process group is
        killed. At least 1.
    type: int
    default: 120
notes:
  - The interpreter runs in isolated mode (C(-I)), so C(PYTHONPATH) and a package directory in the current directory
    cannot hide what is installed in the environment.
"""
