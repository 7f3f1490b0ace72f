# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Benchmark-only callback (not part of the collection): where the seconds of one ansible-playbook run go.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    name: bench_profile
    type: aggregate
    short_description: Write each task's start and end per host to a JSON file (benchmarks only)
    description:
      - Used by benchmarks/bench_fleet.py to say where the seconds of a C(site.yml) run go. Records when the
        playbook and each play started, and for every task on every host its role, action, status (ok, changed,
        skipped, failed) and start and end times (wall clock, C(time.time())), then writes them as JSON to the
        file named by C(CODEX_BENCH_PROFILE) when the run ends.
      - With each task's end it records the controller's CPU seconds so far (this process and the processes it
        waited for, i.e. its forks and the connection clients they started), so the CPU between two task ends is,
        with one host, about what the controller spent on the later task.
      - Enabled with C(ANSIBLE_CALLBACK_PLUGINS=benchmarks/callback_plugins) and
        C(ANSIBLE_CALLBACKS_ENABLED=bench_profile). Does nothing when C(CODEX_BENCH_PROFILE) is not set.
    requirements:
      - enable in configuration
"""

import json
import os
import resource
import time

from ansible.plugins.callback import CallbackBase


def _cpu():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._path = os.environ.get("CODEX_BENCH_PROFILE")
        self._doc = {"loaded": time.time(), "loaded_cpu": _cpu(), "playbook_start": None, "plays": [], "tasks": [], "end": None}
        self._open = {}

    def v2_playbook_on_start(self, playbook):
        self._doc["playbook_start"] = time.time()

    def v2_playbook_on_play_start(self, play):
        self._doc["plays"].append({"name": play.get_name(), "start": time.time()})

    def v2_runner_on_start(self, host, task):
        self._open[(host.get_name(), task._uuid)] = time.time()

    def _done(self, result, status):
        host, task = result._host.get_name(), result._task
        end = time.time()
        start = self._open.pop((host, task._uuid), end)
        if status == "ok" and result._result.get("changed"):
            status = "changed"
        role = task._role.get_name(include_role_fqcn=False) if task._role else ""
        self._doc["tasks"].append({"host": host, "role": role, "task": task.get_name(), "action": task.action,
                                   "status": status, "start": start, "end": end, "cpu": _cpu()})

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._doc["end"] = time.time()
        if self._path:
            with open(self._path, "w") as handle:
                json.dump(self._doc, handle)
