# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The wheel mirror's credentials on a real host (issue 9, items 2, 3, 4 and 7).

A container converges torch_cpu (uv, then pip) from a credentialed index: a stdlib basic-auth reverse proxy on
127.0.0.1 in front of the test pypiserver. While each build runs, a sampler inside the container reads
/proc/*/cmdline and /proc/*/environ of every process every few milliseconds, and one on this machine reads every
/proc/*/cmdline (ansible-playbook, podman exec): the secret never appears. Neither is it in the -vvv output, the
facts, the release marker or /etc/pip.conf; a member user's pip finds the mirror through /etc/pip.conf and cannot
read root's credentials file. The previous release is kept: a process started from it before the swap imports
from it afterwards, and torch_cpu_rollback swaps back idempotently.

Needs the test mirrors (make integration, or molecule/_shared/with_mirrors.sh pytest tests/integration/...).
"""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import integration_helpers as h  # noqa: E402  pylint: disable=wrong-import-position

USER = "codexmirror"
SECRET = "Zq7-s3cr3t-Pw"
FACTS = "/etc/ansible/facts.d/torch_cpu.fact"
ROOT_PIP_CONF = "/root/.config/pip/pip.conf"

# Runs inside the container (and, cmdline only, on this machine) until STOP exists: every process's cmdline and
# (where readable) environ, searched for the secret (read from stdin). Prints a JSON summary.
SAMPLER = r"""
import json, os, sys, time
secret = sys.stdin.readline().strip().encode()   # not in argv: the sampler must not be its own hit
stop, environ = sys.argv[1], sys.argv[2] == "1"
me = str(os.getpid())
hits, rounds, seen_installers, pids = [], 0, set(), set()
while not os.path.exists(stop):
    rounds += 1
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        for part in (("cmdline", "environ") if environ else ("cmdline",)):
            try:
                with open("/proc/%s/%s" % (pid, part), "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            pids.add(pid)
            if part == "cmdline" and (b"uv\0pip\0install" in data or b"uv\0pip\0sync" in data
                                     or b"-m\0pip\0install" in data):
                seen_installers.add(data.replace(b"\0", b" ").decode("utf-8", "replace")[:300])
            if secret in data:
                hits.append([pid, part, data.replace(b"\0", b" ").decode("utf-8", "replace")[:300]])
    time.sleep(0.01)
print(json.dumps({"rounds": rounds, "hits": hits[:20], "installers": sorted(seen_installers), "pids": len(pids)}))
"""


@pytest.fixture(scope="module")
def box():
    for var in ("CODEX_INDEX_URL",):
        if not os.environ.get(var):
            pytest.fail("%s not set: run through molecule/_shared/with_mirrors.sh (see make integration)" % var)
    image = (h.REPO_ROOT / "build" / "image-debian12").read_text().strip()
    container = h.Container(image, "codex-secret-%s" % uuid.uuid4().hex[:8])
    try:
        container.start()
        res = container.exec("useradd", "-m", "member")
        assert res.rc == 0, res
        yield container
    finally:
        container.remove()


@pytest.fixture(scope="module")
def auth_index(tmp_path_factory):
    """The credentialed index: basic auth in front of the running test pypiserver; yields (url with creds, log)."""
    work = tmp_path_factory.mktemp("auth")
    users = work / "users"
    fd = os.open(str(users), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("%s\n%s\n" % (USER, SECRET))
    upstream = os.environ["CODEX_INDEX_URL"].split("/simple")[0]
    port = h.free_port()
    log = work / "proxy.log"
    with open(str(log), "w") as logfh:
        proc = subprocess.Popen([sys.executable, str(h.REPO_ROOT / "tests" / "integration" / "auth_proxy.py"), str(port),
                                 upstream, str(users)], stdout=subprocess.DEVNULL, stderr=logfh,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 20
        while True:
            try:
                import urllib.request
                urllib.request.urlopen("http://127.0.0.1:%d/simple/" % port, timeout=1)
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "auth proxy did not start"
                time.sleep(0.1)
        yield "http://%s:%s@127.0.0.1:%d/simple/" % (USER, SECRET, port), log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Samplers(object):
    """The two samplers around one converge."""

    def __init__(self, box):
        self.box = box
        self.stop = "/tmp/codex-sampler-stop-%s" % uuid.uuid4().hex[:6]
        self.host_stop = os.path.join(tempfile.gettempdir(), os.path.basename(self.stop))

    def __enter__(self):
        self.inner = subprocess.Popen(["podman", "exec", "-i", self.box.name, "/usr/bin/python3", "-c", SAMPLER,
                                       self.stop, "1"], env=h.tool_env(), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        self.outer = subprocess.Popen([sys.executable, "-c", SAMPLER, self.host_stop, "0"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        for proc in (self.inner, self.outer):
            proc.stdin.write(SECRET + "\n")
            proc.stdin.flush()
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.box.exec("touch", self.stop)
        open(self.host_stop, "w").close()
        try:
            self.inside = json.loads(self.inner.communicate(timeout=60)[0].strip().splitlines()[-1])
            self.outside = json.loads(self.outer.communicate(timeout=60)[0].strip().splitlines()[-1])
        except Exception:
            for proc in (self.inner, self.outer):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            raise
        finally:
            os.unlink(self.host_stop)
            self.box.exec("rm", "-f", self.stop)


def converge(box, url, **more):
    extra = {"torch_cpu_mirror_mode": "index", "torch_cpu_mirror_url": url,
             "torch_cpu_lock_file": str(h.LOCKS / "torch_cpu.txt"), "torch_cpu_pip_conf": True}
    extra.update(more)
    return h.run_play(box, "torch_cpu.yml", extra, verbosity=3)


def _no_secret_anywhere(box, result):
    assert SECRET not in result.out, "the secret leaked into the -vvv output"
    for path in (FACTS, "/etc/pip.conf"):
        res = box.exec("cat", path)
        assert res.rc == 0 and SECRET not in res.out, path
    res = box.exec("sh", "-c", "cat /opt/codex/.venv.releases/*/.codex-release.json")
    assert res.rc == 0 and SECRET not in res.out, res.out[-500:]
    assert '"mirror": "http://%s:***@127.0.0.1' % USER in res.out, res.out[-500:]
    res = box.exec("grep", "-rl", SECRET, "/opt/codex", "/etc/ansible", "/etc/pip.conf", "/tmp", "/var/tmp",
                   "/usr/local/bin")
    assert res.out.strip() == "", "files holding the secret: %s" % res.out


