"""playbooks/audit.yml over the converged fleet: the report's verdicts, and its facts checked against what the
hosts really hold (asked here directly, not through the audit)."""

import json
import os
import re

import pytest

import fleet_helpers as fh

# The verdicts of a freshly converged fleet: every check that applies passes, the others are n/a.
EXPECTED = {
    "ml_nodes": {"torch": "pass", "wheels:torch+hf": "pass", "wheels:hf": "n/a", "exports": "pass", "hf_cache": "pass",
                 "wheels:gates": "n/a", "gates": "n/a", "release": "pass", "mirror": "n/a"},
    # the runner's /opt/codex/venv is hf_offline_cache's alone (huggingface_hub, no torch): its column says so
    "ci_runners": {"torch": "n/a", "wheels:torch+hf": "n/a", "wheels:hf": "pass", "exports": "pass", "hf_cache": "pass",
                   "wheels:gates": "pass", "gates": "pass", "release": "pass", "mirror": "n/a"},
    # the mirror host has none of the nodes' roles: its one check is the release it serves
    "mirror_hosts": {"torch": "n/a", "wheels:torch+hf": "n/a", "wheels:hf": "n/a", "exports": "n/a", "hf_cache": "n/a",
                     "wheels:gates": "n/a", "gates": "n/a", "release": "n/a", "mirror": "pass"},
}

LIST_DISTS = ("import json; from importlib import metadata; "
              "print(json.dumps(dict((d.metadata['Name'], d.version) for d in metadata.distributions())))")


def _norm(name):
    return name.lower().replace("_", "-").replace(".", "-")


def test_audit_play_succeeds_and_changes_nothing(clean_audit):
    assert clean_audit.result.rc == 0, repr(clean_audit.result)
    counts = fh.recap(clean_audit.result)
    assert sorted(counts) == sorted(fh.EVERY), counts
    assert all(c["changed"] == 0 and c["failures"] == 0 for c in counts.values()), counts
    before, after = clean_audit.snapshots
    assert before == after


def test_every_host_is_compliant(clean_audit):
    doc = clean_audit.doc
    assert doc["schema"] == 1
    assert doc["compliant"] is True, json.dumps(doc["summary"])
    assert doc["summary"]["hosts"] == 4 and doc["summary"]["noncompliant_hosts"] == []
    assert [h["host"] for h in doc["hosts"]] == sorted(fh.EVERY)


@pytest.mark.parametrize("group", sorted(fh.GROUPS))
def test_verdicts_follow_the_groups(clean_audit, group):
    for name in fh.GROUPS[group]:
        got = dict((c, v["status"]) for c, v in clean_audit.host(name)["checks"].items())
        assert got == EXPECTED[group], (name, got)


@pytest.mark.parametrize("name", fh.ALL)
def test_os_and_python_are_the_hosts(clean_audit, name):
    record = clean_audit.host(name)
    assert record["os"]["distribution"] == "Debian"
    assert record["os"]["version"] == fh.ok(fh.on(name, "cat", "/etc/debian_version")).strip()
    assert record["python"] == fh.ok(fh.python(name, "import platform; print(platform.python_version())")).strip()


@pytest.mark.parametrize("name", fh.ML)
def test_torch_details_are_the_hosts_diagnostic(clean_audit, name):
    diag = fh.torch_check(name)
    details = clean_audit.check(name, "torch")["details"]
    assert (details["version"], details["cuda_version"], details["cpu_build"]) == (
        diag["version"], diag["cuda_version"], diag["cpu_build"])
    assert details["git_version"] == diag["build"]["git_version"]


@pytest.mark.parametrize("name, check, venv", [(n, "wheels:torch+hf", fh.VENV) for n in fh.ML]
                         + [(n, "wheels:hf", fh.VENV) for n in fh.CI]
                         + [(n, "wheels:gates", fh.GATES_VENV) for n in fh.CI])
def test_wheel_versions_are_what_the_venv_holds(clean_audit, name, check, venv):
    held = json.loads(fh.ok(fh.on(name, venv + "/bin/python", "-I", "-c", LIST_DISTS)))
    held = dict((_norm(k), v) for k, v in held.items())
    dists = clean_audit.check(name, check)["details"]["dists"]
    assert dict((_norm(k), e["version"]) for k, e in dists.items()) == held
    assert all(e["sha256"] for k, e in dists.items() if e["verdict"] == "ok")


@pytest.mark.parametrize("name", fh.ALL)
def test_exports_are_the_login_shells(clean_audit, name):
    env = json.loads(fh.ok(fh.login(name, "python3 -c 'import json, os; print(json.dumps(dict(os.environ)))'")))
    values = clean_audit.check(name, "exports")["details"]["values"]
    assert values and values == dict((k, env.get(k)) for k in values)


@pytest.mark.parametrize("name", fh.ALL)
def test_hf_cache_commit_is_the_hosts_ref(clean_audit, name):
    commit = os.environ["CODEX_HF_TINY_BERT_COMMIT"]
    ref = fh.ok(fh.on(name, "cat", fh.HUB_CACHE + "/models--codex-test--tiny-bert/refs/main")).strip()
    requested = clean_audit.check(name, "hf_cache")["details"]["requested"]
    assert [(r["commit"], r["resolves_offline"]) for r in requested] == [(commit, True)]
    assert ref == commit


def test_ml_nodes_do_not_drift_apart(clean_audit):
    """Drift separates groups (the CI runner's hf venv has no torch), never the two identical ML nodes."""
    for entry in clean_audit.doc["drift"]:
        for value in entry["values"]:
            assert set(fh.ML) <= set(value["hosts"]) or not set(fh.ML) & set(value["hosts"]), entry


def test_junit_agrees_with_fleet_json(clean_audit):
    assert clean_audit.junit_verdicts() == clean_audit.verdicts()
    assert int(clean_audit.junit.get("failures", "0")) == 0


def test_html_shows_every_host_and_check_with_its_verdict(clean_audit):
    assert clean_audit.html_verdicts() == clean_audit.verdicts()
    assert "COMPLIANT: all" in clean_audit.html
    html = clean_audit.html
    # self-contained: read offline, so nothing is fetched from anywhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "<link" not in html.lower()
