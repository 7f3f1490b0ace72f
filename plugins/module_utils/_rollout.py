# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout of playbooks/site.yml and playbooks/rollback.yml, on the controller: the plan (a canary, then batches,
a failure budget) turned into the play's `serial`, the gate that decides after each batch whether the rollout goes
on, and the run's summary (who is on the new state, who failed and why, who was not reached or not attempted).

Nothing here reaches a host. The filter plugin (plugins/filter/rollout.py) and the rollout_summary module call it.

A host's state, as the playbooks record it (the fact __site_state of each host):
  None                      the host's batch never began (the rollout stopped first)
  {state: started}          its batch began; it never came back (unreachable, or its run ended without a result)
  {state: done}             every role's tasks, verify phase included, passed
  {state: failed, task, message}   a task failed (the first one; the play's rescue recorded it)

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError

PLAN_KEYS = ("canary", "batches", "max_failures")
STATES = ("done", "failed", "unreachable", "not_attempted")
MESSAGE_MAX = 500
_EXAMPLE = "{canary: 1, batches: '25%', max_failures: 1}"
_SIZE = re.compile(r"^\s*(\d+)\s*(%?)\s*$")


class RolloutError(OperatorError):
    """A rollout plan that cannot be followed; the message names the variable and the fix."""

    def __init__(self, msg):
        super(RolloutError, self).__init__(msg, kind="rollout_plan")


def _size(value, where, zero_ok=False):
    """(count, percent) of one size of the plan: an integer or 'N%'. Exactly one of the two is not None."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise RolloutError("%s must be a number of hosts or a percentage such as '25%%' (it is %r)" % (where, value))
    match = _SIZE.match(str(value))
    if not match:
        raise RolloutError("%s must be a number of hosts or a percentage such as '25%%' (it is %r)" % (where, value))
    number, percent = int(match.group(1)), bool(match.group(2))
    if percent and number > 100:
        raise RolloutError("%s is %d%%: a percentage of the hosts goes up to 100%%" % (where, number))
    if number == 0 and not zero_ok:
        raise RolloutError("%s is 0: a batch of no host never ends the rollout; give 1 or more (or a percentage "
                           "above 0%%)" % where)
    return (None, number) if percent else (number, None)


def _serial_item(count, percent):
    return "%d%%" % percent if percent is not None else count


def parse_plan(plan, variable="site_rollout"):
    """The plan VARIABLE holds, checked: None when no plan is given (every host at once, as without one), else
    {canary, batches, max_failures, serial} with sizes as given ('N%' or a count) and serial the play's list."""
    if plan is None or plan == {} or plan == "":
        return None
    if not isinstance(plan, dict):
        raise RolloutError("%s must be a mapping such as %s (it is %r)" % (variable, _EXAMPLE, plan))
    unknown = sorted(set(plan) - set(PLAN_KEYS))
    if unknown:
        raise RolloutError("%s has unknown key(s) %s; the keys are %s"
                           % (variable, ", ".join(unknown), ", ".join(PLAN_KEYS)))
    canary = _serial_item(*_size(plan.get("canary", 1), variable + ".canary"))
    batches = plan.get("batches", "100%")
    listed = isinstance(batches, list)
    if listed and not batches:
        raise RolloutError("%s.batches is an empty list; give one size (repeated until every host is done) or a "
                           "list of sizes" % variable)
    sizes = [_size(b, "%s.batches[%d]" % (variable, i) if listed else variable + ".batches")
             for i, b in enumerate(batches if listed else [batches])]
    percents = [p for _c, p in sizes if p is not None]
    if listed and len(sizes) > 1 and len(percents) == len(sizes) and sum(percents) != 100:
        raise RolloutError("%s.batches add up to %d%% of the hosts, not 100%%: the hosts past them would go in "
                           "batches of the last size. Make the percentages add up to 100%% (e.g. %s) or give one "
                           "size" % (variable, sum(percents), ["25%", "25%", "50%"]))
    budget = plan.get("max_failures", 0)
    budget_count, budget_percent = _size(budget, variable + ".max_failures", zero_ok=True)
    normal = {"canary": canary, "batches": [_serial_item(*s) for s in sizes],
              "max_failures": _serial_item(budget_count, budget_percent)}
    normal["serial"] = [canary] + normal["batches"]
    return normal


def serial(plan, variable="site_rollout"):
    """The play's `serial`: [] (every host in one batch) without a plan."""
    parsed = parse_plan(plan, variable)
    return parsed["serial"] if parsed else []


def budget(plan, hosts_total):
    """How many hosts may fail before the rollout stops (a percentage of HOSTS_TOTAL rounds down)."""
    value = plan["max_failures"]
    if isinstance(value, str) and value.endswith("%"):
        return int(value[:-1]) * hosts_total // 100
    return int(value)


def classify(state):
    """One of STATES for a host's recorded __site_state (see the module's docstring)."""
    if not isinstance(state, dict):
        return "not_attempted"
    return {"done": "done", "failed": "failed"}.get(state.get("state"), "unreachable")


def gate(plan, states, hosts_all, batch):
    """After a batch: {stop, reason, failed, budget}. STATES: host -> recorded state, for HOSTS_ALL (the play's
    hosts) and BATCH (the hosts of the batch that just ended). The canary is the first batch: any failure there
    stops the rollout. Later, the rollout stops once more hosts have failed (or were lost) than max_failures."""
    parsed = parse_plan(plan)
    if not parsed:
        return {"stop": False, "reason": "", "failed": [], "budget": None}
    bad = sorted(h for h in hosts_all if classify(states.get(h)) in ("failed", "unreachable"))
    attempted = [h for h in hosts_all if states.get(h) is not None]
    allowed = budget(parsed, len(hosts_all))
    # The first batch is the only one after which every attempted host is in the batch.
    canary = len(attempted) == len(batch)
    in_batch = [h for h in bad if h in batch]
    reason = ""
    if canary and in_batch:
        reason = ("the canary failed (%s): no other host was changed. Fix what failed on it, then run again"
                  % ", ".join(in_batch))
    elif len(bad) > allowed:
        reason = ("%d host(s) failed (%s), more than the failure budget max_failures=%s allows (%d of %d hosts): "
                  "the batches after this one were not attempted"
                  % (len(bad), ", ".join(bad), parsed["max_failures"], allowed, len(hosts_all)))
    return {"stop": bool(reason), "reason": reason, "failed": bad, "budget": allowed}


def _message(text):
    text = " ".join(str(text if text is not None else "").split())
    return text if len(text) <= MESSAGE_MAX else text[:MESSAGE_MAX - 3] + "..."


def summary(states, hosts_all, plan=None, stopped="", playbook="site", check_mode=False):
    """The run's summary: every host of HOSTS_ALL in exactly one of STATES, failures with their task and message."""
    parsed = parse_plan(plan)
    out = dict((s, []) for s in STATES)
    failures = []
    for host in sorted(hosts_all):
        state = states.get(host)
        kind = classify(state)
        out[kind].append(host)
        if kind == "failed":
            failures.append({"host": host, "task": _message(state.get("task") or "?"),
                             "message": _message(state.get("message") or "no message")})
        elif kind == "unreachable":
            failures.append({"host": host, "task": "", "message": _message(
                state.get("message") or "the host was not reached, or its run ended without a result")})
    doc = {"schema": 1, "playbook": playbook, "check_mode": bool(check_mode),
           "plan": dict((k, v) for k, v in (parsed or {}).items() if k != "serial") or None,
           "stopped": stopped or None, "hosts": out, "failures": failures,
           "counts": dict((s, len(out[s])) for s in STATES)}
    doc["ok"] = not failures and not out["not_attempted"]
    doc["line"] = "%s%s: %d on the new state, %d failed, %d not reached, %d not attempted%s" % (
        playbook, " (check mode)" if check_mode else "", len(out["done"]), len(out["failed"]), len(out["unreachable"]),
        len(out["not_attempted"]), "; stopped: " + stopped if stopped else "")
    return doc


ROLLBACK_VENVS = ("torch_cpu", "ci_gates")


def rollback_venvs(value, hosts=None):
    """rollback.yml's inputs: HOSTS (rollback_hosts) must name hosts; VALUE (rollback_venvs) is a non-empty list
    of ROLLBACK_VENVS. Returns VALUE as a list."""
    if hosts is not None and not str(hosts).strip():
        raise RolloutError("rollback_hosts is not set: name the hosts to roll back, e.g. -e rollback_hosts=ml_nodes "
                           "(a group, a host, or any host pattern); rollback.yml never rolls back the whole "
                           "inventory by default")
    if not isinstance(value, list) or not value or any(v not in ROLLBACK_VENVS for v in value):
        raise RolloutError("rollback_venvs is %r: give a non-empty list of %s, e.g. -e '{\"rollback_venvs\": "
                           "[\"torch_cpu\", \"ci_gates\"]}' (default [\"torch_cpu\"])"
                           % (value, " and ".join(ROLLBACK_VENVS)))
    return list(value)


def lines(doc):
    """The summary as the playbooks print it: the line, then one line per failed, lost or skipped host."""
    out = [doc["line"]]
    out += ["failed: %s at %s: %s" % (f["host"], f["task"], f["message"]) if f["task"]
            else "not reached: %s: %s" % (f["host"], f["message"]) for f in doc["failures"]]
    if doc["hosts"]["not_attempted"]:
        out.append("not attempted: " + ", ".join(doc["hosts"]["not_attempted"]))
    return out


def stopped_reason(states_with_gate):
    """The stop reason a batch's gate recorded on its hosts, if any (the first found)."""
    for value in states_with_gate:
        if isinstance(value, dict) and value.get("stop"):
            return value.get("reason") or "stopped"
    return ""


__all__ = ["PLAN_KEYS", "ROLLBACK_VENVS", "STATES", "RolloutError", "budget", "classify", "gate", "lines", "parse_plan", "rollback_venvs", "serial",
           "stopped_reason", "summary"]
