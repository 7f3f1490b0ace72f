# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hf_offline_cache against an HTTPS Hub mirror whose certificate a private CA signed (issue 11 item 3).

The mirror is the real olah of hf_mirror.sh behind tls_proxy.py (127.0.0.1 only), with a CA and a server
certificate this module makes with `cryptography`. The proxy records the Authorization header of every request;
the test compares it with the token and never prints it. Judged by huggingface_hub itself, offline, on the host.

Needs the wheel mirrors and the Hub mirror: molecule/_shared/hf_mirror.sh run make integration
INTEGRATION=tests/integration/test_hf_tls.py
"""

from __future__ import absolute_import, division, print_function

import datetime
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest

import integration_helpers as h

REPO = "codex-test/tiny-bert"
TOKEN = "hf_codex_tls_canary_0123456789abcdef"
CA_ON_HOST = "/usr/local/share/codex-test-hub-ca.pem"
HF_PATHS = ("/srv/huggingface", "/etc/profile.d/hf-offline.sh", "/etc/codex", "/etc/ansible/facts.d", "/opt/codex",
            "/var/cache/codex", "/etc/group", "/etc/gshadow")


def _make_pki(folder):
    """A CA and a server certificate for 127.0.0.1 / localhost signed by it; returns (ca, cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"codex test hub CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(u"127.0.0.1")),
                                                        x509.DNSName(u"localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (str(folder / "ca.pem"), str(folder / "server.pem"), str(folder / "server.key"))
    with open(paths[0], "wb") as fh:
        fh.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.open(paths[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def tls_hub(hub, tmp_path_factory):
    """{url, ca, record, commit}: the HTTPS proxy in front of olah, with the CA that signed its certificate."""
    folder = tmp_path_factory.mktemp("hub-tls")
    ca, cert, key = _make_pki(folder)
    record = str(folder / "requests.jsonl")
    port = h.free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tls_proxy.py"),
                             str(port), hub["url"], cert, key, record],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    url = "https://127.0.0.1:%d" % port
    try:
        context = ssl.create_default_context(cafile=ca)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/api/models/%s/revision/main" % REPO, timeout=5, context=context).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError("the TLS proxy did not answer on %s" % url)
                time.sleep(0.2)
        yield {"url": url, "ca": ca, "record": record, "commit": hub["commit"]}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def recorded(tls_hub):
    with open(tls_hub["record"]) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def tls_vars(tls_hub, **more):
    config = {"hf_offline_cache_mirror_url": os.environ["CODEX_INDEX_URL"],
              "hf_offline_cache_endpoint": tls_hub["url"],
              "hf_offline_cache_token": TOKEN,
              "hf_offline_cache_repos": [{"repo_id": REPO, "revision": tls_hub["commit"]}]}
    config.update(more)
    return config


def snapshot(box):
    res = box.python(h._SNAPSHOT_CODE, *HF_PATHS)  # pylint: disable=protected-access
    assert res.rc == 0, res
    return dict((entry[0], tuple(entry[1:])) for entry in json.loads(res.out))


@pytest.fixture(scope="module", autouse=True)
def _host_with_ca(container, tls_hub):
    """A pristine host holding the test CA (outside every path the role writes)."""
    container.reset()
    with open(tls_hub["ca"]) as fh:
        res = container.python("import sys; open(sys.argv[1], 'w').write(sys.argv[2])", CA_ON_HOST, fh.read())
    assert res.rc == 0, res


def test_without_the_ca_fails_naming_the_variable(container, play_file, tls_hub):
    before = snapshot(container)
    result = h.run_play(container, play_file, tls_vars(tls_hub), verbosity=3)
    assert result.rc != 0, result
    messages = h.failure_messages(result.out)
    print("\n".join(messages))
    assert any("the TLS certificate of the Hub mirror %s does not verify against the system CAs" % tls_hub["url"] in m
               and "set hf_offline_cache_endpoint_ca_bundle to the path on the host of the CA bundle" in m
               for m in messages), result
    assert "Traceback" not in "\n".join(messages)
    assert TOKEN not in result.out
    h.assert_unchanged(before, snapshot(container))


def test_with_the_ca_seeds_and_the_token_reaches_the_download(container, play_file, tls_hub):
    with open(tls_hub["record"], "w"):
        pass  # only this converge's requests
    result = h.run_play(container, play_file, tls_vars(tls_hub, hf_offline_cache_endpoint_ca_bundle=CA_ON_HOST),
                        verbosity=3)
    assert result.rc == 0, h.failure_messages(result.out)
    assert TOKEN not in result.out
    requests = recorded(tls_hub)
    probe = [r for r in requests if r["user_agent"] == "codex.offline_ml"]
    download = [r for r in requests if r["user_agent"] != "codex.offline_ml"]
    assert probe and download, [(r["method"], r["path"], r["user_agent"]) for r in requests]
    # huggingface_hub's own requests (the child's snapshot_download), over TLS verified against the CA.
    assert all("hf_hub/" in r["user_agent"] for r in download), [r["user_agent"] for r in download]
    assert any("/resolve/" in r["path"] for r in download), [r["path"] for r in download]
    wrong = [(r["method"], r["path"]) for r in requests if r["authorization"] != "Bearer " + TOKEN]
    assert not wrong, "requests without the token's bearer header: %r" % wrong
    # The token is nowhere on the host: not in the exports, the facts, the cache or the venv.
    res = container.exec("grep", "-rlF", TOKEN, "/srv/huggingface", "/etc/profile.d", "/etc/codex",
                         "/etc/ansible/facts.d", "/opt/codex", "/root", "/tmp")
    assert res.rc == 1 and not res.out, res.out
    # Judged by huggingface_hub itself, offline, as a user of the host.
    res = container.exec("/opt/codex/venv/bin/python", "-I", "-c",
                         "import sys\nfrom huggingface_hub import hf_hub_download\n"
                         "print(hf_hub_download(sys.argv[1], 'config.json', revision=sys.argv[2], "
                         "cache_dir='/srv/huggingface/hub', local_files_only=True))", REPO, tls_hub["commit"])
    assert res.rc == 0 and "/srv/huggingface/hub/models--codex-test--tiny-bert/snapshots/" in res.out, res
    again = h.run_play(container, play_file, tls_vars(tls_hub, hf_offline_cache_endpoint_ca_bundle=CA_ON_HOST))
    assert again.rc == 0 and "changed=0" in again.out, again
