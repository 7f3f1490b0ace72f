"""Verify checks shared by the hf_offline_cache and hf_bundle scenarios (imported by their testinfra tests).

Every check that matters runs as `hfuser`, an unprivileged user whose only extra group is the cache group,
in a login shell (`su - hfuser`), the way an operator or a job started from a login would.
"""

import json
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(__file__))

import torch_host as tc  # noqa: E402

USER = "hfuser"
GROUP = "hf-cache"
HOME = "/srv/huggingface"
HUB = HOME + "/hub"
DATASETS = HOME + "/datasets"
PROFILE = "/etc/profile.d/hf-offline.sh"
ENV_FILE = "/etc/codex/hf-offline.env"
FACTS = "/etc/ansible/facts.d/hf_offline_cache.fact"
VENV = "/opt/codex/venv"
REPO = "codex-test/tiny-bert"
FOLDER = HUB + "/models--codex-test--tiny-bert"
EXPECTED_ENV = {
    "HF_HOME": HOME,
    "HF_HUB_CACHE": HUB,
    "TRANSFORMERS_CACHE": HUB,
    "HF_DATASETS_CACHE": DATASETS,
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}

# Loads the seeded model the way user code does (no revision: `main`), with every socket connect refused,
# and compares its output with the fingerprint generate.py recorded (expected.txt, part of the repo).
LOAD_MODEL = r"""
import os, socket, time
def _refused(*args, **kwargs):
    raise RuntimeError('network used: %r' % (args,))
socket.socket.connect = _refused
socket.create_connection = _refused
import torch
from transformers import AutoModel, AutoTokenizer
from huggingface_hub import hf_hub_download
tok = AutoTokenizer.from_pretrained('codex-test/tiny-bert')
model = AutoModel.from_pretrained('codex-test/tiny-bert')
sentence, ids, pooled = open(hf_hub_download('codex-test/tiny-bert', 'expected.txt')).read().rstrip('\n').split('\t')
enc = tok(sentence, return_tensors='pt')
assert ' '.join(str(i) for i in enc['input_ids'][0].tolist()) == ids, (enc['input_ids'], ids)
with torch.no_grad():
    out = model(**enc).pooler_output[0, :4].tolist()
assert all(abs(a - float(b)) < 1e-3 for a, b in zip(out, pooled.split())), (out, pooled)
print('LOADED', type(model).__name__, model.config.hidden_size)
"""

NEVER_SEEDED = r"""
import time
from transformers import AutoModel
start = time.time()
try:
    AutoModel.from_pretrained('codex-test/never-seeded')
    print('LOADED')
except OSError as exc:
    print('FAILED %.2f %s' % (time.time() - start, str(exc).splitlines()[0]))
"""

# A lock file created by root while seeding (the mirror method leaves them) must be usable by a member, and a
# member must be able to create lock files and files of its own in the shared cache.
LOCK_AND_WRITE = r"""
import glob, os
from huggingface_hub.utils import WeakFileLock
locks = sorted(glob.glob('/srv/huggingface/hub/.locks/*/*.lock'))
for path in locks[:1]:
    with WeakFileLock(path, timeout=10):
        pass
folder = '/srv/huggingface/hub/.locks/models--codex-test--tiny-bert'
made = not os.path.isdir(folder)
os.makedirs(folder, exist_ok=True)
lock = os.path.join(folder, 'codex-write-test-%d.lock' % os.getpid())
with WeakFileLock(lock, timeout=10):
    pass
os.unlink(lock)
if made:
    os.rmdir(folder)
    if not os.listdir('/srv/huggingface/hub/.locks'):
        os.rmdir('/srv/huggingface/hub/.locks')
for where in ('/srv/huggingface/hub', '/srv/huggingface/datasets'):
    path = os.path.join(where, '.codex-write-test-%d' % os.getpid())
    with open(path, 'w') as handle:
        handle.write('x')
    os.unlink(path)
print('WROTE', len(locks))
"""


def as_user(host, command, timeout=600):
    """Run COMMAND as hfuser in a login shell."""
    return tc.fast(host).run("timeout %d su - %s -c %s" % (timeout, USER, shlex.quote(command)))


def user_python(host, code, timeout=600):
    return as_user(host, "%s/bin/python -c %s" % (VENV, shlex.quote(code)), timeout)


def login_env(host):
    result = as_user(host, "env")
    assert result.rc == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def env_file(host):
    text = tc.fast(host).file(ENV_FILE).content_string
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def commit():
    value = os.environ.get("CODEX_HF_TINY_BERT_COMMIT", "")
    assert len(value) == 40, "CODEX_HF_TINY_BERT_COMMIT is not set: run through molecule/_shared/hf_mirror.sh"
    return value


# ------------------------------------------------------------------ the checks (each scenario imports them)
def test_user_is_unprivileged_and_only_in_the_cache_group(host):
    out = tc.fast(host).run("id -nG %s" % USER).stdout.split()
    assert sorted(out) == sorted([USER, GROUP])
    assert tc.fast(host).run("id -u %s" % USER).stdout.strip() != "0"


def test_login_shell_exports(host):
    env = login_env(host)
    for key, value in EXPECTED_ENV.items():
        assert env.get(key) == value, key
    assert env["TRANSFORMERS_CACHE"] == env["HF_HUB_CACHE"]
    assert "HF_TOKEN" not in env


def test_model_loads_offline_as_the_user(host):
    result = user_python(host, LOAD_MODEL)
    assert result.rc == 0, result.stdout + result.stderr
    assert "LOADED BertModel 16" in result.stdout


