# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/stage.yml end to end on the controller, with real parts: two pypiservers on 127.0.0.1 (one stands in
for the PyTorch CPU index with the real torch wheel, one for PyPI with the rest of the staged closure), the olah
Hub mirror serving the tiny BERT, huggingface_hub 2.4 in olah's venv as the staging interpreter, and a signing key
made here by ssh-keygen. The release is judged by the command-line verifier run as a person runs it (a bare
python3 on the copied file), the SBOM by the CycloneDX schema; then a delta for one changed pin, and a target
without wheels refused before any download.
Needs the test mirrors (make integration).
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

import integration_helpers as h

VERIFY = h.REPO_ROOT / "plugins" / "module_utils" / "_release_verify.py"
STAGE_PYTHON = h.REPO_ROOT / "build" / "olah-venv" / "bin" / "python"
COMMITTED_LOCKS = h.REPO_ROOT / "molecule" / "_shared" / "locks"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The connected side's world: the two indexes (torch alone on one), a signing key, its allowed_signers."""
    base = tmp_path_factory.mktemp("stage-release")
    torch, _version = h.locked_wheel("torch_cpu.txt", "torch")
    cpu = base / "cpu-index"
    cpu.mkdir()
    os.link(str(h.MIRROR_DIR / "wheels" / torch), str(cpu / torch))
    pypi = h.link_wheels(base / "pypi-index", exclude=[torch])
    key = base / "release_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stager@lab", "-f", str(key)], check=True)
    allowed = base / "allowed_signers"
    allowed.write_text('stager@lab namespaces="codex.offline_ml-release" %s\n' % " ".join(
        (base / "release_ed25519.pub").read_text().split()[:2]))
    with h.index_server(cpu) as cpu_url, h.index_server(pypi) as pypi_url:
        yield {"base": base, "cpu": cpu_url, "pypi": pypi_url, "key": str(key), "allowed": str(allowed),
               "torch": torch}


