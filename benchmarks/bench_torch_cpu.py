"""Benchmark torch_cpu on one container: raw installers vs the role, re-run, and the module.

Run through make (mirrors up, images built): make bench
Writes the numbers and the machine to docs/benchmarks.md (section between the torch_cpu markers).
Nothing here asserts a time: targets are compared and reported, not tested.
"""

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
IMAGE = os.environ["CODEX_IMAGE_DEBIAN12"]
INDEX = os.environ["CODEX_INDEX_URL"]
WHEELS = ROOT / "build" / "mirror" / "wheels"
LOCK = ROOT / "build" / "mirror" / "locks" / "torch_cpu.txt"
BEGIN, END = "<!-- BEGIN torch_cpu -->", "<!-- END torch_cpu -->"


def timed(cmd, **kw):
    start = time.monotonic()
    out = sh(cmd, **kw)
    return time.monotonic() - start, out


class Container:
    def __init__(self, name, volumes=()):
        self.name = name
        sh(["podman", "rm", "-f", name])
        args = ["podman", "run", "-d", "--name", name, "--network", "host"]
        for v in volumes:
            args += ["-v", v]
        sh(args + [IMAGE])

    def exec(self, script):
        return timed(["podman", "exec", self.name, "sh", "-c", script])

    def remove(self):
        subprocess.run(["podman", "rm", "-f", self.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)


def converge(name, installer, workdir):
    inv = workdir / ("%s.yml" % name)
    inv.write_text(json.dumps({"all": {"hosts": {name: {
        "ansible_connection": "codex_podman", "ansible_python_interpreter": "/usr/bin/python3",
        "torch_cpu_mirror_url": INDEX, "torch_cpu_lock_file": str(LOCK), "torch_cpu_installer": installer}}}}))
    play = workdir / "play.yml"
    play.write_text("- hosts: all\n  gather_facts: false\n  roles: [codex.offline_ml.torch_cpu]\n")
    seconds, out = timed(["ansible-playbook", "-i", str(inv), str(play)])
    changed = int(re.search(r"changed=(\d+)", out.split("PLAY RECAP", 1)[1]).group(1))
    return seconds, changed


def main():
    uv = shutil.which("uv")
    work = pathlib.Path(tempfile.mkdtemp(prefix="codex-bench-"))
    rows = []
    try:
        raw = Container("codex-bench-raw", ["%s:/wheels:ro" % WHEELS, "%s:/lock.txt:ro" % LOCK, "%s:/usr/local/bin/uv:ro" % uv])
        try:
            raw.exec("python3 -m venv /tmp/pipvenv && /usr/bin/python3 -m venv --without-pip /tmp/uvvenv")
            pip_s, _out = raw.exec("/tmp/pipvenv/bin/pip install -q --isolated --no-index --find-links /wheels "
                                   "--no-cache-dir --require-hashes -r /lock.txt")
            uv_s, _out = raw.exec("uv pip install -q --python /tmp/uvvenv/bin/python --no-config --no-cache "
                                  "--link-mode copy --no-index --find-links /wheels --require-hashes -r /lock.txt")
        finally:
            raw.remove()
        rows += [("raw `pip install --no-index` (lock, fresh venv)", pip_s, None),
                 ("raw `uv pip install --no-index` (lock, fresh venv)", uv_s, None)]

        results = {}
        for installer in ("uv", "pip"):
            name = "codex-bench-%s" % installer
            Container(name)
            try:
                first, changed1 = converge(name, installer, work)
                results[installer] = first
                rows.append(("role first converge, installer %s" % installer, first, changed1))
                if installer == "uv":
                    again, changed2 = converge(name, installer, work)
                    rows.append(("role idempotent re-run", again, changed2))
                    diag = work / "diag.json"
                    t, out = timed(["ansible", "-i", "%s," % name, "-c", "codex_podman",
                                    "-e", "ansible_python_interpreter=/usr/bin/python3", name, "-m",
                                    "codex.offline_ml.torch_diagnostic", "-a", "python=/opt/codex/venv/bin/python"])
                    inner = float(re.search(r'"elapsed_s": ([0-9.]+)', out).group(1))
                    diag.write_text(out)
                    rows.append(("module `torch_diagnostic` (ad-hoc wall time)", t, None))
                    rows.append(("module `torch_diagnostic` (its own elapsed_s)", inner, None))
            finally:
                Container.remove(type("C", (), {"name": name})())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = ["| measurement | seconds | changed |", "|---|---:|---:|"]
    table += ["| %s | %.1f | %s |" % (label, sec, "" if ch is None else ch) for label, sec, ch in rows]
    targets = [
        "| target | measured | met |", "|---|---|---|",
        "| uv first converge <= 0.5 x raw pip | %.1f s vs %.1f s (%.2fx) | %s |" % (
            results["uv"], pip_s, results["uv"] / pip_s, "yes" if results["uv"] <= 0.5 * pip_s else "no"),
        "| pip first converge <= 1.3 x raw pip | %.1f s vs %.1f s (%.2fx) | %s |" % (
            results["pip"], pip_s, results["pip"] / pip_s, "yes" if results["pip"] <= 1.3 * pip_s else "no"),
        "| re-run <= 10 s | %.1f s | %s |" % (rows[3][1], "yes" if rows[3][1] <= 10 else "no"),
        "| module <= 2.5 s | %.1f s wall, %.2f s inside | %s |" % (rows[4][1], rows[5][1], "yes" if rows[4][1] <= 2.5 else "no"),
    ]
    section = "\n".join([BEGIN, "Measured %s on: %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), machine()), "",
                         *table, "", *targets, END])
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n" + BEGIN + "\n" + END + "\n"
    head, rest = text.split(BEGIN, 1)
    DOC.write_text(head + section + rest.split(END, 1)[1])
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
