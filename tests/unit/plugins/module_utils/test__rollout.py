# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_rollout: the plan and its errors, the gate after a batch, the summary. Table-driven."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _rollout

HOSTS = ["n1", "n2", "n3", "n4", "n5", "n6"]
DONE, FAILED, STARTED = {"state": "done"}, {"state": "failed", "task": "t", "message": "m"}, {"state": "started"}


@pytest.mark.parametrize("plan, serial", [
    (None, []),
    ({}, []),
    ({"canary": 1}, [1, "100%"]),
    ({"canary": "10%", "batches": 8}, ["10%", 8]),
    ({"canary": 2, "batches": ["25%", "25%", "50%"], "max_failures": "10%"}, [2, "25%", "25%", "50%"]),
    ({"batches": [2, 4]}, [1, 2, 4]),
    ({"batches": "3", "max_failures": "0"}, [1, 3]),
    ({"batches": ["100%"]}, [1, "100%"]),
])
def test_serial_of_a_plan(plan, serial):
    assert _rollout.serial(plan) == serial


@pytest.mark.parametrize("plan, words", [
    ("all", "site_rollout must be a mapping"),
    ({"canary": 1, "batch": 2}, "unknown key(s) batch"),
    ({"canary": 0}, "site_rollout.canary is 0"),
    ({"batches": 0}, "site_rollout.batches is 0"),
    ({"batches": [2, 0]}, "site_rollout.batches[1] is 0"),
    ({"batches": "0%"}, "site_rollout.batches is 0"),
    ({"batches": []}, "site_rollout.batches is an empty list"),
    ({"batches": ["25%", "25%"]}, "add up to 50% of the hosts, not 100%"),
    ({"batches": ["60%", "60%"]}, "add up to 120% of the hosts, not 100%"),
    ({"batches": "150%"}, "site_rollout.batches is 150%"),
    ({"batches": -2}, "site_rollout.batches must be a number of hosts or a percentage"),
    ({"batches": True}, "site_rollout.batches must be a number of hosts or a percentage"),
    ({"max_failures": -1}, "site_rollout.max_failures must be a number"),
    ({"max_failures": "101%"}, "site_rollout.max_failures is 101%"),
    ({"max_failures": 1.5}, "site_rollout.max_failures must be a number"),
])
def test_bad_plans_name_the_key_and_the_fix(plan, words):
    with pytest.raises(_rollout.RolloutError) as err:
        _rollout.parse_plan(plan)
    assert words in err.value.msg


def test_the_variable_named_is_the_callers():
    with pytest.raises(_rollout.RolloutError) as err:
        _rollout.parse_plan({"canary": 0}, "rollback_rollout")
    assert err.value.msg.startswith("rollback_rollout.canary is 0")


def test_zero_failures_is_a_budget():
    assert _rollout.parse_plan({"max_failures": 0})["max_failures"] == 0


@pytest.mark.parametrize("value, total, allowed", [
    (0, 6, 0), (2, 6, 2), ("10%", 6, 0), ("50%", 6, 3), ("34%", 6, 2), ("100%", 6, 6)])
def test_budget(value, total, allowed):
    assert _rollout.budget(_rollout.parse_plan({"max_failures": value}), total) == allowed


def states(**given):
    return dict((h, given.get(h)) for h in HOSTS)


