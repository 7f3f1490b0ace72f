# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Named fault points: where a test makes a module die (SIGKILL) or fail a write (ENOSPC), to prove that every
host ends healthy-old or healthy-new whatever stops a converge (docs/reliability.md lists every point; the soak,
tests/soak/soak.py, runs each).

Inert unless the module's environment has ``CODEX_FAULT=<point>[:kill|:enospc]`` (Ansible's ``environment``
keyword; ``site.yml`` passes ``site_module_environment``). Nothing on a host sets it: a point costs one dictionary
lookup. A point named in ``CODEX_FAULT`` that does not exist is ignored here and refused by the soak, which takes
its names from ``POINTS``.

Private to the collection. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import signal

ENV = "CODEX_FAULT"
ACTIONS = ("kill", "enospc")

# name -> (concern, what has happened when the point fires). The order is the soak's and the docs' order.
POINTS = {
    "venv.uv_fetched": ("venv", "uv is fetched into the build's work directory; the release directory is not made"),
    "venv.created": ("venv", "the new release's venv exists, empty"),
    "venv.reused": ("venv", "half of the live release's unchanged files are copied into the new release"),
    "venv.installed": ("venv", "the installer has filled the new release; no health check yet"),
    "venv.checked": ("venv", "the new release passed its health check; no snapshot, no marker"),
    "venv.snapshot": ("venv", "the snapshot of the new release's files is being written"),
    "venv.marker": ("venv", "the release marker is being written: the release is about to count as finished"),
    "venv.swap": ("venv", "the finished release is synced; the venv's link still points at the old release"),
    "venv.swapped": ("venv", "the link points at the new release; the history and the uv cache are not updated"),
    "venv.cache_commit": ("venv", "the build's copy of the uv cache is about to replace the cache"),
    "venv.prune": ("venv", "a stale release is renamed out of the releases, about to be removed"),
    "venv.cache_prune": ("venv", "uv's cache is being pruned to the kept releases"),
    "venv.rollback": ("venv", "a rollback is about to make the previous release live"),
    "hf.downloaded": ("hf", "the mirror's files are downloaded into the staging cache; nothing is installed"),
    "hf.blob": ("hf", "one blob is installed into the shared cache, the others not yet"),
    "hf.snapshot_link": ("hf", "the blobs are installed; the snapshot's links are being made"),
    "hf.refs": ("hf", "the snapshot is complete; refs/<name> is about to be written"),
    "hf.record": ("hf", "the refs are written; the seed record (what the audit checks against) is being written"),
    "hf.bundle_verify": ("hf", "half of a bundle's members are verified"),
    "hf.bundle_unpack": ("hf", "a verified bundle is being installed into the cache"),
    "files.write": ("files", "a managed file's new content is synced in its temporary file, not renamed"),
    "files.attrs": ("files", "a managed file's new content is published; its owner and mode are not set yet"),
}


def point(name):
    """Fire the fault point NAME if the environment asks for it (see the module docstring)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    wanted, _sep, action = spec.partition(":")
    if wanted != name:
        return
    if action == "enospc":
        raise OSError(errno.ENOSPC, "%s (fault point %s)" % (os.strerror(errno.ENOSPC), name))
    if action in ("", "kill"):
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["ACTIONS", "ENV", "POINTS", "point"]
