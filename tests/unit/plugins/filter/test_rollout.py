# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout filters: registered, thin over _rollout, and a bad plan raised as AnsibleFilterError."""

from __future__ import absolute_import, division, print_function

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.codex.offline_ml.plugins.filter import rollout


def test_filters_registered():
    names = ["rollback_venvs", "rollout_gate", "rollout_serial", "rollout_states", "rollout_stopped"]
    assert sorted(rollout.FilterModule().filters()) == names


def test_serial_and_bad_plan():
    assert rollout.rollout_serial({"canary": 1, "batches": 8}) == [1, 8]
    with pytest.raises(AnsibleFilterError) as err:
        rollout.rollout_serial({"batches": 0}, "rollback_rollout")
    assert "rollback_rollout.batches is 0" in str(err.value)


def test_states_gate_and_stopped_from_hostvars():
    hostvars = {"a": {"__site_state": {"state": "failed", "task": "t", "message": "m"}},
                "b": {"__site_state": {"state": "done"}, "__site_gate": {"stop": True, "reason": "because"}},
                "c": {}}
    st = rollout.rollout_states(hostvars, ["a", "b", "c", "d"])
    assert st == {"a": {"state": "failed", "task": "t", "message": "m"}, "b": {"state": "done"}, "c": None, "d": None}
    verdict = rollout.rollout_gate(st, {"canary": 2}, ["a", "b", "c", "d"], ["a", "b"])
    assert verdict["stop"] and "the canary failed (a)" in verdict["reason"]
    assert rollout.rollout_stopped(hostvars, ["a", "b", "c"]) == "because"
    assert rollout.rollout_stopped(hostvars, ["a", "c"]) == ""


def test_rollback_venvs_raises_a_filter_error():
    assert rollout.rollback_venvs(["ci_gates"], "ci_runners") == ["ci_gates"]
    with pytest.raises(AnsibleFilterError) as err:
        rollout.rollback_venvs(["torch_cpu"], "")
    assert "rollback_hosts is not set" in str(err.value)
