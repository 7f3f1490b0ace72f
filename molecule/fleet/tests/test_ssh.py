"""The fleet is reached the way a lab reaches it: SSH as the operator `ops`, escalating with sudo (become),
pipelining and ControlPersist, host keys pinned. Converge and idempotence already ran that way (Molecule's
inventory); here: the connection itself, check mode, what the converge left behind for the operator, and the
role preflights with become off."""

import json
import os

import pytest

import fleet_helpers as fh

# uid and path of every entry under the watched trees that the operator account owns (nothing should).
OWNED_BY = r"""
import os, sys
uid = int(sys.argv[1])
for top in sys.argv[2:]:
    for base, dirs, files in os.walk(top):
        for name in [base] + [os.path.join(base, f) for f in files]:
            try:
                if os.lstat(name).st_uid == uid:
                    print(name)
            except FileNotFoundError:
                pass
"""


def _hostvars():
    listing = json.loads(fh.ok(fh.run(["ansible-inventory", "-i", fh.INVENTORY, "--list"], env=fh.tool_env())))
    return listing["_meta"]["hostvars"]


def adhoc(pattern, *argv):
    """ansible PATTERN ... against the scenario's inventory (its own connection settings, not Molecule's cfg)."""
    env = fh.tool_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    env.pop("ANSIBLE_CONFIG", None)
    result = fh.run(["ansible", "-i", fh.INVENTORY, pattern] + list(argv), env=env, cwd=str(fh.ROOT))
    result.json = json.loads(result.out)
    return result


def _adhoc_results(result):
    return dict((host, res) for play in result.json["plays"] for task in play["tasks"]
                for host, res in task["hosts"].items())


def test_inventory_connects_as_ops_over_ssh_with_become():
    for host, hv in sorted(_hostvars().items()):
        # Molecule's per-host connection and the demo's group_vars, resolved as Ansible will use them
        assert hv["ansible_connection"] == "ssh", host
        assert hv["ansible_user"] == "ops", host
        assert hv["ansible_become"] is True, host
        assert hv["ansible_pipelining"] is True, host
        assert hv["ansible_host"] == "127.0.0.1", host
        args = hv["ansible_ssh_common_args"]
        assert "StrictHostKeyChecking=yes" in args and "StrictHostKeyChecking=no" not in args, args
        assert "ControlPersist=" in args, args


def test_host_keys_are_pinned_from_the_containers():
    """known_hosts holds, for each host's address, exactly the key the container has (read via podman exec)."""
    ssh_dir = os.environ["CODEX_SSH_DIR"]
    with open(os.path.join(ssh_dir, "known_hosts")) as handle:
        lines = [line.split() for line in handle if line.strip()]
    for host, hv in sorted(_hostvars().items()):
        key = fh.ok(fh.on(host, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")).split()[:2]
        entries = [line[1:3] for line in lines if line[0] == "[127.0.0.1]:%s" % hv["ansible_port"]]
        assert entries == [key], (host, entries)


@pytest.mark.parametrize("host", fh.EVERY)
def test_sshd_listens_on_loopback_only(host):
    sockets = fh.ok(fh.on(host, "ss", "-Hltnp")).splitlines()
    sshd = [line.split()[3] for line in sockets if "sshd" in line]
    assert sshd == ["127.0.0.1:%s" % _hostvars()[host]["ansible_port"]], sockets


def test_modules_run_as_root_through_sudo_and_as_ops_without():
    become = _adhoc_results(adhoc("all", "-m", "ansible.builtin.command", "-a", "id -un"))
    plain = _adhoc_results(adhoc("all", "-m", "ansible.builtin.command", "-a", "id -un", "-e",
                                 "ansible_become=false"))
    assert sorted(become) == sorted(plain) == sorted(fh.EVERY)
    assert set(r["stdout"] for r in become.values()) == {"root"}, become
    assert set(r["stdout"] for r in plain.values()) == {"ops"}, plain


def test_check_mode_over_ssh_changes_nothing():
    before = dict((h, fh.snapshot(h)) for h in fh.EVERY)
    result = fh.playbook(fh.PLAYBOOKS / "site.yml", "--check")
    assert result.rc == 0, repr(result)
    stats = fh.recap(result)
    assert sorted(stats) == sorted(fh.EVERY), stats
    assert dict((h, s["changed"]) for h, s in stats.items()) == dict((h, 0) for h in fh.EVERY), stats
    assert dict((h, fh.snapshot(h)) for h in fh.EVERY) == before


@pytest.mark.parametrize("host", fh.EVERY)
def test_nothing_the_roles_wrote_belongs_to_the_operator(host):
    uid = fh.ok(fh.on(host, "id", "-u", "ops")).strip()
    owned = fh.ok(fh.python(host, OWNED_BY, uid, *fh.WATCHED)).split()
    assert owned == [], owned


@pytest.mark.parametrize("host", fh.EVERY)
def test_no_module_left_in_the_operators_temp_dirs(host):
    """Pipelined: no module payload or leftover in ~ops/.ansible/tmp, root's, or /tmp after every run so far."""
    left = fh.ok(fh.on(host, "sh", "-c", "find /home/ops/.ansible/tmp /root/.ansible/tmp -mindepth 1 2>/dev/null;"
                                         " find /tmp /var/tmp -mindepth 1 -name 'ansible*' 2>/dev/null; true"))
    assert left.split() == [], left


PREFLIGHT = [("torch_cpu", "ml_nodes", fh.ML[0], "it builds /opt/codex/venv"),
             ("hf_offline_cache", "ci_runners", fh.CI[0], "it writes /etc/profile.d/hf-offline.sh"),
             ("ci_gates", "ci_runners", fh.CI[0], "it builds /opt/codex/gates")]


# Each role's first task: its input checks and the root check (codex.offline_ml.role_plan).
ROOT_TASK = "the tasks run as root"


@pytest.mark.parametrize("role,group,host,why", PREFLIGHT, ids=[p[0] for p in PREFLIGHT])
def test_become_off_fails_in_the_roles_preflight(role, group, host, why):
    """become: false -> the role's first preflight task fails on that host, naming the role and why it needs
    root; the host is left as it was. site.yml applies only ROLE (site_role_groups), so each role's own
    preflight is what stops."""
    before = fh.snapshot(host)
    result = fh.playbook(fh.PLAYBOOKS / "site.yml", "--limit", host, "-e", "ansible_become=false",
                         "-e", json.dumps({"site_role_groups": {role: [group]}}))
    assert result.rc != 0, repr(result)
    fails = fh.failures(result)
    # The role's failure (site.yml rescues it, so the other hosts and the run's summary go on), then the summary
    # play failing the host again with the same task and message, so that the run ends failed.
    assert [h for _t, h, _m in fails] == [host, host], fails
    assert fails[0][0].endswith(ROOT_TASK), fails
    assert fails[1][0] == "Fail each host that failed above, with its task and message (the run ends failed)", fails
    assert fails[1][2] == fails[0][0].split(" : ")[-1] + ": " + fails[0][2], fails
    msg = fails[0][2]
    assert msg.startswith("%s needs root on %s: %s" % (role, host, why)), msg
    assert "remote user ops" in msg and "become: true" in msg and "Nothing was changed" in msg, msg
    assert fh.snapshot(host) == before
