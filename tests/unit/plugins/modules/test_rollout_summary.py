# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""codex.offline_ml.rollout_summary: main() in process; the files it writes."""

from __future__ import absolute_import, division, print_function

import json
from pathlib import Path
from unittest import mock

from ansible.module_utils import basic

from ansible_collections.codex.offline_ml.plugins.modules import rollout_summary

STATES = {"n1": {"state": "done"}, "n2": {"state": "failed", "task": "Build the venv", "message": "no wheel"},
          "n3": None}


def test_writes_the_summary_and_the_latest_copy(tmp_path, run_module):
    failed, result = run_module(rollout_summary, states=STATES, hosts=["n1", "n2", "n3"], dest=str(tmp_path / "runs"),
                                plan={"batches": 1}, stopped="the canary failed")
    assert not failed, result
    assert result["changed"] is False and result["written"] is True
    doc = json.loads(Path(result["files"]["json"]).read_text())
    assert doc == json.loads(Path(result["files"]["latest"]).read_text()) == result["summary"]
    assert Path(result["files"]["json"]).name.endswith("-site.json")
    assert doc["hosts"] == {"done": ["n1"], "failed": ["n2"], "unreachable": [], "not_attempted": ["n3"]}
    assert doc["failures"] == [{"host": "n2", "task": "Build the venv", "message": "no wheel"}]
    assert result["lines"][1] == "failed: n2 at Build the venv: no wheel"
    assert result["lines"][-1] == "summary: " + result["files"]["json"]


def test_check_mode_writes_nothing(tmp_path, run_module):
    failed, result = run_module(rollout_summary, _ansible_check_mode=True, states=STATES, hosts=["n1"],
                                dest=str(tmp_path / "runs"), playbook="rollback", run_check_mode=True)
    assert not failed and result["written"] is False and not (tmp_path / "runs").exists()
    assert result["summary"]["check_mode"] is True and result["summary"]["playbook"] == "rollback"


def test_relative_dest_and_bad_plan_are_refused(tmp_path, run_module):
    failed, result = run_module(rollout_summary, states=STATES, hosts=["n1"], dest="runs")
    assert failed and "dest must be an absolute path (site_summary_dir)" in result["msg"]
    failed, result = run_module(rollout_summary, states=STATES, hosts=["n1"], dest=str(tmp_path), plan={"canary": 0})
    assert failed and "site_rollout.canary is 0" in result["msg"]


def test_an_unwritable_dest_warns_and_still_returns_the_summary(tmp_path, run_module):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with mock.patch.object(basic.AnsibleModule, "warn") as warn:
        failed, result = run_module(rollout_summary, states=STATES, hosts=["n1", "n2"], dest=str(blocker / "runs"))
    assert not failed, result
    assert result["written"] is False and result["lines"][-1] == "summary: not written"
    assert result["summary"]["hosts"]["failed"] == ["n2"]
    (call,) = warn.call_args_list
    assert "was not written under %s" % (blocker / "runs") in call.args[0] and "site_summary_dir" in call.args[0]
