# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.mirror_audit (docs: plugins/modules/mirror_audit.py): the offline_mirror role's part of the
fleet audit. Its step (offline_mirror_audit_step) and arguments come from the role's own variables
(module_utils/_plan_offline_mirror.audit), the facts file from the audit's setup; the module reads the store on the
mirror host. The answer is the role's audit result itself, {plan, record}, so the entry point registers it under
that name and holds no template."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils import _plan_offline_mirror

# What the audit's one venv_audit call and one login-shell read must cover for this role: nothing (the servers'
# venv is built from the release's wheels without a lock; the mirror row checks what it serves).
PLAN = {'venvs': [], 'read': {}}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset()

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        step = self._templar.template(task_vars.get('offline_mirror_audit_step'))
        if step not in ('plan', 'collect'):
            return dict(result, failed=True, changed=False, msg='mirror_audit runs in the offline_mirror role\'s '
                        'audit entry point: offline_mirror_audit_step must be plan or collect, got %r' % (step,))
        if step == 'plan':
            return dict(result, changed=False, plan=PLAN)
        inputs = {}
        for name in _plan_offline_mirror.AUDIT_VARIABLES:
            if name in task_vars:
                inputs[name] = self._templar.template(task_vars[name])
        try:
            args = _plan_offline_mirror.audit(inputs)
        except OperatorError as exc:
            return dict(result, failed=True, changed=False, msg=exc.msg)
        except KeyError as exc:
            return dict(result, failed=True, changed=False, msg='mirror_audit runs in the offline_mirror role (its '
                        'audit entry point): %s is not set' % exc)
        answer = self._execute_module(module_name='codex.offline_ml.mirror_audit', module_args=args,
                                      task_vars=task_vars)
        if answer.get('unreachable'):
            return dict(result, **answer)
        mirror = answer.get('mirror')
        if answer.get('failed') or not isinstance(mirror, dict):
            # a finding for the report, not a failure of the play: the mirror row fails, naming it
            why = answer.get('msg') or 'mirror_audit returned nothing'
            mirror = {'root': args['root'], 'url': args['url'], 'allow_unsigned': args['allow_unsigned'],
                      'served': {'error': why}, 'releases': [], 'health': {'ok': False, 'error': why}}
        local = (task_vars.get('ansible_facts') or {}).get('ansible_local') or {}
        mirror = dict(mirror, fact=local.get('offline_mirror'))
        return dict(result, changed=False, plan=PLAN, record={'mirror': mirror})
