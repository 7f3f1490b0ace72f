"""What site.yml left on each host, by group: ML nodes have a healthy CPU torch and the offline cache, the CI
runner (Debian 13) has the gates and the offline cache from cp313 wheels, and no torch."""

import json
import os

import pytest

import fleet_helpers as fh

EXPORTS = {"HF_HOME": "/srv/huggingface", "HF_HUB_CACHE": fh.HUB_CACHE, "TRANSFORMERS_CACHE": fh.HUB_CACHE,
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

RESOLVE = ("from huggingface_hub import snapshot_download; "
           "print(snapshot_download('%s', local_files_only=True))" % fh.REPO)

LOAD = ("from transformers import AutoModel, AutoTokenizer; "
        "tok = AutoTokenizer.from_pretrained('%s'); model = AutoModel.from_pretrained('%s'); "
        "print(type(model).__name__, len(tok('hello world')['input_ids']))" % (fh.REPO, fh.REPO))


@pytest.mark.parametrize("name", fh.ML)
def test_ml_node_torch_is_healthy(name):
    diag = fh.torch_check(name)
    assert (diag["status"], diag["version"], diag["cuda_version"]) == ("ok", "2.13.0+cpu", None), diag


@pytest.mark.parametrize("name", fh.ALL)
def test_offline_exports_in_a_login_shell(name):
    env = json.loads(fh.ok(fh.login(name, "python3 -c 'import json, os; print(json.dumps(dict(os.environ)))'")))
    assert dict((k, env.get(k)) for k in EXPORTS) == EXPORTS


@pytest.mark.parametrize("name", fh.ALL)
def test_seeded_model_resolves_offline(name):
    path = fh.ok(fh.login(name, "%s/bin/python -c \"%s\"" % (fh.VENV, RESOLVE))).strip()
    assert path == "%s/models--codex-test--tiny-bert/snapshots/%s" % (fh.HUB_CACHE, _commit())


def test_ml_node_loads_the_seeded_model_with_transformers():
    """One ML node is enough: both were converged from the same group_vars (the audit compares them)."""
    out = fh.ok(fh.login(fh.ML[0], "%s/bin/python -c \"%s\"" % (fh.VENV, LOAD), timeout=300))
    assert out.split() == ["BertModel", "4"], out


@pytest.mark.parametrize("name", fh.CI)
def test_ci_runner_has_the_gate_on_python_313(name):
    assert fh.ok(fh.on(name, "test", "-x", "/usr/local/bin/codex-gate")) == ""
    version = fh.ok(fh.on(name, fh.GATES_VENV + "/bin/python", "-c", "import sys; print(sys.version_info[:2])"))
    assert version.strip() == "(3, 13)"
    nox = fh.on(name, fh.GATES_VENV + "/bin/nox", "--version")
    assert nox.rc == 0 and (nox.out + nox.err).strip() == "2026.10.20", nox


@pytest.mark.parametrize("name", fh.CI)
def test_ci_runner_venvs_hold_cp313_wheels(name):
    """coverage (gates) and pyyaml (huggingface_hub) are compiled per Python: the cp313 builds were installed."""
    code = ("import sys; from importlib import metadata; d = metadata.distribution(sys.argv[1]); "
            "print([l for l in d.read_text('WHEEL').splitlines() if l.startswith('Tag:')][0])")
    assert "cp313-cp313" in fh.ok(fh.on(name, fh.GATES_VENV + "/bin/python", "-c", code, "coverage"))
    assert "cp313-cp313" in fh.ok(fh.on(name, fh.VENV + "/bin/python", "-c", code, "pyyaml"))


@pytest.mark.parametrize("name", fh.CI)
def test_ci_runner_has_no_torch(name):
    """site.yml's grouping never gives torch_cpu to a CI runner."""
    assert fh.on(name, "test", "-e", fh.TORCH_COMMAND).rc == 1
    assert fh.on(name, fh.VENV + "/bin/python", "-c", "import torch").rc == 1


def _commit():
    return os.environ["CODEX_HF_TINY_BERT_COMMIT"]
