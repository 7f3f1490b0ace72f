"""Helpers of the fleet scenario's verify: the hosts, commands in them, audit runs and report parsing.

The hosts are the scenario's platforms; tests/test_inventory.py checks that the inventory Molecule generated
has exactly these hosts in these groups, so the names below cannot silently drift from molecule.yml.
"""

import json
import functools
import html
import os
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ML = ["fleet-ml1", "fleet-ml2"]
CI = ["fleet-ci1"]
# the nodes (what the node checks are parametrized over)
ALL = ML + CI
MIRROR = ["fleet-mirror1"]
# every host of the inventory: the nodes and the mirror host they install from
EVERY = MIRROR + ALL
GROUPS = {"ml_nodes": ML, "ci_runners": CI, "mirror_hosts": MIRROR}
DRIFT_HOST = "fleet-ml2"

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or Path(__file__).resolve().parents[3])
PLAYBOOKS = ROOT / "playbooks"
SCENARIO = Path(__file__).resolve().parents[1]
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
VENV = "/opt/codex/venv"
GATES_VENV = "/opt/codex/gates"
TORCH_COMMAND = "/usr/local/bin/codex-torch-check"
HUB_CACHE = "/srv/huggingface/hub"
REPO = "codex-test/tiny-bert"
# What the audit, the converge and the drift may touch on a host: compared before and after the audit.
WATCHED = ["/opt/codex", "/usr/local/bin", "/etc/profile.d", "/etc/codex", "/etc/ansible/facts.d", "/srv/huggingface"]


class Result(object):
    def __init__(self, argv, rc, out, err="", seconds=0.0):
        self.argv, self.rc, self.out, self.err, self.seconds = argv, rc, out, err, seconds

    def __repr__(self):
        command = " ".join(str(a)[:120] for a in self.argv)
        stderr = ("\nstderr:\n" + self.err[-3000:]) if self.err else ""
        return "<rc=%s %.1fs %s>\n%s%s" % (self.rc, self.seconds, command, self.out[-6000:], stderr)


def run(argv, timeout=600, env=None, **kwargs):
    start = time.monotonic()
    proc = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          env=env, check=False, **kwargs)
    return Result(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"), time.monotonic() - start)


def on(host, *argv, **kwargs):
    """Run ARGV in the container HOST (podman exec: one process, no Ansible)."""
    return run(["podman", "exec", host] + list(argv), **kwargs)


def login(host, command, **kwargs):
    """COMMAND in a login shell of HOST, as an operator would run it."""
    return on(host, "bash", "-lc", command, **kwargs)


def python(host, code, *args, **kwargs):
    interpreter = kwargs.pop("interpreter", "/usr/bin/python3")
    return on(host, interpreter, "-c", code, *args, **kwargs)


def ok(result):
    assert result.rc == 0, repr(result)
    return result.out


SNAPSHOT = r"""
import hashlib, json, os, stat, sys
out = {}
def add(p):
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        out[p] = ["link", os.readlink(p)]
    elif stat.S_ISDIR(st.st_mode):
        out[p] = ["dir", "%o" % stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid]
        for entry in sorted(os.listdir(p)):
            if entry != "__pycache__":
                add(os.path.join(p, entry))
    elif stat.S_ISREG(st.st_mode):
        out[p] = ["file", "%o" % stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size, int(st.st_mtime)]
for path in sys.argv[1:]:
    add(path)
print(hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest(), len(out))
"""


@functools.lru_cache(maxsize=None)
def torch_check(host):
    """The host command's diagnostic on the converged host (asked once per host: importing torch takes seconds)."""
    return json.loads(ok(on(host, TORCH_COMMAND)))


def snapshot(host):
    """A digest of every path, mode, owner, size and mtime under WATCHED (what any change would alter)."""
    return ok(python(host, SNAPSHOT, *WATCHED)).strip()


# --------------------------------------------------------------------------- playbooks
def tool_env(**more):
    env = dict(os.environ)
    env.update({"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "PY_COLORS": "0",
                "ANSIBLE_RETRY_FILES_ENABLED": "0"})
    env.update(more)
    return env


def playbook(path, *extra, **kwargs):
    """ansible-playbook PATH against the scenario's inventory (its group_vars are the demo's), with the JSON
    stdout callback: RESULT.json holds every task result and the stats (no wrapped text to search)."""
    assert INVENTORY, "MOLECULE_INVENTORY_FILE is not set: run through molecule verify"
    # Not Molecule's ansible.cfg: its profile_tasks callback would print into the JSON.
    env = tool_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_PIPELINING="True")
    env.pop("ANSIBLE_CONFIG", None)
    result = run(["ansible-playbook", "-i", INVENTORY, str(path)] + list(extra), env=env,
                 timeout=kwargs.pop("timeout", 900), cwd=str(ROOT))
    try:
        result.json = json.loads(result.out)
    except ValueError:
        result.json = {"plays": [], "stats": {}}
    return result


def recap(result):
    """{host: {ok, changed, failures, unreachable, skipped, ...}} of a playbook() run."""
    return result.json["stats"]


def failures(result):
    """[(task name, host, msg)] of every failed task result of a playbook() run, in order."""
    out = []
    for play in result.json["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed"):
                    out.append((task["task"]["name"], host, res.get("msg", "")))
    return out


class Audit(object):
    """One run of playbooks/audit.yml into a folder of its own, with the report read back."""

    def __init__(self, *extra):
        # in Molecule's ephemeral directory: kept for a look until `molecule destroy/reset` removes it
        self.dir = Path(tempfile.mkdtemp(prefix="audit-", dir=os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")))
        self.result = playbook(PLAYBOOKS / "audit.yml", "-e", "audit_report_dir=%s" % self.dir, *extra)
        runs = sorted(p for p in self.dir.iterdir() if p.is_dir() and not p.is_symlink())
        self.run_dir = runs[-1] if runs else None
        self.doc = self.junit = self.html = None
        if self.run_dir is not None and (self.run_dir / "fleet.json").is_file():
            self.doc = json.loads((self.run_dir / "fleet.json").read_text())
            self.junit = ET.parse(str(self.run_dir / "junit.xml")).getroot()
            self.html = (self.run_dir / "fleet.html").read_text()

    def host(self, name):
        return [h for h in self.doc["hosts"] if h["host"] == name][0]

    def check(self, name, check):
        return self.host(name)["checks"][check]

    def verdicts(self):
        """{(host, check): status} of fleet.json."""
        return dict(((h["host"], c), v["status"]) for h in self.doc["hosts"] for c, v in h["checks"].items())

    def junit_verdicts(self):
        """{(host, check): status} of junit.xml (failure -> fail, skipped -> n/a, else pass)."""
        out = {}
        for case in self.junit.iter("testcase"):
            if case.find("failure") is not None:
                status = "fail"
            elif case.find("skipped") is not None:
                status = "n/a"
            else:
                status = "pass"
            out[(case.get("classname"), case.get("name"))] = status
        return out

    def html_verdicts(self):
        """{(host, check): status} of the cells of fleet.html's hosts x checks table."""
        cells = re.findall(r'<td class="cell [^"]*" data-host="([^"]+)" data-check="([^"]+)" data-status="([^"]+)"',
                           self.html)
        return dict(((h, c), html.unescape(v)) for h, c, v in cells)

    def failing(self):
        return sorted(k for k, v in self.verdicts().items() if v == "fail")
