"""Benchmark the fleet: playbooks/site.yml over 1, 2 and 4 fresh Debian 12 ML nodes (first converge and the
idempotent re-run, forks = hosts), and playbooks/audit.yml over the 4. The first converge and the audit use the
test harness's codex_podman connection (podman exec -i, pipelined, as root); the idempotent re-run is measured
twice: over codex_podman and over the real lab path, SSH as `ops` with become (sudo), pipelining and
ControlPersist (the demo inventory's connection settings), so the price of the real path is in the table.

Run through make (images built, mirror staged, wheel index and Hub mirror up):
    make bench-fleet
i.e. molecule/_shared/with_mirrors.sh molecule/_shared/hf_mirror.sh run python3 benchmarks/bench_fleet.py
The hosts use the demo lab's group_vars (demo/inventory/group_vars, ML node settings: torch + transformers with
the torch_cpu_hf lock, the tiny BERT seeded from the Hub mirror). Writes the numbers, the targets and the machine
to docs/benchmarks.md (between the fleet markers). Nothing here asserts a time: targets are reported, not tested.
    --sizes 1,2,4   fleet sizes to measure (default 1,2,4)   --no-doc   print only
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from bench_common import machine, sh

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- BEGIN fleet -->", "<!-- END fleet -->"
GROUP_VARS = ROOT / "demo" / "inventory" / "group_vars"
SSH_DIR = ROOT / "build" / "ssh"
SSHD = ROOT / "molecule" / "_shared" / "sshd.sh"
SSH_PORT = 22231        # host i of a fleet: 127.0.0.1:SSH_PORT+i (fleets are measured one after another)
# The harness connection, as host vars of a second inventory of the same hosts (host vars win over the demo
# group_vars' SSH settings; not extra vars, which would also apply to the audit's tasks delegated to localhost).
PODMAN = {"ansible_connection": "codex_podman", "ansible_user": "root", "ansible_become": False}
NEEDED = ("CODEX_IMAGE_DEBIAN12", "CODEX_INDEX_URL", "CODEX_HF_MIRROR_URL", "CODEX_HF_TINY_BERT_COMMIT")
# The targets.
SCALE_TARGET = 1.5      # first converge of 4 hosts <= 1.5 x that of 1 host
RERUN_TARGET = 10.0     # idempotent re-run <= 10 s per host
AUDIT_TARGET = 30.0     # audit of 4 hosts <= 30 s


def env():
    e = dict(os.environ)
    e.update({"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "CODEX_MIRROR_DIR": str(ROOT / "build" / "mirror"),
              "ANSIBLE_PIPELINING": "True", "CODEX_SSH_DIR": str(SSH_DIR)})
    return e


def playbook(inventory, play, forks, *extra):
    """(seconds, {host: recap counts}, output) of one ansible-playbook run; raises when it fails."""
    argv = ["ansible-playbook", "-i", str(inventory), "-f", str(forks), str(ROOT / "playbooks" / play)] + list(extra)
    start = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env(), cwd=str(ROOT),
                          check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-8000:])
        raise SystemExit("bench_fleet: %s failed (exit %s)" % (play, proc.returncode))
    counts = {}
    for match in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", proc.stdout.split("PLAY RECAP", 1)[1], re.M):
        counts[match.group(1)] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2)))
    return seconds, counts, proc.stdout


class Fleet(object):
    """N fresh containers from the Debian 12 image in group ml_nodes, with the demo's group_vars."""

    def __init__(self, size, workdir):
        self.hosts = ["codex-bench-fleet%d-ml%d" % (size, i + 1) for i in range(size)]
        self.inventory = workdir / ("fleet%d" % size)
        self.inventory.mkdir()
        (self.inventory / "group_vars").symlink_to(GROUP_VARS)
        ports = dict((h, SSH_PORT + i) for i, h in enumerate(self.hosts))
        (self.inventory / "hosts.yml").write_text(json.dumps(
            {"all": {"children": {"ml_nodes": {"hosts": dict(
                (h, {"ansible_host": "127.0.0.1", "ansible_port": ports[h]}) for h in self.hosts)}}}}))
        self.podman_inventory = workdir / ("fleet%d-podman" % size)
        self.podman_inventory.mkdir()
        (self.podman_inventory / "group_vars").symlink_to(GROUP_VARS)
        (self.podman_inventory / "hosts.yml").write_text(json.dumps(
            {"all": {"children": {"ml_nodes": {"hosts": dict((h, PODMAN) for h in self.hosts)}}}}))
        self.remove()
        for host in self.hosts:
            sh(["podman", "run", "-d", "--name", host, "--hostname", host, "--network", "host", "--label",
                "codex.bench=1", os.environ["CODEX_IMAGE_DEBIAN12"]])
            sh([str(SSHD), "start", host, str(ports[host]), str(SSH_DIR / "known_hosts")])

    def remove(self):
        for host in self.hosts:
            subprocess.run(["podman", "rm", "-f", "-t", "0", host], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)

    def cpu_seconds(self):
        """CPU time the hosts used so far (every process podman exec started in them), from their cgroups;
        None when the cgroup files cannot be read."""
        total = 0.0
        for host in self.hosts:
            path = sh(["podman", "inspect", "-f", "{{.State.CgroupPath}}", host]).strip()
            v1 = pathlib.Path("/sys/fs/cgroup/cpuacct") / path.lstrip("/") / "cpuacct.usage"
            v2 = pathlib.Path("/sys/fs/cgroup") / path.lstrip("/") / "cpu.stat"
            if v1.exists():
                total += int(v1.read_text()) / 1e9
            elif v2.exists():
                usage = [line.split()[1] for line in v2.read_text().splitlines() if line.startswith("usage_usec")]
                total += int(usage[0]) / 1e6
            else:
                return None
        return total


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def measure(sizes):
    rows = []
    audit = None
    work = pathlib.Path(tempfile.mkdtemp(prefix="codex-bench-fleet-"))
    try:
        for size in sizes:
            fleet = Fleet(size, work)
            try:
                start_load = load()
                print("bench_fleet: %d host(s): first converge (load %s)" % (size, start_load), flush=True)
                first, counts, _out = playbook(fleet.podman_inventory, "site.yml", size)
                host_cpu = fleet.cpu_seconds()
                changed_first = sum(c["changed"] for c in counts.values())
                print("bench_fleet: %d host(s): re-run (codex_podman)" % size, flush=True)
                rerun, counts, _out = playbook(fleet.podman_inventory, "site.yml", size)
                changed_rerun = sum(c["changed"] for c in counts.values())
                ssh_load = load()
                print("bench_fleet: %d host(s): re-run (ssh as ops, become, pipelining; load %s)"
                      % (size, ssh_load), flush=True)
                rerun_ssh, counts, _out = playbook(fleet.inventory, "site.yml", size)
                changed_ssh = sum(c["changed"] for c in counts.values())
                rows.append({"hosts": size, "first_s": first, "changed_first": changed_first, "rerun_s": rerun,
                             "changed_rerun": changed_rerun, "load": start_load, "host_cpu_s": host_cpu,
                             "rerun_ssh_s": rerun_ssh, "changed_ssh": changed_ssh, "load_ssh": ssh_load})
                if size == max(sizes):
                    print("bench_fleet: %d host(s): audit" % size, flush=True)
                    report_dir = work / "audit"
                    seconds, counts, out = playbook(fleet.podman_inventory, "audit.yml", size,
                                                    "-e", "audit_report_dir=%s" % report_dir)
                    doc = json.loads((report_dir / "latest" / "fleet.json").read_text())
                    audit = {"hosts": size, "seconds": seconds, "compliant": doc["compliant"],
                             "changed": sum(c["changed"] for c in counts.values()), "counts": doc["summary"]["counts"]}
            finally:
                fleet.remove()
    finally:
        shutil.rmtree(str(work), ignore_errors=True)
    return rows, audit


