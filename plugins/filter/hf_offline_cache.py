# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hf_offline_cache role's filters over what its preflight found on the host (docs: <name>.yml beside this
file); the rules live in module_utils/_plan_hf_offline_cache.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.codex.offline_ml.plugins.module_utils._plan_hf_offline_cache import audit_record, venv_state


def hf_venv_state(probe, plan):
    """The venv there, as the role sees it: {huggingface_hub, built_for, build, refusal}."""
    return venv_state(dict(probe or {}), plan['own_names'], plan['venv'])


def hf_audit_record(collected, plan):
    """The role's part of the audit record from what the audit collected ({seen, scan, user_scans})."""
    return audit_record(dict(collected or {}), plan)


class FilterModule(object):
    def filters(self):
        return {'hf_venv_state': hf_venv_state, 'hf_audit_record': hf_audit_record}
