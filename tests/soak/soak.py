# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The crash soak (make soak; a sample in make test): every named fault point of plugins/module_utils/_faults.py,
and a few faults chosen by time, on real containers converged by the real site.yml.

For each case, on a host converged to the previous state:
  1. prepare the change (the torch venv's lock moves to the other lock, a model is dropped from the cache, the
     profile script is edited, a rollback is asked) and converge with the fault (site_module_environment);
  2. judge the host by the real libraries, never by the collection's code: the live venv's distributions against
     the two locks (importlib.metadata in the venv), torch working (a tensor and torch.utils.data.Dataset), the model
     loading offline with transformers as a member of the cache group in a login shell (else huggingface_hub says
     whether it is absent or there but broken), the gate passing on a project, the profile script's bytes;
  3. run audit.yml and compare its verdicts with that judgement;
  4. converge without the fault: the host must be exactly the new state; converge again: zero changes.
The table of every case goes to build/soak/matrix.json and, with --write-docs, into docs/reliability.md.

Cases run on --hosts containers at once (each its own case and fault, one ansible-playbook run: the host vars carry
each host's fault). Faults by time (podman kill of the whole container, the wheel index and the Hub mirror dying
mid-download behind a forwarder that cuts every connection) run on the first host alone.
Run through make (PATH, CONTAINERS_CONF, the collection path, the mirrors' URLs): make soak / make soak-sample.
"""

import argparse
import contextlib
import importlib.util
import json
import os
import re
import select
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))
import integration_helpers as h  # noqa: E402

_spec = importlib.util.spec_from_file_location("codex_faults", str(REPO_ROOT / "plugins/module_utils/_faults.py"))
faults = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(faults)

OUT = REPO_ROOT / "build" / "soak"
LOCKS = REPO_ROOT / "build" / "mirror" / "locks"
VENV = "/opt/codex/venv"
HUB = "/srv/huggingface/hub"
REPO = "codex-test/tiny-bert"
MODEL_DIR = HUB + "/models--codex-test--tiny-bert"
PROFILE = "/etc/profile.d/hf-offline.sh"
PROJECT = "/srv/ci/demo-sample"
MEMBER = "soak"
# The sample of make test: one point of each concern, one ENOSPC, each fast.
SAMPLE = ["venv.swap:kill", "venv.marker:enospc", "hf.refs:kill", "files.write:kill", "venv.prune:kill"]
ENOSPC = ["venv.marker", "venv.swapped", "hf.blob", "files.write"]
TIMED = ["podman-kill:installer", "podman-kill:release-finished", "index-dies", "hub-dies", "disk-full:hub"]
# How a module that SIGKILLed itself fails: the role's words for a killed build, or Ansible's for a module that
# ended without a result (rc -9 with pipelining).
KILLED = ("ended without a result", "MODULE FAILURE", '"rc": -9', '"rc": 137')
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


# --------------------------------------------------------------------------- locks: the old and the new state
def pins(path):
    found = re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", path.read_text(), re.M)
    return dict((h_norm(m.group(1)), m.group(2)) for m in found)


def h_norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def make_locks():
    """A: the staged torch_cpu_hf lock. B: the same with torch_cpu_bump's filelock (both staged, hash-pinned)."""
    a = LOCKS / "torch_cpu_hf.txt"
    bump = (LOCKS / "torch_cpu_bump.txt").read_text()
    block = re.search(r"^filelock==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}\n", bump, re.M).group(0)
    text = re.sub(r"^filelock==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}\n", lambda _m: block, a.read_text(), flags=re.M)
    b = OUT / "torch_cpu_hf_bump.txt"
    b.write_text("# The soak's second state: torch_cpu_hf with torch_cpu_bump's filelock.\n" + text)
    assert pins(a) != pins(b)
    return {"A": a, "B": b}


# --------------------------------------------------------------------------- a forwarder that dies mid-transfer
class Forwarder(object):
    """127.0.0.1:port -> UPSTREAM (host, port); once one connection has carried LIMIT bytes from upstream (in the
    middle of the first file larger than that) every connection is cut and the port closed: the server died
    mid-download, as the host sees it."""

    def __init__(self, upstream, limit):
        self.upstream, self.limit, self.dead = upstream, limit, threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.dead.is_set():
            try:
                client, _addr = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.conns += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client, server):
        sent = 0
        try:
            while not self.dead.is_set():
                ready, _w, _x = select.select([client, server], [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is server:
                        sent += len(data)
                        if sent > self.limit:
                            client.sendall(data[:max(0, len(data) - (sent - self.limit))])
                            self.kill()
                            return
                        client.sendall(data)
                    else:
                        server.sendall(data)
        except OSError:
            return

    def kill(self):
        self.dead.set()
        for sock in [self.sock] + self.conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def upstream_of(url):
    m = re.match(r"https?://([^:/]+):(\d+)", url)
    return m.group(1), int(m.group(2))


# --------------------------------------------------------------------------- the hosts
JUDGE = r"""
import hashlib, json, os, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
venv, hub, repo, profile, project, member = sys.argv[1:7]
py = venv + "/bin/python"
LOAD = ("import sys\n"
        "try:\n"
        "    from transformers import AutoModel, AutoTokenizer\n"
        "    AutoTokenizer.from_pretrained(%r); AutoModel.from_pretrained(%r); print('loads')\n"
        "except Exception as exc:\n"
        "    from huggingface_hub import snapshot_download\n"
        "    from huggingface_hub.errors import LocalEntryNotFoundError\n"
        "    try:\n"
        "        snapshot_download(%r, local_files_only=True)\n"
        "        print('broken: %%s' %% (str(exc).splitlines() or [''])[0][:200])\n"
        "    except LocalEntryNotFoundError:\n"
        "        print('absent')\n") % (repo, repo, repo)
def run(argv, timeout=300):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")
def dists():
    if not os.path.exists(py):
        return None
    rc, text = run([py, "-c", "import json, importlib.metadata as m; print(json.dumps(dict((d.metadata['Name'], "
                    "d.version) for d in m.distributions())))"])
    return json.loads(text.strip().splitlines()[-1]) if rc == 0 else None
def torch():
    if not os.path.exists(py):
        return "no venv"
    rc, text = run([py, "-c", "import os, torch; from torch.utils.data import Dataset; "
                    "assert int((torch.ones(2) + 1).sum()) == 4; print(os.path.dirname(torch.__file__))"])
    return text.strip()[-300:] if rc else "ok " + text.strip().splitlines()[-1]
def facts_location():
    try:
        data = json.load(open("/etc/ansible/facts.d/torch_cpu.fact"))
    except (OSError, ValueError):
        return None
    found = []
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                (found.append(value) if key == "location" and isinstance(value, str) else walk(value))
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(data)
    return found[0] if found else None
def model():
    rc, text = run(["su", "-", member, "-c", "HF_HUB_OFFLINE=1 %s -c %s" % (py, shlex.quote(LOAD))])
    last = text.strip().splitlines()[-1] if text.strip() else "rc %d" % rc
    return last if last == "loads" or last.startswith(("broken", "absent")) else "fails: " + text.strip()[-200:]
def offline():
    return run(["su", "-", member, "-c", 'printf %s "$HF_HUB_OFFLINE"'])[1].strip()
def gate():
    rc, text = run(["bash", "-lc", "/usr/local/bin/codex-gate " + project])
    return "passed" if rc == 0 else "failed (%d): %s" % (rc, text.strip()[-200:])
def profile_sha():
    try:
        return hashlib.sha256(open(profile, "rb").read()).hexdigest()
    except OSError:
        return None
out = {"release": os.path.realpath(venv) if os.path.islink(venv) else None}
jobs = {"dists": dists, "torch": torch, "model": model, "offline": offline, "gate": gate, "profile": profile_sha,
        "facts_location": facts_location}
with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
    futures = dict((k, pool.submit(f)) for k, f in jobs.items())
    out.update((k, f.result()) for k, f in futures.items())
print(json.dumps(out))
"""


class Host(object):
    def __init__(self, name, image):
        self.c = h.Container(image, name)
        self.name = name
        self.live = self.target = "A"   # the lock the live venv holds, the one the case's converge asks for
        self.previous = False            # whether the venv keeps a previous release (a rollback's target)
        self.vars = {}
        self.expected_profile = None

    def start(self):
        self.c.remove()
        subprocess.run(["podman", "run", "-d", "--network", "host", "--name", self.name, "--hostname", self.name,
                        "--mount", "type=tmpfs,destination=/srv/huggingface,tmpfs-size=64m,tmpfs-mode=0755",
                        self.c.image, "sleep", "infinity"], env=h.tool_env(), check=True, stdout=subprocess.DEVNULL)
        self.prepare_os()

    def prepare_os(self):
        sh(self, "id %s >/dev/null 2>&1 || useradd -m -s /bin/bash %s" % (MEMBER, MEMBER))
        sh(self, "mkdir -p /srv/ci")
        if sh(self, "test -d %s" % PROJECT, check=False).rc != 0:
            subprocess.run(["podman", "cp", str(REPO_ROOT / "demo" / "ci_project"), "%s:%s" % (self.name, PROJECT)],
                           env=h.tool_env(), check=True)

    def judge(self, locks):
        res = self.c.python(JUDGE, VENV, HUB, REPO, PROFILE, PROJECT, MEMBER, timeout=600)
        assert res.rc == 0, res
        got = json.loads(res.out.strip().splitlines()[-1])
        got["torch"], _sep, got["torch_location"] = got["torch"].partition(" ") if got["torch"].startswith("ok ") \
            else (got["torch"], "", None)
        dists = dict((h_norm(k), v) for k, v in (got["dists"] or {}).items())
        got["lock"] = next((k for k, lock in sorted(locks.items()) if dists == pins(lock)), "none" if not dists
                           else "other")
        return got


def sh(host, command, check=True, timeout=300):
    res = host.c.exec("bash", "-c", command, timeout=timeout)
    if check:
        assert res.rc == 0, res
    return res


def base_vars(locks, lock, endpoint, index):
    return {
        "torch_cpu_mirror_mode": "index", "torch_cpu_mirror_url": index,
        "torch_cpu_extra_packages": ["transformers==5.24.0", "huggingface-hub==2.4.0"],
        "torch_cpu_lock_file": str(locks[lock]),
        "hf_offline_cache_mirror_mode": "index", "hf_offline_cache_mirror_url": index,
        "hf_offline_cache_endpoint": endpoint, "hf_offline_cache_members": [MEMBER],
        "hf_offline_cache_repos": [{"repo_id": REPO, "revision": os.environ["CODEX_HF_TINY_BERT_COMMIT"]}],
        "ci_gates_mirror_mode": "index", "ci_gates_mirror_url": index,
        "ci_gates_lock_file": str(LOCKS / "ci_gates.txt"),
        "ci_gates_projects": [{"path": PROJECT, "name": "demo-sample", "source": ["demo_sample"]}],
    }


def play(playbook, hosts, host_vars, extra=None, background=False, timeout=1200):
    """ansible-playbook PLAYBOOK over HOSTS, each with its own vars (a vars file per host through host_vars in a
    per-run inventory directory)."""
    tmp = tempfile.mkdtemp(prefix="codex-soak-")
    inv = Path(tmp)
    (inv / "hosts.yml").write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"},
        "children": {"ml_nodes": {"hosts": dict((x.name, None) for x in hosts)},
                     "ci_runners": {"hosts": dict((x.name, None) for x in hosts)}}}}))
    (inv / "host_vars").mkdir()
    for host in hosts:
        (inv / "host_vars" / ("%s.json" % host.name)).write_text(json.dumps(host_vars[host.name]))
    argv = [str(h.VENV_BIN / "ansible-playbook"), "-i", str(inv / "hosts.yml"), str(REPO_ROOT / "playbooks" / playbook)]
    for key, value in (extra or {}).items():
        argv += ["-e", "%s=%s" % (key, value)]
    env = h._marked_env()
    if background:
        logf = tempfile.TemporaryFile()
        proc = subprocess.Popen(argv, cwd=str(REPO_ROOT), env=env, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
        proc.codex_marker, proc.log = env[h.PROC_VAR], logf
        return proc
    try:
        proc = subprocess.run(argv, cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        h.leftovers.kill_marked(h.PROC_VAR, env[h.PROC_VAR])
        raise
    return h.Result(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"))


def recap(result):
    return dict((m.group(1), {"changed": int(m.group(3)), "unreachable": int(m.group(4)), "failed": int(m.group(5))})
                for m in RECAP.finditer(result.out))


# --------------------------------------------------------------------------- the cases
def cases(selection):
    out = []
    for name in faults.POINTS:
        out.append("%s:kill" % name)
    out += ["%s:enospc" % name for name in ENOSPC]
    out += TIMED
    if selection == "sample":
        return list(SAMPLE)
    if selection != "all":
        wanted = selection.split(",")
        unknown = [w for w in wanted if w not in out]
        if unknown:
            raise SystemExit("soak: unknown case(s) %s; the cases are: %s" % (", ".join(unknown), " ".join(out)))
        return wanted
    return out


def concern(case):
    name = case.split(":")[0]
    if name in faults.POINTS:
        return faults.POINTS[name][0]
    return {"podman-kill": "timed", "index-dies": "venv", "hub-dies": "hf", "disk-full": "hf"}[name]


def setup_case(host, case, ctx):
    """Bring in the change the faulted converge makes; returns (vars, what the new state is)."""
    name = case.split(":")[0]
    v = dict(ctx["base"])
    kind = concern(case)
    other = "A" if host.live == "B" else "B"
    if name == "venv.rollback":
        if not host.previous:
            # A rollback needs a previous release: a first change, converged without a fault.
            res = play("site.yml", [host], {host.name: dict(v, torch_cpu_lock_file=str(ctx["locks"][other]))})
            assert res.rc == 0, res
            host.live, host.previous = other, True
            other = "A" if host.live == "B" else "B"
        v["torch_cpu_rollback"] = True
        v["torch_cpu_lock_file"] = str(ctx["locks"][host.live])
        host.target = other
    elif kind in ("venv", "timed"):
        host.target = other
        v["torch_cpu_lock_file"] = str(ctx["locks"][host.target])
    else:
        host.target = host.live
        v["torch_cpu_lock_file"] = str(ctx["locks"][host.live])
    if kind == "hf":
        sh(host, "rm -rf %s" % MODEL_DIR)
    if name.startswith("hf.bundle"):
        v.update(hf_offline_cache_method="bundle", hf_offline_cache_bundle_src=str(ctx["bundle"]))
    if kind == "files":
        sh(host, "printf 'export HF_HUB_OFFLINE=0\\n' >> %s" % PROFILE)
    return v


def judge_after_fault(host, case, got):
    """What is wrong with the state a fault left (empty: old or new, whole)."""
    problems = []
    old, new = host.live, host.target
    if got["lock"] not in (old, new):
        problems.append("venv holds %s, neither the old lock %s nor the new %s" % (got["lock"], old, new))
    if got["torch"] != "ok":
        problems.append("torch does not work: %s" % got["torch"])
    if got["model"] not in ("loads", "absent"):
        problems.append("model is half there: %s" % got["model"])
    if got["gate"] != "passed" and got["lock"] in (old, new) and got["torch"] == "ok":
        problems.append("gate: %s" % got["gate"])
    if concern(case) == "files" and got["profile"] not in (host.expected_profile, host.edited_profile):
        problems.append("profile script is neither the edited nor the managed content")
    return problems


def audit(hosts, host_vars):
    """audit.yml over HOSTS (with HOST_VARS): {host: {check: status}}, or {host: None} if it failed."""
    res = play("audit.yml", hosts, host_vars,
               extra={"audit_report_dir": str(OUT / "audit")})
    if res.rc != 0:
        return dict((x.name, None) for x in hosts)
    doc = json.loads((OUT / "audit" / "latest" / "fleet.json").read_text())
    return dict((r["host"], dict((k, v["status"]) for k, v in r["checks"].items())) for r in doc["hosts"])


def audit_lies(got, checks):
    """Where the audit's verdicts disagree with the judgement. A torch check that fails on a working torch is true
    when the host's facts name another torch than the live one (a converge stopped before it wrote them): the
    audit then says the host is not converged, which it is not."""
    if checks is None:
        return ["audit.yml failed"]
    truth = {"torch": got["torch"] == "ok", "hf_cache": got["model"] == "loads",
             "gates": got["gate"] == "passed", "exports": got["offline"] == "1"}
    stale_facts = got["facts_location"] != got["torch_location"]
    return ["audit says %s %s, the host %s" % (k, checks.get(k), "works" if v else "does not")
            for k, v in sorted(truth.items()) if (checks.get(k) == "pass") != v
            and not (k == "torch" and v and stale_facts)]


def run_case(hosts_cases, ctx):
    """One round: each (host, case) with its fault, in one ansible-playbook run; then each host judged, audited,
    healed and converged again. Returns a matrix row per case."""
    host_vars, rows = {}, []
    for host, case in hosts_cases:
        v = setup_case(host, case, ctx)
        host.edited_profile = sh(host, "sha256sum %s | cut -c1-64" % PROFILE).out.strip()
        name, _sep, action = case.partition(":")
        if name in faults.POINTS:
            v["site_module_environment"] = {faults.ENV: case}
        host_vars[host.name] = v
        ctx["vars"][host.name] = v
    started = time.time()
    # A fault by time (at most one a round, on its own host) runs beside the named points' run of the others.
    timed = [(x, c) for x, c in hosts_cases if c in TIMED]
    named = [x for x, c in hosts_cases if c not in TIMED]
    results = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        by_time = pool.submit(run_timed, timed[0][0], timed[0][1], host_vars, ctx) if timed else None
        by_name = pool.submit(play, "site.yml", named, host_vars) if named else None
        if by_time:
            results[timed[0][0].name] = by_time.result()
        if by_name:
            results.update((x.name, by_name.result()) for x in named)
    fault_seconds = time.time() - started
    counts = {}
    for result in set(results.values()):
        counts.update(recap(result))
    (OUT / "logs").mkdir(exist_ok=True)
    for host, case in hosts_cases:
        (OUT / "logs" / ("%s.%s.faulted.log" % (case, host.name))).write_text(results[host.name].out)

    def finish(item):
        host, case = item
        row = {"case": case, "concern": concern(case)}
        # "fatal: [host]" or, for a task delegated to the controller, "fatal: [host -> localhost]"
        failures = [line for line in results[host.name].out.splitlines()
                    if re.match(r"(fatal|failed): \[%s( -> [^\]]+)?\]" % re.escape(host.name), line)]
        row["fault_fired"] = case in TIMED or fired(case, failures)
        row["traceback"] = any("Traceback (most recent call last)" in line for line in failures)
        got = judging[host.name].result()
        row["after_fault"] = state_name(host, got)
        row["problems"] = judge_after_fault(host, case, got)
        checks = audited.result()[host.name]
        lies = audit_lies(got, checks)
        row["audit"] = "truthful" if not lies else "; ".join(lies)
        row["audit_checks"] = checks
        # heal: no fault (the change still asked)
        heal_vars = dict(host_vars[host.name])
        heal_vars.pop("site_module_environment", None)
        if case == "index-dies":
            heal_vars.update(torch_cpu_mirror_url=ctx["index"], hf_offline_cache_mirror_url=ctx["index"],
                             ci_gates_mirror_url=ctx["index"])
        if case == "hub-dies":
            heal_vars["hf_offline_cache_endpoint"] = ctx["endpoint"]
        if case == "disk-full:hub":
            sh(host, "rm -f /srv/huggingface/.soak-filler")
        ctx["vars"][host.name] = heal_vars
        return row, heal_vars

    hosts = [x for x, _c in hosts_cases]
    # The judgement and the audit read the host, neither writes: at once.
    with ThreadPoolExecutor(max_workers=len(hosts) + 1) as pool:
        audited = pool.submit(audit, hosts, dict((x.name, dict(ctx["vars"][x.name])) for x in hosts))
        judging = dict((x.name, pool.submit(x.judge, ctx["locks"])) for x in hosts)
        judged = [finish(item) for item in hosts_cases]
    heal_vars = dict((hh.name, v) for (hh, _c), (_r, v) in zip(hosts_cases, judged))
    judged_at = time.time()
    heal = play("site.yml", hosts, heal_vars)
    healed_at = time.time()
    # The second converge must change nothing: the healed state is judged while it runs.
    with ThreadPoolExecutor(max_workers=len(hosts) + 1) as pool:
        second = pool.submit(play, "site.yml", hosts, heal_vars)
        after = dict((x.name, pool.submit(x.judge, ctx["locks"])) for x in hosts)
        again = second.result()
        after = dict((k, f.result()) for k, f in after.items())
    again_at = time.time()
    (OUT / "logs" / ("%s.heal.log" % "+".join(c for _hh, c in hosts_cases))).write_text(heal.out)
    heal_counts, again_counts = recap(heal), recap(again)
    for (host, case), (row, _v) in zip(hosts_cases, judged):
        got = after[host.name]
        ok = (heal_counts.get(host.name, {}).get("failed", 1) == 0 and got["lock"] == host.target
              and got["torch"] == "ok" and got["model"] == "loads" and got["gate"] == "passed"
              and got["profile"] == host.expected_profile)
        seen = dict((k, got[k]) for k in ("lock", "torch", "model", "gate"))
        row["healed"] = "yes" if ok else "no: %s" % json.dumps(seen)
        if heal.rc != 0 and not ok:
            row["healed"] += " " + "; ".join(h.failure_messages(heal.out))[:300]
        row["second_changes"] = again_counts.get(host.name, {}).get("changed", -1)
        if again_counts.get(host.name, {}).get("failed", 1):
            row["second_changes"] = "failed"
        row["seconds"] = round(time.time() - started)
        row["phases"] = {"fault": round(fault_seconds), "judge+audit": round(judged_at - started - fault_seconds),
                         "heal": round(healed_at - judged_at), "again+judge": round(again_at - healed_at)}
        row["ok"] = (row["fault_fired"] and not row["traceback"] and not row["problems"] and row["audit"] == "truthful"
                     and row["healed"] == "yes" and row["second_changes"] == 0)
        if got["lock"] in ("A", "B") and got["lock"] != host.live:
            host.previous = True
        host.live = got["lock"] if got["lock"] in ("A", "B") else host.live
        rows.append(row)
        log("%-24s %-10s after fault: %-14s audit: %-9s healed: %-3s second converge: %s changes%s" % (
            case, host.name, row["after_fault"], "truthful" if row["audit"] == "truthful" else "LIES",
            row["healed"][:3], row["second_changes"], "" if row["ok"] else "   <-- " + json.dumps(
                dict((k, row[k]) for k in ("fault_fired", "traceback", "problems", "audit", "healed")))[:600]))
    return rows


def fired(case, failures):
    """Whether the host's failure is its fault point's (not another failure of the run)."""
    name, _sep, action = case.partition(":")
    if action == "enospc":
        return any("fault point %s" % name in line for line in failures)
    return any(mark in line for line in failures for mark in KILLED)


def state_name(host, got):
    if got["lock"] == host.live and got["lock"] == host.target:
        venv = "same"
    elif got["lock"] == host.live:
        venv = "old"
    elif got["lock"] == host.target:
        venv = "new"
    else:
        venv = "HALF"
    model = {"loads": "model", "absent": "no model"}.get(got["model"], "HALF model")
    return "venv %s, %s" % (venv, model)


def run_timed(host, case, host_vars, ctx):
    """The faults chosen by time, on HOST alone."""
    v = host_vars[host.name]
    if case.startswith("podman-kill"):
        proc = play("site.yml", [host], host_vars, background=True)
        # installer: while uv installs into the new release; release-finished: once the new release has its marker
        # (synced, about to be swapped in, or just swapped).
        finished = "ls /opt/codex/.venv.releases/*/.codex-release.json 2>/dev/null | wc -l"
        before = sh(host, finished, check=False).out.strip()
        cond = ("pgrep -f 'uv pip sync' >/dev/null" if case.endswith("installer")
                else "test \"$(%s)\" != %s" % (finished, shlex.quote(before)))
        deadline = time.time() + 600
        while time.time() < deadline and sh(host, cond, check=False).rc != 0:
            time.sleep(0.2)
        subprocess.run(["podman", "kill", host.name], env=h.tool_env(), stdout=subprocess.DEVNULL, check=False)
        h.kill_group(proc)
        proc.log.seek(0)
        out = proc.log.read().decode("utf-8", "replace")
        subprocess.run(["podman", "start", host.name], env=h.tool_env(), stdout=subprocess.DEVNULL, check=True)
        host.prepare_os()
        return h.Result(["podman kill"], 1, out)
    if case == "index-dies":
        fwd = Forwarder(upstream_of(ctx["index"]), limit=4 * 1024 * 1024)  # in uv's own wheel (about 20 MB)
        url = "http://127.0.0.1:%d/simple/" % fwd.port
        v.update(torch_cpu_mirror_url=url, hf_offline_cache_mirror_url=url, ci_gates_mirror_url=url)
    elif case == "hub-dies":
        fwd = Forwarder(upstream_of(ctx["endpoint"]), limit=16 * 1024)  # in model.safetensors (33 KB)
        v["hf_offline_cache_endpoint"] = "http://127.0.0.1:%d" % fwd.port
    elif case == "disk-full:hub":
        fwd = None
        sh(host, "head -c $(( $(df --output=avail -B1 /srv/huggingface | tail -1) - 16384 )) /dev/zero "
                 "> /srv/huggingface/.soak-filler || true")
    try:
        return play("site.yml", [host], host_vars)
    finally:
        if fwd:
            fwd.kill()


# --------------------------------------------------------------------------- main
def build_bundle():
    """The bundle of the bundle points: molecule/hf_bundle's staging (the real stage_hf.yml), on the controller."""
    bundle = REPO_ROOT / "build" / "hf-bundle" / "hf-bundle.tar"
    env = h.tool_env()
    env["MOLECULE_PROJECT_DIRECTORY"] = str(REPO_ROOT)
    proc = subprocess.run([str(h.VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "--limit",
                           "localhost", "-e", "ansible_python_interpreter=%s" % (h.VENV_BIN / "python"),
                           str(REPO_ROOT / "molecule" / "hf_bundle" / "prepare.yml")],
                          cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    assert proc.returncode == 0 and bundle.is_file(), proc.stdout.decode()[-3000:]
    return bundle


def write_docs(rows, totals):
    doc = REPO_ROOT / "docs" / "reliability.md"
    text = doc.read_text()
    begin, end = "<!-- soak matrix: begin -->", "<!-- soak matrix: end -->"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [begin, "", "Written by `make soak` on %s (%s)." % (when, totals["line"]), "",
             "| case | fault | state after the fault | audit | healed in one converge | second converge changes |",
             "|---|---|---|---|---|---:|"]
    for r in rows:
        name, action = (r["case"], "by time") if r["case"] in TIMED else r["case"].split(":")
        state = r["after_fault"] + ("" if not r["problems"] else ": " + "; ".join(r["problems"]))
        cells = (name, " (re-run)" if r.get("rerun") else "", action, state, r["audit"], r["healed"],
                 r["second_changes"])
        lines.append("| `%s`%s | %s | %s | %s | %s | %s |" % cells)
    lines += ["", end]
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    assert pattern.search(text), "docs/reliability.md lacks the soak matrix markers"
    doc.write_text(pattern.sub(lambda _m: "\n".join(lines), text))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="all", help="all, sample, or a comma list (e.g. venv.swap:kill)")
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the containers")
    parser.add_argument("--merge", action="store_true",
                        help="replace these cases' rows in the last full run's build/soak/matrix.json (a re-run)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    todo = cases(args.cases)
    image = (REPO_ROOT / "build" / "image-debian12").read_text().strip()
    index, endpoint = os.environ["CODEX_INDEX_URL"], os.environ["CODEX_HF_MIRROR_URL"]
    locks = make_locks()
    ctx = {"locks": locks, "index": index, "endpoint": endpoint, "vars": {},
           "base": base_vars(locks, "A", endpoint, index)}
    if any(c.startswith("hf.bundle") for c in todo):
        ctx["bundle"] = build_bundle()
    hosts = [Host("codex-soak%d" % (i + 1), image) for i in range(args.hosts)]
    started = time.time()
    rows = []
    try:
        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            list(pool.map(lambda x: x.start(), hosts))
        base = dict((x.name, dict(ctx["base"])) for x in hosts)
        first = play("site.yml", hosts, base)
        assert first.rc == 0, first
        second = play("site.yml", hosts, base)
        assert second.rc == 0 and all(c["changed"] == 0 for c in recap(second).values()), second
        for host in hosts:
            host.live = host.target = "A"
            got = host.judge(locks)
            host.expected_profile = got["profile"]
            healthy = (got["lock"], got["torch"], got["model"], got["gate"]) == ("A", "ok", "loads", "passed")
            assert healthy, got
        log("soak: %d host(s) converged and healthy in %d s; %d case(s)" % (
            len(hosts), time.time() - started, len(todo)))
        by_time = [c for c in todo if c in TIMED]
        by_name = [c for c in todo if c not in TIMED]
        while by_time or by_name:
            batch = [(hosts[0], by_time.pop(0))] if by_time else []
            for host in hosts[len(batch):]:
                if by_name:
                    batch.append((host, by_name.pop(0)))
            rows += run_case(batch, ctx)
    finally:
        if not args.keep:
            for host in hosts:
                host.c.remove()
    bad = [r for r in rows if not r["ok"]]
    totals = {"cases": len(rows), "ok": len(rows) - len(bad), "minutes": round((time.time() - started) / 60, 1)}
    totals["line"] = "%d cases, %d whole, %.1f min, %d host(s) at once" % (
        totals["cases"], totals["ok"], totals["minutes"], len(hosts))
    if args.merge:
        full = json.loads((OUT / "matrix.json").read_text())
        again = dict((r["case"], dict(r, rerun=True)) for r in rows)
        merged = [again.get(r["case"], r) for r in full["rows"]]
        whole = sum(1 for r in merged if r["ok"])
        totals = dict(full["totals"], ok=whole, rerun=sorted(again))
        totals["line"] = "%d cases, %d whole; the full run took %.1f min with %d hosts at once; re-run alone: %s" % (
            len(merged), whole, full["totals"]["minutes"], full.get("hosts", 4), ", ".join(sorted(again)))
        rows = merged
    (OUT / "matrix.json").write_text(json.dumps({"totals": totals, "hosts": len(hosts), "rows": rows}, indent=1))
    if args.write_docs:
        write_docs(rows, totals)
    log("soak: %s; matrix in %s" % (totals["line"], OUT / "matrix.json"))
    for r in bad:
        log("NOT WHOLE: %s" % json.dumps(r)[:1500])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
