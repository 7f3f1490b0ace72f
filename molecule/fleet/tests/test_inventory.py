"""The inventory Molecule generated is the lab the other tests name: the mirror host, two ML nodes, one CI runner, and the demo's
group_vars (linked into it)."""

import ast
import json
import os
import re

import yaml

import fleet_helpers as fh


def test_hosts_and_groups_are_the_scenarios():
    listing = json.loads(fh.ok(fh.run(["ansible-inventory", "-i", fh.INVENTORY, "--list"], env=fh.tool_env())))
    for group, hosts in fh.GROUPS.items():
        assert sorted(listing[group]["hosts"]) == hosts, listing[group]
    assert sorted(listing["_meta"]["hostvars"]) == sorted(fh.EVERY)


def test_group_vars_are_the_demo_inventorys():
    linked = os.path.realpath(os.path.join(os.path.dirname(fh.INVENTORY), "group_vars"))
    assert linked == os.path.realpath(str(fh.ROOT / "demo" / "inventory" / "group_vars"))


def test_hosts_run_the_debian_release_of_their_group():
    for name in fh.ML + fh.MIRROR:
        assert fh.ok(fh.on(name, "cat", "/etc/debian_version")).startswith("12."), name
    for name in fh.CI:
        assert fh.ok(fh.on(name, "cat", "/etc/debian_version")).startswith("13."), name


def _default_mapping(playbook, var):
    """The default of VAR (a Jinja expression) in the first play of PLAYBOOK: a dict literal, or a variable of a
    file in the play's vars_files (playbooks/vars/role_groups.yml)."""
    play = yaml.safe_load((fh.PLAYBOOKS / playbook).read_text())[0]
    fallback = re.search(r"default\((.*)\)", play["vars"][var], re.S).group(1).strip()
    if fallback.startswith("{"):
        return ast.literal_eval(fallback)
    found = [data[fallback] for data in (yaml.safe_load((fh.PLAYBOOKS / f).read_text()) for f in play.get("vars_files", []))
             if fallback in data]
    assert len(found) == 1, (playbook, var, fallback)
    return found[0]


def test_site_and_audit_share_the_default_role_mapping():
    """What site.yml applies by default is what audit.yml checks by default."""
    site = _default_mapping("site.yml", "__site_role_groups")
    audit = _default_mapping("audit.yml", "__audit_role_groups")
    assert site == audit == {"offline_mirror": ["mirror_hosts"], "torch_cpu": ["ml_nodes"],
                             "hf_offline_cache": ["ml_nodes", "ci_runners"], "ci_gates": ["ci_runners"]}
