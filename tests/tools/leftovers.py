# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Processes a test run started, found by a marker in their environment, so that none outlives the run.

A process group is not enough: ansible-playbook's workers call setsid(), so killing the playbook's group leaves
them converging a container, re-parented to PID 1. Every process inherits its parent's environment, across
setsid and re-parenting, so a variable set for the run finds all of them.

  leftovers.py run -- CMD...   run CMD with CODEX_TEST_RUN set to a new id; afterwards (after a grace of
                               CODEX_LEFTOVERS_GRACE seconds, 10), any process still carrying that id is
                               listed, killed, and the exit status is 3 (else CMD's)
Library: marked(name, value) lists such processes, kill_marked(name, value) kills them.
Standard library only; Linux (/proc).
"""

from __future__ import absolute_import, division, print_function

import os
import re
import signal
import subprocess
import sys
import time
import uuid

RUN_VAR = "CODEX_TEST_RUN"
# An OpenSSH ControlPersist master ("ssh: /root/.ansible/cp/abc [mux]") outlives its last use by design (the demo's
# inventory keeps it 120 s) and exits by itself: ended quietly at the run's end, not counted as a leak.
MUX_RE = re.compile(r"^ssh: \S+ \[mux\]$")


def _ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def marked(name, value):
    """[(pid, command line)] of the live processes (not zombies, not this one or its ancestors) whose environment
    holds NAME=VALUE."""
    needle = ("%s=%s" % (name, value)).encode()
    skip = _ancestors()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as handle:
                if needle not in handle.read().split(b"\0"):
                    continue
            with open("/proc/%s/stat" % entry) as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        found.append((int(entry), command))
    return sorted(found)


def kill_marked(name, value, rounds=5):
    """SIGKILL every process marked NAME=VALUE (again, while new ones appear); returns those it killed."""
    killed = []
    for _round in range(rounds):
        found = marked(name, value)
        if not found:
            break
        for pid, command in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, command))
            except OSError:
                pass
        time.sleep(0.2)
    return killed


def run(argv):
    run_id = uuid.uuid4().hex
    env = dict(os.environ)
    env[RUN_VAR] = run_id
    status = subprocess.call(argv, env=env)
    # what ends by itself as the run ends (a server told to stop) gets a moment
    deadline = time.monotonic() + float(os.environ.get("CODEX_LEFTOVERS_GRACE", "10"))
    while marked(RUN_VAR, run_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid, command in marked(RUN_VAR, run_id):
        if MUX_RE.match(command):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
    time.sleep(0.5)
    left = kill_marked(RUN_VAR, run_id)
    if left:
        print("leftovers.py: the run left %d process(es) running; a test that starts a process must end all of it "
              "(tests/integration/integration_helpers.py: kill_group). Killed now:" % len(left), file=sys.stderr)
        for pid, command in left:
            print("  %d %s" % (pid, command[:300]), file=sys.stderr)
        return status or 3
    print("leftovers.py: no process of the run is left")
    return status


def main(args):
    if len(args) >= 2 and args[0] == "run" and args[1] == "--" and len(args) > 2:
        return run(args[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
