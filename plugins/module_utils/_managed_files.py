# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Directories and small text files a role owns, brought to their state in one module call.

Used by the module managed_files. The content is rendered on the controller (template lookups); this side
compares, writes atomically (a temporary file in the same directory, then rename) and sets mode and
ownership with AnsibleModule's own helpers, so check mode and diff behave like ansible.builtin.copy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import tempfile

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable, _faults
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError

MODE_RE = re.compile(r"^0?[0-7]{3,4}$")


class ManagedFilesError(OperatorError):
    """An input that cannot be brought to its state; raised before any change."""


def check_entries(directories, files):
    """Reject what cannot be right before anything is touched: relative paths, bad modes, a path twice, a
    directory or file where something else is, a file whose directory will not exist."""
    seen = set()
    for kind, entries in (("directories", directories), ("files", files)):
        for index, entry in enumerate(entries):
            path = entry["path"]
            where = "%s[%d] (%s)" % (kind, index, path)
            if not os.path.isabs(path):
                raise ManagedFilesError("%s: the path must be absolute" % where)
            norm = os.path.normpath(path)
            if norm in seen:
                raise ManagedFilesError("%s: the path is listed twice" % where)
            seen.add(norm)
            if not MODE_RE.match(entry["mode"]):
                raise ManagedFilesError("%s: mode %r is not an octal mode such as \"0644\" (quote it in YAML)"
                                        % (where, entry["mode"]))
    listed = set(os.path.normpath(d["path"]) for d in directories)
    for entry in directories:
        path = entry["path"]
        if os.path.lexists(path) and not os.path.isdir(path):
            raise ManagedFilesError("%s exists and is not a directory; move it away or choose another path" % path)
    for entry in files:
        path = entry["path"]
        parent = os.path.dirname(os.path.normpath(path))
        if os.path.lexists(path) and (os.path.islink(path) or not os.path.isfile(path)):
            raise ManagedFilesError("%s exists and is not a regular file; move it away or choose another path" % path)
        if parent not in listed and not os.path.isdir(parent):
            raise ManagedFilesError("cannot write %s: its directory %s does not exist (list it in directories)"
                                    % (path, parent))


def _set_attrs(module, entry, changed, diff):
    """Owner, group and mode of ENTRY's path; DIFF ({"before": {}, "after": {}}) records what changes."""
    path = entry["path"]
    changed = module.set_owner_if_different(path, entry.get("owner"), changed, diff)
    changed = module.set_group_if_different(path, entry.get("group"), changed, diff)
    return module.set_mode_if_different(path, entry["mode"], changed, diff)


def ensure_directory(module, entry):
    """Create or fix one directory."""
    path = entry["path"]
    diff = {"before": {"path": path}, "after": {"path": path}}
    if not os.path.isdir(path):
        diff["before"]["state"] = "absent"
        diff["after"]["state"] = "directory"
        if not module.check_mode:
            # missing parents like `mkdir -p` (and ansible.builtin.file): 0755 minus the umask
            parent = os.path.dirname(os.path.normpath(path))
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            os.mkdir(path, int(entry["mode"], 8))
            _set_attrs(module, entry, True, None)
        return True, [diff]
    changed = _set_attrs(module, entry, False, diff)
    return changed, [diff] if changed else []


def ensure_file(module, entry):
    """Write one file when its content differs, then fix mode and ownership.

    Returns (changed, diffs): the content diff and the attribute diff, each only when it changes something.
    """
    path = entry["path"]
    data = entry["content"].encode("utf-8")
    parent = os.path.dirname(os.path.normpath(path))
    diff = {"before_header": path, "after_header": path}
    attr_diff = {"before": {"path": path}, "after": {"path": path}}
    if not os.path.isdir(parent):  # check mode: a directory listed but not created
        diff.update(before="", after=entry["content"])
        return True, [diff]
    before = b""
    exists = os.path.exists(path)
    if exists:
        with open(path, "rb") as fh:
            before = fh.read()
    changed = False
    if not exists or before != data:
        diff.update(before=before.decode("utf-8", "replace"), after=entry["content"])
        changed = True
        if module.check_mode:
            if not exists:
                return True, [diff]
        else:
            _write(module, path, parent, data, entry["mode"])
            _faults.point("files.attrs")
    attrs_changed = _set_attrs(module, entry, False, attr_diff)
    return changed or attrs_changed, [d for d, c in ((diff, changed), (attr_diff, attrs_changed)) if c]


def _write(module, path, parent, data, mode):
    """DATA into PATH atomically: a temporary file beside it, synced, then renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, int(mode, 8))
        _faults.point("files.write")
        module.atomic_move(tmp, path)
        _durable.fsync_dir(parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure(module, directories, files):
    """(changed, changed_paths, diffs) after bringing DIRECTORIES (in order) then FILES to their state.

    A directory listed twice with the same settings counts once (two paths a role derives may share one).
    """
    unique = []
    for entry in directories:
        if entry not in unique:
            unique.append(entry)
    directories = unique
    check_entries(directories, files)
    changed_paths = []
    diffs = []
    for ensure_one, entries in ((ensure_directory, directories), (ensure_file, files)):
        for entry in entries:
            changed, entry_diffs = ensure_one(module, entry)
            if changed:
                changed_paths.append(entry["path"])
                diffs.extend(entry_diffs)
    return bool(changed_paths), changed_paths, diffs