@pytest.mark.parametrize("name, plan, st, batch, stop, words", [
    ("no plan never stops", None, states(n1=FAILED), ["n1"], False, ""),
    ("a healthy canary goes on", {"max_failures": 1}, states(n1=DONE), ["n1"], False, ""),
    ("a failed canary stops everything", {"max_failures": 5}, states(n1=FAILED), ["n1"], True, "the canary failed (n1)"),
    ("a lost canary stops everything", {"max_failures": 5}, states(n1=STARTED), ["n1"], True, "the canary failed (n1)"),
    ("two canaries, one failed", {"canary": 2, "max_failures": 5}, states(n1=DONE, n2=FAILED), ["n1", "n2"], True,
     "the canary failed (n2)"),
    ("a failure within the budget", {"max_failures": 1}, states(n1=DONE, n2=FAILED, n3=DONE), ["n2", "n3"], False, ""),
    ("past the budget", {"max_failures": 1}, states(n1=DONE, n2=FAILED, n3=DONE, n4=STARTED), ["n4"], True,
     "2 host(s) failed (n2, n4), more than the failure budget max_failures=1 allows (1 of 6 hosts)"),
    ("a percentage budget", {"max_failures": "34%"}, states(n1=DONE, n2=FAILED, n3=FAILED), ["n2", "n3"], False, ""),
    ("zero budget", {"max_failures": 0}, states(n1=DONE, n2=FAILED), ["n2"], True, "max_failures=0 allows (0 of 6 hosts)"),
])
def test_gate(name, plan, st, batch, stop, words):
    verdict = _rollout.gate(plan, st, HOSTS, batch)
    assert verdict["stop"] is stop, name
    assert words in verdict["reason"], name


def test_summary_puts_every_host_in_one_list():
    doc = _rollout.summary(states(n1=DONE, n2=dict(FAILED, message="x" * 900), n3=STARTED, n4=DONE),
                           HOSTS, {"batches": 2, "max_failures": 1}, "stopped here")
    assert doc["hosts"] == {"done": ["n1", "n4"], "failed": ["n2"], "unreachable": ["n3"],
                            "not_attempted": ["n5", "n6"]}
    assert doc["counts"] == {"done": 2, "failed": 1, "unreachable": 1, "not_attempted": 2}
    assert [f["host"] for f in doc["failures"]] == ["n2", "n3"]
    assert len(doc["failures"][0]["message"]) == _rollout.MESSAGE_MAX
    assert doc["plan"] == {"canary": 1, "batches": [2], "max_failures": 1}
    assert doc["stopped"] == "stopped here" and doc["ok"] is False
    assert doc["line"] == ("site: 2 on the new state, 1 failed, 1 not reached, 2 not attempted; "
                           "stopped: stopped here")
    printed = _rollout.lines(doc)
    assert printed[1].startswith("failed: n2 at t: xxx") and printed[2].startswith("not reached: n3")
    assert printed[3] == "not attempted: n5, n6"


def test_summary_of_a_clean_run():
    doc = _rollout.summary(dict((h, DONE) for h in HOSTS), HOSTS, playbook="rollback", check_mode=True)
    assert doc["ok"] is True and doc["plan"] is None and doc["stopped"] is None and doc["failures"] == []
    assert doc["line"] == "rollback (check mode): 6 on the new state, 0 failed, 0 not reached, 0 not attempted"
    assert _rollout.lines(doc) == [doc["line"]]


def test_stopped_reason():
    assert _rollout.stopped_reason([None, {"stop": False}, {"stop": True, "reason": "r"}]) == "r"
    assert _rollout.stopped_reason([None, {"stop": False}]) == ""


@pytest.mark.parametrize("value, hosts, words", [
    (["torch_cpu"], "ml_nodes", None),
    (["torch_cpu", "ci_gates"], None, None),
    ([], "ml_nodes", "rollback_venvs is []: give a non-empty list of torch_cpu and ci_gates"),
    ("torch_cpu", "ml_nodes", "rollback_venvs is 'torch_cpu'"),
    (["hf_offline_cache"], "ml_nodes", "rollback_venvs is ['hf_offline_cache']"),
    (["torch_cpu"], "", "rollback_hosts is not set"),
    (["torch_cpu"], "  ", "rollback_hosts is not set"),
])
def test_rollback_venvs(value, hosts, words):
    if words is None:
        assert _rollout.rollback_venvs(value, hosts) == value
    else:
        with pytest.raises(_rollout.RolloutError) as err:
            _rollout.rollback_venvs(value, hosts)
        assert words in err.value.msg
