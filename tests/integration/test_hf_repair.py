# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 11 (report only what loads, repair what a hand or a crash broke) and issue 13 (a re-run needs no Hub
mirror), judged by huggingface_hub and transformers themselves.

One container (codex-repair-*), the real olah Hub mirror, the real huggingface_hub. Each case makes its starting
state (a ref with a trailing newline, a deleted blob, a half-downloaded snapshot left by killing a seed, a widened
allow_patterns), records what hf_cache_facts reports, converges the role as root, and asks the judge - run as
`alice`, a member of the cache group, not root - before and after: `hf_hub_download(..., local_files_only=True)`
with HF_HUB_OFFLINE=1 for every file, and transformers' `AutoModel.from_pretrained` offline. The judge's venv
(/opt/judge: torch, transformers, huggingface_hub from the torch_cpu_hf lock of the wheel mirror) is built once.

Needs the wheel mirrors and the Hub mirror: molecule/_shared/hf_mirror.sh run make integration.
"""

from __future__ import absolute_import, division, print_function

import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import Request, urlopen

import pytest

import integration_helpers as h

REPO = "codex-test/tiny-bert"
FOLDER = "models--codex-test--tiny-bert"
HUB = "/srv/huggingface/hub"
BASE = "%s/%s" % (HUB, FOLDER)
FILES = ["README.md", "config.json", "expected.txt", "model.safetensors", "tokenizer.json",
         "tokenizer_config.json", "vocab.txt"]
JUDGE = r"""
import json, os, sys
os.environ['HF_HUB_OFFLINE'] = '1'
os.environ['HF_HUB_CACHE'] = sys.argv[1]
out = {'user': os.geteuid(), 'files': {}}
from huggingface_hub import hf_hub_download
for name in sys.argv[2].split(','):
    try:
        path = hf_hub_download('codex-test/tiny-bert', name, revision='main', local_files_only=True)
        open(path, 'rb').read()
        out['files'][name] = 'ok'
    except Exception as exc:
        out['files'][name] = '%s: %s' % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else '')
try:
    from transformers import AutoModel
    model = AutoModel.from_pretrained('codex-test/tiny-bert', revision='main', local_files_only=True)
    out['automodel'] = 'ok: %s' % type(model).__name__
except Exception as exc:
    out['automodel'] = '%s: %s' % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else '')
print('@@JUDGE' + json.dumps(out))
"""
FACTS_PLAY = """---
- name: What hf_cache_facts reports
  hosts: all
  gather_facts: false
  tasks:
    - name: Scan
      codex.offline_ml.hf_cache_facts:
        python: /opt/codex/venv/bin/python
        cache_dir: %s
        repos: "{{ repos }}"
      register: scan
    - name: Show
      ansible.builtin.debug:
        msg: "@@FACTS{{ scan.ansible_facts.hf_cache.requested | to_json }}@@END"
""" % HUB
# What the role's install step runs (tasks/install.yml), alone: a case costs one task, not a whole converge.
SEED_PLAY = """---
- name: Seed as hf_offline_cache's install step does
  hosts: all
  gather_facts: false
  tasks:
    - name: Seed
      codex.offline_ml.hf_cache_seed:
        method: mirror
        cache_dir: %s
        python: /opt/codex/venv/bin/python
        endpoint: "{{ endpoint }}"
        group: hf-cache
        repos: "{{ repos }}"
        progress_log: /var/log/codex-hf-seed.log
        variable_prefix: hf_offline_cache_
""" % HUB


# The seed's processes in the container: the module (AnsiballZ_hf_cache_seed) and its huggingface_hub child (the
# role venv's python, which nothing else runs in this container).
_SEED_PIDS = r"""
import os
for pid in os.listdir('/proc'):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            cmd = open('/proc/%s/cmdline' % pid, 'rb').read()
        except OSError:
            continue
        if b'hf_cache_seed' in cmd or b'/opt/codex/venv/bin/python' in cmd:
            print(pid)
