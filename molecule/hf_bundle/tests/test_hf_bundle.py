"""hf_offline_cache seeded from a bundle staged by playbooks/stage_hf.yml; a tampered bundle is rejected."""

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared", "testinfra"))

import hf_checks as hc  # noqa: E402
# pytest collects the shared checks (hf_checks.__all__) from this module.
from hf_checks import *  # noqa: E402,F401,F403  pylint: disable=wildcard-import,unused-wildcard-import

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUNDLE = os.path.join(PROJECT, "build", "hf-bundle", "hf-bundle.tar")
SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def test_bundle_was_pushed_next_to_its_manifest(host):
    for name in ("hf-bundle.tar", "hf-bundle.tar.manifest.json"):
        f = hc.tc.fast(host).file("/var/cache/codex/hf-bundles/" + name)
        assert f.exists and f.user == "root" and f.mode == 0o644
    assert hc.tc.fast(host).file("/var/cache/codex/hf-bundles/hf-bundle.tar").sha256sum == \
        subprocess.check_output(["sha256sum", BUNDLE], universal_newlines=True).split()[0]


def test_no_endpoint_is_exported(host):
    assert "HF_ENDPOINT" not in hc.login_env(host)


def test_own_venv_for_huggingface_hub(host):
    # The role built /opt/codex/hf-venv from the hash-pinned lock; torch_cpu's venv is another one.
    venv = hc.tc.fast(host).file("/opt/codex/hf-venv")
    assert venv.is_symlink and "/opt/codex/.hf-venv.releases/" in venv.linked_to
    out = hc.tc.fast(host).run("/opt/codex/hf-venv/bin/python -I -c 'import huggingface_hub; print(huggingface_hub.__version__)'")
    assert out.stdout.strip() == "2.4.0"
    assert hc.tc.fast(host).run("/opt/codex/hf-venv/bin/python -I -c 'import torch'").rc != 0


# ------------------------------------------------------------------ a tampered bundle
def cache_fingerprint(host):
    """Every path under HF_HOME with type, mode, owner, group, size, link target, and the sha256 of every file."""
    listing = hc.tc.fast(host).run("find %s -printf '%%p %%y %%m %%u %%g %%s %%l\\n' | sort" % hc.HOME)
    sums = hc.tc.fast(host).run("find %s -type f -exec sha256sum {} + | sort" % hc.HOME)
    assert listing.rc == 0 and sums.rc == 0
    return listing.stdout + sums.stdout


def tamper(src, dest_dir, reseal=False):
    """Copy the bundle and its manifest; flip one byte inside the safetensors blob of the copy. With RESEAL the
    manifest's sha256 of the whole tar is updated (a corrupted transfer, or someone who fixed only that): the host
    then fetches the tar, and only the per-file check can catch it. Returns (path, member)."""
    os.makedirs(dest_dir, exist_ok=True)
    dest = os.path.join(dest_dir, "hf-bundle.tar")
    shutil.copy(src, dest)
    with tarfile.open(dest) as tar:
        member = [m for m in tar.getmembers() if m.isreg() and m.size > 30000][0]
    with open(dest, "r+b") as handle:
        handle.seek(member.offset_data + 1234)
        byte = handle.read(1)
        handle.seek(member.offset_data + 1234)
        handle.write(bytes([byte[0] ^ 0x55]))
    with open(src + ".manifest.json") as handle:
        manifest = json.load(handle)
    if reseal:
        with open(dest, "rb") as handle:
            manifest["bundle_sha256"] = hashlib.sha256(handle.read()).hexdigest()
    with open(dest + ".manifest.json", "w") as handle:
        json.dump(manifest, handle)
    return dest, member.name


def apply_role(*extra):
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "MOLECULE_INVENTORY_FILE is not set: run this through molecule verify"
    cmd = ["ansible-playbook", "-i", os.path.dirname(inventory), os.path.join(SCENARIO, "tampered.yml")]
    for item in extra:
        cmd += ["-e", item]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          check=False, timeout=600)


def test_tampered_bundle_from_the_controller_is_rejected(host, tmp_path):
    before = cache_fingerprint(host)
    bundle, member = tamper(BUNDLE, str(tmp_path / "tampered"))
    run = apply_role("hf_offline_cache_bundle_src=%s" % bundle)
    assert run.returncode != 0, run.stdout
    assert "bundle %s: %s does not match the manifest: sha256 " % (bundle, member) in run.stdout, run.stdout[-3000:]
    assert "nothing was changed in the cache" in run.stdout
    assert cache_fingerprint(host) == before


@pytest.fixture
def served(tmp_path):
    """A plain HTTP server on 127.0.0.1 (the container shares the host's network) serving TMP_PATH/served."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_tampered_bundle_fetched_by_the_host_is_rejected_on_the_host(host, served):
    root, url = served
    before = cache_fingerprint(host)
    _bundle, member = tamper(BUNDLE, str(root), reseal=True)
    run = apply_role("hf_offline_cache_bundle_src=", "hf_offline_cache_bundle_url=%s/hf-bundle.tar" % url)
    assert run.returncode != 0, run.stdout
    expected = "bundle /var/cache/codex/hf-bundles/hf-bundle.tar: %s does not match the manifest" % member
    assert expected in run.stdout, run.stdout[-3000:]
    assert cache_fingerprint(host) == before
    # Put the good bundle back where the host keeps it, so a later converge finds nothing to do.
    shutil.copy(BUNDLE, str(root / "hf-bundle.tar"))
    shutil.copy(BUNDLE + ".manifest.json", str(root / "hf-bundle.tar.manifest.json"))
    run = apply_role("hf_offline_cache_bundle_src=", "hf_offline_cache_bundle_url=%s/hf-bundle.tar" % url)
    assert run.returncode == 0, run.stdout[-3000:]
    assert cache_fingerprint(host) == before
