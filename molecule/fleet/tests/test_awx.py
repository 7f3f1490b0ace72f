"""site.yml as AWX runs it: through ansible-runner (the engine of AWX jobs, the version execution-environment.yml
installs), from a private data dir laid out as AWX writes one, on one converged host, over the scenario's own
connection (SSH as `ops`, become). docs/awx.md describes the set-up; what AWX itself adds (the EE image, the
job's container) is not run here.

The private data dir:
- project/site.yml: the project repo's thin playbook of docs/awx.md (`import_playbook: codex.offline_ml.site`);
  the collection is installed from its built tarball, as the EE's galaxy stage installs it;
- inventory/hosts: AWX's inventory script (prints the inventory as JSON), here the scenario's inventory exported
  with its group_vars (the demo's), less the private key file: the key comes from the machine credential;
- env/ssh_key: the machine credential (ansible-runner hands it to ssh-agent through a fifo);
- env/envvars: the only environment of the job (ANSIBLE_* settings and the lab's service URLs; nothing is
  inherited from this process), env/extravars (AWX's job vars and the survey's site_hosts), env/settings.
The job's artifacts are read back: status, rc, and the play recap of job_events (changed 0: the host was
converged). The fleet scenario runs in a loopback-only network namespace, so the job cannot reach anything else.
"""

import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

import fleet_helpers as fh

HOST = fh.ML[0]
IDENT = "awx-job-1"
# the job's lab settings: what the demo inventory's group_vars read from the environment
LAB_ENV = ["CODEX_MIRROR_DIR", "CODEX_SSH_DIR", "CODEX_INDEX_URL", "CODEX_HF_MIRROR_URL", "CODEX_HF_TINY_BERT_COMMIT",
           "CODEX_LAB_RELEASE_DIR", "CODEX_LAB_RELEASE_ID"]


def _tool(name):
    """NAME from the venv this verify runs in (ansible-runner, ansible-galaxy are pinned in requirements-dev.txt)."""
    path = shutil.which(name)
    assert path, "%s is not installed: make venv (requirements-dev.txt)" % name
    return path


