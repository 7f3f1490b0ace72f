# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark helper (not part of the collection): the timeline of one ansible-playbook run as JSON.

Enabled by benchmarks/bench_torch_cpu.py with ANSIBLE_CALLBACK_PLUGINS=benchmarks/callback_plugins and
ANSIBLE_CALLBACKS_ENABLED=bench_timeline; writes $CODEX_BENCH_TIMELINE at the end of the play:
{"loaded": t, "play_start": t, "end": t, "tasks": [{"name", "action", "start", "end", "status", "steps", "delegate_to"}]}
(epoch seconds). "loaded" is when Ansible loaded this plugin; the difference to the wall clock the benchmark took
before starting ansible-playbook is Ansible's own start-up.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timeline
type: aggregate
short_description: Timeline of a run for the benchmarks (task start and end times, offline_venv steps)
description: Writes the JSON file named by CODEX_BENCH_TIMELINE when the run ends.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._data = {"loaded": time.time(), "play_start": None, "end": None, "tasks": []}
        self._current = None

    def v2_playbook_on_play_start(self, play):
        if self._data["play_start"] is None:
            self._data["play_start"] = time.time()

    def _close(self):
        if self._current is not None and self._current["end"] is None:
            self._current["end"] = time.time()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self._current = {"name": task.get_name(), "action": task.action, "start": time.time(), "end": None,
                         "status": None, "steps": None, "delegate_to": task.delegate_to}
        self._data["tasks"].append(self._current)

    def _result(self, result, status):
        if self._current is None:
            return
        self._current["end"] = time.time()
        if self._current["status"] in (None, "skipped"):
            self._current["status"] = status
        steps = result._result.get("steps") if isinstance(result._result, dict) else None
        if isinstance(steps, list):
            self._current["steps"] = steps

    def v2_runner_on_ok(self, result):
        self._result(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._close()
        self._data["end"] = time.time()
        path = os.environ.get("CODEX_BENCH_TIMELINE")
        if path:
            with open(path, "w") as fh:
                json.dump(self._data, fh)
