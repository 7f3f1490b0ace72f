"""torch_cpu asked for on a Debian 13 host: the mirror has no torch wheel for its Python (cp313), so the role stops
in preflight with a message naming the Python tag and the packages, and the host is left exactly as it was."""

import os

import pytest

import fleet_helpers as fh


@pytest.fixture(scope="module")
def attempt():
    host = fh.CI[0]
    before = fh.snapshot(host)
    result = fh.playbook(fh.SCENARIO / "torch_on_ci_runner.yml")
    return host, before, result


def test_play_fails_once_on_the_runner(attempt):
    host, _before, result = attempt
    assert result.rc != 0, repr(result)
    assert [h for _task, h, _msg in fh.failures(result)] == [host], repr(result)


def test_message_names_the_python_tag_and_torch(attempt):
    _host, _before, result = attempt
    msg = fh.failures(result)[0][2]
    print(msg)
    prefix = "no wheel in mirror %s fits this host (Python tag cp313, platform " % os.environ["CODEX_INDEX_URL"]
    assert msg.startswith(prefix), msg
    assert "torch==2.13.0+cpu (mirror has only torch-2.13.0+cpu-cp311-cp311-" in msg
    assert msg.endswith("Fix: stage wheels for this host's Python/platform, or do not apply this role to the host")


def test_failure_is_in_preflight_before_any_change(attempt):
    _host, _before, result = attempt
    task = fh.failures(result)[0][0]
    assert task.endswith("Check the mirror holds a wheel for this host for every pin"), task
    assert task in [t["task"]["name"] for t in _tasks_of(result, "preflight")]
    assert fh.recap(result)[fh.CI[0]]["changed"] == 0


def test_host_is_unchanged(attempt):
    host, before, _result = attempt
    assert fh.snapshot(host) == before
    assert fh.on(host, "test", "-e", fh.TORCH_COMMAND).rc == 1


def _tasks_of(result, phase):
    """The tasks that ran from the offline_venv role's tasks/PHASE.yml."""
    return [t for play in result.json["plays"] for t in play["tasks"]
            if t["task"].get("path", "").split(":")[0].endswith("roles/offline_venv/tasks/%s.yml" % phase)]
