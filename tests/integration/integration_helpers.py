# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the bad-input tests: a podman container, ansible-playbook runs against it, a snapshot of
everything the roles may touch on the host, and throw-away local mirrors (http.server, pypiserver).

Standard library only. Every server binds 127.0.0.1; every process started here is ended by its own id.
"""

from __future__ import absolute_import, division, print_function

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "tools"))
import leftovers  # noqa: E402  (tests/tools: the processes a run started, by a marker in their environment)

VENV_BIN = REPO_ROOT / ".venv" / "bin"
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
MIRROR_DIR = REPO_ROOT / "build" / "mirror"
LOCKS = MIRROR_DIR / "locks"
CONTAINERS_CONF = REPO_ROOT / "molecule" / "_shared" / "containers.conf"

VENV = "/opt/codex/venv"
RELEASES = "/opt/codex/.venv.releases"
COMMAND = "/usr/local/bin/codex-torch-check"
# Everything torch_cpu / offline_venv may write on a host.
SNAPSHOT_PATHS = ("/opt/codex", "/etc/pip.conf", "/etc/ansible/facts.d", COMMAND, "/var/cache/codex")


def tool_env():
    """The environment the Makefile gives its targets (works when pytest is started by hand too)."""
    env = dict(os.environ)
    env.update({
        "PATH": "%s:%s" % (VENV_BIN, env.get("PATH", "/usr/bin:/bin")),
        "CONTAINERS_CONF": str(CONTAINERS_CONF),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / "build" / "collections"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PY_COLORS": "0",
    })
    return env


class Result(object):
    def __init__(self, argv, rc, out, err=""):
        self.argv = argv
        self.rc = rc
        self.out = out
        self.err = err

    def __repr__(self):
        return "<rc=%s %s>\n%s%s" % (self.rc, " ".join(a[:200] for a in self.argv), self.out[-6000:],
                                     ("\nstderr:\n" + self.err[-3000:]) if self.err else "")


# --------------------------------------------------------------------------- container
class Container(object):
    """One podman container (host network) that the tests drive with ansible-playbook."""

    def __init__(self, image, name):
        self.image = image
        self.name = name
        # What the host holds now, for fixtures that need a given starting state.
        self.state = "pristine"
        self.healthy_release = None

    def start(self):
        subprocess.run(["podman", "run", "-d", "--network", "host", "--name", self.name, self.image,
                        "sleep", "infinity"], env=tool_env(), check=True, stdout=subprocess.DEVNULL)

    def remove(self):
        subprocess.run(["podman", "rm", "-f", "-t", "0", self.name], env=tool_env(), check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def exec(self, *argv, **kwargs):
        """Run ARGV in the container, return Result (out: stdout, err: stderr)."""
        timeout = kwargs.pop("timeout", 300)
        cmd = ["podman", "exec", self.name] + list(argv)
        proc = subprocess.run(cmd, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
        return Result(cmd, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                      proc.stderr.decode("utf-8", "replace"))

    def python(self, code, *args, **kwargs):
        return self.exec("/usr/bin/python3", "-c", code, *args, **kwargs)

    def reset(self):
        """Remove everything the roles write: back to a pristine host."""
        res = self.exec("rm", "-rf", *SNAPSHOT_PATHS)
        assert res.rc == 0, res
        self.state = "pristine"

    def snapshot(self):
        """A deterministic listing of SNAPSHOT_PATHS: {path: (type, mode, uid, gid, size, sha256 | link target)}."""
        res = self.python(_SNAPSHOT_CODE, *SNAPSHOT_PATHS)
        assert res.rc == 0, res
        return dict((entry[0], tuple(entry[1:])) for entry in json.loads(res.out))

    def venv_target(self):
        res = self.exec("readlink", VENV)
        return res.out.strip() if res.rc == 0 else None

    def release_dirs(self):
        res = self.python("import os, sys\n"
                          "d = sys.argv[1]\n"
                          "print('\\n'.join(sorted(e for e in os.listdir(d) if not e.startswith('.')"
                          " and os.path.isdir(os.path.join(d, e)))) if os.path.isdir(d) else '')", RELEASES)
        assert res.rc == 0, res
        return [line for line in res.out.splitlines() if line]

    def torch_healthy(self):
        """The live venv imports torch's Dataset (the one thing a stub lacks)."""
        return self.exec(VENV + "/bin/python", "-c", "from torch.utils.data import Dataset; print(Dataset)")