"""


def role_vars(hub, endpoint=None, **spec):
    return {"hf_offline_cache_mirror_url": os.environ["CODEX_INDEX_URL"],
            "hf_offline_cache_endpoint": endpoint or hub["url"],
            "hf_offline_cache_members": ["alice"],
            "hf_offline_cache_repos": [dict({"repo_id": REPO, "revision": "main"}, **spec)]}


def _play(text):
    fd, path = tempfile.mkstemp(prefix="codex-hf-repair-", suffix=".yml")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


@pytest.fixture(scope="module")
def facts_file():
    path = _play(FACTS_PLAY)
    yield path
    os.unlink(path)


@pytest.fixture(scope="module")
def seed_file():
    path = _play(SEED_PLAY)
    yield path
    os.unlink(path)


def seed_vars(hub, endpoint=None, **spec):
    return {"endpoint": endpoint or hub["url"], "repos": [dict({"repo_id": REPO, "revision": "main"}, **spec)]}


@pytest.fixture(scope="module")
def box(hub, play_file):
    """A container converged once by root (the tiny BERT seeded from olah), with the member alice and the judge's
    venv."""
    image_ref = h.REPO_ROOT / "build" / "image-debian12"
    if not image_ref.is_file():
        pytest.fail("build/image-debian12 is missing: run `make build` first")
    container = h.Container(image_ref.read_text().strip(), "codex-repair-%s" % uuid.uuid4().hex[:8])
    lock = h.REPO_ROOT / "build" / "mirror" / "locks" / "torch_cpu_hf.txt"
    try:
        container.start()
        assert container.exec("useradd", "-m", "alice").rc == 0
        subprocess.run(["podman", "cp", str(lock), "%s:/tmp/judge-lock.txt" % container.name], env=h.tool_env(),
                       check=True)
        judge_file = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
        with judge_file:
            judge_file.write(JUDGE)
        subprocess.run(["podman", "cp", judge_file.name, "%s:/tmp/judge.py" % container.name], env=h.tool_env(),
                       check=True)
        os.unlink(judge_file.name)
        res = container.exec("sh", "-c", "python3 -m venv /opt/judge && install -m 0644 /tmp/judge.py /opt/judge/ && "
                             "/opt/judge/bin/pip install -q --isolated "
                             "--no-input --disable-pip-version-check --no-compile --index-url %s --require-hashes "
                             "-r /tmp/judge-lock.txt" % os.environ["CODEX_INDEX_URL"], timeout=600)
        assert res.rc == 0, res
        result = h.run_play(container, play_file, role_vars(hub))
        assert result.rc == 0, "the good configuration did not converge: %r" % (result,)
        yield container
    finally:
        container.remove()


def judge(box):
    """What huggingface_hub and transformers, run by alice (a group member, not root), make of the cache."""
    proc = subprocess.run(["podman", "exec", "--user", "alice", box.name, "sg", "hf-cache", "-c",
                           "/opt/judge/bin/python /opt/judge/judge.py %s %s" % (HUB, ",".join(FILES))],
                          env=h.tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                          timeout=300)
    text = proc.stdout.decode("utf-8", "replace")
    assert "@@JUDGE" in text, text
    out = json.loads(text.split("@@JUDGE", 1)[1].splitlines()[0])
    assert out["user"] != 0
    out["loads"] = out["automodel"].startswith("ok") and all(v == "ok" for v in out["files"].values())
    print("judge (alice): %s" % json.dumps(out, sort_keys=True))
    return out


def facts(box, facts_file, **spec):
    result = h.run_play(box, facts_file, {"repos": [dict({"repo_id": REPO, "revision": "main"}, **spec)]})
    assert result.rc == 0, result
    (requested,) = json.loads(result.out.split("@@FACTS", 1)[1].split("@@END", 1)[0].replace('\\"', '"'))
    print("hf_cache_facts: resolves_offline=%s error=%s" % (requested["resolves_offline"], requested["error"]))
    return requested


def converge(box, play_file, config):
    result = h.run_play(box, play_file, config)
    assert "Traceback" not in result.out, result
    print("\n".join(h.failure_messages(result.out)) or "converged: rc=%s" % result.rc)
    return result


def changed(result):
    recap = result.out.rsplit("PLAY RECAP", 1)[1]
    return int(recap.split("changed=", 1)[1].split()[0])


def root(box, script):
    res = box.exec("sh", "-c", script)
    assert res.rc == 0, res
    return res.out


def blob_of(box, name):
    return root(box, "readlink -f %s/snapshots/*/%s" % (BASE, name)).strip()


def good(box, seed_file, hub):
    """Every case starts from the complete revision (the seed fails unless it is complete afterwards)."""
    assert converge(box, seed_file, seed_vars(hub)).rc == 0


def test_ref_with_a_trailing_newline(box, seed_file, facts_file, hub):
    good(box, seed_file, hub)
    root(box, "echo %s > %s/refs/main" % (hub["commit"], BASE))
    before = facts(box, facts_file)
    assert before["resolves_offline"] is False and "refs/main holds" in before["error"]
    assert not judge(box)["loads"]
    result = converge(box, seed_file, seed_vars(hub))
    assert result.rc == 0, result
    assert root(box, "cat %s/refs/main" % BASE) == hub["commit"]
    assert judge(box)["loads"]


def test_deleted_blob(box, seed_file, facts_file, hub):
    good(box, seed_file, hub)
    root(box, "rm %s" % blob_of(box, "model.safetensors"))
    before = facts(box, facts_file)
    assert before["resolves_offline"] is False
    assert "model.safetensors: blob " in before["error"] and "missing or not a regular file" in before["error"]
    verdict = judge(box)
    assert verdict["files"]["model.safetensors"] != "ok" and not verdict["automodel"].startswith("ok")
    result = converge(box, seed_file, seed_vars(hub))
    assert result.rc == 0, result
    assert judge(box)["loads"]


def test_widened_allow_patterns(box, seed_file, facts_file, hub):
    root(box, "rm -rf %s" % BASE)
    narrow = ["*.json", "*.txt"]
    assert converge(box, seed_file, seed_vars(hub, allow_patterns=narrow)).rc == 0
    assert facts(box, facts_file, allow_patterns=narrow)["resolves_offline"] is True
    before = facts(box, facts_file)
    assert before["resolves_offline"] is False
    assert "model.safetensors: missing (not seeded yet)" in before["error"]
    assert not judge(box)["loads"]
    result = converge(box, seed_file, seed_vars(hub))
    assert result.rc == 0, result
    assert judge(box)["loads"]


class _Proxy(BaseHTTPRequestHandler):
    """A proxy in front of olah on 127.0.0.1; with `stall`, it sends half of model.safetensors' body and hangs."""
    upstream = None
    stall = False
    stalled = threading.Event()

    def log_message(self, *args):
        pass

    def _forward(self, body):
        req = Request(self.upstream + self.path, method=self.command,
                      headers=dict((k, v) for k, v in self.headers.items() if k.lower() != "host"))
        try:
            resp = urlopen(req, timeout=30)
        except Exception as exc:  # an HTTP error answer is passed on as it is
            resp = exc
        data = resp.read() if body else b""
        self.send_response(resp.status if hasattr(resp, "status") else resp.code)
        for key, value in resp.headers.items():
            if key.lower() not in ("transfer-encoding", "connection"):
                self.send_header(key, value)
        self.end_headers()
        if body and self.stall and self.path.endswith("/model.safetensors"):
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.stalled.set()
            time.sleep(120)
            return
        self.wfile.write(data)

    def do_GET(self):
        self._forward(True)

    def do_HEAD(self):
        self._forward(False)


