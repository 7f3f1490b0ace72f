"""Benchmark the fleet: playbooks/site.yml over 1, 2, 4 and 8 Debian 12 ML nodes. For each size: the first
converge (fresh hosts), the idempotent re-run, the hosts' CPU (their cgroups) and the controller's own CPU
(ansible-playbook and everything it started and waited for, from getrusage), per host; forks = hosts. Plus where
the seconds of the one-host re-run go (a per-task profile), the re-run over the real lab path (SSH as `ops`,
become, pipelining, ControlPersist) for the smallest and the largest size, and playbooks/audit.yml over the
largest.

Fresh hosts each unpack and byte-compile torch and transformers (about a minute of CPU each): 8 of them would
be most of the run on a 2-core machine. So by default the sizes up to 4 start from the fresh Debian 12 image
(their first converge is measured), and the 8-host fleet starts from an image committed from the converged
one-host fleet (`podman commit`, its sshd host key removed so each container makes its own): its first run is
a converge of already converged hosts, reported as such, never as a first converge. `--fresh-all` converges
every size from the fresh image; `--from-image 2,8` names the sizes that start from the committed image.

Run through make (images built, mirror staged, wheel index and Hub mirror up):
    make bench-fleet
i.e. molecule/_shared/with_mirrors.sh molecule/_shared/hf_mirror.sh run python3 benchmarks/bench_fleet.py
The hosts use the demo lab's group_vars (demo/inventory/group_vars, ML node settings: torch + transformers with
the torch_cpu_hf lock, the tiny BERT seeded from the Hub mirror). Writes the numbers, the targets and the machine
to docs/benchmarks.md (between the fleet markers). A re-run that reports a change stops the bench (the numbers of
a re-run that is not idempotent mean nothing). Nothing here asserts a time: targets are reported, not tested.
    --sizes 1,2,4,8   fleet sizes (default 1,2,4,8)   --fresh-all   every size from the fresh image
    --from-image 8    sizes started from the converged image (default: those above 4; needs size 1)
    --no-doc          print only
    --scale 32        instead: one fresh host converged and committed, then 32 hosts from that image: their converge,
                      the idempotent re-run without a plan and with a rollout plan of batches of --batch (default 8);
                      written between the fleet-scale markers (issue 26's numbers)
"""

import argparse
import json
import os
import pathlib
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from bench_common import machine, sh

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- BEGIN fleet -->", "<!-- END fleet -->"
SCALE_BEGIN, SCALE_END = "<!-- BEGIN fleet-scale -->", "<!-- END fleet-scale -->"
GROUP_VARS = ROOT / "demo" / "inventory" / "group_vars"
SSH_DIR = ROOT / "build" / "ssh"
SSHD = ROOT / "molecule" / "_shared" / "sshd.sh"
CALLBACKS = ROOT / "benchmarks" / "callback_plugins"
SSH_PORT = 22231        # host i of a fleet: 127.0.0.1:SSH_PORT+i (fleets are measured one after another)
CONVERGED_IMAGE = "localhost/codex-bench-fleet-converged:latest"
# The harness connection, as host vars of a second inventory of the same hosts (host vars win over the demo
# group_vars' SSH settings; not extra vars, which would also apply to the audit's tasks delegated to localhost).
PODMAN = {"ansible_connection": "codex_podman", "ansible_user": "root", "ansible_become": False}
NEEDED = ("CODEX_IMAGE_DEBIAN12", "CODEX_INDEX_URL", "CODEX_HF_MIRROR_URL", "CODEX_HF_TINY_BERT_COMMIT")
# Actions that run on the controller only (no round trip to the host).
LOCAL_ACTIONS = {"assert", "set_fact", "debug", "validate_argument_spec", "include_tasks", "include_role",
                 "meta", "fail", "include_vars"}
CORES = os.cpu_count() or 1
# The issues' targets.
SITE_RERUN_TARGET = 8.0     # issue 13: idempotent re-run of site.yml on one ML node <= 8 s
FLEET_RERUN_TARGET = 2.0    # issue 13: re-run of 8 hosts <= 2 x one host
SCALE_TARGET = 1.5          # issue 5: first converge of 4 hosts <= 1.5 x that of 1 host
RERUN_TARGET = 10.0         # issue 5: idempotent re-run <= 10 s per host
AUDIT_TARGET = 30.0         # issue 5: audit of 4 hosts <= 30 s


