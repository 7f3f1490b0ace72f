# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Release directories of a managed venv: the lock, the atomic swap, the kept previous releases, the rollback.

Layout: ``PATH`` is a symlink to ``DIR/.NAME.releases/<id>``. A finished release holds the marker
``.codex-release.json``; a directory without it is an unfinished build (removed by the next run).
``.live-history`` in the releases directory lists the releases in the order they were made live (each swap appends),
which orders them for pruning and rollback (releases older than the history: by marker mtime, after those).
After a rollback, ``.rolled-back`` in the releases directory records
``{"from": <release left>, "to": <release made live>}``: a second rollback run finds it and changes nothing,
and the next build removes it.

Private to the collection. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import hashlib
import json
import os
import shutil
import time

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable, _faults
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError

MARKER = ".codex-release.json"
ROLLED_BACK = ".rolled-back"
HISTORY = ".live-history"
# A stale release is renamed to this prefix + its name before it is removed (see remove_stale).
REMOVING = ".removing-"
_HISTORY_MAX = 64
# In each release's site-packages: a process started through the PATH symlink resolves its venv entries of sys.path
# to the release it started in, so that it keeps importing from that release after a swap (while it is kept),
# instead of mixing modules of two releases. site runs "import" lines of .pth files; "_" sorts before other names.
RELEASE_PTH = "_codex_release.pth"
RELEASE_PTH_LINE = ("import os, sys; sys.path[:] = [os.path.realpath(p) if p == sys.prefix or "
                    "p.startswith(sys.prefix + os.sep) else p for p in sys.path]\n")


class ReleaseError(OperatorError):
    """A release of the venv that cannot be made live, rolled back or removed."""


def releases_dir(path):
    return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".releases")


class ReleaseLock(object):
    """Serialise runs on one venv (two converges at once must not swap under each other)."""

    def __init__(self, rdir):
        self.rdir = rdir
        self.fh = None
        self.created = False
        self.created_top = None

    def __enter__(self):
        self.created = not os.path.isdir(self.rdir)
        # The highest directory this run creates (/opt/codex on a new host): a failed first build removes it too.
        top = self.rdir
        while not os.path.isdir(os.path.dirname(top)):
            top = os.path.dirname(top)
        self.created_top = top if self.created else None
        os.makedirs(self.rdir, exist_ok=True)
        self.fh = open(os.path.join(self.rdir, ".lock"), "w")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        # A failed first build leaves no trace: the directory this run created holds nothing but the lock.
        # The uv cache it filled goes with it (the host as it was before the run).
        if self.created and not set(os.listdir(self.rdir)) - set([".lock", ".uv-cache", ".uv-cache.build"]):
            shutil.rmtree(self.rdir, ignore_errors=True)
            parent = os.path.dirname(self.rdir)
            while self.created_top and len(parent) >= len(self.created_top) and os.path.isdir(parent) \
                    and not os.listdir(parent):
                os.rmdir(parent)
                parent = os.path.dirname(parent)
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def write_release_pth(site_dir):
    with open(os.path.join(site_dir, RELEASE_PTH), "w") as fh:
        fh.write(RELEASE_PTH_LINE)


def read_marker(release):
    """The release marker of RELEASE as a dict, None when it is missing, unreadable or not an object."""
    try:
        with open(os.path.join(release, MARKER)) as fh:
            marker = json.load(fh)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def new_release_path(path, wanted, installer):
    digest = hashlib.sha256(json.dumps([wanted, installer], sort_keys=True).encode()).hexdigest()[:10]
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return os.path.join(releases_dir(path), "%s-%s-%s" % (stamp, digest, os.urandom(2).hex()))


def current_release(path):
    return os.path.realpath(path) if os.path.islink(path) else None


def _entries(path):
    rdir = releases_dir(path)
    if not os.path.isdir(rdir):
        return []
    out = []
    for entry in sorted(os.listdir(rdir)):
        full = os.path.join(rdir, entry)
        if not entry.startswith(".") and os.path.isdir(full) and not os.path.islink(full):
            out.append(full)
    return out


def _marker_mtime(release):
    try:
        return os.stat(os.path.join(release, MARKER)).st_mtime_ns
    except OSError:
        return None


def _history(path):
    try:
        with open(os.path.join(releases_dir(path), HISTORY)) as fh:
            data = json.load(fh)
        return [r for r in data if isinstance(r, str)] if isinstance(data, list) else []
    except (OSError, ValueError):
        return []


