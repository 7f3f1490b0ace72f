# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SSH + become path on ONE small container (codex-ssh-*), with the demo inventory's connection settings
(demo/inventory/group_vars/all.yml: ssh as ops, become with sudo, pipelining, ControlPersist, pinned host key):

- torch_cpu converged with a credentialed mirror URL leaves the secret nowhere in the operator's home or the
  remote temp directories, and what it writes belongs to root;
- bad input: sudo that asks for a password (none given), a wrong key, a host key that is not the pinned one.
  Each fails naming the host (and, for sudo, ansible_become_password), and leaves the host as it was.

Needs the test mirrors: run through ``make integration`` (or molecule/_shared/with_mirrors.sh pytest ...).
"""

from __future__ import absolute_import, division, print_function

import json
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import integration_helpers as h  # noqa: E402  pylint: disable=wrong-import-position

SSH_DIR = h.REPO_ROOT / "build" / "ssh"
SSHD = h.REPO_ROOT / "molecule" / "_shared" / "sshd.sh"
DEMO_ALL = h.REPO_ROOT / "demo" / "inventory" / "group_vars" / "all.yml"
PORTS = range(22221, 22230)
# Where a module payload or a secret could be left behind for the operator or another user to read.
LEFTOVER_DIRS = ("/home/ops", "/root/.ansible", "/tmp", "/var/tmp")


def _free_port():
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port in %s-%s on 127.0.0.1 for the test container's sshd" % (PORTS[0], PORTS[-1]))


class SshHost(object):
    """The container, its sshd and an inventory that reaches it as the demo inventory reaches its hosts."""

    def __init__(self, workdir):
        self.box = h.Container((h.REPO_ROOT / "build" / "image-debian12").read_text().strip(),
                               "codex-ssh-%s" % uuid.uuid4().hex[:8])
        self.port = _free_port()
        self.inventory = workdir / "inventory"
        (self.inventory / "group_vars").mkdir(parents=True)
        (self.inventory / "group_vars" / "all.yml").symlink_to(DEMO_ALL)
        (self.inventory / "hosts.yml").write_text(json.dumps(
            {"all": {"hosts": {self.box.name: {"ansible_host": "127.0.0.1", "ansible_port": self.port}}}}))

    def start(self):
        self.box.start()
        res = subprocess.run([str(SSHD), "start", self.box.name, str(self.port), str(SSH_DIR / "known_hosts")],
                             env=h.tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        assert res.returncode == 0, res.stdout.decode()

    def play(self, extra_vars, *more):
        """torch_cpu (tests/integration/playbooks/torch_cpu.yml) over SSH: Result(rc, stdout+stderr)."""
        fd, varfile = tempfile.mkstemp(prefix="codex-ssh-vars-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(extra_vars, handle)
        argv = [str(h.VENV_BIN / "ansible-playbook"), "-i", str(self.inventory), "-e", "@" + varfile] \
            + list(more) + [str(h.PLAYBOOKS / "torch_cpu.yml")]
        env = h.tool_env()
        env.update({"CODEX_SSH_DIR": str(SSH_DIR), "CODEX_MIRROR_DIR": str(h.MIRROR_DIR)})
        try:
            proc = subprocess.run(argv, cwd=str(h.REPO_ROOT), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=900, check=False)
        finally:
            os.unlink(varfile)
        return h.Result(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"))

    def grep(self, secret, *dirs):
        """Files under DIRS in the container that contain SECRET."""
        res = self.box.exec("sh", "-c", 'grep -rlsF -- "$0" "$@"; true', secret, *dirs)
        return res.out.split()


@pytest.fixture(scope="module")
def ssh_host(tmp_path_factory):
    if not (SSH_DIR / "ops_ed25519").is_file() or not (h.REPO_ROOT / "build" / "image-debian12").is_file():
        pytest.fail("build/ssh/ops_ed25519 or build/image-debian12 is missing: run `make images` first")
    if not os.environ.get("CODEX_INDEX_URL"):
        pytest.fail("CODEX_INDEX_URL not set: run `make integration` (or molecule/_shared/with_mirrors.sh pytest ...)")
    host = SshHost(tmp_path_factory.mktemp("ssh"))
    try:
        host.start()
        yield host
    finally:
        host.box.remove()


@pytest.fixture(scope="module")
def secret_run(ssh_host):
    """torch_cpu converged over SSH + become with user:secret@ in the mirror URL (the test pypiserver ignores
    credentials, a lab's authenticated index would check them)."""
    secret = "s3cret-%s" % uuid.uuid4().hex
    parts = urlsplit(os.environ["CODEX_INDEX_URL"])
    url = urlunsplit((parts.scheme, "codexbot:%s@%s" % (secret, parts.netloc), parts.path, "", ""))
    ssh_host.box.reset()
    result = ssh_host.play(h.good_vars(torch_cpu_mirror_url=url))
    return secret, result


def test_converges_over_ssh_with_become(ssh_host, secret_run):
    _secret, result = secret_run
    assert result.rc == 0, repr(result)
    assert ssh_host.box.torch_healthy().rc == 0


def test_no_secret_in_the_operators_home_or_the_temp_dirs(ssh_host, secret_run):
    secret, result = secret_run
    assert result.rc == 0, repr(result)
    assert ssh_host.grep(secret, *LEFTOVER_DIRS) == []
    # the search itself finds a planted copy (so the empty answer above means something)
    assert ssh_host.box.exec("sh", "-c", 'echo "$0" > /var/tmp/codex-canary', secret).rc == 0
    try:
        assert ssh_host.grep(secret, *LEFTOVER_DIRS) == ["/var/tmp/codex-canary"]
    finally:
        ssh_host.box.exec("rm", "-f", "/var/tmp/codex-canary")


def test_no_secret_in_the_playbook_output(secret_run):
    secret, result = secret_run
    assert secret not in result.out


def test_what_the_role_wrote_belongs_to_root(ssh_host, secret_run):
    assert secret_run[1].rc == 0, repr(secret_run[1])
    # snapshot entries: (type, mode, uid, gid, ...) for files and directories
    owners = dict((path, entry[2]) for path, entry in ssh_host.box.snapshot().items() if entry[0] in ("file", "dir"))
    assert len(owners) > 100 and set(owners.values()) == {0}, owners


def _failed_hosts_line(result, host, kind):
    return [line for line in result.out.splitlines() if line.startswith("fatal: [%s]: %s" % (host, kind))]


def test_sudo_that_asks_for_a_password_fails_naming_host_and_variable(ssh_host):
    box = ssh_host.box
    box.reset()
    before = box.snapshot()
    assert box.exec("sh", "-c", "echo 'ops ALL=(ALL:ALL) ALL' > /etc/sudoers.d/ops").rc == 0
    try:
        result = ssh_host.play(h.good_vars())
    finally:
        assert box.exec("sh", "-c", "echo 'ops ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/ops").rc == 0
    assert result.rc == 2, repr(result)
    assert _failed_hosts_line(result, box.name, "FAILED!"), repr(result)
    messages = h.failure_messages(result.out)
    assert any(m.startswith("torch_cpu needs root on %s" % box.name) and "ansible_become_password" in m
               and "sudo" in m and "Nothing was changed" in m for m in messages), messages
    h.assert_unchanged(before, box.snapshot())


def _keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _unreachable(ssh_host, known_hosts, why, *extra):
    """The good play over SSH with host keys checked against KNOWN_HOSTS (and EXTRA -e options): rc 4, the host
    named UNREACHABLE, WHY in the output, the host unchanged. ControlPath=none first (ssh takes the first value):
    an earlier run's ControlPersist master, logged in with the right key, would otherwise carry this run and the
    key would never be offered."""
    box = ssh_host.box
    box.reset()
    before = box.snapshot()
    args = "-o ControlPath=none -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s" % known_hosts
    result = ssh_host.play(h.good_vars(), *(list(extra) + ["-e", "ansible_ssh_common_args='%s'" % args]))
    assert result.rc == 4, repr(result)
    assert _failed_hosts_line(result, box.name, "UNREACHABLE!"), repr(result)
    assert why in result.out, repr(result)
    h.assert_unchanged(before, box.snapshot())


def test_wrong_key_is_unreachable_naming_the_host(ssh_host, tmp_path):
    key = tmp_path / "not_ops"
    _keygen(key)
    _unreachable(ssh_host, SSH_DIR / "known_hosts", "Permission denied (publickey)",
                 "-e", "ansible_ssh_private_key_file=%s" % key)


def test_host_key_other_than_the_pinned_one_is_refused(ssh_host, tmp_path):
    other = tmp_path / "other_host_key"
    _keygen(other)
    known = tmp_path / "known_hosts"
    known.write_text("[127.0.0.1]:%d %s\n" % (ssh_host.port, " ".join(
        (tmp_path / "other_host_key.pub").read_text().split()[:2])))
    _unreachable(ssh_host, known, "Host key verification failed")
