"""torch_stub: a stub torch (imports, no Dataset) is detected and replaced by the official wheel."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared", "testinfra"))

import torch_host as tc  # noqa: E402


def test_prepare_really_started_from_a_stub(host):
    before = json.loads(tc.fast(host).file("/root/stub-diagnostic.json").content_string)
    assert before["status"] == "stub"
    assert any("Dataset" in p for p in before["problems"])


def test_stub_venv_was_replaced_by_a_release(host):
    venv = tc.fast(host).file(tc.VENV)
    assert venv.is_symlink
    leftovers = [r for r in tc.fast(host).run("ls -A /opt/codex/.venv.releases").stdout.split() if not r.startswith(".")]
    assert len(leftovers) == 1, leftovers


def test_dataset_is_present_now(host):
    assert tc.torch_build(host)["dataset"] == "Dataset"


def test_real_compiled_torch(host):
    build = tc.torch_build(host)
    assert (build["version"], build["compiled"]) == ("2.13.0+cpu", True)


def test_diagnostic_is_ok_everywhere(host):
    from_command = tc.command_facts(host)
    assert from_command["status"] == "ok"
    facts = json.loads(tc.fast(host).file(tc.FACTS).content_string)
    assert facts["diagnostic"]["status"] == "ok"
    assert tc.without_volatile(facts["diagnostic"]) == tc.without_volatile(from_command)
