"""hf_offline_cache_layout: per_user - each user's own cache, seeded by commit from the olah Hub mirror, loaded
offline by huggingface_hub and transformers in that user's LOGIN SHELL (su -), as the seed's users work."""

import json
import os
import shlex
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared", "testinfra"))

import hf_checks as hc  # noqa: E402

USERS = ("ann", "bob")
CANARY = "hf_codex_canary_token_0123456789"
ENV_FILE = "/etc/codex/hf-offline.env"
PATHS = ("HF_HOME", "HF_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_DATASETS_CACHE")

# hf_hub_download and AutoModel, no revision (main), every socket connect refused; printed as JSON.
LOAD = r"""
import json, os, socket
def _refused(*args, **kwargs):
    raise RuntimeError('network used: %r' % (args,))
socket.socket.connect = _refused
socket.create_connection = _refused
from huggingface_hub import hf_hub_download
from transformers import AutoModel
config = hf_hub_download('codex-test/tiny-bert', 'config.json')
model = AutoModel.from_pretrained('codex-test/tiny-bert')
print(json.dumps({'config': config, 'model': type(model).__name__, 'hidden': model.config.hidden_size,
                  'env': dict((k, os.environ.get(k)) for k in ('HF_HOME', 'HF_HUB_CACHE', 'TRANSFORMERS_CACHE',
                                                               'HF_DATASETS_CACHE', 'HF_HUB_OFFLINE',
                                                               'HF_TOKEN_PATH'))}))
"""


def login(host, user, command):
    return hc.tc.fast(host).run("timeout 300 su - %s -c %s" % (user, shlex.quote(command)))


@pytest.mark.parametrize("user", USERS)
def test_each_user_loads_the_model_offline_from_their_own_cache(host, user):
    result = login(host, user, "%s/bin/python -c %s" % (hc.VENV, shlex.quote(LOAD)))
    assert result.rc == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    home = "/home/" + user
    assert out["env"] == {"HF_HOME": home + "/.cache/huggingface", "HF_HUB_CACHE": home + "/.cache/huggingface/hub",
                          "TRANSFORMERS_CACHE": home + "/.cache/huggingface/hub",
                          "HF_DATASETS_CACHE": home + "/.cache/huggingface/datasets", "HF_HUB_OFFLINE": "1",
                          "HF_TOKEN_PATH": home + "/.cache/huggingface/token"}
    assert out["config"].startswith(home + "/.cache/huggingface/hub/models--codex-test--tiny-bert/snapshots/%s/"
                                    % hc.commit())
    assert out["model"] == "BertModel" and out["hidden"] == 16


@pytest.mark.parametrize("user", USERS)
def test_each_cache_is_the_users_own(host, user):
    cache = "/home/%s/.cache" % user
    run = hc.tc.fast(host).run
    assert run("find %s ! -user %s" % (cache, user)).stdout.strip() == ""
    assert run("find %s ! -group %s" % (cache, user)).stdout.strip() == ""
    assert hc.tc.fast(host).file(cache + "/huggingface/hub/models--codex-test--tiny-bert/refs/main")\
        .content_string.strip() == hc.commit()


def test_bobs_existing_cache_dir_kept_its_mode(host):
    assert hc.tc.fast(host).file("/home/bob/.cache").mode == 0o700


def test_no_shared_cache_and_no_group(host):
    assert not hc.tc.fast(host).file("/srv/huggingface").exists
    assert hc.tc.fast(host).run("getent group hf-cache").rc == 2


def test_environment_file_holds_no_paths_and_no_dollar(host):
    text = hc.tc.fast(host).file(ENV_FILE).content_string
    values = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert not set(PATHS) & set(values), values
    assert all("$" not in v for v in values.values())
    assert values["HF_HUB_OFFLINE"] == "1"


def test_a_service_without_the_paths_gets_the_same_per_user_cache(host):
    # What a unit with User=ann and EnvironmentFile= sees: huggingface_hub's default is ~/.cache/huggingface.
    code = "from huggingface_hub import constants; print(constants.HF_HUB_CACHE)"
    inner = 'set -a; . %s; set +a; exec "$0" -c "$1"' % ENV_FILE
    result = hc.tc.fast(host).run("env -i HOME=/home/ann /bin/sh -c %s %s %s" % (
        shlex.quote(inner), shlex.quote(hc.VENV + "/bin/python"), shlex.quote(code)))
    assert result.rc == 0 and result.stdout.strip() == "/home/ann/.cache/huggingface/hub", result.stdout + result.stderr


def test_token_is_written_nowhere(host):
    result = hc.tc.fast(host).run("grep -rl %s /etc /srv /home /root /tmp" % CANARY)
    assert result.stdout.strip() == ""
