# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""torch_cpu_companions: every bad companion input fails the preflight on a real container, naming the package and
the fix, and leaves the host as it was (the session's container, a pristine host: no converge is needed).

The mirrors are the staged wheels (hard links) plus small companion wheels written here: a torchvision whose
Requires-Dist names torch 2.11.0, and one built only for another Python. The broken-companion diagnostic and its
repair on a container are in the torch_cpu Molecule scenario (prepare.yml).
"""

from __future__ import absolute_import, division, print_function

import zipfile

import pytest

import integration_helpers as h

TORCH_PIN = "torch==2.13.0+cpu"


def _companion_wheel(directory, name, version, tag="py3-none-any", requires=()):
    path = directory / ("%s-%s-%s.whl" % (name, version, tag))
    dist_info = "%s-%s.dist-info" % (name, version)
    with zipfile.ZipFile(str(path), "w") as zf:
        zf.writestr("%s/__init__.py" % name, "")
        zf.writestr(dist_info + "/METADATA", "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
            name, version, "".join("Requires-Dist: %s\n" % r for r in requires)))
        zf.writestr(dist_info + "/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: %s\nTag: %s\n" % (
            "true" if tag.endswith("none-any") else "false", tag))
        zf.writestr(dist_info + "/RECORD", "")
    return path.name


@pytest.fixture(scope="module")
def family_mirror(tmp_path_factory):
    mirror = h.link_wheels(tmp_path_factory.mktemp("family") / "wheels")
    _companion_wheel(mirror, "torchvision", "0.28.0", requires=["numpy", "torch (==2.11.0)"])
    other = _companion_wheel(mirror, "torchaudio", "2.13.0", tag="cp399-cp399-manylinux_2_17_x86_64",
                             requires=["torch==2.13.0"])  # not-a-staged-version: the CUDA torch's version
    return mirror, other


def _fails_unchanged(host, extra_vars, *needles):
    before = host.snapshot()
    result = h.run_play(host, "torch_cpu.yml", extra_vars)
    assert result.rc != 0, "the play should have failed:\n%r" % (result,)
    missing = [n for n in needles if n not in result.out]
    assert not missing, "missing %r in the output:\n%r" % (missing, result)
    print("\n".join(h.failure_messages(result.out)))
    h.assert_unchanged(before, host.snapshot())


@pytest.mark.parametrize("mode", ["find_links", "wheelhouse"])
def test_requires_dist_naming_another_torch_fails_naming_both_versions(pristine, family_mirror, mode):
    """The companion's wheel says it was built for torch 2.11.0: read from the mirror (find_links: over HTTP on the
    host; wheelhouse: on the controller, where the files are) before anything changes."""
    mirror, dummy = family_mirror
    message = ("torchvision==0.28.0 requires torch==2.11.0, but torch==2.13.0+cpu is pinned: pin the torchvision "  # not-a-staged-version
               "built for torch 2.13.0+cpu (from the same index as torch), or pin the torch it requires")
    fix = "Fix: pin companions built for the pinned torch (torch_cpu_companions) and re-stage the mirror"
    if mode == "wheelhouse":
        _fails_unchanged(pristine, {"torch_cpu_mirror_mode": "wheelhouse", "torch_cpu_mirror_wheelhouse": str(mirror),
                                    "torch_cpu_companions": ["torchvision==0.28.0"]}, message, fix)
        return
    with h.find_links_server(mirror) as url:
        _fails_unchanged(pristine, {"torch_cpu_mirror_mode": "find_links", "torch_cpu_mirror_url": url,
                                    "torch_cpu_companions": ["torchvision==0.28.0"]}, message, fix)


def test_companion_only_for_another_python_names_the_package(pristine, family_mirror):
    mirror, other = family_mirror
    with h.find_links_server(mirror) as url:
        _fails_unchanged(pristine, {"torch_cpu_mirror_mode": "find_links", "torch_cpu_mirror_url": url,
                                    "torch_cpu_companions": ["torchaudio==2.13.0"]},
                         "no wheel in mirror %s fits this host (Python tag cp311" % url,
                         "torchaudio==2.13.0 (mirror has only %s)" % other)


@pytest.mark.parametrize("bad, needles", [
    pytest.param({"torch_cpu_packages": [], "torch_cpu_companions": ["torchvision==0.28.0"]},
                 ["torch_cpu_packages must pin torch exactly once (for example torch==2.13.0+cpu): the companions "
                  "torchvision==0.28.0 are built against one torch and need its pin"], id="companion_without_torch"),
])
def test_bad_companion_value_fails_naming_the_variable(pristine, bad, needles):
    _fails_unchanged(pristine, h.good_vars(lock=None, **bad), *needles)
