# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ci_gates role's plan. For now it carries the root check only (the role_plan action runs it through the
play's become); the role's input checks are still its preflight's own tasks.

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

VARIABLES = ('ci_gates_venv', 'ci_gates_command')


def root_reason(v):
    return 'it builds %s and installs %s, both owned by root' % (v['ci_gates_venv'], v['ci_gates_command'])


def plan(v, context):
    return {}
