# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Publishing by rename that survives a power loss: the content, then its directory, are flushed before the rename
makes them visible, and the directory holding the new name is flushed after it.

Without the first flush a file system may commit the rename before the data (ext4's delayed allocation, XFS), so
that after a power cut the published name holds zeros or nothing. Without the last one the rename itself may be
lost, and the next converge finds the old state and redoes the work (safe, only slower).

A tree (a venv release, an unpacked bundle) is flushed with one ``os.sync()`` instead of thousands of ``fsync``
calls: it is published once per build, and the cost is the dirty data of the host, which a build just wrote anyway.

Private to the collection. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile


def fsync_dir(path):
    """Flush the directory PATH (its entries: names made, renamed or removed in it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename(src, dst):
    """os.rename(SRC, DST), then flush DST's directory (and SRC's, when it is another one)."""
    os.rename(src, dst)
    parent = os.path.dirname(os.path.abspath(dst))
    fsync_dir(parent)
    src_parent = os.path.dirname(os.path.abspath(src))
    if src_parent != parent:
        fsync_dir(src_parent)


def write_file(path, data, mode=None):
    """DATA (bytes or text) into PATH: a new temporary file beside it (never an existing name, never through a
    link), written, flushed and synced, then renamed; removed if anything fails before the rename."""
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
            os.fchmod(fh.fileno(), 0o644 if mode is None else mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        rename(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, data, **dump_args):
    """DATA as JSON into PATH, published as write_file does (sort_keys unless told otherwise)."""
    dump_args.setdefault("sort_keys", True)
    write_file(path, json.dumps(data, **dump_args))


def sync_tree(path):
    """Flush a tree made by many writes before it is published (see the module docstring), then its directory."""
    os.sync()
    fsync_dir(path)


__all__ = ["fsync_dir", "rename", "sync_tree", "write_file", "write_json"]
