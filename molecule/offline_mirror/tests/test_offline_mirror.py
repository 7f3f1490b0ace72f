"""offline_mirror: the mirror host serves release r1 (after side_effect: r1 again, r2 kept) under systemd as an
unprivileged user, read-only, on 127.0.0.1 only; pip downloads from its index and the bundle from /release/ are
byte for byte what the signed manifest lists (judged by pip and sha256, not by the role's health check)."""

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import testinfra

PORT = 18170
URL = "http://127.0.0.1:%d" % PORT
ROOT = "/srv/offline-mirror"
LAB = os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd()), "build", "offline-mirror-lab")


@pytest.fixture(scope="module")
def box():
    return testinfra.get_host("podman://offline-mirror")


@pytest.fixture(scope="module")
def manifest(box):
    served = box.run("readlink %s/current" % ROOT).stdout.strip().split("/")[-1]
    with open(os.path.join(LAB, "releases", served, "manifest.json"), "rb") as handle:
        return json.loads(handle.read().decode("utf-8"))


def test_the_service_runs_as_the_unprivileged_user_under_systemd(box):
    assert box.run("systemctl is-active codex-offline-mirror.service").stdout.strip() == "active"
    assert box.run("systemctl is-enabled codex-offline-mirror.service").stdout.strip() == "enabled"
    pid = box.run("systemctl show -p MainPID --value codex-offline-mirror.service").stdout.strip()
    users = set(box.run("ps -o user= --ppid %s -p %s" % (pid, pid)).stdout.split())
    assert users == {"codex-mirror"}
    assert "Restart=on-failure" in box.file("/etc/systemd/system/codex-offline-mirror.service").content_string


def test_it_listens_on_the_named_address_only(box):
    listening = box.run("ss -H -ltn 'sport = :%d'" % PORT).stdout.split()
    assert "127.0.0.1:%d" % PORT in listening and "0.0.0.0:%d" % PORT not in listening


def test_the_store_is_roots_and_read_only_for_the_service(box):
    assert box.file(ROOT + "/current").linked_to.startswith(ROOT + "/releases/")
    for path in (ROOT, ROOT + "/releases", ROOT + "/current/wheels"):
        entry = box.file(path)
        assert (entry.user, entry.group, entry.mode & 0o022) == ("root", "root", 0), path
    touch = box.run("runuser -u codex-mirror -- touch %s/current/wheels/planted.whl" % ROOT)
    assert touch.rc != 0


def test_pip_downloads_from_the_index_what_the_manifest_signed(manifest, tmp_path):
    wanted = [f for f in manifest["files"] if f["path"].startswith("wheels/gunicorn-")][0]
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    subprocess.run([sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check", "-q",
                    "--no-deps", "--index-url", URL + "/simple/", "-d", str(tmp_path), "gunicorn==27.0.1"],
                   check=True, env=env)
    got = tmp_path / wanted["path"].split("/", 1)[1]
    assert hashlib.sha256(got.read_bytes()).hexdigest() == wanted["sha256"]


def test_the_bundle_and_its_manifest_are_served_as_signed(manifest):
    for entry in [f for f in manifest["files"] if f["path"].startswith("hf/")]:
        body = urllib.request.urlopen("%s/release/%s" % (URL, entry["path"]), timeout=30).read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"], entry["path"]


def test_uploads_are_refused(box):
    request = urllib.request.Request(URL + "/", data=b"--x--\r\n", method="POST",
                                     headers={"Content-Type": "multipart/form-data; boundary=x"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code in (401, 403, 405)


def test_the_facts_name_the_served_release_its_signer_and_health(box, manifest):
    facts = json.loads(box.file("/etc/ansible/facts.d/offline_mirror.fact").content_string)
    with open(os.path.join(LAB, "releases", manifest["release"], "manifest.json"), "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    assert (facts["release"], facts["manifest_sha256"], facts["signer"]) == (manifest["release"], digest, "stager@lab")
    assert facts["health"]["ok"] and len(facts["health"]["checks"]) == 3