def env(profile=None):
    e = dict(os.environ)
    e.update({"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "CODEX_MIRROR_DIR": str(ROOT / "build" / "mirror"),
              "ANSIBLE_PIPELINING": "True", "CODEX_SSH_DIR": str(SSH_DIR)})
    if profile:
        e.update({"ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "bench_profile",
                  "CODEX_BENCH_PROFILE": str(profile)})
    return e


class Run(object):
    """One ansible-playbook run: wall seconds, the controller's CPU seconds, recap counts per host."""

    def __init__(self, seconds, controller_cpu, counts, output, started, profile):
        self.seconds, self.controller_cpu, self.counts, self.output = seconds, controller_cpu, counts, output
        self.started, self.profile = started, profile
        self.changed = sum(c["changed"] for c in counts.values())
        self.host_cpu = None


def playbook(inventory, play, forks, *extra, **kw):
    """The Run of one ansible-playbook; raises when it fails. The controller's CPU is what ansible-playbook and
    every process it started and waited for (its forks, the podman / ssh clients) used: getrusage(RUSAGE_CHILDREN)
    before and after (this script runs nothing else meanwhile)."""
    profile = kw.get("profile")
    argv = ["ansible-playbook", "-i", str(inventory), "-f", str(forks), str(ROOT / "playbooks" / play)] + list(extra)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    start = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env(profile),
                          cwd=str(ROOT), check=False)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-8000:])
        raise SystemExit("bench_fleet: %s failed (exit %s)" % (play, proc.returncode))
    counts = {}
    for match in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", proc.stdout.split("PLAY RECAP", 1)[1], re.M):
        counts[match.group(1)] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2)))
    doc = json.loads(pathlib.Path(profile).read_text()) if profile and pathlib.Path(profile).exists() else None
    return Run(seconds, cpu, counts, proc.stdout, started, doc)


class Fleet(object):
    """SIZE containers in group ml_nodes, with the demo's group_vars, from IMAGE."""

    def __init__(self, size, workdir, image):
        self.size = size
        self.hosts = ["codex-bench-fleet%d-ml%d" % (size, i + 1) for i in range(size)]
        self.inventory = workdir / ("fleet%d" % size)
        self.inventory.mkdir()
        (self.inventory / "group_vars").symlink_to(GROUP_VARS)
        self.ports = dict((h, SSH_PORT + i) for i, h in enumerate(self.hosts))
        (self.inventory / "hosts.yml").write_text(json.dumps(
            {"all": {"children": {"ml_nodes": {"hosts": dict(
                (h, {"ansible_host": "127.0.0.1", "ansible_port": self.ports[h]}) for h in self.hosts)}}}}))
        self.podman_inventory = workdir / ("fleet%d-podman" % size)
        self.podman_inventory.mkdir()
        (self.podman_inventory / "group_vars").symlink_to(GROUP_VARS)
        (self.podman_inventory / "hosts.yml").write_text(json.dumps(
            {"all": {"children": {"ml_nodes": {"hosts": dict((h, PODMAN) for h in self.hosts)}}}}))
        self.remove()
        for host in self.hosts:
            sh(["podman", "run", "-d", "--name", host, "--hostname", host, "--network", "host", "--label",
                "codex.bench=1", image])

    def start_sshd(self):
        for host in self.hosts:
            sh([str(SSHD), "start", host, str(self.ports[host]), str(SSH_DIR / "known_hosts")])

    def remove(self):
        for host in self.hosts:
            subprocess.run(["podman", "rm", "-f", "-t", "0", host], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)

    def commit(self, image):
        """The first host's file system as IMAGE, without its sshd host key (each container makes its own)."""
        host = self.hosts[0]
        sh(["podman", "exec", host, "sh", "-c", "rm -f /etc/ssh/ssh_host_*"])
        sh(["podman", "commit", "-q", host, image])

    def cpu_seconds(self):
        """CPU time the hosts used so far (every process podman exec or sshd started in them), from their
        cgroups; None when the cgroup files cannot be read."""
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

    def run(self, inventory, play, *extra, **kw):
        """playbook() with forks = hosts, and the hosts' CPU in it."""
        before = self.cpu_seconds()
        result = playbook(inventory, play, self.size, *extra, **kw)
        after = self.cpu_seconds()
        result.host_cpu = after - before if before is not None and after is not None else None
        print("bench_fleet:   %s over %d host(s): %.1f s wall, controller CPU %.1f s, hosts' CPU %s, changed %d"
              % (play, self.size, result.seconds, result.controller_cpu, fmt(result.host_cpu), result.changed),
              flush=True)
        return result


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def idempotent(run, what):
    if run.changed:
        sys.stderr.write(run.output[-6000:])
        raise SystemExit("bench_fleet: %s reported %d change(s): the re-run must change nothing" % (what, run.changed))
    return run