_SNAPSHOT_CODE = r"""
import hashlib, json, os, stat, sys
out = []
def add(p):
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        out.append([p, "absent"])
        return
    mode = "%04o" % stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        out.append([p, "link", os.readlink(p)])
    elif stat.S_ISDIR(st.st_mode):
        out.append([p, "dir", mode, st.st_uid, st.st_gid])
        for entry in sorted(os.listdir(p)):
            add(os.path.join(p, entry))
    elif stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        out.append([p, "file", mode, st.st_uid, st.st_gid, st.st_size, h.hexdigest()])
    else:
        out.append([p, "other", mode])
for path in sys.argv[1:]:
    add(path)
print(json.dumps(out))
"""


def snapshot_diff(before, after, limit=15):
    """Human-readable differences between two snapshots ([] when equal)."""
    lines = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            lines.append("%s: %s -> %s" % (path, before.get(path, "absent"), after.get(path, "absent")))
    if len(lines) > limit:
        lines = lines[:limit] + ["... %d more" % (len(lines) - limit)]
    return lines


def assert_unchanged(before, after):
    diff = snapshot_diff(before, after)
    assert not diff, "the host changed:\n" + "\n".join(diff)


# --------------------------------------------------------------------------- ansible-playbook
def playbook_argv(container, playbook, extra_vars, verbosity=0):
    """argv of ansible-playbook against the container; EXTRA_VARS goes in a JSON file (typed values)."""
    fd, varfile = tempfile.mkstemp(prefix="codex-it-vars-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(extra_vars or {}, fh)
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", "%s," % container.name, "-c", "containers.podman.podman",
            "-e", "ansible_python_interpreter=/usr/bin/python3", "-e", "@" + varfile, str(PLAYBOOKS / playbook)]
    if verbosity:
        argv.append("-" + "v" * verbosity)
    return argv, varfile


# Set in the environment of every playbook started here: its workers (which leave its process group with setsid)
# are found and ended by it.
PROC_VAR = "CODEX_TEST_PROC"


def _marked_env():
    env = tool_env()
    env[PROC_VAR] = uuid.uuid4().hex
    return env


