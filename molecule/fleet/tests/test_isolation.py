"""The proof that the fleet ran with no way out: every container, and the controller that converged them, sit in
one network namespace whose only interface is loopback (molecule/_shared/netns.sh); the mirrors answer on its
127.0.0.1. Nothing here sends a packet anywhere real: 192.0.2.1 is TEST-NET-1 and, with no route, the kernel
refuses the connect before any packet exists."""

import json
import os
import subprocess

import pytest

import fleet_helpers as fh

# Connect to an outside address; print the errno name and how long the refusal took.
OUTSIDE = r"""
import errno, json, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(5)
start = time.monotonic()
try:
    s.connect(("192.0.2.1", 80))
    print(json.dumps({"connected": True}))
except OSError as exc:
    print(json.dumps({"connected": False, "errno": errno.errorcode.get(exc.errno, str(exc)), "error": str(exc),
                      "seconds": time.monotonic() - start}))
"""

FETCH = r"""
import sys, urllib.request
for url in sys.argv[1:]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        print(resp.status, url)
"""


def _links(text):
    return sorted(line.split(":")[1].strip().split("@")[0] for line in text.splitlines() if line.strip())


def test_controller_runs_in_the_loopback_only_namespace():
    """This verify (and the converge before it) runs inside the namespace netns.sh made: only lo, no route."""
    assert os.environ.get("CODEX_NETNS"), "not started by molecule/_shared/netns.sh run NAME -- ..."
    links = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE, check=True, text=True).stdout
    assert _links(links) == ["lo"], links
    routes = subprocess.run(["ip", "route", "show"], stdout=subprocess.PIPE, check=True, text=True).stdout
    assert routes.strip() == "", routes


@pytest.mark.parametrize("name", fh.EVERY)
def test_container_shares_the_controllers_namespace(name):
    """network: host from inside the namespace joins it: the container's network namespace is the controller's."""
    mine = os.readlink("/proc/self/ns/net")
    theirs = fh.ok(fh.on(name, "readlink", "/proc/self/ns/net")).strip()
    assert theirs == mine


@pytest.mark.parametrize("name", fh.EVERY)
def test_container_sees_only_loopback(name):
    out = fh.ok(fh.on(name, "ip", "-o", "link", "show"))
    assert _links(out) == ["lo"], out


@pytest.mark.parametrize("name", fh.EVERY)
def test_container_has_no_route(name):
    assert fh.ok(fh.on(name, "ip", "route", "show")).strip() == ""
    v6 = fh.ok(fh.on(name, "ip", "-6", "route", "show"))
    assert [line for line in v6.splitlines() if " dev lo " not in line + " "] == [], v6


@pytest.mark.parametrize("name", fh.EVERY)
def test_outside_address_fails_at_once(name):
    answer = json.loads(fh.ok(fh.python(name, OUTSIDE)))
    assert answer["connected"] is False
    assert answer["errno"] == "ENETUNREACH", answer
    assert answer["seconds"] < 1, answer


@pytest.mark.parametrize("name", fh.EVERY)
def test_mirrors_answer_on_loopback(name):
    """The wheel index, the stub index and the Hub mirror of the namespace, reached from the container."""
    urls = [os.environ["CODEX_INDEX_URL"] + "torch/", os.environ["CODEX_STUB_INDEX_URL"],
            os.environ["CODEX_HF_MIRROR_URL"] + "/api/models/%s/revision/main" % fh.REPO]
    assert all(u.startswith("http://127.0.0.1:") for u in urls), urls
    out = fh.ok(fh.python(name, FETCH, *urls))
    assert [line.split()[0] for line in out.splitlines()] == ["200"] * len(urls), out