def _write_json(target, data):
    _durable.write_json(target, data)


def finished_releases(path):
    """Finished releases (with a marker), the most recently live first."""
    history = _history(path)
    rank = dict((r, i) for i, r in enumerate(history))
    found = [(r, _marker_mtime(r)) for r in _entries(path)]
    finished = [(r, m) for r, m in found if m is not None]
    return [r for r, m in sorted(finished, key=lambda x: (x[0] in rank, rank.get(x[0], 0), x[1]), reverse=True)]


def read_rollback(path):
    try:
        with open(os.path.join(releases_dir(path), ROLLED_BACK)) as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _removing(path):
    rdir = releases_dir(path)
    if not os.path.isdir(rdir):
        return []
    return [os.path.join(rdir, e) for e in sorted(os.listdir(rdir)) if e.startswith(REMOVING)]


def stale_releases(path, keep=1):
    """Release directories to remove: unfinished builds, the release a rollback left, finished releases beyond
    the KEEP most recently live ones besides the live one, and what a removal cut short left."""
    current = current_release(path)
    rolled = read_rollback(path) or {}
    finished = finished_releases(path)
    out = _removing(path) + [r for r in _entries(path) if r not in finished and r != current]
    kept = 0
    for release in finished:
        if release == current:
            continue
        if release == rolled.get("from") or kept >= keep:
            out.append(release)
        else:
            kept += 1
    return sorted(out)


def kept_releases(path, keep=1):
    stale = stale_releases(path, keep)
    current = current_release(path)
    return [r for r in finished_releases(path) if r not in stale and r != current]


def remove_stale(path, keep=1):
    removed = []
    for full in stale_releases(path, keep):
        doomed = full
        if not os.path.basename(full).startswith(REMOVING):
            # Renamed out of the releases first: a release half removed (its marker still there, its site-packages
            # gone) must never count as finished, as a rollback target or a source of re-use.
            doomed = os.path.join(os.path.dirname(full), REMOVING + os.path.basename(full))
            os.rename(full, doomed)
        _faults.point("venv.prune")
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(full)
    return removed


def swap(path, release):
    """Point PATH at RELEASE atomically; a real directory at PATH (an old venv) is moved aside first."""
    rdir = releases_dir(path)
    # Every file of the release reaches the disk before the link that publishes it (a power cut after the swap
    # must not leave a live release of empty files).
    _durable.sync_tree(release)
    tmp_link = os.path.join(rdir, ".swap-link")
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(release, tmp_link)
    if os.path.lexists(path) and not os.path.islink(path):
        _durable.rename(path, os.path.join(rdir, "legacy-%s" % time.strftime("%Y%m%dT%H%M%S", time.gmtime())))
    _faults.point("venv.swap")
    _durable.rename(tmp_link, path)
    _faults.point("venv.swapped")
    history = [r for r in _history(path) if r != release and os.path.isdir(r)] + [release]
    _write_json(os.path.join(rdir, HISTORY), history[-_HISTORY_MAX:])


def clear_rollback(path):
    try:
        os.unlink(os.path.join(releases_dir(path), ROLLED_BACK))
    except OSError:
        pass


def rollback_plan(path):
    """(target, reason) for a rollback: target None when the venv is already rolled back. Raises ReleaseError
    when there is nothing to roll back to."""
    current = current_release(path)
    rolled = read_rollback(path)
    if rolled and current and rolled.get("to") == current:
        return None, None
    previous = [r for r in finished_releases(path) if r != current and (not rolled or r != rolled.get("from"))]
    if not previous:
        raise ReleaseError("nothing to roll back to: %s keeps no previous release (the keep_releases setting was 0 "
                           "when it was last built, or it was built only once)" % releases_dir(path))
    return previous[0], "rollback from %s to %s" % (os.path.basename(current or path), os.path.basename(previous[0]))


def rollback(path, target):
    """Make TARGET live and record the rollback (the release left stays until the next build prunes it)."""
    left = current_release(path)
    _faults.point("venv.rollback")
    swap(path, target)
    _write_json(os.path.join(releases_dir(path), ROLLED_BACK), {"from": left, "to": target, "at": int(time.time())})


__all__ = ["MARKER", "ReleaseError", "ReleaseLock", "clear_rollback", "current_release", "finished_releases",
           "kept_releases", "new_release_path", "read_marker", "write_release_pth", "releases_dir", "remove_stale", "rollback", "rollback_plan",
           "stale_releases", "swap"]
