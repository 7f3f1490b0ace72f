"""Every phase tag the roles' READMEs name, run alone through site.yml on the converged fleet (an ML node and the CI
runner): each works, changes nothing and runs its phase's own work, the read-only preflight first (a phase tag
alone once failed on a variable only the install phase set: `--tags torch_cpu_verify`). And a role applied twice in
one play (two include_role) leaves the same facts file as once."""

import json
import re

import pytest

import fleet_helpers as fh

ROLES = ("torch_cpu", "hf_offline_cache", "ci_gates")
# The phase tags each README names, and a task each phase must run (not skip) on a converged host of its group:
# the tag selected the phase, not nothing. The install phases change nothing on a converged host and skip their
# builds, and the preflight phases run under any tag (also `always`), so only success and no change are asked of
# those. The fleet's CI runner gates no project: its verify phase checks the gate venv alone.
RUNS = {
    "torch_cpu_preflight": None,
    "torch_cpu_install": None,
    "torch_cpu_configure": "Install the diagnostic package (codex_ml.utils.torch_checks), the host command and the python command",
    "torch_cpu_verify": "Write the diagnostic as static local facts (ansible_local.torch_cpu)",
    "hf_offline_cache_preflight": None,
    "hf_offline_cache_install": "Create the cache group and directories, and keep them writable for every member of the group",
    "hf_offline_cache_configure": "Write the exports for login shells and services, and the local facts (ansible_local.hf_offline_cache)",
    "hf_offline_cache_verify": "Describe the cache and fail naming any requested repo that does not resolve offline",
    "ci_gates_preflight": None,
    "ci_gates_install": "Install the floor resolution, the pytest guard (with its pytest11 entry point) and the torch diagnostic",
    "ci_gates_configure": "Install the gate command, the nox command and the gate settings",
    "ci_gates_verify": "Check the gate venv imports the helpers from the lib directory and sees the guard's entry point (read-only)",
}
HOSTS = [fh.ML[0], fh.CI[0]]


def documented_tags():
    tags = set()
    for role in ROLES:
        text = (fh.ROOT / "roles" / role / "README.md").read_text()
        tags.update(re.findall(r"`(%s_(?:preflight|install|configure|verify))`" % role, text))
    return tags


def test_the_readmes_name_exactly_these_tags():
    assert documented_tags() == set(RUNS)


RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def hosts_of(role):
    """The converged hosts the role applies to: an ML node, the CI runner, or both."""
    return {"torch_cpu": [fh.ML[0]], "ci_gates": [fh.CI[0]]}.get(role, HOSTS)


def site(hosts, *extra):
    """site.yml with the default callback, hosts in lockstep (the JSON callback loses track of results under
    --tags with the free strategy): (rc, output, {host: changed})."""
    env = fh.tool_env(ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_PIPELINING="True")
    env.pop("ANSIBLE_CONFIG", None)
    result = fh.run(["ansible-playbook", "-i", fh.INVENTORY, str(fh.PLAYBOOKS / "site.yml"), "-e", "site_strategy=linear",
                     "--limit", ",".join(hosts)] + list(extra), env=env, timeout=900, cwd=str(fh.ROOT))
    changed = dict((m.group(1), int(m.group(3))) for m in RECAP.finditer(result.out))
    return result, changed


def ran(out, task, host):
    """Whether TASK ran (ok or changed, not skipped) on HOST in a default-callback output."""
    for block in out.split("\nTASK [")[1:]:
        header = block.split("\n", 1)[0]
        body = block[len(header):]
        if header.split("]")[0].split(" : ")[-1] == task:
            if re.search(r"^(ok|changed): \[%s[\] ]" % re.escape(host), body, re.M):
                return True
    return False


@pytest.mark.parametrize("tag", sorted(RUNS))
def test_each_phase_tag_alone_works_and_changes_nothing(tag):
    hosts = hosts_of(tag.rsplit("_", 1)[0])
    before = dict((host, fh.snapshot(host)) for host in hosts)
    result, changed = site(hosts, "--tags", tag)
    assert result.rc == 0, result.out[-4000:]
    assert changed == dict((host, 0) for host in hosts), changed
    if RUNS[tag]:
        assert ran(result.out, RUNS[tag], hosts[0]), "%s ran nothing of its phase on %s:\n%s" % (tag, hosts[0], result.out[-4000:])
    assert dict((h, fh.snapshot(h)) for h in hosts) == before


TWICE = """---
- name: hf_offline_cache applied twice in one play
  hosts: %s
  gather_facts: false
  become: true
  tasks:
    - name: First
      ansible.builtin.include_role:
        name: codex.offline_ml.hf_offline_cache
    - name: Second
      ansible.builtin.include_role:
        name: codex.offline_ml.hf_offline_cache
"""


def test_a_role_applied_twice_in_one_play_writes_its_own_facts(tmp_path):
    """The second application once wrote the first one's hf_cache_facts result into hf_offline_cache.fact (a
    registered variable outranked the task variable of the same name)."""
    host = fh.ML[0]
    facts = "/etc/ansible/facts.d/hf_offline_cache.fact"
    before = json.loads(fh.ok(fh.on(host, "cat", facts)))
    play = tmp_path / "twice.yml"
    play.write_text(TWICE % host)
    result = fh.playbook(play)
    assert result.rc == 0, fh.failures(result)
    assert fh.recap(result)[host]["changed"] == 0
    after = json.loads(fh.ok(fh.on(host, "cat", facts)))
    assert after == before
    assert sorted(after) == ["env_file", "environment", "group", "profile_script", "schema", "token_path", "venv"]
