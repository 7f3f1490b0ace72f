# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml's rollout plan, check/diff and summary, and rollback.yml, on four real hosts: three Debian 12 ML nodes
and one Debian 13 ML node, whose Python (3.13) has no torch wheel on the mirror, so it cannot take any torch lock;
and one Debian 12 CI runner (ci_gates alone), for the gate venv's rollback.

The steps share the fleet and run in order (each starts from the state the one before left):
  1. a plain converge of the Debian 12 nodes to lock A (torch_cpu.txt);
  2. check/diff on the converged nodes reports nothing; with lock B (torch_cpu_bump.txt: another filelock) it lists
     the exact package change on every node and changes nothing;
  3. a canary that fails (the Debian 13 node first) stops the rollout of lock B: no other host changed;
  4. the rollout of lock B with the Debian 13 node in the second batch goes on past it (within the failure
     budget) to every other node; the summary names it and its reason;
  5. rollback.yml takes the fleet back to lock A (the Debian 13 node, with no previous release, named) and
     playbooks/audit.yml reports lock A's filelock on every node; on the CI runner, a gate lock with one more
     distribution, then rollback.yml with rollback_venvs [ci_gates] takes the gate venv back;
  6. plans that cannot be followed fail before any host is touched.
Each host is judged by the real libraries: importlib.metadata in the live venv, and torch working in it.
"""

from __future__ import absolute_import, division, print_function

import json
import re
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

import integration_helpers as h

D12 = ["codex-ro-%s-a" % uuid.uuid4().hex[:6]]
D12 += [D12[0][:-1] + "b", D12[0][:-1] + "c"]
D13 = D12[0][:-1] + "py313"
CI = D12[0][:-1] + "ci"
GATES = "/opt/codex/gates"
LOCK_A, LOCK_B = "torch_cpu.txt", "torch_cpu_bump.txt"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
JUDGE = ("import importlib.metadata as m, torch\n"
         "from torch.utils.data import Dataset\n"
         "assert float(torch.ones(2).sum()) == 2.0\n"
         "print(m.version('filelock'))")


def pinned(lock, name):
    return re.search(r"^%s==(\S+)" % re.escape(name), (h.LOCKS / lock).read_text(), re.M).group(1)


class Fleet(object):
    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.boxes = dict((n, h.Container(h.REPO_ROOT.joinpath("build", "image-debian12").read_text().strip(), n))
                          for n in D12)
        self.boxes[D13] = h.Container(h.REPO_ROOT.joinpath("build", "image-debian13").read_text().strip(), D13)
        self.boxes[CI] = h.Container(self.boxes[D12[0]].image, CI)
        # The gate's second state: its staged lock with one more hash-pinned distribution (torch_cpu.txt's mpmath).
        block = re.search(r"^mpmath==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}\n", (h.LOCKS / LOCK_A).read_text(), re.M)
        self.gate_lock_b = self.tmp / "ci_gates_plus_mpmath.txt"
        self.gate_lock_b.write_text((h.LOCKS / "ci_gates.txt").read_text().rstrip("\n") + "\n" + block.group(0))
        self.runs = 0

    def filelock(self, name):
        """The live venv's filelock (importlib.metadata, after torch worked in it), or None without a venv."""
        res = self.boxes[name].exec(h.VENV + "/bin/python", "-c", JUDGE)
        return res.out.strip() if res.rc == 0 else None

    def gate_extra(self):
        """The gate venv's mpmath ('absent' when it holds none), after nox and pytest imported in it."""
        res = self.boxes[CI].exec(GATES + "/bin/python", "-c", "import importlib.metadata as m, nox, pytest\n"
                                  "try:\n print(m.version('mpmath'))\nexcept m.PackageNotFoundError:\n print('absent')")
        assert res.rc == 0, res
        return res.out.strip()

    def play(self, playbook, order, lock, *args, **extra):
        """ansible-playbook PLAYBOOK over the hosts of ORDER (in that order: a rollout's batches follow it); CI
        goes to ci_runners, the others to ml_nodes."""
        self.runs += 1
        run_dir = self.tmp / ("run%d" % self.runs)
        run_dir.mkdir()
        inventory = {"all": {"vars": {"ansible_connection": "containers.podman.podman",
                                      "ansible_python_interpreter": "/usr/bin/python3"},
                             "children": {"ml_nodes": {"hosts": dict((n, None) for n in order if n != CI)},
                                          "ci_runners": {"hosts": dict((n, None) for n in order if n == CI)}}}}
        (run_dir / "hosts.json").write_text(json.dumps(inventory))
        variables = h.good_vars(lock, site_role_groups={"torch_cpu": ["ml_nodes"], "ci_gates": ["ci_runners"]},
                                site_summary_dir=str(run_dir / "runs"), ci_gates_mirror_mode="index",
                                ci_gates_mirror_url=h.os.environ["CODEX_INDEX_URL"],
                                ci_gates_lock_file=str(h.LOCKS / "ci_gates.txt"))
        variables.update(extra)
        (run_dir / "vars.json").write_text(json.dumps(variables))
        argv = [str(h.VENV_BIN / "ansible-playbook"), "-i", str(run_dir / "hosts.json"), "-e",
                "@" + str(run_dir / "vars.json"), str(h.REPO_ROOT / "playbooks" / playbook)] + list(args)
        env = h._marked_env()
        try:
            proc = subprocess.run(argv, cwd=str(h.REPO_ROOT), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=1500, check=False)
        except subprocess.TimeoutExpired:
            h.leftovers.kill_marked(h.PROC_VAR, env[h.PROC_VAR])
            raise
        result = h.Result(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"))
        latest = run_dir / "runs" / ("%s-latest.json" % playbook.split(".")[0])
        result.summary = json.loads(latest.read_text()) if latest.is_file() else None
        result.recap = dict((m.group(1), {"changed": int(m.group(3)), "failed": int(m.group(5))})
                            for m in RECAP.finditer(result.out))
        return result


@pytest.fixture(scope="module")
def fleet():
    for var in ("CODEX_INDEX_URL",):
        if not h.os.environ.get(var):
            pytest.fail("%s not set: run `make integration`" % var)
    tmp = tempfile.mkdtemp(prefix="codex-rollout-")
    f = Fleet(tmp)
    try:
        for box in f.boxes.values():
            box.start()
        yield f
    finally:
        for box in f.boxes.values():
            box.remove()
        subprocess.run(["rm", "-rf", tmp], check=False)


def test_1_plain_converge_to_lock_a(fleet):
    res = fleet.play("site.yml", D12 + [CI], LOCK_A)
    assert res.rc == 0, res
    assert res.summary["hosts"]["done"] == sorted(D12 + [CI]) and res.summary["plan"] is None, res.summary
    assert res.summary["line"] == "site: 4 on the new state, 0 failed, 0 not reached, 0 not attempted"
    for name in D12:
        assert fleet.filelock(name) == pinned(LOCK_A, "filelock"), name
    assert fleet.gate_extra() == "absent"


def test_2_check_diff_on_converged_and_on_an_old_lock(fleet):
    before = dict((n, fleet.boxes[n].snapshot()) for n in D12)
    same = fleet.play("site.yml", D12, LOCK_A, "--check", "--diff")
    assert same.rc == 0, same
    assert all(same.recap[n]["changed"] == 0 for n in D12), same.recap
    assert "/opt/codex/venv: " not in same.out and same.summary["check_mode"] is True

    new = fleet.play("site.yml", D12, LOCK_B, "--check", "--diff")
    assert new.rc == 0, new
    assert all(new.recap[n]["changed"] > 0 for n in D12), new.recap
    change = "~ filelock %s -> %s" % (pinned(LOCK_A, "filelock"), pinned(LOCK_B, "filelock"))
    assert new.out.count("/opt/codex/venv: 1 changed, 0 added, 0 removed") == 3, new.out[-4000:]
    assert new.out.count(change) == 3, new.out[-4000:]
    for name in D12:
        h.assert_unchanged(before[name], fleet.boxes[name].snapshot())
        assert fleet.filelock(name) == pinned(LOCK_A, "filelock"), name


def test_3_a_failed_canary_stops_the_rollout_before_any_other_host(fleet):
    before = dict((n, fleet.boxes[n].snapshot()) for n in D12)
    res = fleet.play("site.yml", [D13] + D12, LOCK_B,
                     site_rollout={"canary": 1, "batches": 2, "max_failures": 1})
    assert res.rc != 0, res
    s = res.summary
    assert s["hosts"] == {"done": [], "failed": [D13], "unreachable": [], "not_attempted": sorted(D12)}, s
    assert s["stopped"].startswith("the canary failed (%s)" % D13), s
    assert "cp313" in s["failures"][0]["message"], s["failures"]
    assert "rollout stopped: the canary failed" in res.out
    for name in D12:
        assert name not in res.recap or res.recap[name]["changed"] == 0, res.recap
        h.assert_unchanged(before[name], fleet.boxes[name].snapshot())


def test_4_rollout_goes_on_past_a_failed_host_within_the_budget(fleet):
    order = [D12[0], D12[1], D13, D12[2]]
    res = fleet.play("site.yml", order, LOCK_B, site_rollout={"canary": 1, "batches": 2, "max_failures": 1})
    assert res.rc != 0, res  # one host failed: the run says so in its exit status
    s = res.summary
    print(json.dumps(s, indent=1, sort_keys=True))  # the closing note's example (make integration -rA shows it)
    assert s["hosts"] == {"done": sorted(D12), "failed": [D13], "unreachable": [], "not_attempted": []}, s
    assert s["stopped"] is None and s["plan"] == {"canary": 1, "batches": [2], "max_failures": 1}, s
    (failure,) = s["failures"]
    assert failure["host"] == D13 and "cp313" in failure["message"] and failure["task"], failure
    assert "failed: %s at %s" % (D13, failure["task"]) in res.out
    for name in D12:
        assert fleet.filelock(name) == pinned(LOCK_B, "filelock"), name
    assert fleet.filelock(D13) is None


def test_5_rollback_returns_the_batch_to_lock_a_and_the_audit_says_so(fleet):
    res = fleet.play("rollback.yml", D12 + [D13], LOCK_B, rollback_hosts="ml_nodes",
                     rollback_rollout={"canary": 1, "batches": "50%", "max_failures": 1})
    assert res.rc != 0, res
    s = res.summary
    assert s["playbook"] == "rollback" and s["hosts"]["done"] == sorted(D12) and s["hosts"]["failed"] == [D13], s
    assert "previous release" in s["failures"][0]["message"], s["failures"]
    for name in D12:
        assert fleet.filelock(name) == pinned(LOCK_A, "filelock"), name

    audit_dir = fleet.tmp / "audit"
    audit = fleet.play("audit.yml", D12, LOCK_A, audit_report_dir=str(audit_dir),
                       audit_role_groups={"torch_cpu": ["ml_nodes"]})
    assert audit.rc == 0, audit
    report = json.loads((audit_dir / "latest" / "fleet.json").read_text())
    for record in report["hosts"]:
        (wheels,) = [v for k, v in record["checks"].items() if k.startswith("wheels:") and v["status"] != "n/a"]
        dists = wheels["details"]["dists"]
        assert dists["filelock"]["version"] == pinned(LOCK_A, "filelock"), (record["host"], dists["filelock"])
        assert wheels["status"] == "pass", (record["host"], wheels)
        assert record["checks"]["torch"]["status"] == "pass", record["checks"]["torch"]


def test_5_rollback_of_the_gate_venv(fleet):
    res = fleet.play("site.yml", [CI], LOCK_A, ci_gates_lock_file=str(fleet.gate_lock_b))
    assert res.rc == 0, res
    assert fleet.gate_extra() == pinned(LOCK_A, "mpmath")
    back = fleet.play("rollback.yml", [CI], LOCK_A, rollback_hosts="ci_runners", rollback_venvs=["ci_gates"])
    assert back.rc == 0, back
    assert back.summary["hosts"]["done"] == [CI] and back.summary["playbook"] == "rollback", back.summary
    assert fleet.gate_extra() == "absent"
    again = fleet.play("rollback.yml", [CI], LOCK_A, rollback_hosts="ci_runners", rollback_venvs=["ci_gates"])
    assert again.rc == 0 and again.recap[CI]["changed"] == 0, again


@pytest.mark.parametrize("plan, words", [
    ({"canary": 1, "batches": 0}, "site_rollout.batches is 0"),
    ({"batches": ["25%", "25%"]}, "site_rollout.batches add up to 50% of the hosts, not 100%"),
    ({"max_failures": "150%"}, "site_rollout.max_failures is 150%"),
])
def test_6_a_plan_that_cannot_be_followed_fails_before_any_host(fleet, plan, words):
    before = fleet.boxes[D12[0]].snapshot()
    res = fleet.play("site.yml", D12, LOCK_A, site_rollout=plan)
    assert res.rc != 0 and words in res.out, res
    assert "Traceback" not in res.out and not res.recap, res
    h.assert_unchanged(before, fleet.boxes[D12[0]].snapshot())


def test_6_rollback_without_hosts_is_refused(fleet):
    res = fleet.play("rollback.yml", D12, LOCK_A)
    assert res.rc != 0 and "rollback_hosts is not set" in res.out, res


@pytest.mark.parametrize("venvs", [[], ["hf_offline_cache"], "torch_cpu"])
def test_6_rollback_of_unknown_venvs_is_refused(fleet, venvs):
    res = fleet.play("rollback.yml", D12, LOCK_A, rollback_hosts="ml_nodes", rollback_venvs=venvs)
    assert res.rc != 0 and "rollback_venvs is %r: give a non-empty list of torch_cpu and ci_gates" % (venvs,) in res.out
    assert not any(name in res.recap for name in D12), res.recap