def stage(lab, release_id, sets, **more):
    config = {
        "stage_release_id": release_id, "stage_releases_dir": str(lab["base"] / "releases"),
        "stage_signing_key": lab["key"], "stage_wheels_sets": sets,
        "stage_wheels_index_url": lab["pypi"], "stage_wheels_package_indexes": {"torch": lab["cpu"]},
        "stage_wheels_lock_dir": str(COMMITTED_LOCKS), "stage_wheels_progress_poll": 0,
        "stage_hf_python": str(STAGE_PYTHON), "stage_hf_endpoint": os.environ["CODEX_HF_MIRROR_URL"],
        "stage_hf_repos": [{"repo_id": "codex-test/tiny-bert", "revision": os.environ["CODEX_HF_TINY_BERT_COMMIT"]}],
    }
    config.update(more)
    varfile = lab["base"] / ("%s.json" % release_id)
    varfile.write_text(json.dumps(config))
    argv = [str(h.VENV_BIN / "ansible-playbook"), str(h.REPO_ROOT / "playbooks" / "stage.yml"), "-e", "@%s" % varfile]
    proc = subprocess.run(argv, cwd=str(h.REPO_ROOT), env=h.tool_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=900, check=False)
    return h.Result(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"))


def verify(lab, release, *more):
    """The verifier as a person runs it on the carried disk: a copy of the file, a bare python3 -I."""
    script = lab["base"] / "verify_release.py"
    shutil.copyfile(str(VERIFY), str(script))
    proc = subprocess.run([sys.executable, "-I", str(script), release, "--allowed-signers", lab["allowed"], "--json"]
                          + list(more), stdout=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def full(lab):
    result = stage(lab, "r1", {"torch_cpu": ["torch==2.13.0+cpu"]})
    assert result.rc == 0, result
    print("\n".join(line for line in result.out.splitlines() if '"release ' in line or "MB" in line))
    return str(lab["base"] / "releases" / "r1")


def test_the_release_verifies_and_its_sbom_lists_torch_and_the_tiny_bert(lab, full):
    code, verdict = verify(lab, full)
    assert code == 0 and verdict["ok"], verdict["problems"]
    assert verdict["signer"] == "stager@lab"
    manifest = json.loads(open(os.path.join(full, "manifest.json")).read())
    torch = [f for f in manifest["files"] if f["path"] == "wheels/" + lab["torch"]][0]
    assert torch["index"] == lab["cpu"] and torch["sha256"] == h.lock_hash("torch_cpu.txt", "torch")
    assert [m["repo_id"] for m in manifest["models"]] == ["codex-test/tiny-bert"]
    assert manifest["models"][0]["commit"] == os.environ["CODEX_HF_TINY_BERT_COMMIT"]
    sbom_text = open(os.path.join(full, "sbom.cdx.json")).read()
    # the CycloneDX 1.6 JSON schema, through the library's own validator (not our code)
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom_text, all_errors=True)
    assert errors is None, [str(e) for e in errors]
    sbom = json.loads(sbom_text)
    component = [c for c in sbom["components"] if c["name"] == "torch"][0]
    assert component["hashes"] == [{"alg": "SHA-256", "content": torch["sha256"]}]
    assert component["externalReferences"] == [{"type": "distribution", "url": lab["cpu"]}]
    model = [c for c in sbom["components"] if c["type"] == "machine-learning-model"][0]
    weights = [f for f in manifest["models"][0]["files"] if f["path"] == "model.safetensors"][0]
    assert {"alg": "SHA-256", "content": weights["sha256"]} in [
        hsh for sub in model["components"] if sub["name"] == "model.safetensors" for hsh in sub["hashes"]]
    report = json.loads(open(os.path.join(full, "preflight.json")).read())
    assert report["gaps"] == [] and report["sets"]["torch_cpu"]["scope"] == "lock"


def test_a_second_run_changes_nothing(lab, full):
    before = open(os.path.join(full, "manifest.json")).read()
    result = stage(lab, "r1", {"torch_cpu": ["torch==2.13.0+cpu"]})
    assert result.rc == 0, result
    assert "localhost                  : ok=" in result.out and " changed=0 " in result.out, result.out[-2000:]
    assert open(os.path.join(full, "manifest.json")).read() == before


def test_a_delta_for_one_more_pin_carries_only_the_new_files(lab, full):
    sets = {"torch_cpu": ["torch==2.13.0+cpu"], "torch_cpu_extra": ["torch==2.13.0+cpu", "six==1.17.0"]}
    result = stage(lab, "r2", sets, stage_base=full)
    assert result.rc == 0, result
    delta = str(lab["base"] / "releases" / "r2")
    manifest = json.loads(open(os.path.join(delta, "manifest.json")).read())
    carried = sorted(f["path"] for f in manifest["files"] if f["carried"])
    six, _version = h.locked_wheel("torch_cpu_extra.txt", "six")
    assert carried == ["locks/torch_cpu_extra.txt", "preflight.json", "sbom.cdx.json", "wheels/" + six], carried
    size = sum(f["size"] for f in manifest["files"] if f["carried"])
    whole = sum(f["size"] for f in manifest["files"])
    print("delta r2: %d of %d files, %.2f MB of %.1f MB" % (
        len(carried), len(manifest["files"]), size / 1e6, whole / 1e6))
    code, verdict = verify(lab, delta)
    base_sha = hashlib.sha256(open(os.path.join(full, "manifest.json"), "rb").read()).hexdigest()
    assert code == 1 and verdict["problems"] == [
        "the release is a delta over release r1 (manifest sha256 %s): give its base to verify it" % base_sha]
    code, verdict = verify(lab, delta, "--base", full)
    assert code == 0, verdict["problems"]


def test_a_target_without_wheels_is_refused_before_any_download(lab):
    cache = lab["base"] / "releases-313" / ".stage" / "wheels"
    result = stage(lab, "r313", {"torch_py313": ["torch==2.13.0+cpu"]}, stage_releases_dir=str(lab["base"] /
                                                                                               "releases-313"),
                   stage_wheels_lock_dir="", stage_wheels_set_python_versions={"torch_py313": "3.13"})
    assert result.rc != 0
    assert ("set torch_py313, target cp313 manylinux_2_28_x86_64: torch==2.13.0+cpu: no cp313 wheel for this target; "
            "wheels only for other targets (%s)" % lab["torch"]) in result.out, result.out[-3000:]
    assert not cache.exists() or not list(cache.rglob("*.whl")), "nothing may be downloaded"
    assert not (lab["base"] / "releases-313" / "r313").exists()