@contextlib.contextmanager
def proxy(hub, stall=False):
    """A mirror URL of our own, in front of olah, that stops answering when the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    server.daemon_threads = True
    _Proxy.upstream, _Proxy.stall = hub["url"], stall
    _Proxy.stalled.clear()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_seed_killed_mid_download(box, seed_file, facts_file, hub):
    root(box, "rm -rf %s" % BASE)
    with proxy(hub, stall=True) as url:
        with h.background_play(box, seed_file, seed_vars(hub, endpoint=url)) as proc:
            assert _Proxy.stalled.wait(300), "the seed never reached model.safetensors"
            progress = root(box, "cat /var/log/codex-hf-seed.log")
            print("progress while stalled:\n" + progress)
            assert "files to download" in progress
            # SIGKILL the seed in the container (the module and its huggingface_hub child), then the controller.
            res = box.python(_SEED_PIDS)
            assert res.rc == 0, res
            pids = res.out.split()
            assert pids, "no seed process to kill"
            for pid in pids:
                box.exec("kill", "-9", pid)
            os.killpg(proc.pid, 9)
    before = facts(box, facts_file)
    assert before["resolves_offline"] is False
    assert not judge(box)["loads"]
    result = converge(box, seed_file, seed_vars(hub))
    assert result.rc == 0, result
    assert judge(box)["loads"]


def test_rerun_with_the_mirror_stopped(box, play_file, seed_file, hub):
    """The whole role, re-run with its Hub mirror stopped: complete per the record, so nothing asks the mirror
    (preflight included): ok, changed=0. An incomplete revision with the mirror stopped fails naming the mirror
    and the file."""
    with proxy(hub) as url:
        assert converge(box, play_file, role_vars(hub, endpoint=url)).rc == 0
    # the mirror at url has stopped
    result = converge(box, play_file, role_vars(hub, endpoint=url))
    assert result.rc == 0, result
    assert changed(result) == 0, result
    root(box, "rm %s" % blob_of(box, "config.json"))
    result = converge(box, seed_file, seed_vars(hub, endpoint=url))
    assert result.rc != 0
    message = " ".join(h.failure_messages(result.out))
    assert "the Hub mirror %s cannot be reached" % url in message, result
    assert "config.json: blob " in message, result
    assert converge(box, seed_file, seed_vars(hub)).rc == 0
    assert judge(box)["loads"]
