"""The drift case: after converge, one ML node gets the stub torch (same name and version as the real wheel) from
the stub index, the way a wrong --index-url does it. The audit must mark exactly that host and that check,
fleet.json and junit.xml must agree, and audit_fail_on_noncompliant must fail naming it.

These tests run after every other test (conftest.py); the fixture puts the real torch back afterwards, so verify can
run again on the same fleet."""

import json
import os
import re

import pytest

import fleet_helpers as fh

PIN = "torch==2.13.0+cpu"

# Run in the host: "aside" moves the real torch (package and dist-info) out of the venv and puts it back with
# "restore" (renames on one file system: instant, byte for byte); the stub goes in and out with the venv's uv.
ASIDE = r"""
set -eu
sp=$(echo /opt/codex/venv/lib/python3*/site-packages)
keep=/root/.codex-drift-aside
case "$1" in
  aside)
    mkdir "$keep"
    mv "$sp/torch" "$sp"/torch-*.dist-info "$keep"/ ;;
  restore)
    /opt/codex/venv/bin/uv pip uninstall --python /opt/codex/venv/bin/python torch
    mv "$keep"/* "$sp"/
    rmdir "$keep" ;;
esac
"""


def _stub_in(host):
    """The stub from the stub index into the venv, the way a wrong --index-url does it (the real torch set aside)."""
    aside = fh.on(host, "sh", "-c", ASIDE, "drift", "aside")
    assert aside.rc == 0, repr(aside)
    return fh.on(host, fh.VENV + "/bin/uv", "pip", "install", "--python", fh.VENV + "/bin/python", "--no-config",
                 "--no-cache", "--no-deps", "--index-url", os.environ["CODEX_STUB_INDEX_URL"], PIN)


@pytest.fixture(scope="module")
def drifted(clean_audit):
    assert clean_audit.doc["compliant"], (
        "the fleet is not compliant before the drift (did an earlier verify leave a stub behind? "
        "molecule converge -s fleet repairs it): %s" % json.dumps(clean_audit.doc["summary"]))
    host = fh.DRIFT_HOST
    try:
        stub = _stub_in(host)
        assert stub.rc == 0, repr(stub)
        # One audit with the fail option: it writes the report, then fails naming the host.
        yield fh.Audit("-e", "audit_fail_on_noncompliant=true")
    finally:
        restored = fh.on(host, "sh", "-c", ASIDE, "drift", "restore")
        assert restored.rc == 0, repr(restored)


def test_the_host_really_holds_the_stub(drifted):
    res = fh.on(fh.DRIFT_HOST, fh.TORCH_COMMAND)
    assert res.rc == 3, repr(res)
    assert json.loads(res.out)["status"] == "stub"


def test_audit_marks_exactly_that_host_and_check(drifted):
    report = drifted
    assert report.failing() == [(fh.DRIFT_HOST, "torch")]
    assert report.doc["compliant"] is False
    assert report.doc["summary"]["noncompliant_hosts"] == [fh.DRIFT_HOST]
    torch = report.check(fh.DRIFT_HOST, "torch")
    assert torch["summary"] == "torch is stub", torch
    assert any("facts file says status=" in p for p in torch["details"]["problems"]), torch


def test_every_other_verdict_is_as_before(clean_audit, drifted):
    report = drifted
    before = clean_audit.verdicts()
    after = report.verdicts()
    assert before.pop((fh.DRIFT_HOST, "torch")) == "pass"
    assert after.pop((fh.DRIFT_HOST, "torch")) == "fail"
    assert after == before


def test_junit_agrees_with_fleet_json(drifted):
    report = drifted
    assert report.junit_verdicts() == report.verdicts()
    failures = [case for case in report.junit.iter("testcase") if case.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failures] == [(fh.DRIFT_HOST, "torch")]
    assert failures[0].find("failure").get("message") == "torch is stub"
    assert int(report.junit.get("failures")) == report.doc["summary"]["counts"]["fail"] == 1


def test_drift_section_sets_the_host_apart(drifted):
    report = drifted
    torch = [e for e in report.doc["drift"] if e["check"] == "torch"]
    assert torch, report.doc["drift"]
    for entry in torch:
        assert sorted(v["hosts"] for v in entry["values"]) == [[fh.ML[0]], [fh.DRIFT_HOST]], entry


def test_html_marks_the_failing_check(drifted):
    report = drifted
    assert report.html_verdicts() == report.verdicts()
    assert "NOT COMPLIANT: 1 of 4 hosts fail at least one check: %s<" % fh.DRIFT_HOST in report.html
    assert "torch is stub" in report.html


def test_fail_option_fails_naming_the_host(drifted):
    report = drifted
    assert report.result.rc != 0, repr(report.result)
    messages = [msg for _task, _host, msg in fh.failures(report.result)]
    assert len(messages) == 1, repr(report.result)
    print(messages[0])
    match = re.match(r"audit: 1 host of 4 hosts not compliant: (.*) \(report: (.*)\)$", messages[0])
    assert match, messages[0]
    assert match.group(1) == "%s (torch: torch is stub)" % fh.DRIFT_HOST
    assert match.group(2) == str(report.run_dir / "fleet.html")
