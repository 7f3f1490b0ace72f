# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.role_plan (docs: plugins/modules/role_plan.py): a role's input checks and derived values, on
the controller, from the role's own variables. The rules live in module_utils/_plan_<role>.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml
from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils import _plan_common


# The collection's root: plugins/action/ is two levels below it.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _argument_specs(role):
    with open(os.path.join(_ROOT, 'roles', role, 'meta', 'argument_specs.yml')) as handle:
        return yaml.safe_load(handle)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('role', 'root'))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        role = self._task.args.get('role')
        planner = _plan_common.planner(role)
        if planner is None:
            return dict(result, failed=True, msg='role_plan: role must be one of %s, got %r'
                        % (', '.join(_plan_common.ROLES), role))
        inputs = {}
        for name in planner.VARIABLES:
            if name in task_vars:
                inputs[name] = self._templar.template(task_vars[name])
        reason = getattr(planner, 'root_reason', None)
        if reason is not None and boolean(self._task.args.get('root', True), strict=True):
            try:
                msg = self._root_problem(role, reason(inputs), task_vars)
            except AnsibleConnectionFailure as exc:
                # the host is not there: unreachable, as any task's would be, not a failure of the role
                return dict(result, unreachable=True, changed=False, msg=to_text(exc))
            if msg:
                return dict(result, failed=True, changed=False, msg=msg)
        context = dict(check_mode=bool(self._task.check_mode), argument_specs=_argument_specs(role),
                       role_dir=os.path.join(_ROOT, 'roles', role),
                       host=task_vars.get('inventory_hostname'))
        try:
            plan = planner.plan(inputs, context)
        except OperatorError as exc:
            return dict(result, failed=True, changed=False, msg=exc.msg)
        return dict(result, changed=False, plan=plan)

    def _root_problem(self, role, reason, task_vars):
        """Why the role's tasks would not run as root on the host (None when they do): asked with `id -u` through
        the play's become, before anything changes, also in check mode."""
        host = task_vars.get('inventory_hostname')
        user = task_vars.get('ansible_user') or 'the connecting user'
        become = self._play_context.become
        try:
            res = self._low_level_execute_command('id -u', sudoable=True)
        except AnsibleConnectionFailure:
            raise
        except AnsibleError as exc:
            # become could not escalate (sudo asks for a password none was given, a timeout)
            res = dict(rc=None, stderr=to_text(exc))
        if res.get('rc') != 0:
            return ('%s needs root on %s (%s) but could not run a command there as root (remote user %s, become %s): '
                    '%s. If sudo asks for a password on this host, give it as ansible_become_password (from a vault) '
                    'or run with --ask-become-pass; or allow the account password-less sudo. Nothing was changed.'
                    % (role, host, reason, user, ('with ' + self._play_context.become_method) if become else 'off',
                       (res.get('stderr') or res.get('stdout') or 'unknown error').strip()))
        # sudo's own warnings (a host name it cannot resolve) may come first on a pty: the uid is the last line
        lines = [line.strip() for line in to_text(res.get('stdout', '')).splitlines() if line.strip().isdigit()]
        uid = lines[-1] if lines else to_text(res.get('stdout', '')).strip()
        if uid != '0':
            return ('%s needs root on %s: %s. Its tasks run there as uid %s (remote user %s) because become is off. '
                    'Set become: true (ansible_become: true in the inventory, or become: true on the play); with a '
                    'sudo that asks for a password give it as ansible_become_password (vault) or run with '
                    '--ask-become-pass. Nothing was changed.' % (role, host, reason, uid, user))
        return None