def _write(path, text, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(str(path), mode)


def _awx_inventory():
    """The scenario's inventory as AWX's inventory script prints it (groups with their vars, _meta.hostvars)."""
    listing = json.loads(fh.ok(fh.run([_tool("ansible-inventory"), "-i", fh.INVENTORY, "--list", "--export"],
                                      env=fh.tool_env())))
    for variables in [listing.get("all", {}).get("vars", {})] + list(listing["_meta"]["hostvars"].values()):
        variables.pop("ansible_ssh_private_key_file", None)
    assert sorted(listing["_meta"]["hostvars"]) == sorted(fh.EVERY), listing
    # awx/main/tasks/jobs.py build_inventory writes exactly this kind of script, mode 0700
    return "#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(listing)


def _stop_control_masters(cp_dir):
    for sock in sorted(cp_dir.glob("*")) if cp_dir.is_dir() else []:
        subprocess.run(["ssh", "-o", "ControlPath=%s" % sock, "-O", "exit", "codex-awx"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30, check=False)


@pytest.fixture(scope="module")
def awx_job():
    key = Path(os.environ["CODEX_SSH_DIR"]) / "ops_ed25519"
    pdd = Path(tempfile.mkdtemp(prefix="awx-", dir=os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")))
    collections = pdd / "collections"
    tarballs = pdd / "tarball"
    fh.ok(fh.run([_tool("ansible-galaxy"), "collection", "build", "--output-path", tarballs, fh.ROOT],
                 env=fh.tool_env()))
    # as the EE's galaxy stage does; with ANSIBLE_COLLECTIONS_PATH at the target only, or ansible-galaxy finds the
    # collection already installed (build/collections, the tests' link to this tree) and installs nothing
    fh.ok(fh.run([_tool("ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "-p", collections]
                 + sorted(tarballs.glob("*.tar.gz")), env=fh.tool_env(ANSIBLE_COLLECTIONS_PATH=str(collections))))
    assert (collections / "ansible_collections" / "codex" / "offline_ml" / "MANIFEST.json").is_file()
    _write(pdd / "project" / "site.yml",
           "---\n- name: Converge the lab\n  ansible.builtin.import_playbook: codex.offline_ml.site\n", 0o644)
    _write(pdd / "inventory" / "hosts", _awx_inventory(), 0o700)
    _write(pdd / "env" / "ssh_key", key.read_text())
    envvars = dict((name, os.environ[name]) for name in LAB_ENV if name in os.environ)
    envvars.update({"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_PIPELINING": "True",
                    "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "False",
                    "ANSIBLE_SSH_CONTROL_PATH_DIR": str(pdd / "cp"), "ANSIBLE_HOST_KEY_CHECKING": "True",
                    "PATH": "%s:/usr/local/bin:/usr/bin:/bin" % Path(_tool("ansible-playbook")).parent})
    _write(pdd / "env" / "envvars", json.dumps(envvars))
    _write(pdd / "env" / "extravars", json.dumps({"awx_job_id": 1, "awx_job_template_name": "converge",
                                                  "site_hosts": HOST}))
    _write(pdd / "env" / "settings", json.dumps({"idle_timeout": 600, "job_timeout": 900,
                                                 "suppress_ansible_output": True}))
    # no variable of this process reaches the job: only what env/envvars gives
    clean = {"PATH": envvars["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    try:
        run = fh.run([_tool("ansible-runner"), "run", pdd, "-p", "site.yml", "--ident", IDENT], env=clean,
                     timeout=900)
    finally:
        sockets = sorted((pdd / "cp").glob("*")) if (pdd / "cp").is_dir() else []
        _stop_control_masters(pdd / "cp")
    # the key's path, not its text: pytest prints fixture values when a test fails
    job = {"pdd": pdd, "run": run, "key_file": key, "artifacts": pdd / "artifacts" / IDENT,
           "sockets": sockets}
    yield job
    # AWX removes the private data dir when the job ends; ansible-runner leaves env/ssh_key in it (the fifo it
    # fed ssh-agent from is gone, test_the_job_leaves_no_secret checks). The rest stays for a look until destroy.
    (pdd / "env" / "ssh_key").unlink()


def _events(job):
    events = [json.loads(p.read_text()) for p in (job["artifacts"] / "job_events").glob("*.json")]
    for event in events:
        event.setdefault("event_data", {})
    return sorted(events, key=lambda e: e["counter"])


def test_the_job_succeeds_and_changes_nothing_on_the_converged_host(awx_job):
    artifacts = awx_job["artifacts"]
    assert awx_job["run"].rc == 0, repr(awx_job["run"])
    assert (artifacts / "status").read_text() == "successful", repr(awx_job["run"])
    assert (artifacts / "rc").read_text() == "0"
    events = _events(awx_job)
    stats = [e["event_data"] for e in events if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1, [e["event"] for e in events]
    recap = stats[0]
    # the survey's site_hosts reached the play: one host processed, ok, no change, no failure
    assert recap["processed"] == {HOST: 1}, recap
    assert sorted(recap["ok"]) == [HOST] and recap["ok"][HOST] > 20, recap
    assert recap["changed"].get(HOST, 0) == 0, recap
    assert not recap["failures"] and not recap["dark"], recap
    # the collection's roles ran from the installed tarball (the EE's copy), over SSH as ops with become
    ran = [e["event_data"] for e in events if e["event"] == "runner_on_ok"]
    roles = set((e.get("role") or "").split(".")[-1] for e in ran)
    assert {"torch_cpu", "hf_offline_cache"} <= roles, roles
    paths = set(e.get("task_path", "").split(":")[0] for e in ran)
    collection = awx_job["pdd"] / "collections" / "ansible_collections" / "codex" / "offline_ml"
    assert paths and all(p.startswith(str(collection)) for p in paths if "/roles/" in p), paths


def test_the_job_reached_the_host_over_ssh_as_ops_with_become_and_the_credentials_key(awx_job):
    # what ansible-playbook read: the inventory script's output
    listing = json.loads(fh.ok(fh.run([awx_job["pdd"] / "inventory" / "hosts"])))
    merged = dict(listing["all"]["vars"], **listing["_meta"]["hostvars"][HOST])
    assert (merged["ansible_connection"], merged["ansible_user"], merged["ansible_become"]) == ("ssh", "ops", True)
    assert "ansible_ssh_private_key_file" not in merged, merged
    # the job opened its own SSH connection (its own ControlPath dir, no master of an earlier run reused) ...
    assert len(awx_job["sockets"]) == 1, awx_job["sockets"]
    # ... with the machine credential, handed to ssh-agent, never in argv
    command = json.loads((awx_job["artifacts"] / "command").read_text())
    argv = " ".join(command["command"])
    assert "ssh-agent" in argv and "ssh-add" in argv, argv
    assert "ops_ed25519" not in argv and "BEGIN OPENSSH" not in argv, argv
    # and the roles' own root check passed through sudo
    verdicts = [e["event_data"] for e in _events(awx_job) if e["event"] == "runner_on_ok"
                and "run as root" in e["event_data"]["task"]]
    assert verdicts and all(v["host"] == HOST for v in verdicts), verdicts


def test_the_job_leaves_no_secret(awx_job):
    pdd = awx_job["pdd"]
    body = [line for line in awx_job["key_file"].read_text().splitlines() if line and not line.startswith("-----")]
    assert body
    assert not (awx_job["artifacts"] / "ssh_key_data").exists(), "ansible-runner left the key's fifo"
    holding = []
    for path in pdd.rglob("*"):
        if path == pdd / "env" / "ssh_key" or not stat.S_ISREG(path.lstat().st_mode):
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        if any(line in text for line in body):
            holding.append(str(path))
    assert holding == [], holding
