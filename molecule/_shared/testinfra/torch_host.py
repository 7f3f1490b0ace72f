"""What the torch scenarios' testinfra tests read from a converged container (imported by those tests and by
hf_checks): the venv's torch as a program imports it, the diagnostic's facts from the module and from the host
command, and the names the staged lock pins. Not the diagnostic itself (plugins/module_utils/_torch_checks.py and
its host copy): the tests compare the diagnostic's answer with what this reads directly."""

import functools
import json
import os
import re

import testinfra

VENV = "/opt/codex/venv"
FACTS = "/etc/ansible/facts.d/torch_cpu.fact"
COMMAND = "/usr/local/bin/codex-torch-check"


@functools.lru_cache(maxsize=None)
def _podman(name):
    return testinfra.get_host("podman://%s" % name)


def lock_names(lock):
    """The distribution names (normalized) the staged lock LOCK (e.g. torch_cpu.txt) pins: the closure is the
    lock's to decide, never a list in a test."""
    root = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.join(os.path.dirname(__file__), "..", "..", "..")
    path = os.path.join(root, "build", "mirror", "locks", lock)
    with open(path) as handle:
        return set(normalize(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", handle.read(), re.M))


def normalize(name):
    """PEP 503: Typing_Extensions and typing-extensions are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def fast(host):
    """The same container through testinfra's podman backend: one `podman exec` per command instead of one
    ansible run (the ansible backend does not know the containers.podman connection). Keep `host` for
    host.ansible()."""
    return _podman(host.backend.get_hostname())


def login(host, command):
    """Run COMMAND in a login shell, as an operator would."""
    return fast(host).run("bash -lc %s" % json.dumps(command))


def venv_python(host, code):
    result = login(host, "%s/bin/python -c %s" % (VENV, json.dumps(code)))
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


TORCH_BUILD = ("import json, torch, torch._C; from torch.utils.data import Dataset; "
               "print(json.dumps({'version': torch.__version__, 'cuda': torch.version.cuda, "
               "'compiled': torch._C.__file__.endswith('.so'), 'dataset': Dataset.__name__}))")


def torch_build(host):
    """The venv's torch as a program imports it: version, CUDA version (None on a CPU build), whether torch._C
    is a compiled extension, and torch.utils.data.Dataset's name (a stub torch has no Dataset)."""
    return json.loads(venv_python(host, TORCH_BUILD))


def module_facts(host):
    result = host.ansible("codex.offline_ml.torch_diagnostic",
                          "python=%s/bin/python require_cpu_build=true" % VENV, check=False)
    return result["ansible_facts"]["torch_diagnostic"]


def command_facts(host):
    result = login(host, COMMAND)
    assert result.rc == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def without_volatile(facts):
    return dict((k, v) for k, v in facts.items() if k not in ("elapsed_s", "python"))