@pytest.mark.parametrize("installer, lock", [("uv", "torch_cpu.txt"), ("pip", "torch_cpu_extra.txt")])
def test_credentialed_build_never_shows_the_secret(box, auth_index, installer, lock):
    """Two builds (a different lock each, so the second one rebuilds): uv, then pip."""
    url, log = auth_index
    before = log.read_text().count("\n")
    with Samplers(box) as samplers:
        result = converge(box, url, torch_cpu_installer=installer, torch_cpu_lock_file=str(h.LOCKS / lock))
    assert result.rc == 0, "%s\n%r" % (h.failure_messages(result.out), result)
    # the samplers ran through the build and saw the installer running, yet never the secret
    for side in (samplers.inside, samplers.outside):
        assert side["hits"] == [], side["hits"]
        assert side["rounds"] > 50, side
    print("sampler inside: %d rounds, %d processes; outside: %d rounds, %d processes; installers seen: %s" % (
        samplers.inside["rounds"], samplers.inside["pids"], samplers.outside["rounds"], samplers.outside["pids"],
        samplers.inside["installers"]))
    assert any(("uv pip sync" if installer == "uv" else "-m pip install") in c
               for c in samplers.inside["installers"]), samplers.inside
    assert all("127.0.0.1" in c and "@127.0.0.1" not in c for c in samplers.inside["installers"])
    # the proxy was asked with the credentials (200s for the index pages) and never let anyone in without them
    requests = log.read_text().splitlines()[before:]
    assert any("/simple/torch/" in line and '" 200 ' in line for line in requests), requests[-20:]
    _no_secret_anywhere(box, result)
    # the temporary netrc is gone
    res = box.exec("sh", "-c", "ls -d /tmp/codex-venv-* 2>/dev/null; true")
    assert res.out.strip() == ""


