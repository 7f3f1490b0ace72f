# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every bad input of hf_offline_cache, on a real container, with the real olah Hub mirror and wheel index.

Each case applies the role with one wrong setting and asserts: the play failed, the output says what is wrong
and what to fix (the variable, the repo, the revision, the file), and nothing the role writes on a host changed
(/srv/huggingface, the profile script, /etc/codex, local facts, /opt/codex, /var/cache/codex, /etc/group).

Needs the wheel mirrors and the Hub mirror: molecule/_shared/hf_mirror.sh run make integration
(or hf_mirror.sh run molecule/_shared/with_mirrors.sh .venv/bin/pytest tests/integration -k hf).
"""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

import integration_helpers as h

REPO = "codex-test/tiny-bert"
CANARY = "hf_codex_canary_token_0123456789"
# Everything hf_offline_cache (and the venv it may build) writes on a host.
HF_PATHS = ("/srv/huggingface", "/etc/profile.d/hf-offline.sh", "/etc/codex", "/etc/ansible/facts.d", "/opt/codex",
            "/var/cache/codex", "/etc/group", "/etc/gshadow")


def good_vars(hub, **more):
    config = {"hf_offline_cache_mirror_url": os.environ["CODEX_INDEX_URL"],
              "hf_offline_cache_endpoint": hub["url"],
              "hf_offline_cache_repos": [{"repo_id": REPO, "revision": hub["commit"]}]}
    config.update(more)
    return config


def snapshot(box):
    res = box.python(h._SNAPSHOT_CODE, *HF_PATHS)  # pylint: disable=protected-access
    assert res.rc == 0, res
    return dict((entry[0], tuple(entry[1:])) for entry in json.loads(res.out))


def fails_unchanged(box, play_file, extra_vars, *needles, **kwargs):
    """Apply the role; it must fail with every NEEDLE in the output and leave the host as it was."""
    before = snapshot(box)
    result = h.run_play(box, play_file, extra_vars, verbosity=kwargs.get("verbosity", 0))
    assert result.rc != 0, "the play should have failed:\n%r" % (result,)
    missing = [n for n in needles if n not in result.out]
    assert not missing, "missing %r in the output:\n%r" % (missing, result)
    print("\n".join(h.failure_messages(result.out)))  # what the operator saw (shown with -rA)
    h.assert_unchanged(before, snapshot(box))
    return result


@pytest.fixture(scope="module", autouse=True)
def _pristine_host(container):
    """Start from a host without anything the roles write: the session's container is shared with the other test
    files, in whatever order pytest (or pytest-xdist) hands them out. Every test below fails before any change,
    so the host stays pristine for the next one."""
    container.reset()


def test_hub_mirror_unreachable(container, play_file, hub):
    url = "http://127.0.0.1:%d" % h.free_port()
    fails_unchanged(container, play_file, good_vars(hub, hf_offline_cache_endpoint=url),
                    "the Hub mirror %s cannot be reached (" % url, "Connection refused",
                    "check hf_offline_cache_endpoint and that the mirror is up and reachable from this host")


def test_repo_not_on_the_mirror(container, play_file, hub):
    fails_unchanged(container, play_file, good_vars(hub, hf_offline_cache_repos=[{"repo_id": "codex-test/nope"}]),
                    "repo codex-test/nope (model) is not on the Hub mirror %s: it answered HTTP 401 RepoNotFound; "
                    "check repo_id and repo_type in hf_offline_cache_repos" % hub["url"])


def test_dataset_type_of_a_model_repo_is_not_on_the_mirror(container, play_file, hub):
    fails_unchanged(container, play_file,
                    good_vars(hub, hf_offline_cache_repos=[{"repo_id": REPO, "repo_type": "dataset"}]),
                    "repo %s (dataset) is not on the Hub mirror %s" % (REPO, hub["url"]))


def test_branch_not_on_the_mirror(container, play_file, hub):
    fails_unchanged(container, play_file, good_vars(hub, hf_offline_cache_repos=[{"repo_id": REPO, "revision": "v9"}]),
                    "revision v9 of repo %s (model) is not on the Hub mirror %s (HTTP 401 RepoNotFound); the mirror "
                    "has branches: main; tags: v1.0" % (REPO, hub["url"]))


def test_commit_not_on_the_mirror(container, play_file, hub):
    commit = "0123456789abcdef0123456789abcdef01234567"
    fails_unchanged(container, play_file, good_vars(hub, hf_offline_cache_repos=[{"repo_id": REPO, "revision": commit}]),
                    "revision %s of repo %s (model) is not on the Hub mirror %s" % (commit, REPO, hub["url"]),
                    "the mirror has branches: main; tags: v1.0")


def test_relative_cache_path(container, play_file, hub):
    fails_unchanged(container, play_file, good_vars(hub, hf_offline_cache_hub_cache="cache/hub"),
                    "hf_offline_cache_hub_cache must be an absolute path on the host (for example "
                    "/srv/huggingface/hub), got 'cache/hub'")


def test_transformers_cache_elsewhere(container, play_file, hub):
    fails_unchanged(container, play_file,
                    good_vars(hub, hf_offline_cache_transformers_cache="/srv/huggingface/transformers"),
                    "hf_offline_cache_transformers_cache (/srv/huggingface/transformers) must equal "
                    "hf_offline_cache_hub_cache (/srv/huggingface/hub)",
                    "would not find the seeded models offline")


def test_unknown_repo_type(container, play_file, hub):
    fails_unchanged(container, play_file,
                    good_vars(hub, hf_offline_cache_repos=[{"repo_id": REPO, "repo_type": "space"}]),
                    "repo_type", "model, dataset", "space", "hf_offline_cache_repos")


CREDENTIALS = [("user:%s@" % CANARY, True), ("user:%s@" % CANARY, False), ("%s@" % CANARY, False)]


@pytest.mark.parametrize("userinfo, repos", CREDENTIALS,
                         ids=["user-password-with-repos", "user-password-without-repos", "token-without-repos"])
def test_credentials_in_the_endpoint(container, play_file, hub, userinfo, repos):
    """Refused in every case: with repos to seed or only exported as HF_ENDPOINT; never echoed."""
    url = hub["url"].replace("http://", "http://" + userinfo)
    config = good_vars(hub, hf_offline_cache_endpoint=url)
    if not repos:
        config["hf_offline_cache_repos"] = []
    result = fails_unchanged(container, play_file, config,
                             "hf_offline_cache_endpoint must not carry credentials (got http://***@127.0.0.1",
                             "Give the URL without user:password@ or token@ and put the secret in "
                             "hf_offline_cache_token", verbosity=3)
    assert CANARY not in result.out


def test_token_is_never_printed(container, play_file, hub):
    url = "http://127.0.0.1:%d" % h.free_port()
    config = good_vars(hub, hf_offline_cache_endpoint=url, hf_offline_cache_token=CANARY)
    result = fails_unchanged(container, play_file, config, "the Hub mirror %s cannot be reached" % url, verbosity=3)
    assert CANARY not in result.out


@pytest.fixture(scope="module")
def bad_manifest_bundle(tiny_bert_bundle):
    """A real bundle of the tiny BERT cache layout whose manifest disagrees with one file."""
    bundle, manifest, commit = tiny_bert_bundle("hf-bundle.tar")
    victim = [e for e in manifest["files"] if e["type"] == "file" and e["path"].split("/")[1] == "blobs"][0]
    victim["sha256"] = "0" * 64
    with open(bundle + ".manifest.json", "w") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
    return {"bundle": bundle, "file": victim["path"], "commit": commit}


def test_bundle_manifest_mismatch(container, play_file, hub, bad_manifest_bundle):
    bundle = bad_manifest_bundle["bundle"]
    fails_unchanged(container, play_file,
                    good_vars(hub, hf_offline_cache_method="bundle", hf_offline_cache_bundle_src=bundle,
                              hf_offline_cache_repos=[{"repo_id": REPO, "revision": bad_manifest_bundle["commit"]}]),
                    "bundle %s: %s does not match the manifest: sha256 " % (bundle, bad_manifest_bundle["file"]),
                    "the manifest says %s; nothing was changed in the cache" % ("0" * 64))


def test_the_seeds_home_in_the_shared_layout(container, play_file, hub):
    """The seed's HF_HOME=${HOME}/.cache/huggingface is refused in the shared layout, saying why and the way out."""
    fails_unchanged(container, play_file, good_vars(hub, hf_offline_cache_home="${HOME}/.cache/huggingface"),
                    "hf_offline_cache_home=${HOME}/.cache/huggingface: a $ is not expanded in the shared layout. The "
                    "environment file is read by systemd, which does not expand it",
                    "set hf_offline_cache_layout: per_user")


def test_per_user_seeding_needs_the_per_user_layout(container, play_file, hub):
    fails_unchanged(container, play_file, good_vars(hub, hf_offline_cache_users=["root"]),
                    "hf_offline_cache_users (root) seeds per-user caches: it needs hf_offline_cache_layout: per_user")


def test_per_user_seeding_for_a_user_that_does_not_exist(container, play_file, hub):
    fails_unchanged(container, play_file, good_vars(hub, hf_offline_cache_layout="per_user",
                                                    hf_offline_cache_users=["nosuchuser"]),
                    "nosuchuser")
