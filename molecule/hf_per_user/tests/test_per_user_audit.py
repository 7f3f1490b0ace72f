"""The audit of a per_user host (hf_offline_cache's audit entry point over the real host, each user's cache scanned
as that user, judged by the report's rule): every user's cache passes; one user's lost blob fails the host naming
the user and the file. Runs after test_hf_per_user.py (file order) and puts the blob back."""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "build", "collections"))

# the report's own rule, as fleet_report applies it to the record
from ansible_collections.codex.offline_ml.plugins.module_utils._report_rules import (  # noqa: E402
    check_hf_cache)  # pylint: disable=import-error,wrong-import-position

BLOB_DIR = "/home/bob/.cache/huggingface/hub/models--codex-test--tiny-bert/blobs"


def audit_hf_cache():
    """The role's audit entry point over the scenario's inventory; the hf_cache part of the host's record."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "MOLECULE_INVENTORY_FILE is not set: run through molecule verify"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "hf_cache.json")
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
                   ANSIBLE_PIPELINING="True")
        proc = subprocess.run(["ansible-playbook", "-i", inventory, os.path.join(HERE, "..", "audit_hf.yml"),
                               "-e", "codex_audit_out=%s" % out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=env, cwd=ROOT, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout.decode("utf-8", "replace")[-4000:]
        with open(out) as handle:
            return json.load(handle)


def test_the_audit_scans_each_users_cache_and_fails_naming_the_user_and_file(host):
    record = audit_hf_cache()
    assert [(u["user"], u["facts"]["cache_dir"]) for u in record["users"]] == [
        ("ann", "/home/ann/.cache/huggingface/hub"), ("bob", "/home/bob/.cache/huggingface/hub")]
    check = check_hf_cache({"hf_cache": record})[0]
    assert check["status"] == "pass", check

    blobs = host.check_output("ls %s" % BLOB_DIR).split()
    largest = max(blobs, key=lambda b: int(host.check_output("stat -c %%s %s/%s" % (BLOB_DIR, b))))
    host.check_output("mv %s/%s /root/held-blob" % (BLOB_DIR, largest))
    try:
        check = check_hf_cache({"hf_cache": audit_hf_cache()})[0]
    finally:
        host.check_output("mv /root/held-blob %s/%s" % (BLOB_DIR, largest))
    assert check["status"] == "fail", check
    problems = check["details"]["problems"]
    # huggingface_hub's scan sees the broken link; the record check names the file that lost its blob
    assert all(p.startswith("bob: ") for p in problems), problems
    assert any(p.startswith("bob: model codex-test/tiny-bert@") and "incomplete" in p and "model.safetensors" in p
               for p in problems), problems
