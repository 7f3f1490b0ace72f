# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' filters (plugins/filter/ci_gates.py, hf_offline_cache.py), as the filter plugins Ansible loads."""

from __future__ import absolute_import, division, print_function

from ansible_collections.codex.offline_ml.plugins.filter.ci_gates import FilterModule as GatesFilters
from ansible_collections.codex.offline_ml.plugins.filter.hf_offline_cache import FilterModule as HfFilters


def test_with_last_results_pairs_each_project_with_its_result():
    projects = [{'project': '/srv/a', 'name': 'a', 'file': '/srv/a/.codex-gate-result.json'},
                {'project': '/srv/b', 'name': 'b', 'file': '/srv/b/.codex-gate-result.json'}]
    paired = GatesFilters().filters()['with_last_results'](projects, {'/srv/a/.codex-gate-result.json': {'ok': True}})
    assert [p['last'] for p in paired] == [{'ok': True}, None]
    assert 'last' not in projects[0]


def test_hf_venv_state_reads_the_plan():
    plan = {'own_names': ['huggingface-hub', 'uv'], 'venv': '/opt/codex/hf'}
    state = HfFilters().filters()['hf_venv_state']({'start': None}, plan)
    assert state['build'] and not state['exists'] and '/opt/codex/hf' in state['refusal']
