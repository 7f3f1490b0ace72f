# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an unprivileged member of the cache group can try against root's converge of hf_offline_cache.

One container (codex-attack-*), the real olah Hub mirror and the real huggingface_hub. A real user `mallory`, a
member of the cache group and nothing else, plants each attack with `podman exec --user mallory`; then root applies
the role. Each case asserts: the root-only file outside the cache (/root/secret, 0600) keeps its mode, owner and
content, nothing is written outside the cache, and the play either fails with a clear message (no traceback) or
succeeds without following the link.

Needs the wheel mirrors and the Hub mirror: molecule/_shared/hf_mirror.sh run make integration.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

import integration_helpers as h

REPO = "codex-test/tiny-bert"
FOLDER = "models--codex-test--tiny-bert"
HUB = "/srv/huggingface/hub"
SECRET = "/root/secret"
OUTSIDE = "/var/tmp/outside"
_STATE = r"""
import hashlib, json, os, stat, sys
out = {}
for p in sys.argv[1:]:
    st = os.lstat(p)
    data = open(p, 'rb').read() if stat.S_ISREG(st.st_mode) else b''
    out[p] = [oct(st.st_mode), st.st_uid, st.st_gid, hashlib.sha256(data).hexdigest()]
out['outside'] = sorted(os.listdir(sys.argv[2]))
print(json.dumps(out))
"""


def good_vars(hub, **more):
    config = {"hf_offline_cache_mirror_url": os.environ["CODEX_INDEX_URL"],
              "hf_offline_cache_endpoint": hub["url"],
              "hf_offline_cache_members": ["mallory"],
              "hf_offline_cache_repos": [{"repo_id": REPO, "revision": hub["commit"]}]}
    config.update(more)
    return config


@pytest.fixture(scope="module")
def box(hub, play_file):
    """A container converged once by root, with the member user mallory and a root-only secret outside the cache."""
    image_ref = h.REPO_ROOT / "build" / "image-debian12"
    if not image_ref.is_file():
        pytest.fail("build/image-debian12 is missing: run `make build` first")
    container = h.Container(image_ref.read_text().strip(), "codex-attack-%s" % uuid.uuid4().hex[:8])
    try:
        container.start()
        for argv in (["useradd", "-m", "mallory"],
                     ["sh", "-c", "printf 'root only\\n' > %s && chmod 0600 %s" % (SECRET, SECRET)],
                     ["install", "-d", "-m", "0777", OUTSIDE]):
            res = container.exec(*argv)
            assert res.rc == 0, res
        result = h.run_play(container, play_file, good_vars(hub))
        assert result.rc == 0, "the good configuration did not converge: %r" % (result,)
        yield container
    finally:
        container.remove()


def as_member(box, script):
    """Run SCRIPT (sh) in the container as mallory, a member of the cache group (with that group active)."""
    proc = subprocess.run(["podman", "exec", "--user", "mallory", box.name, "sg", "hf-cache", "-c", script],
                          env=h.tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=60)
    assert proc.returncode == 0, proc.stdout.decode("utf-8", "replace")


def root(box, script):
    res = box.exec("sh", "-c", script)
    assert res.rc == 0, res
    return res.out


def outside_state(box):
    """Mode, owner, group and content of the secret, of the directories a link could lead to, and what OUTSIDE holds."""
    res = box.python(_STATE, SECRET, OUTSIDE, "/", "/root", "/etc", "/etc/shadow")
    assert res.rc == 0, res
    return json.loads(res.out)


def converge(box, play_file, config):
    """Apply the role as root; returns the Result. Never a traceback, whatever happened."""
    before = outside_state(box)
    result = h.run_play(box, play_file, config)
    assert "Traceback" not in result.out, result
    assert outside_state(box) == before, "root touched something outside the cache:\n%r" % (result,)
    print("\n".join(h.failure_messages(result.out)) or "converged: rc=%s" % result.rc)
    return result


def test_the_member_is_a_member_and_nothing_more(box):
    as_member(box, "id | grep -q hf-cache && ! cat %s 2>/dev/null && touch %s/%s/refs/probe && rm %s/%s/refs/probe"
              % (SECRET, HUB, FOLDER, HUB, FOLDER))


def test_planted_ref_symlink_and_old_temp_name(box, play_file, hub):
    ref = "%s/%s/refs/main" % (HUB, FOLDER)
    as_member(box, "rm -f %s && ln -s %s %s && ln -sf %s %s.codex-tmp" % (ref, SECRET, ref, SECRET, ref))
    result = converge(box, play_file, good_vars(hub))
    assert result.rc == 0, result
    assert root(box, "test ! -L %s && cat %s" % (ref, ref)) == hub["commit"]


