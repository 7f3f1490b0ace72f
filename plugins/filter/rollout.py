# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout filters of playbooks/site.yml and playbooks/rollback.yml (docs: rollout_*.yml beside this file).
Thin over module_utils/_rollout.py, where the rules and their tests live."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.codex.offline_ml.plugins.module_utils import _rollout


def _checked(func, *args):
    try:
        return func(*args)
    except _rollout.RolloutError as exc:
        # The plan is the operator's input: the message names the variable and the fix, never a traceback.
        raise AnsibleFilterError(exc.msg)


def rollout_serial(plan, variable="site_rollout"):
    """The play's serial for PLAN ([] without one)."""
    return _checked(_rollout.serial, plan, variable)


def rollout_states(hostvars, hosts, fact="__site_state"):
    """{host: the host's recorded state, or None} for HOSTS."""
    out = {}
    for host in hosts:
        value = hostvars[host].get(fact) if host in hostvars else None
        out[host] = dict(value) if isinstance(value, dict) else None
    return out


def rollout_stopped(hostvars, hosts, fact="__site_gate"):
    """Why a batch's gate stopped the rollout ('' when none did)."""
    return _rollout.stopped_reason(rollout_states(hostvars, hosts, fact).values())


def rollout_gate(states, plan, hosts_all, batch):
    """{stop, reason, failed, budget} after BATCH."""
    return _checked(_rollout.gate, plan, states, list(hosts_all), list(batch))


def rollback_venvs(value, hosts=None):
    """rollback.yml's rollback_venvs (and rollback_hosts), checked."""
    return _checked(_rollout.rollback_venvs, value, hosts)


class FilterModule(object):
    def filters(self):
        return {"rollout_serial": rollout_serial, "rollout_states": rollout_states, "rollout_gate": rollout_gate,
                "rollout_stopped": rollout_stopped, "rollback_venvs": rollback_venvs}
