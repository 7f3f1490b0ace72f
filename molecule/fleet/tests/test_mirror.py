"""The mirror host in the fleet: it serves the release the controller staged and signed, the nodes installed from
it (its own access log says so, not our reading of the roles), the audit shows it, and a node converging while it
is down stops in preflight naming it, its host left as it was."""

import json
import os
import re
import time

import pytest

import fleet_helpers as fh

MIRROR = fh.MIRROR[0]
SERVICE = "codex-offline-mirror"
URL = "http://127.0.0.1:18180/"
TORCH_WHEEL = re.compile(r"GET /packages/torch-2\.13\.0(\+|%2B)cpu-cp311-cp311-")


def _access_log():
    """gunicorn's access log of the mirror's service (its stdout, in the journal): one line per request."""
    return fh.ok(fh.on(MIRROR, "journalctl", "-u", SERVICE, "--no-pager", "-o", "cat"))


def test_the_mirror_serves_the_staged_release():
    fact = json.loads(fh.ok(fh.on(MIRROR, "cat", "/etc/ansible/facts.d/offline_mirror.fact")))
    assert fact["release"] == os.environ["CODEX_LAB_RELEASE_ID"], fact
    assert fact["signer"] == "stager@lab" and fact["health"]["ok"] is True, fact
    staged = os.path.join(os.environ["CODEX_LAB_RELEASE_DIR"], fact["release"], "manifest.json")
    with open(staged, "rb") as handle:
        staged_bytes = handle.read()
    served = fh.ok(fh.python(fh.ML[0], "import sys, urllib.request; sys.stdout.buffer.write("
                             "urllib.request.urlopen(sys.argv[1]).read())", URL + "release/manifest.json"))
    assert served.encode() == staged_bytes


def test_every_node_downloaded_its_wheels_and_bundle_from_the_mirror_host():
    log = _access_log()
    fetched = [line for line in log.splitlines() if " 200 " in line]
    assert [line for line in fetched if TORCH_WHEEL.search(line)], [line for line in fetched if "torch" in line]
    assert [line for line in fetched if "GET /release/hf/hf-bundle.tar HTTP" in line], fetched[-20:]
    # the CI runner's gates: coverage is compiled per Python, its cp313 wheel came from the mirror host too
    assert [line for line in fetched if re.search(r"GET /packages/coverage-[^ ]*-cp313-", line)], fetched[-40:]


def test_the_report_shows_the_mirror_hosts_release_and_signature(clean_audit):
    check = clean_audit.check(MIRROR, "mirror")
    assert check["status"] == "pass", check
    details = check["details"]
    assert details["release"] == os.environ["CODEX_LAB_RELEASE_ID"]
    assert details["signer"] == "stager@lab" and details["signature"] == "signed by stager@lab"
    assert details["health"]["ok"] is True
    assert [h["release"] for h in clean_audit.doc["mirror"]["hosts"]] == [details["release"]]
    for name in fh.ALL:
        assert clean_audit.check(name, "release")["status"] == "pass", (name, clean_audit.check(name, "release"))


@pytest.fixture(scope="module")
def mirror_down():
    """site.yml on one ML node while the mirror's service is stopped; the service is started again after."""
    host = fh.ML[0]
    fh.ok(fh.on(MIRROR, "systemctl", "stop", SERVICE))
    try:
        before = fh.snapshot(host)
        result = fh.playbook(fh.PLAYBOOKS / "site.yml", "--limit", host)
        yield host, before, result
    finally:
        fh.ok(fh.on(MIRROR, "systemctl", "start", SERVICE))
        for _attempt in range(60):
            if fh.python(fh.ML[0], "import urllib.request; urllib.request.urlopen(%r)" % (URL + "simple/")).rc == 0:
                break
            time.sleep(1)


def test_a_node_fails_in_preflight_naming_the_mirror_host(mirror_down):
    host, _before, result = mirror_down
    assert result.rc != 0, repr(result)
    failures = fh.failures(result)
    # the preflight task, then site.yml's summary failing the host again with the same message
    assert set(h for _task, h, _msg in failures) == {host}, repr(result)
    task, _host, msg = failures[0]
    assert task.endswith("Check the mirror host's signed release and that it lists the bundle (changes nothing)"), task
    assert msg.startswith("the mirror host %s (%srelease/) does not answer" % (MIRROR, URL)), msg
    assert "converge it first" in msg, msg
    assert fh.recap(result)[host]["changed"] == 0


def test_the_node_is_left_as_it_was(mirror_down):
    host, before, _result = mirror_down
    assert fh.snapshot(host) == before
