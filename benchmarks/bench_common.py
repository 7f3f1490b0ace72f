"""What both benchmarks share: running a command for its output, and the machine line of docs/benchmarks.md."""

import os
import platform
import subprocess


def sh(argv, **kw):
    """ARGV's stdout and stderr together; raises when it fails."""
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw).stdout


def machine():
    """The machine a measurement ran on: OS, cores and CPU model, RAM, Python, podman."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next((line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")), "0")
    return "%s, %s cores (%s), %.0f GiB RAM, Python %s, podman %s" % (
        platform.platform(), os.cpu_count(), cpu, int(mem) / 1024 / 1024, platform.python_version(),
        sh(["podman", "--version"]).split()[-1])