def test_main_resolves_to_the_seeded_commit(host):
    assert tc.fast(host).file(FOLDER + "/refs/main").content_string.strip() == commit()
    assert tc.fast(host).file(FOLDER + "/snapshots/" + commit()).is_directory


def test_never_seeded_repo_fails_fast(host):
    result = user_python(host, NEVER_SEEDED, timeout=300)
    assert result.rc == 0, result.stdout + result.stderr
    line = [x for x in result.stdout.splitlines() if x.startswith(("FAILED", "LOADED"))][-1]
    assert line.startswith("FAILED"), line
    assert float(line.split()[1]) < 5.0, line


def test_env_file_has_the_same_values(host):
    from_file = env_file(host)
    env = login_env(host)
    for key, value in from_file.items():
        if key != "HF_TOKEN_PATH":  # per user in login shells (the next check)
            assert env.get(key) == value, key
    assert set(EXPECTED_ENV) <= set(from_file)
    text = tc.fast(host).file(ENV_FILE).content_string
    assert [line for line in text.splitlines() if line.startswith("export")] == []
    assert all(line.startswith("#") or "=" in line for line in text.splitlines() if line)
    assert "Ansible managed" in text


def test_env_file_works_for_services(host):
    # What a systemd unit or a cron job sees: nothing but the file.
    result = tc.fast(host).run("env -i /bin/sh -c 'set -a; . %s; set +a; env'" % ENV_FILE)
    assert result.rc == 0, result.stderr
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    for key, value in env_file(host).items():
        assert env[key] == value


def test_profile_script_is_safe_under_sh_bash_and_set_u(host):
    for shell in ("/bin/sh", "/bin/bash"):
        result = tc.fast(host).run("env -i %s -euc '. %s; echo \"$HF_HUB_CACHE $TRANSFORMERS_CACHE\"'" % (shell, PROFILE))
        assert result.rc == 0, result.stderr
        assert result.stdout.strip() == "%s %s" % (HUB, HUB)


def test_profile_script_is_managed(host):
    f = tc.fast(host).file(PROFILE)
    assert f.user == "root" and f.mode == 0o644
    assert f.content_string.startswith("#") and "Ansible managed" in f.content_string


def test_cache_directories(host):
    for path in (HOME, HUB, DATASETS):
        f = tc.fast(host).file(path)
        assert f.is_directory and f.user == "root" and f.group == GROUP
        assert f.mode == 0o2775, oct(f.mode)


def test_nothing_world_writable_and_all_in_the_group(host):
    run = tc.fast(host).run
    assert run("find %s ! -type l -perm -0002" % HOME).stdout.strip() == ""
    assert run("find %s ! -group %s" % (HOME, GROUP)).stdout.strip() == ""
    assert run("find %s -type d ! -perm -2070" % HOME).stdout.strip() == ""


def test_group_member_can_lock_and_write(host):
    result = user_python(host, LOCK_AND_WRITE, timeout=120)
    assert result.rc == 0, result.stdout + result.stderr
    assert "WROTE" in result.stdout


def test_facts_module_sees_the_repo(host):
    result = host.ansible("codex.offline_ml.hf_cache_facts", "python=%s/bin/python cache_dir=%s" % (VENV, HUB),
                          check=False)
    assert result.get("changed") is False
    facts = result["ansible_facts"]["hf_cache"]
    repos = dict((r["repo_id"], r) for r in facts["repos"])
    assert repos[REPO]["refs"]["main"] == commit()
    assert repos[REPO]["repo_type"] == "model"
    assert facts["warnings"] == []


def test_local_facts_carry_the_same_environment(host):
    facts = json.loads(tc.fast(host).file(FACTS).content_string)
    from_file = env_file(host)
    assert facts["token_path"] == {"login_shells": "${HOME}/.cache/huggingface/token",
                                   "services": from_file.pop("HF_TOKEN_PATH")}
    assert facts["environment"] == from_file


def test_tokens_stay_per_user(host):
    # huggingface_hub's default token file would be $HF_HOME/token, in the tree every member writes.
    env = login_env(host)
    assert env["HF_TOKEN_PATH"] == "/home/%s/.cache/huggingface/token" % USER
    assert not env["HF_TOKEN_PATH"].startswith(HOME + "/")
    assert env_file(host)["HF_TOKEN_PATH"] == "/etc/codex/hf-token"
    assert tc.fast(host).file("/etc/codex").user == "root"
    assert tc.fast(host).file("/etc/codex").mode == 0o755


def test_shared_directories_carry_the_default_acl(host):
    # Read back from the kernel (getfacl is not on the image): user::rwx group::rwx mask::rwx other::r-x.
    code = ("import os, struct, subprocess, sys\n"
            "bad = []\n"
            "for top, dirs, files in os.walk(sys.argv[1]):\n"
            "    v = os.getxattr(top, 'system.posix_acl_default')\n"
            "    e = sorted(struct.unpack('<HHI', v[i:i + 8])[:2] for i in range(4, len(v), 8))\n"
            "    if e != [(1, 7), (4, 7), (16, 7), (32, 5)]: bad.append((top, e))\n"
            "print('BAD', bad)\n")
    result = tc.fast(host).run("python3 -c %s %s" % (shlex.quote(code), HOME))
    assert result.rc == 0 and result.stdout.strip() == "BAD []", result.stdout + result.stderr


# What a scenario gets with `from hf_checks import *`: every check above, so a new one runs in both scenarios.
__all__ = sorted(name for name in dir() if name.startswith("test_"))
