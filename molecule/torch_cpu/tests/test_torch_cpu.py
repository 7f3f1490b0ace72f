"""torch_cpu: a healthy official CPU torch in the venv, from either mirror mode."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared", "testinfra"))

import torch_host as tc  # noqa: E402


def test_torch_imports_from_the_venv(host):
    location = tc.venv_python(host, "import torch; print(torch.__file__)")
    # the live release (the venv's sys.path is resolved to the release the process started in)
    release = tc.fast(host).run("readlink -f %s" % tc.VENV).stdout.strip()
    assert release.startswith("/opt/codex/.venv.releases/")
    assert location.startswith(release + "/lib/")


def test_dataset_is_present(host):
    assert tc.torch_build(host)["dataset"] == "Dataset"


def test_cpu_build(host):
    build = tc.torch_build(host)
    assert (build["version"], build["cuda"]) == ("2.13.0+cpu", None)


def test_no_nvidia_distributions(host):
    out = tc.venv_python(host, "from importlib import metadata; "
                               "print([d.metadata['Name'] for d in metadata.distributions()])")
    assert "torch" in out
    assert "nvidia" not in out.lower()


def test_venv_is_a_release_symlink(host):
    venv = tc.fast(host).file(tc.VENV)
    assert venv.is_symlink
    assert "/opt/codex/.venv.releases/" in venv.linked_to


def test_venv_matches_the_lock_exactly(host):
    dists = json.loads(tc.venv_python(host, "import json; from importlib import metadata; "
                                            "print(json.dumps(sorted(d.metadata['Name'].lower() "
                                            "for d in metadata.distributions())))"))
    assert set(tc.normalize(d) for d in dists) - {"pip"} == tc.lock_names("torch_cpu.txt")


def test_facts_file(host):
    f = tc.fast(host).file(tc.FACTS)
    assert f.exists and f.mode == 0o644
    facts = json.loads(f.content_string)
    assert facts["diagnostic"]["status"] == "ok"
    assert facts["diagnostic"]["version"] == "2.13.0+cpu"
    assert facts["diagnostic"]["dataset_available"] is True
    assert facts["diagnostic"]["problems"] == []
    assert "elapsed_s" not in facts["diagnostic"]
    assert facts["distributions"]["torch"] == "2.13.0+cpu"
    assert len(facts["lock_sha256"]) == 64
    # uv's cache is uv's: a venv built with pip has none
    if facts["installer"] == "uv":
        assert facts["uv_cache_bytes"] > 0
    else:
        assert facts["uv_cache_bytes"] is None


def test_uv_cache_is_root_only_beside_the_releases(host):
    facts = json.loads(tc.fast(host).file(tc.FACTS).content_string)
    cache = tc.fast(host).file("/opt/codex/.venv.releases/.uv-cache")
    if facts["installer"] == "uv":
        assert cache.is_directory and not cache.is_symlink
        assert cache.user == "root" and cache.mode == 0o700
    else:
        assert not cache.exists
    assert not tc.fast(host).file("/opt/codex/.venv.releases/.uv-cache.build").exists
    # every release is a copy: no file of a release is a hard link (to the cache or to another release)
    linked = tc.fast(host).run("find /opt/codex/.venv.releases -path '*/.uv-cache' -prune -o -type f -links +1 -print")
    assert linked.rc == 0 and linked.stdout.split() == []


def test_ansible_local_carries_the_facts(host):
    local = host.ansible("ansible.builtin.setup", "filter=ansible_local", check=False)["ansible_facts"]["ansible_local"]
    assert local["torch_cpu"]["diagnostic"]["status"] == "ok"


def test_host_command_agrees_with_the_module(host):
    from_command = tc.command_facts(host)
    from_module = tc.module_facts(host)
    assert from_command["status"] == "ok"
    assert tc.without_volatile(from_command) == tc.without_volatile(from_module)


def test_host_command_is_managed(host):
    assert "Ansible managed" in tc.fast(host).file(tc.COMMAND).content_string


def test_pip_conf_only_where_asked(host):
    conf = tc.fast(host).file("/etc/pip.conf")
    if host.backend.get_hostname() == "torch-cpu-findlinks":
        assert conf.exists
        assert "Ansible managed" in conf.content_string
        assert "find-links = http://127.0.0.1:" in conf.content_string
        assert conf.mode == 0o644
    else:
        assert not conf.exists


def test_no_stale_releases(host):
    releases = tc.fast(host).run("ls -A /opt/codex/.venv.releases").stdout.split()
    assert len([r for r in releases if not r.startswith(".")]) == 1


def test_broken_family_was_reported_and_repaired(host):
    """torch-cpu-index started with the registry's CUDA torchvision over the CPU torch (prepare.yml)."""
    if host.backend.get_hostname() != "torch-cpu-index":
        return
    before = json.loads(tc.fast(host).file("/root/family-diagnostic.json").content_string)
    assert before["status"] == "broken"
    assert before["companions"]["torchvision"]["status"] == "broken"
    assert "libc10_cuda.so" in before["companions"]["torchvision"]["missing_libraries"]
    assert [p for p in before["problems"] if p.startswith("torchvision ")]
    # rebuilt from the lock, which has no torchvision (no CPU build of it for torch 2.13 can be had here)
    after = tc.command_facts(host)
    assert after["status"] == "ok" and after["companions"] == {}
    assert tc.venv_python(host, "import importlib.util; print(importlib.util.find_spec('torchvision'))") == "None"