def run_play(container, playbook, extra_vars=None, verbosity=0, timeout=900):
    """Run a playbook of tests/integration/playbooks against the container: Result(rc, stdout+stderr)."""
    argv, varfile = playbook_argv(container, playbook, extra_vars, verbosity)
    env = _marked_env()
    try:
        proc = subprocess.run(argv, cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        leftovers.kill_marked(PROC_VAR, env[PROC_VAR])
        raise
    finally:
        os.unlink(varfile)
    return Result(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"))


@contextlib.contextmanager
def background_play(container, playbook, extra_vars=None):
    """Start a playbook in its own process group; yields the Popen (stdout+stderr to a temp file). On the way
    out the playbook and every process it started are ended (kill_group)."""
    argv, varfile = playbook_argv(container, playbook, extra_vars)
    log = tempfile.TemporaryFile()
    env = _marked_env()
    proc = subprocess.Popen(argv, cwd=str(REPO_ROOT), env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc.codex_marker = env[PROC_VAR]
    try:
        yield proc
    finally:
        # The whole group, also when the playbook itself has exited: its forked workers outlive it otherwise
        # (re-parented to PID 1, still converging the container).
        kill_group(proc)
        os.unlink(varfile)
        log.close()


def kill_group(proc):
    """SIGKILL PROC's process group (PROC was started with start_new_session) and every process that carries its
    marker (background_play's), also those that left the group with setsid; reap PROC."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if getattr(proc, "codex_marker", None):
        leftovers.kill_marked(PROC_VAR, proc.codex_marker)
    proc.wait()


def failure_messages(out):
    """The msg of every 'FAILED! => {...}' in ansible-playbook output (one line, or pretty-printed with -v)."""
    messages = []
    decoder = json.JSONDecoder()
    for part in out.split("FAILED! => ")[1:]:
        try:
            messages.append(decoder.raw_decode(part)[0]["msg"])
        except (ValueError, KeyError, TypeError):
            messages.append(part.splitlines()[0])
    return list(dict.fromkeys(messages))  # a rescued failure is re-raised with the same msg


def good_vars(lock="torch_cpu.txt", **more):
    """The working configuration: the staged index, hash-pinned by LOCK."""
    config = {"torch_cpu_mirror_mode": "index", "torch_cpu_mirror_url": os.environ["CODEX_INDEX_URL"],
              "torch_cpu_lock_file": str(LOCKS / lock) if lock else ""}
    config.update(more)
    return config


def lock_hash(lock, name):
    """The sha256 a staged lock expects for NAME."""
    text = (LOCKS / lock).read_text()
    block = text.split("\n%s==" % name, 1)[1]
    return block.split("--hash=sha256:", 1)[1][:64]


def locked_wheel(lock, name):
    """The staged wheel lock LOCK pins for NAME, found by the lock's hash in the staging manifest: (file name,
    version). Tests name a package, never a file or a version: the committed locks decide those."""
    digest = lock_hash(lock, name)
    files = json.loads((MIRROR_DIR / "manifest.json").read_text())["files"]
    found = [(f["filename"], f["version"]) for f in files if f["sha256"] == digest]
    assert found, "no staged wheel has the sha256 %s that %s pins for %s: re-stage the mirror (make mirror)" % (
        digest, lock, name)
    return found[0]


# --------------------------------------------------------------------------- local mirrors
def free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


@contextlib.contextmanager
def serve(argv, port, probe_path="/"):
    """Run a local HTTP server (ARGV) on 127.0.0.1:PORT for the duration of the block."""
    proc = subprocess.Popen(argv, env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, probe_path), timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError("test server %s did not answer on port %d" % (argv, port))
                time.sleep(0.1)
        yield "http://127.0.0.1:%d" % port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def find_links_server(directory):
    """A flat wheel directory over plain HTTP (find_links mode); yields its URL with a trailing slash."""
    port = free_port()
    return _suffix(serve([str(VENV_BIN / "python"), "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                          str(directory), str(port)], port), "/")


def index_server(directory):
    """A PEP 503 index (pypiserver, no fallback, sha256 fragments) over DIRECTORY; yields .../simple/."""
    port = free_port()
    return _suffix(serve([str(VENV_BIN / "pypi-server"), "run", "-i", "127.0.0.1", "-p", str(port),
                          "--disable-fallback", "--hash-algo", "sha256", "-a", ".", "-P", ".", str(directory)],
                         port), "/simple/")


@contextlib.contextmanager
def _suffix(ctx, suffix):
    with ctx as url:
        yield url + suffix


def link_wheels(dest, exclude=()):
    """Fill DEST with hard links to the staged wheels (same file system: no 200 MB copies)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for wheel in sorted((MIRROR_DIR / "wheels").glob("*.whl")):
        if wheel.name not in exclude:
            try:
                os.link(str(wheel), str(dest / wheel.name))
            except OSError:
                (dest / wheel.name).write_bytes(wheel.read_bytes())
    return dest


# --------------------------------------------------------------------------- killing an install midway
# Runs inside the container: waits until a new release directory exists under RELEASES while the offline_venv
# module builds it, lets it work SETTLE seconds (the files of the live release being copied in, or the installer
# running: 'uv pip sync' with a lock, 'uv pip install' without), then SIGKILLs the installer if one runs, else the
# module, and every ancestor process up to the container's init (the module's wrapper, the shell of `podman exec`).
KILL_INSTALL_CODE = r"""
import json, os, signal, sys, time
rdir, live, settle, limit = sys.argv[1], os.path.realpath(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
me = os.getpid()
def cmdlines():
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != me:
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as fh:
                    yield int(pid), fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                pass
def ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 1
def find(*needles):
    return [p for p, c in cmdlines() if any(n in c for n in needles)]
deadline = time.time() + limit
while time.time() < deadline:
    new = []
    if os.path.isdir(rdir):
        new = [e for e in os.listdir(rdir) if not e.startswith(".")
               and os.path.realpath(os.path.join(rdir, e)) != live]
    modules = find("AnsiballZ_offline_venv")
    if new and modules:
        time.sleep(settle)
        installers = find("uv pip install", "uv pip sync")
        def ancestry(pid):
            chain = []
            while pid > 1:
                chain.append(pid)
                pid = ppid(pid)
            return chain
        # the deepest process: the module itself, not the async wrapper that names it on its command line
        chain = max((ancestry(p) for p in (installers or find("AnsiballZ_offline_venv") or modules)), key=len)
        names = {}
        for p, c in cmdlines():
            if p in chain:
                names[p] = c[:400]
        killed = []
        for p in chain:
            try:
                os.kill(p, signal.SIGKILL)
                killed.append(p)
            except ProcessLookupError:  # a wrapper in the chain ended on its own meanwhile: not killed by us
                pass
        files = sum(len(f) for _r, _d, f in os.walk(os.path.join(rdir, new[0])))
        print(json.dumps({"release": new[0], "killed": [names.get(p, "?") for p in killed], "files": files,
                          "phase": "installer" if installers else "copying the live release's files"}))
        sys.exit(0)
    time.sleep(0.05)
print("no build seen within %ss" % limit)
sys.exit(1)
"""
