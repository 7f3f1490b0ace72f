# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The wheel-mirror options of offline_venv and wheel_mirror_info: the target interpreter, the pins and where
    the mirror is. The argument spec is _mirror_http.MIRROR_ARGUMENT_SPEC."""

    DOCUMENTATION = r"""
options:
  python:
    description:
      - The target interpreter on the host. Its wheel tags decide which wheels fit; M(codex.offline_ml.offline_venv)
        creates the venv from it.
    type: path
    default: /usr/bin/python3
  requirements:
    description:
      - Exact pins (V(name==version)). With O(lock) every pin must agree with the lock.
    type: list
    elements: str
    default: []
  lock:
    description:
      - Text of a hash-pinned requirements file (as written by C(playbooks/stage_wheels.yml)). Every entry is
        wanted, with its sha256.
    type: str
  mirror_mode:
    description: How the mirror is reached.
    type: str
    choices: [index, find_links, wheelhouse]
    default: index
  mirror_url:
    description:
      - PEP 503 index URL (O(mirror_mode=index)) or URL of a flat wheel directory (O(mirror_mode=find_links)); with
        O(mirror_mode=find_links), an absolute path names a wheel directory on the host itself.
      - May carry credentials; they never appear in the module's output.
    type: str
  wheelhouse:
    description: Directory of wheels on the host, for O(mirror_mode=wheelhouse).
    type: path
  trusted_host:
    description: Host (or host:port) whose TLS certificate is not verified.
    type: str
  ca_bundle:
    description: CA bundle on the host for an HTTPS mirror.
    type: path
"""