def changed_tasks(output):
    """The names of the tasks that reported a change in an ansible-playbook output (default callback)."""
    names, task = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):].split("]", 1)[0]
        elif line.startswith("changed: [") and task and task not in names:
            names.append(task)
    return names


def remove_work(work):
    """The bench's scratch folder and the converged image, whatever happened."""
    shutil.rmtree(str(work), ignore_errors=True)
    subprocess.run(["podman", "rmi", "-f", CONVERGED_IMAGE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)


def measure(sizes, image_sizes):
    """{size: row}, the audit, and the one-host re-run's profile."""
    rows = {}
    audit = None
    work = pathlib.Path(tempfile.mkdtemp(prefix="codex-bench-fleet-"))
    committed = False
    smallest, largest = min(sizes), max(sizes)
    try:
        for size in sizes:
            from_image = size in image_sizes and committed
            image = CONVERGED_IMAGE if from_image else os.environ["CODEX_IMAGE_DEBIAN12"]
            fleet = Fleet(size, work, image)
            row = {"hosts": size, "from_image": from_image, "load": load()}
            try:
                what = "converge of hosts from the converged image" if from_image else "first converge"
                print("bench_fleet: %d host(s): %s (load %s)" % (size, what, row["load"]), flush=True)
                row["first"] = fleet.run(fleet.podman_inventory, "site.yml")
                if from_image:
                    # Not a re-run: what the image does not carry (podman commit keeps no ACL xattrs, for one) is
                    # put back here, and said in its row. The re-run after it must change nothing.
                    row["first_changed_tasks"] = changed_tasks(row["first"].output)
                    if row["first_changed_tasks"]:
                        print("bench_fleet:   changed on hosts from the image: %s"
                              % "; ".join(row["first_changed_tasks"]), flush=True)
                print("bench_fleet: %d host(s): re-run (codex_podman)" % size, flush=True)
                row["rerun"] = idempotent(fleet.run(fleet.podman_inventory, "site.yml",
                                                    profile=work / ("profile%d.json" % size)),
                                          "the re-run of %d host(s)" % size)
                if size in (smallest, largest):
                    fleet.start_sshd()
                    row["load_ssh"] = load()
                    print("bench_fleet: %d host(s): re-run (ssh as ops, become, pipelining; load %s)"
                          % (size, row["load_ssh"]), flush=True)
                    row["ssh"] = idempotent(fleet.run(fleet.inventory, "site.yml"),
                                            "the SSH re-run of %d host(s)" % size)
                if size == largest:
                    print("bench_fleet: %d host(s): audit" % size, flush=True)
                    report_dir = work / "audit"
                    run = fleet.run(fleet.podman_inventory, "audit.yml", "-e", "audit_report_dir=%s" % report_dir)
                    doc = json.loads((report_dir / "latest" / "fleet.json").read_text())
                    audit = {"hosts": size, "seconds": run.seconds, "compliant": doc["compliant"],
                             "changed": run.changed, "counts": doc["summary"]["counts"],
                             "controller_cpu": run.controller_cpu, "host_cpu": run.host_cpu}
                if size == 1 and image_sizes:
                    print("bench_fleet: committing the converged host as %s" % CONVERGED_IMAGE, flush=True)
                    fleet.commit(CONVERGED_IMAGE)
                    committed = True
                rows[size] = row
            finally:
                fleet.remove()
    finally:
        remove_work(work)
    return rows, audit


def verdict(ok):
    return "met" if ok else "**not met**"


def fmt(value, unit=" s"):
    return "-" if value is None else "%.1f%s" % (value, unit)


def controller_share(run, hosts):
    """Per host: the controller's CPU (measured), and the issue's 'wall less the hosts' CPU' (over the cores)."""
    measured = run.controller_cpu / hosts
    derived = None if run.host_cpu is None else max(0.0, run.seconds - run.host_cpu / CORES) / hosts
    return measured, derived


def profile_table(run):
    """Where the seconds of one host's run go: start-up, each role's tasks (module calls vs tasks decided on the
    controller vs skipped), what is left (between tasks, the end), and the slowest module calls."""
    doc = run.profile
    if not doc or not doc["tasks"]:
        return []
    tasks = sorted(doc["tasks"], key=lambda t: t["start"])
    startup = tasks[0]["start"] - run.started
    roles = {}
    for t in tasks:
        r = roles.setdefault(t["role"] or "(play)", {"calls": 0, "calls_s": 0.0, "local": 0, "local_s": 0.0,
                                                     "skipped": 0, "skipped_s": 0.0})
        seconds = t["end"] - t["start"]
        kind = ("skipped" if t["status"] == "skipped" else
                "local" if t["action"].rsplit(".", 1)[-1] in LOCAL_ACTIONS else "calls")
        r[kind] += 1
        r[kind + "_s"] += seconds
    busy = sum(t["end"] - t["start"] for t in tasks)
    rest = run.seconds - startup - busy
    lines = [
        "| part of the one-host re-run | tasks | seconds |",
        "|---|---:|---:|",
        "| `ansible-playbook` start (process start to the first task) | | %.1f |" % startup,
    ]
    for name in sorted(roles, key=lambda n: -(roles[n]["calls_s"] + roles[n]["local_s"] + roles[n]["skipped_s"])):
        r = roles[name]
        lines.append("| `%s`: module calls on the host | %d | %.1f |" % (name, r["calls"], r["calls_s"]))
        lines.append("| `%s`: tasks decided on the controller (assert, set_fact, argument specs) | %d | %.1f |"
                     % (name, r["local"], r["local_s"]))
        lines.append("| `%s`: skipped tasks | %d | %.1f |" % (name, r["skipped"], r["skipped_s"]))
    lines.append("| between tasks and after the last one (results, recap, exit) | | %.1f |" % rest)
    lines.append("| **whole run** | %d | **%.1f** |" % (len(tasks), run.seconds))
    calls = [t for t in tasks if t["status"] != "skipped" and t["action"].rsplit(".", 1)[-1] not in LOCAL_ACTIONS]
    calls.sort(key=lambda t: -(t["end"] - t["start"]))
    lines += ["", "The slowest module calls of that run:", "", "| role | module | task | seconds |",
              "|---|---|---|---:|"]
    for t in calls[:10]:
        task = t["task"].split(" : ", 1)[-1].replace("|", "/")
        seconds = t["end"] - t["start"]
        lines.append("| %s | `%s` | %s | %.1f |" % (t["role"], t["action"].rsplit(".", 1)[-1], task, seconds))
    return lines


def render(rows, audit, started, seconds):
    sizes = sorted(rows)
    lines = [
        "Measured %s on: %s. Whole run: %.0f s. The load average (1, 5, 15 min) when each size started is in the "
        "last column: on a shared machine the numbers include what else ran on it." % (started, machine(), seconds),
        "",
        "| ML nodes (forks = hosts) | first converge | hosts' CPU | controller CPU per host | wall less hosts' "
        "CPU / %d, per host | changed | load at start |" % CORES,
        "|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        r = rows[size]
        first = r["first"]
        measured, derived = controller_share(first, size)
        label = "%d" % size
        if r["from_image"]:
            label += " (converged image: not a first converge%s)" % (
                "; what changed: %s" % ", ".join(r["first_changed_tasks"]) if r.get("first_changed_tasks") else "")
        lines.append("| %s | %.1f s | %s | %.1f s | %s | %d | %s |" % (
            label, first.seconds, fmt(first.host_cpu), measured, fmt(derived), first.changed, r["load"]))
    lines += [
        "",
        "| ML nodes | idempotent re-run | per host | hosts' CPU | controller CPU | controller CPU per host "
        "| wall less hosts' CPU / %d, per host | changed |" % CORES,
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        run = rows[size]["rerun"]
        measured, derived = controller_share(run, size)
        lines.append("| %d | %.1f s | %.1f s | %s | %.1f s | %.1f s | %s | %d |" % (
            size, run.seconds, run.seconds / size, fmt(run.host_cpu), run.controller_cpu, measured, fmt(derived),
            run.changed))
    ssh = [s for s in sizes if "ssh" in rows[s]]
    if ssh:
        lines += [
            "",
            "Idempotent re-run of `site.yml`, harness connection vs the real lab path (SSH as `ops`, `become` with "
            "sudo, pipelining, ControlPersist; sshd in each container on 127.0.0.1), smallest and largest size:",
            "",
            "| ML nodes | re-run, codex_podman (root) | re-run, SSH + become + pipelining | SSH / podman "
            "| controller CPU, podman / SSH | changed (SSH) | load at SSH start |",
            "|---|---|---|---|---|---|---|",
        ]
        for size in ssh:
            r = rows[size]
            lines.append("| %d | %.1f s | %.1f s | %.2f x | %.1f s / %.1f s | %d | %s |" % (
                size, r["rerun"].seconds, r["ssh"].seconds, r["ssh"].seconds / r["rerun"].seconds,
                r["rerun"].controller_cpu, r["ssh"].controller_cpu, r["ssh"].changed, r["load_ssh"]))
    if audit:
        lines += ["", "Audit (`playbooks/audit.yml`) of the %d converged hosts: %.1f s, changed %d, compliant: %s, "
                  "verdicts %s." % (audit["hosts"], audit["seconds"], audit["changed"], audit["compliant"],
                                    json.dumps(audit["counts"], sort_keys=True))]
    if 1 in rows:
        table = profile_table(rows[1]["rerun"])
        if table:
            lines += ["", "Where the seconds of the one-host re-run (codex_podman, the row above) go, from the "
                      "`bench_profile` callback (`benchmarks/callback_plugins`):", ""] + table
    lines += ["", "| target | measured | verdict | the measured reason / what would close it |", "|---|---|---|---|"]
    if 1 in rows:
        one = rows[1]["rerun"]
        tasks = (one.profile or {}).get("tasks") or []
        skipped = sum(1 for t in tasks if t["status"] == "skipped")
        calls = sum(1 for t in tasks if t["status"] != "skipped"
                    and t["action"].rsplit(".", 1)[-1] not in LOCAL_ACTIONS)
        met = one.seconds <= SITE_RERUN_TARGET
        lines.append("| idempotent re-run of `site.yml`, one ML node <= %.0f s | %.1f s (controller CPU %.1f s, "
                     "host CPU %s) | %s | %s |" % (
                         SITE_RERUN_TARGET, one.seconds, one.controller_cpu, fmt(one.host_cpu), verdict(met),
                         "" if met else
                         "the controller's own CPU is %.1f s of the %.1f s: Ansible evaluates %d tasks (%d of them "
                         "skipped, %d module calls on the host), about %.2f s of controller CPU each (templating, "
                         "conditionals, argument specs, the callbacks), on a 2-core machine. What would close it: "
                         "fewer tasks evaluated on a re-run (each skipped task still costs its templating and "
                         "conditionals) or a faster controller; the host's part is small." % (
                             one.controller_cpu, one.seconds, len(tasks), skipped, calls,
                             one.controller_cpu / max(len(tasks), 1))))
        big = max(sizes)
        if big > 1:
            run = rows[big]["rerun"]
            ratio = run.seconds / one.seconds
            floor = run.controller_cpu / CORES
            met = ratio <= FLEET_RERUN_TARGET
            lines.append("| re-run of %d hosts <= %.0f x one host | %.2f x (%.1f s vs %.1f s) | %s | %s |" % (
                big, FLEET_RERUN_TARGET, ratio, run.seconds, one.seconds, verdict(met),
                "" if met else
                "the %d hosts' re-run needs %.1f s of controller CPU (%.1f s per host, one host alone %.1f s); "
                "spread over %d cores that alone is %.1f s = %.2f x one host, so the target is below this "
                "machine's floor. What would close it: a controller with more cores (Ansible's forks run in "
                "parallel; the per-host CPU does not grow with the fleet) or fewer tasks per host." % (
                    big, run.controller_cpu, run.controller_cpu / big, one.controller_cpu, CORES, floor,
                    floor / one.seconds)))
            lines.append("| (floor on this machine: the %d hosts' controller CPU / %d cores) | %.1f s = %.2f x one "
                         "host | | |" % (big, CORES, floor, floor / one.seconds))
    if 1 in rows and 4 in rows and not rows[4]["from_image"]:
        one, four = rows[1]["first"], rows[4]["first"]
        ratio = four.seconds / one.seconds
        lines.append("| first converge, 4 hosts <= %.1f x 1 host | %.2f x (%.1f s vs %.1f s) | %s | %s |" % (
            SCALE_TARGET, ratio, four.seconds, one.seconds, verdict(ratio <= SCALE_TARGET),
            "" if ratio <= SCALE_TARGET or four.host_cpu is None else
            "the 4 hosts' own CPU (unpacking and byte-compiling torch and transformers) is %.1f s; on %d cores "
            "that alone takes %.1f s = %.2f x one host's converge. What would close it: more cores." % (
                four.host_cpu, CORES, four.host_cpu / CORES, four.host_cpu / CORES / one.seconds)))
        if four.host_cpu is not None:
            floor = four.host_cpu / CORES
            lines.append("| (floor on this machine: the 4 hosts' CPU / %d cores) | %.1f s = %.2f x 1 host | | |" % (
                CORES, floor, floor / one.seconds))
    for size in sizes:
        run = rows[size]["rerun"]
        per_host = run.seconds / size
        lines.append("| re-run <= %.0f s per host, %d host%s | %.1f s per host (%.1f s wall) | %s | %s |" % (
            RERUN_TARGET, size, "" if size == 1 else "s", per_host, run.seconds, verdict(per_host <= RERUN_TARGET),
            "" if per_host <= RERUN_TARGET else "as the one-node re-run above: controller CPU %.1f s" %
            run.controller_cpu))
    if audit:
        met = audit["seconds"] <= AUDIT_TARGET
        lines.append("| audit of %d hosts <= %.0f s | %.1f s | %s | %s |" % (
            audit["hosts"], AUDIT_TARGET, audit["seconds"], verdict(met),
            "" if met else "controller CPU %.1f s and the hosts' CPU %.1f s (each host's diagnostic imports torch, "
            "its cache scan imports huggingface_hub) share %d cores: together %.1f s of CPU, %.1f s at best. What "
            "would close it: more cores, or a diagnostic that does not import torch (which would no longer prove "
            "it works)." % (audit["controller_cpu"], audit["host_cpu"] or 0, CORES,
                            audit["controller_cpu"] + (audit["host_cpu"] or 0),
                            (audit["controller_cpu"] + (audit["host_cpu"] or 0)) / CORES)))
    return "\n".join(lines) + "\n"


def write_doc(section):
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = "%s\n%s%s" % (BEGIN, section, END)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Fleet (issues 5 and 13)\n\n" + FLEET_INTRO + "\n" + block + "\n"
    DOC.write_text(text)


FLEET_INTRO = """`benchmarks/bench_fleet.py` (`make bench-fleet`): `playbooks/site.yml` over 1, 2, 4 and 8
Debian 12 ML nodes (containers, `--network host`) with the demo lab's group_vars, forks = hosts; see the script's
docstring for what each row measures.
"""


def measure_scale(size, batch):
    """One fresh host converged and committed; SIZE hosts from that image: converge, re-run, re-run with a plan."""
    work = pathlib.Path(tempfile.mkdtemp(prefix="codex-bench-scale-"))
    out = {"hosts": size, "batch": batch}
    try:
        one = Fleet(1, work, os.environ["CODEX_IMAGE_DEBIAN12"])
        try:
            print("bench_fleet: scale: converging one fresh host for the image (load %s)" % load(), flush=True)
            one.run(one.podman_inventory, "site.yml")
            out["one"] = idempotent(one.run(one.podman_inventory, "site.yml", profile=work / "profile1.json"),
                                    "the re-run of one host")
            one.commit(CONVERGED_IMAGE)
        finally:
            one.remove()
        fleet = Fleet(size, work, CONVERGED_IMAGE)
        try:
            out["load"] = load()
            print("bench_fleet: scale: %d hosts from the converged image (load %s)" % (size, out["load"]), flush=True)
            out["first"] = fleet.run(fleet.podman_inventory, "site.yml")
            out["first_changed_tasks"] = changed_tasks(out["first"].output)
            out["rerun"] = idempotent(fleet.run(fleet.podman_inventory, "site.yml"), "the re-run of %d hosts" % size)
            plan = {"site_rollout": {"canary": 1, "batches": batch, "max_failures": 0}}
            out["plan"] = plan["site_rollout"]
            out["batched"] = idempotent(fleet.run(fleet.podman_inventory, "site.yml", "-e", json.dumps(plan)),
                                        "the batched re-run of %d hosts" % size)
        finally:
            fleet.remove()
    finally:
        remove_work(work)
    return out


def render_scale(r, started, seconds):
    one, size = r["one"], r["hosts"]
    tasks = (one.profile or {}).get("tasks") or []
    lines = [
        "Measured %s on: %s. Whole run: %.0f s (load at the %d hosts' start: %s)." % (
            started, machine(), seconds, size, r["load"]),
        "",
        "| run (forks = hosts, codex_podman) | wall | per host | controller CPU | controller CPU per host "
        "| hosts' CPU | changed |",
        "|---|---|---|---|---|---|---|",
        "| 1 host, idempotent re-run | %.1f s | %.1f s | %.1f s | %.1f s | %s | %d |" % (
            one.seconds, one.seconds, one.controller_cpu, one.controller_cpu, fmt(one.host_cpu), one.changed),
    ]
    changed_note = "; what changed: " + ", ".join(r["first_changed_tasks"]) if r["first_changed_tasks"] else ""
    rows = (("first", "%d hosts from the converged image (not a first converge%s)" % (size, changed_note)),
            ("rerun", "%d hosts, idempotent re-run, no plan (strategy free)" % size),
            ("batched", "%d hosts, idempotent re-run, plan %s (linear)" % (size, json.dumps(r["plan"], sort_keys=True))))
    for key, label in rows:
        run = r[key]
        lines.append("| %s | %.1f s | %.1f s | %.1f s | %.2f s | %s | %d |" % (
            label, run.seconds, run.seconds / size, run.controller_cpu, run.controller_cpu / size,
            fmt(run.host_cpu), run.changed))
    rerun, batched = r["rerun"], r["batched"]
    lines += [
        "",
        "Where the controller's time goes: the one-host re-run evaluates %d tasks (%d skipped) for %.1f s of "
        "controller CPU, about %.2f s each (templating, conditionals, argument specs, forking a worker per task and "
        "host, the callback). Per host that cost does not fall with the fleet: %d hosts take %.2f s of controller "
        "CPU each (one host alone: %.1f s), so on %d cores the %d-host re-run cannot be shorter than %.0f s "
        "(controller CPU / cores); it took %.0f s. With batches of %d (lockstep within a batch, the batches one "
        "after another) it took %.0f s, %.2f x the free re-run, with %.0f s of controller CPU." % (
            len(tasks), sum(1 for t in tasks if t["status"] == "skipped"), one.controller_cpu,
            one.controller_cpu / max(len(tasks), 1), size, rerun.controller_cpu / size, one.controller_cpu, CORES,
            size, rerun.controller_cpu / CORES, rerun.seconds, r["batch"], batched.seconds,
            batched.seconds / rerun.seconds, batched.controller_cpu),
    ]
    return "\n".join(lines) + "\n"


def write_scale_doc(section):
    text = DOC.read_text()
    block = "%s\n%s%s" % (SCALE_BEGIN, section, SCALE_END)
    if SCALE_BEGIN in text and SCALE_END in text:
        head, rest = text.split(SCALE_BEGIN, 1)
        text = head + block + rest.split(SCALE_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Fleet at scale (issue 26)\n\n" + block + "\n"
    DOC.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="1,2,4,8")
    parser.add_argument("--fresh-all", action="store_true")
    parser.add_argument("--from-image", default=None)
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--scale", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    missing = [v for v in NEEDED if not os.environ.get(v)]
    if missing:
        raise SystemExit("bench_fleet: %s not set: run `make bench-fleet` (mirrors and Hub mirror up)"
                         % ", ".join(missing))
    sizes = sorted(set(int(s) for s in args.sizes.split(",")))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    start = time.monotonic()
    if args.scale:
        section = render_scale(measure_scale(args.scale, args.batch), started, time.monotonic() - start)
        print(section)
        if not args.no_doc:
            write_scale_doc(section)
            print("bench_fleet: wrote %s" % DOC)
        return
    if args.fresh_all:
        image_sizes = set()
    elif args.from_image:
        image_sizes = set(int(s) for s in args.from_image.split(",")) - {1}
    else:
        image_sizes = set(s for s in sizes if s > 4)
    if image_sizes and 1 not in sizes:
        raise SystemExit("bench_fleet: sizes %s start from the image of the converged one-host fleet: add 1 to "
                         "--sizes, or use --fresh-all" % ",".join(str(s) for s in sorted(image_sizes)))
    rows, audit = measure(sizes, image_sizes)
    section = render(rows, audit, started, time.monotonic() - start)
    print(section)
    if not args.no_doc:
        write_doc(section)
        print("bench_fleet: wrote %s" % DOC)


if __name__ == "__main__":
    main()