def test_pip_config_split(box, auth_index):
    """/etc/pip.conf: 0644, the mirror without credentials; root's own pip config: 0600 with them. A member's pip
    reads the mirror from /etc/pip.conf (401 without credentials: the mirror, not PyPI), works with the member's
    own ~/.netrc, and cannot read root's file."""
    url, _log = auth_index
    plain = url.replace("%s:%s@" % (USER, SECRET), "")
    res = box.exec("stat", "-c", "%a %U:%G", "/etc/pip.conf", ROOT_PIP_CONF, os.path.dirname(ROOT_PIP_CONF))
    assert res.out.split() == ["644", "root:root", "600", "root:root", "700", "root:root"], res
    assert "index-url = %s" % plain in box.exec("cat", "/etc/pip.conf").out
    assert SECRET in box.exec("cat", ROOT_PIP_CONF).out, "root's pip config must carry the credentials"
    pip = h.VENV + "/bin/pip"    # the pip-built venv holds pip
    assert box.exec("test", "-x", pip).rc == 0, "run after the pip converge"
    member = box.exec("su", "member", "-c", "%s config list" % pip)
    assert member.rc == 0 and "global.index-url='%s'" % plain in member.out, member
    assert SECRET not in member.out
    assert box.exec("su", "member", "-c", "cat %s" % ROOT_PIP_CONF).rc != 0
    anon = box.exec("su", "member", "-c", "cd /tmp && %s download --no-deps --no-input -d /tmp/dl mpmath" % pip)
    assert anon.rc != 0 and "127.0.0.1" in anon.out + anon.err and "pypi.org" not in anon.out + anon.err, anon
    host = plain.split("://", 1)[1].split(":", 1)[0]
    box.exec("su", "member", "-c", "umask 077 && printf 'machine %s login %s password %s\\n' > ~/.netrc"
             % (host, USER, SECRET))
    own = box.exec("su", "member", "-c", "cd /tmp && %s download --no-deps --no-input -d /tmp/dl mpmath" % pip)
    assert own.rc == 0 and "Saved" in own.out, own
    box.exec("su", "member", "-c", "rm -rf ~/.netrc /tmp/dl")
    root = box.exec(pip, "config", "list")
    assert root.rc == 0 and "index-url" in root.out


def test_previous_release_keeps_serving_and_rollback(box, auth_index):
    """A process started from the live venv before a rebuild imports from its own release after the swap; the
    previous release is kept; torch_cpu_rollback swaps back, idempotently, check mode first."""
    url, _log = auth_index
    old = box.venv_target()
    assert old, "run after the credentialed converges"
    go = "/tmp/codex-venv-go"
    box.exec("rm", "-f", go)
    waiter = subprocess.Popen(["podman", "exec", box.name, h.VENV + "/bin/python", "-c",
                               "import os, time\n"
                               "while not os.path.exists(%r): time.sleep(0.05)\n"
                               "import networkx; print(networkx.__file__)\n" % go],
                              env=h.tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
    try:
        time.sleep(2)
        result = converge(box, url, torch_cpu_installer="uv")          # a new release (the other lock)
        assert result.rc == 0, "%s\n%r" % (h.failure_messages(result.out), result)
        new = box.venv_target()
        assert new != old and os.path.basename(old) in box.release_dirs()
        box.exec("touch", go)
        out = waiter.communicate(timeout=60)[0]
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
        box.exec("rm", "-f", go)
    assert waiter.returncode == 0 and out.strip().startswith(old + "/"), out

    rollback = {"torch_cpu_mirror_url": url, "torch_cpu_lock_file": str(h.LOCKS / "torch_cpu.txt"),
                "torch_cpu_pip_conf": True, "torch_cpu_rollback": True}
    argv, varfile = h.playbook_argv(box, "torch_cpu.yml", rollback)
    try:
        check = subprocess.run(argv + ["--check"], cwd=str(h.REPO_ROOT), env=h.tool_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True, timeout=600, check=False)
    finally:
        os.unlink(varfile)
    assert check.returncode == 0 and box.venv_target() == new, check.stdout[-3000:]
    back = h.run_play(box, "torch_cpu.yml", rollback)
    assert back.rc == 0 and box.venv_target() == old, back
    again = h.run_play(box, "torch_cpu.yml", rollback)
    assert again.rc == 0 and "changed=0" in again.out, again
    assert box.venv_target() == old and box.torch_healthy().rc == 0
    assert os.path.basename(new) in box.release_dirs()        # the release left stays until the next build
    _no_secret_anywhere(box, again)
