"""hf_offline_cache seeded by commit from the olah Hub mirror, checked as an unprivileged cache-group user."""

import os
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
