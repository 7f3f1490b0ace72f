# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the bad-input tests: one container for the whole session, and the host states the cases start
from (pristine, or holding a healthy venv converged from the staged index with its lock).

Needs the test mirrors (CODEX_INDEX_URL, CODEX_FINDLINKS_URL, CODEX_STUB_INDEX_URL): run through
``make integration`` or ``molecule/_shared/with_mirrors.sh .venv/bin/pytest tests/integration``.
"""

from __future__ import absolute_import, division, print_function

import os
import sys
import tempfile
import uuid
from importlib import util

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import integration_helpers as h  # noqa: E402  pylint: disable=wrong-import-position

_NEEDED = ("CODEX_INDEX_URL", "CODEX_FINDLINKS_URL", "CODEX_STUB_INDEX_URL")


@pytest.fixture(scope="session")
def container():
    """ONE container from build/image-debian12 for the session, removed at the end whatever happens."""
    missing = [v for v in _NEEDED if not os.environ.get(v)]
    if missing:
        pytest.fail("%s not set: run `make integration` (or molecule/_shared/with_mirrors.sh pytest ...)"
                    % ", ".join(missing))
    image_ref = h.REPO_ROOT / "build" / "image-debian12"
    if not image_ref.is_file() or not (h.LOCKS / "torch_cpu.txt").is_file():
        pytest.fail("build/image-debian12 or build/mirror is missing: run `make build` first")
    box = h.Container(image_ref.read_text().strip(), "codex-it-%s" % uuid.uuid4().hex[:8])
    try:
        box.start()
        yield box
    finally:
        box.remove()


@pytest.fixture
def pristine(container):
    """The host holds nothing the roles write (reset every time: other test files share the container)."""
    container.reset()
    return container


@pytest.fixture(scope="module")
def _converged(container):
    """Converge the good configuration once per module (index mode, lock torch_cpu.txt); returns the release."""
    return _converge_good(container)


def _converge_good(container):
    container.reset()
    result = h.run_play(container, "torch_cpu.yml", h.good_vars())
    assert result.rc == 0, "the good configuration did not converge: %s\n%r" % (h.failure_messages(result.out), result)
    container.state = "healthy"
    container.healthy_release = container.venv_target()
    return container.healthy_release


@pytest.fixture
def healthy(container, _converged):
    """The host holds a healthy venv built by the good configuration (converged again if a test changed it)."""
    if container.state != "healthy" or container.venv_target() != container.healthy_release:
        _converge_good(container)
    return container


# --------------------------------------------------------------------------- the hf_offline_cache tests
HF_PLAY = """---
- name: Apply codex.offline_ml.hf_offline_cache
  hosts: all
  gather_facts: false
  roles:
    - role: codex.offline_ml.hf_offline_cache
"""


@pytest.fixture(scope="module")
def hub():
    """The Hub mirror of hf_mirror.sh run: its URL and the tiny BERT's commit."""
    url = os.environ.get("CODEX_HF_MIRROR_URL")
    commit = os.environ.get("CODEX_HF_TINY_BERT_COMMIT")
    if not url or not commit:
        pytest.fail("CODEX_HF_MIRROR_URL / CODEX_HF_TINY_BERT_COMMIT not set: run through "
                    "molecule/_shared/hf_mirror.sh run make integration")
    return {"url": url, "commit": commit}


@pytest.fixture(scope="module")
def play_file():
    """A playbook applying hf_offline_cache to the container, removed after the module's tests."""
    fd, path = tempfile.mkstemp(prefix="codex-hf-play-", suffix=".yml")
    with os.fdopen(fd, "w") as handle:
        handle.write(HF_PLAY)
    yield path
    os.unlink(path)


@pytest.fixture(scope="session")
def tiny_bert_bundle(tmp_path_factory):
    """build(NAME) -> (path, manifest, commit): a real bundle (hf_bundle.build_bundle) of the tiny BERT cache layout
    (tests/fixtures/tiny_bert/hf_cache_layout.py), written as NAME in a folder of its own each call."""
    sys.path.insert(0, str(h.REPO_ROOT / "build" / "collections"))
    from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_bundle as hf_bundle
    from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs

    spec = util.spec_from_file_location("codex_hf_cache_layout",
                                        str(h.REPO_ROOT / "tests" / "fixtures" / "tiny_bert" / "hf_cache_layout.py"))
    layout = util.module_from_spec(spec)
    spec.loader.exec_module(layout)

    def build(name):
        root = tmp_path_factory.mktemp("hf-bundle")
        layout.make_cache(root / "cache")
        (spec_,) = hf_specs.normalize_repos([{"repo_id": "codex-test/tiny-bert", "revision": layout.COMMIT}])
        bundle = str(root / name)
        _changed, manifest = hf_bundle.build_bundle(str(root / "cache"), [(spec_, layout.COMMIT)], bundle)
        return bundle, manifest, layout.COMMIT
    return build
