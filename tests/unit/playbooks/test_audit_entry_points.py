# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each role playbooks/audit.yml includes has an `audit` entry point whose argument spec lists what it reads.

The audit entry point (roles/<role>/tasks/audit.yml) reads the role's own variables, directly or through the
role's internal `__<role>_*` variables of vars/main.yml; every public `<role>_*` variable reached that way must be
an option of the entry point `audit` in meta/argument_specs.yml (so the README table and the validation are
complete), with the same spec as in `main` when main has it. Where the entry point plans with
codex.offline_ml.role_plan, the plan reads the role's variables of module_utils/_plan_<role>.py (every one an
option of `main`, which validates them); the audit spec may list those too (offline_mirror's entry point calls
codex.offline_ml.mirror_audit, whose action reads the plan's AUDIT_VARIABLES). The entry point's one result, the fact
`<role>_audit`, is written, not read.
"""

from __future__ import absolute_import, division, print_function

import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]


def audit_roles():
    (play,) = yaml.safe_load((REPO_ROOT / 'playbooks' / 'audit.yml').read_text())
    return play['vars']['__audit_all_roles']


def test_audit_includes_every_public_role():
    assert sorted(audit_roles()) == ['ci_gates', 'hf_offline_cache', 'offline_mirror', 'torch_cpu']


def variables_read(role):
    internal = yaml.safe_load((REPO_ROOT / 'roles' / role / 'vars' / 'main.yml').read_text())
    names = re.compile(r'\b(__)?%s_[a-z0-9_]+' % role)
    seen, todo, public = set(), [(REPO_ROOT / 'roles' / role / 'tasks' / 'audit.yml').read_text()], set()
    while todo:
        for match in names.finditer(todo.pop()):
            name = match.group(0)
            if name.startswith('__'):
                if name in internal and name not in seen:
                    seen.add(name)
                    todo.append(yaml.safe_dump(internal[name]))
            else:
                public.add(name)
    public.discard('%s_audit' % role)
    return public


def planned_variables(role):
    """The variables the role's plan reads, when the audit entry point plans (empty otherwise); offline_mirror's
    action mirror_audit reads those of its plan's AUDIT_VARIABLES."""
    tasks = (REPO_ROOT / 'roles' / role / 'tasks' / 'audit.yml').read_text()
    from ansible_collections.codex.offline_ml.plugins.module_utils import _plan_common
    if 'codex.offline_ml.mirror_audit' in tasks:
        return set(_plan_common.planner(role).AUDIT_VARIABLES)
    if 'codex.offline_ml.role_plan' not in tasks:
        return set()
    return set(_plan_common.planner(role).VARIABLES)


@pytest.mark.parametrize('role', ['ci_gates', 'hf_offline_cache', 'offline_mirror', 'torch_cpu'])
def test_the_audit_spec_lists_what_the_entry_point_reads(role):
    specs = yaml.safe_load((REPO_ROOT / 'roles' / role / 'meta' / 'argument_specs.yml').read_text())['argument_specs']
    options = specs['audit']['options']
    read, planned = variables_read(role), planned_variables(role)
    assert read <= set(options) <= read | planned, 'read but not in the spec: %s; in the spec but not read: %s' % (
        sorted(read - set(options)), sorted(set(options) - read - planned))
    assert planned <= set(specs['main']['options']), sorted(planned - set(specs['main']['options']))
    for name in (read | planned) & set(options) & set(specs['main']['options']):
        assert options[name] == specs['main']['options'][name], name
    assert options['%s_audit_step' % role]['choices'] == ['plan', 'collect']
