"""hf_offline_cache seeded by commit from the olah Hub mirror, checked as an unprivileged cache-group user."""

import os
import shlex
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared", "testinfra"))

import hf_checks as hc  # noqa: E402
# pytest collects the shared checks (hf_checks.__all__) from this module.
from hf_checks import *  # noqa: E402,F401,F403  pylint: disable=wildcard-import,unused-wildcard-import

CANARY = "hf_codex_canary_token_0123456789"


def test_endpoint_is_exported_without_the_token(host):
    env = hc.login_env(host)
    assert env["HF_ENDPOINT"] == os.environ.get("CODEX_HF_MIRROR_URL", "http://127.0.0.1:18150")
    assert CANARY not in hc.tc.fast(host).file(hc.PROFILE).content_string


def test_token_is_written_nowhere(host):
    result = hc.tc.fast(host).run("grep -rl %s /etc /srv /var/cache/codex /home /root /tmp" % CANARY)
    assert result.stdout.strip() == ""


def test_seeded_by_commit_from_the_mirror(host):
    # The bundle scenario has a tar in /var/cache/codex/hf-bundles; the mirror method leaves none.
    assert not hc.tc.fast(host).file("/var/cache/codex/hf-bundles").exists
    assert hc.tc.fast(host).file(hc.FOLDER + "/blobs").is_directory


def test_uses_torch_cpus_venv(host):
    # hf_offline_cache pointed at torch_cpu's venv (it holds huggingface-hub==2.4.0): no venv of its own.
    assert hc.tc.fast(host).file("/opt/codex/venv").is_symlink
    out = hc.tc.venv_python(host, "import huggingface_hub, transformers; print(huggingface_hub.__version__, "
                                  "transformers.__version__)")
    assert out == "2.4.0 5.24.0"


def test_root_leaves_no_download_state_in_the_shared_cache(host):
    # huggingface_hub runs as root only in a root-only private cache (docs/security.md): the shared cache holds no
    # lock or .incomplete file of root's, and the private cache is gone. (Members' own locks: the shared check.)
    out = hc.tc.fast(host).run("find %s \\( -name '*.lock' -o -name '*.incomplete' \\) -user root" % hc.HUB)
    assert out.rc == 0 and out.stdout.strip() == ""
    assert hc.tc.fast(host).run("ls -d /tmp/codex-hf-seed-* 2>/dev/null").stdout.strip() == ""


# Member A downloads through huggingface_hub (a tag the seeding did not write, a forced re-download of a file)
# with umask 022, as a user of the mirror would; member B, umask 022 too, then downloads the same file again
# (taking the lock file A created, replacing the blob A wrote), updates the ref A wrote, and loads the model
# offline. The default ACLs are what makes this work: nothing here sets a umask but 022.
MEMBER_DOWNLOAD = r"""
import os, stat, sys
os.umask(0o022)
from huggingface_hub import hf_hub_download
path = hf_hub_download('codex-test/tiny-bert', 'config.json', revision='v1.0', force_download=True)
blob = os.path.realpath(path)
st = os.stat(blob)
print('BLOB', blob, oct(stat.S_IMODE(st.st_mode)), st.st_uid)
"""

MEMBER_UPDATE = r"""
import glob, os
os.umask(0o022)
ref = '/srv/huggingface/hub/models--codex-test--tiny-bert/refs/v1.0'
with open(ref) as handle:
    commit = handle.read()
with open(ref, 'w') as handle:  # a file member A created: B may rewrite it
    handle.write(commit)
locks = sorted(glob.glob('/srv/huggingface/hub/.locks/models--codex-test--tiny-bert/*.lock'))
print('LOCKS', len(locks))
"""


def member(host, user, code, offline=False):
    env = "" if offline else "HF_HUB_OFFLINE=0 "
    command = "umask 022; %s%s/bin/python -c %s" % (env, hc.VENV, shlex.quote(code))
    return hc.tc.fast(host).run("timeout 300 su - %s -c %s" % (user, shlex.quote(command)))


def test_two_members_share_what_each_creates_with_umask_022(host):
    run = hc.tc.fast(host).run
    assert sorted(run("id -nG hfuser2").stdout.split()) == ["hf-cache", "hfuser2"]
    a = member(host, "hfuser", MEMBER_DOWNLOAD)
    assert a.rc == 0, a.stdout + a.stderr
    # What A created is A's and group-writable, though A's umask is 022.
    made = run("find %s -user hfuser -printf '%%m %%y %%p\\n'" % hc.HUB).stdout.split("\n")
    made = [line for line in made if line]
    assert any(line.endswith("/refs/v1.0") for line in made), made
    assert any("/.locks/" in line for line in made), made
    not_group_writable = run("find %s -user hfuser ! -type l ! -perm -g+rw" % hc.HUB).stdout.strip()
    assert not_group_writable == "", not_group_writable
    b = member(host, "hfuser2", MEMBER_DOWNLOAD)
    assert b.rc == 0, b.stdout + b.stderr
    owner_b = run("id -u hfuser2").stdout.strip()
    assert b.stdout.split()[-1] == owner_b, b.stdout  # B replaced the blob A wrote
    update = member(host, "hfuser2", MEMBER_UPDATE)
    assert update.rc == 0 and "LOCKS " in update.stdout and "LOCKS 0" not in update.stdout, update.stdout + update.stderr
    loaded = member(host, "hfuser2", hc.LOAD_MODEL, offline=True)
    assert loaded.rc == 0 and "LOADED BertModel 16" in loaded.stdout, loaded.stdout + loaded.stderr