def verdict(ok):
    return "met" if ok else "**not met**"


def render(rows, audit, started, seconds):
    by = dict((r["hosts"], r) for r in rows)
    lines = [
        "Measured %s on: %s. Whole run: %.0f s. This machine is shared: the load average (1, 5, 15 min) when each "
        "row started is in the last column, and the numbers include what else ran on it." % (
            started, machine(), seconds),
        "",
        "| ML nodes (forks = hosts) | first converge | CPU the hosts used in it | changed | idempotent re-run "
        "| re-run per host | changed | load at start |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpu = "%.1f s" % r["host_cpu_s"] if r["host_cpu_s"] is not None else "-"
        lines.append("| %d | %.1f s | %s | %d | %.1f s | %.1f s | %d | %s |" % (
            r["hosts"], r["first_s"], cpu, r["changed_first"], r["rerun_s"], r["rerun_s"] / r["hosts"],
            r["changed_rerun"], r["load"]))
    lines += [
        "",
        "Idempotent re-run of `site.yml`, harness connection vs the real lab path (SSH as `ops`, `become` with sudo, "
        "pipelining, ControlPersist; sshd in each container on 127.0.0.1):",
        "",
        "| ML nodes | re-run, codex_podman (root) | re-run, SSH + become + pipelining | SSH / podman | changed (SSH) "
        "| load at SSH start |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| %d | %.1f s | %.1f s | %.2f x | %d | %s |" % (
            r["hosts"], r["rerun_s"], r["rerun_ssh_s"], r["rerun_ssh_s"] / r["rerun_s"], r["changed_ssh"],
            r["load_ssh"]))
    if audit:
        lines += ["", "Audit (`playbooks/audit.yml`) of the %d converged hosts: %.1f s, changed %d, compliant: %s, "
                  "verdicts %s." % (audit["hosts"], audit["seconds"], audit["changed"], audit["compliant"],
                                    json.dumps(audit["counts"], sort_keys=True))]
    lines += ["", "| target | measured | |", "|---|---|---|"]
    if 1 in by and 4 in by:
        ratio = by[4]["first_s"] / by[1]["first_s"]
        lines.append("| first converge, 4 hosts <= %.1f x 1 host | %.2f x (%.1f s vs %.1f s) | %s |" % (
            SCALE_TARGET, ratio, by[4]["first_s"], by[1]["first_s"], verdict(ratio <= SCALE_TARGET)))
        if by[4]["host_cpu_s"] is not None:
            floor = by[4]["host_cpu_s"] / (os.cpu_count() or 1)
            lines.append("| (floor on this machine: the 4 hosts' CPU / %d cores) | %.1f s = %.2f x 1 host | |" % (
                os.cpu_count() or 1, floor, floor / by[1]["first_s"]))
    for r in rows:
        per_host = r["rerun_s"] / r["hosts"]
        lines.append("| re-run <= %.0f s per host, %d host%s | %.1f s per host (%.1f s wall) | %s |" % (
            RERUN_TARGET, r["hosts"], "" if r["hosts"] == 1 else "s", per_host, r["rerun_s"],
            verdict(per_host <= RERUN_TARGET)))
    if audit:
        lines.append("| audit of %d hosts <= %.0f s | %.1f s | %s |" % (
            audit["hosts"], AUDIT_TARGET, audit["seconds"], verdict(audit["seconds"] <= AUDIT_TARGET)))
    return "\n".join(lines) + "\n"


def write_doc(section):
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = "%s\n%s%s" % (BEGIN, section, END)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Fleet (issue 5)\n\n" + FLEET_INTRO + "\n" + block + "\n"
    DOC.write_text(text)


FLEET_INTRO = """`benchmarks/bench_fleet.py` (`make bench-fleet`): `playbooks/site.yml` over 1, 2 and 4 fresh
Debian 12 ML nodes (containers, `--network host`) with the demo lab's group_vars: torch + transformers from the
staged index (lock `torch_cpu_hf`), then `hf_offline_cache` seeding the tiny BERT from the olah Hub mirror.
"first converge" is the whole `ansible-playbook` wall time on fresh hosts, "re-run" the same command again
(0 changed), forks = hosts. The audit is `playbooks/audit.yml` over the largest fleet, report written on the
controller.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="1,2,4")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    missing = [v for v in NEEDED if not os.environ.get(v)]
    if missing:
        raise SystemExit("bench_fleet: %s not set: run `make bench-fleet` (mirrors and Hub mirror up)"
                         % ", ".join(missing))
    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    start = time.monotonic()
    rows, audit = measure(sizes)
    section = render(rows, audit, started, time.monotonic() - start)
    print(section)
    if not args.no_doc:
        write_doc(section)
        print("bench_fleet: wrote %s" % DOC)


if __name__ == "__main__":
    main()