def test_refs_directory_replaced_by_a_symlink(box, play_file, hub):
    refs = "%s/%s/refs" % (HUB, FOLDER)
    as_member(box, "rm -rf %s && ln -s %s %s" % (refs, OUTSIDE, refs))
    result = converge(box, play_file, good_vars(hub))
    assert result.rc != 0
    assert "%s is a symlink or not a directory; root does not follow it" % refs in result.out, result
    root(box, "rm %s" % refs)
    assert converge(box, play_file, good_vars(hub)).rc == 0


def test_symlinks_for_the_permission_pass(box, play_file, hub):
    blobs = "%s/%s/blobs" % (HUB, FOLDER)
    as_member(box, "ln -s %s %s/evil-file && ln -s / %s/evil-dir && ln -s %s %s/evil-top" % (
        SECRET, blobs, blobs, OUTSIDE, HUB))
    result = converge(box, play_file, good_vars(hub))
    assert result.rc == 0, result
    root(box, "rm -f %s/evil-file %s/evil-dir %s/evil-top" % (blobs, blobs, HUB))


def test_racing_swaps_during_the_permission_pass(box, play_file, hub):
    """During the whole converge a member swaps, as fast as it can, a directory of the cache for a symlink to /
    and a file for a symlink to the secret, and back. Whether or not a swap lands between root's listing and its
    change, root must not follow it."""
    race = ("d=%s/race; mkdir -p $d/sub; touch $d/sub/f $d/g; chmod 0600 $d/g; n=0; while [ ! -e $d/stop ]; do "
            "mv $d/sub $d/held; ln -s / $d/sub; mv $d/g $d/g.held; ln -s %s $d/g; rm -f $d/sub $d/g; "
            "mv $d/held $d/sub; mv $d/g.held $d/g; n=$((n+1)); done; echo $n" % (HUB, SECRET))
    proc = subprocess.Popen(["podman", "exec", "--user", "mallory", box.name, "sg", "hf-cache", "-c", race],
                            env=h.tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        result = converge(box, play_file, good_vars(hub))
    finally:
        as_member(box, "touch %s/race/stop" % HUB)
        rounds = proc.communicate(timeout=120)[0].decode("utf-8", "replace").strip()
    print("swaps during the converge: %s" % rounds)
    assert result.rc == 0 or "is a symlink or not a directory" in result.out, result
    root(box, "rm -rf %s/race" % HUB)


def test_fifo_as_a_ref_and_as_a_blob(box, play_file, hub):
    """Mirror method: root neither blocks on the FIFOs nor follows them; the ref is rewritten, and the blob that
    huggingface_hub cannot read (a FIFO) is downloaded again from the mirror and replaced (issue 11: repair, where
    it used to be only reported)."""
    ref = "%s/%s/refs/main" % (HUB, FOLDER)
    blob = "%s/%s/blobs/%s" % (HUB, FOLDER, root(box, "ls %s/%s/blobs | head -1" % (HUB, FOLDER)).strip())
    as_member(box, "cp %s %s.keep && rm -f %s %s && mkfifo %s %s" % (blob, blob, ref, blob, ref, blob))
    result = converge(box, play_file, good_vars(hub))
    assert result.rc == 0, result
    assert root(box, "test -f %s && cat %s" % (ref, ref)) == hub["commit"]
    assert root(box, "test -f %s && test ! -p %s && cmp %s %s.keep && echo same" % (blob, blob, blob, blob)).strip() \
        == "same"
    root(box, "rm %s.keep" % blob)
    assert converge(box, play_file, good_vars(hub)).rc == 0


def test_fifo_as_a_blob_is_replaced_by_a_bundle(box, play_file, hub, bundles):
    blob = "%s/%s" % (HUB, bundles["blob"])
    as_member(box, "mkdir -p %s && rm -f %s && mkfifo %s" % (os.path.dirname(blob), blob, blob))
    result = converge(box, play_file, bundle_vars(hub, bundles["good"], bundles["commit"]))
    assert result.rc == 0, result
    assert root(box, "test -f %s && test ! -p %s && echo regular" % (blob, blob)).strip() == "regular"


@pytest.fixture(scope="module")
def bundles(tiny_bert_bundle):
    """Real bundles of the tiny BERT layout: a good one, one holding a symlink out of the cache, one whose
    manifest claims more bytes than any disk has (a tar bomb as the manifest tells it)."""
    good, manifest, commit = tiny_bert_bundle("good.tar")
    root_dir = Path(good).parent
    out = {"good": good, "commit": commit,
           "blob": [e["path"] for e in manifest["files"] if "/blobs/" in e["path"]][0]}
    # A bundle with an extra member: a symlink that leaves the cache, listed in a forged manifest.
    evil = str(root_dir / "evil.tar")
    with tarfile.open(good) as src, tarfile.open(evil, "w", format=tarfile.GNU_FORMAT) as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
        link = tarfile.TarInfo(FOLDER + "/snapshots/%s/evil" % commit)
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../../../root/secret"
        dst.addfile(link)
    forged = dict(manifest, files=manifest["files"] + [{"path": link.name, "type": "symlink",
                                                        "target": link.linkname}])
    with open(evil + ".manifest.json", "w") as handle:
        json.dump(forged, handle)
    out["evil"] = evil
    # A member path that escapes the cache, in the tar only (the manifest is the good one).
    escape = str(root_dir / "escape.tar")
    with tarfile.open(good) as src, tarfile.open(escape, "w", format=tarfile.GNU_FORMAT) as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
        info = tarfile.TarInfo(FOLDER + "/../../../../var/tmp/outside/escaped")
        info.size = 0
        dst.addfile(info)
    with open(escape + ".manifest.json", "w") as handle:
        json.dump(manifest, handle)
    out["escape"] = escape
    # A tar bomb: a manifest whose files need more bytes than the disk has (the tar is a consistent forgery).
    bomb = str(root_dir / "bomb.tar")
    big = 1 << 50
    with tarfile.open(good) as src, tarfile.open(bomb, "w", format=tarfile.GNU_FORMAT) as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
    bombed = json.loads(json.dumps(manifest))
    bombed["files"][0]["size"] = big
    with open(bomb + ".manifest.json", "w") as handle:
        json.dump(bombed, handle)
    out["bomb"] = bomb
    return out


def bundle_vars(hub, bundle, commit):
    return good_vars(hub, hf_offline_cache_method="bundle", hf_offline_cache_bundle_src=bundle,
                     hf_offline_cache_repos=[{"repo_id": REPO, "revision": commit}])


def test_bundle_with_a_symlink_out_of_the_cache(box, play_file, hub, bundles):
    result = converge(box, play_file, bundle_vars(hub, bundles["evil"], bundles["commit"]))
    assert result.rc != 0
    assert "lists a symlink leaving its repo" in result.out, result


def test_bundle_with_a_path_that_escapes_the_cache(box, play_file, hub, bundles):
    result = converge(box, play_file, bundle_vars(hub, bundles["escape"], bundles["commit"]))
    assert result.rc != 0
    assert "/../../../../var/tmp/outside/escaped is not listed in the manifest; nothing was changed" in result.out, result


def test_tar_bomb_is_refused_before_writing(box, play_file, hub, bundles):
    root(box, "rm -rf %s/%s" % (HUB, FOLDER))
    result = converge(box, play_file, bundle_vars(hub, bundles["bomb"], bundles["commit"]))
    assert result.rc != 0
    assert ("has %d bytes, the manifest says %d" % (0, 1 << 50) in result.out
            or "bytes free: nothing was written" in result.out or "the manifest says %d" % (1 << 50) in result.out), \
        result
    assert FOLDER not in root(box, "ls -A %s" % HUB)
    assert converge(box, play_file, good_vars(hub)).rc == 0


def test_ref_name_with_dot_dot(box, play_file, hub):
    result = converge(box, play_file, good_vars(hub, hf_offline_cache_repos=[
        {"repo_id": REPO, "revision": hub["commit"], "refs": ["../../../../var/tmp/outside/x"]}]))
    assert result.rc != 0
    assert "refs holds '../../../../var/tmp/outside/x': refs are branch names such as main" in result.out, result


def test_revision_with_dot_dot(box, play_file, hub):
    result = converge(box, play_file, good_vars(hub, hf_offline_cache_repos=[{"repo_id": REPO,
                                                                              "revision": "main/../../x"}]))
    assert result.rc != 0
    assert "is not a branch, tag or commit name" in result.out, result


def test_repo_id_with_dot_dot_slash(box, play_file, hub):
    result = converge(box, play_file, good_vars(hub, hf_offline_cache_repos=[{"repo_id": "../../var/tmp/outside"}]))
    assert result.rc != 0
    assert "is not a Hub repo id" in result.out, result
