# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Staging from a lock: which sets re-stage an existing hash-pinned lock and which are resolved afresh, the checks
that a lock still describes its set, pip's hash-checking failures turned into the file they are about, and what a
fresh resolve moved against the previous lock.

A set's closure is decided once, by a resolve; every later staging of the set (next month, for another disk, after
an interrupted run) downloads exactly the lock's files, so two releases staged from the same locks hold the same
bytes whatever the index has published since.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import (
    normalize_name,
    parse_lock,
    parse_pin,
    render_lock,
    same_version,
)

RESOLVE_CHOICES = ("missing", "none", "all")
# The header line stage() writes into every lock; read back to check that a lock still describes its set.
_HEADER_RE = re.compile(r"^# Python (?P<python>\S+), platforms (?P<platforms>.*?)\. Pins: (?P<pins>.*)$")
# pip's hash-checking failure: "    name==1.0 from https://.../name-1.0-py3-none-any.whl#sha256=... (from -r
# lock.txt (line 7)):" then "Expected sha256 <hex>" and "Got <hex>" lines
_PIP_MISMATCH_RE = re.compile(r"^\s+(?P<pin>\S+==\S+) from (?P<url>\S+?)(?: \(.*\))?:\s*$")
_PIP_EXPECTED_RE = re.compile(r"Expected sha256 (?P<hex>[0-9a-f]{64})")
_PIP_GOT_RE = re.compile(r"^\s+Got\s+(?P<hex>[0-9a-f]{64})")
_PIP_NOT_FOUND_RE = re.compile(r"No matching distribution found for (?P<pin>\S+)")


def lock_header(set_name, python_version, platforms, pins):
    """The lines every lock starts with; the second one is read back by read_header."""
    return ["Hash-pinned lock for set %r, written by playbooks/stage_wheels.yml; do not edit." % set_name,
            "Python %s, platforms %s. Pins: %s" % (python_version, ", ".join(platforms), ", ".join(pins))]


def read_header(text):
    """What a lock written by stage() says it was staged for: {'python', 'platforms', 'pins'}, or None for a lock
    written by another tool (pip-compile --generate-hashes, uv pip compile --generate-hashes)."""
    for line in (text or "").splitlines():
        match = _HEADER_RE.match(line)
        if match:
            return {"python": match.group("python"),
                    "platforms": [p.strip() for p in match.group("platforms").split(",") if p.strip()],
                    "pins": [p.strip() for p in match.group("pins").split(",") if p.strip()]}
        if line and not line.startswith("#"):
            return None
    return None


def lock_modes(sets, lock_dir, resolve="missing", refresh=()):
    """For each set, the lock it is staged from (a path) or None (resolved afresh by pip).

    LOCK_DIR holds <set>.txt per set (None: every set is resolved, as a first staging does). RESOLVE says what a set
    without a lock there gets: 'missing' resolves it, 'none' is an error (a reproducible mirror: every set must
    come from a lock), 'all' resolves every set afresh. REFRESH lists sets resolved afresh although they have a
    lock. Raises RuntimeError naming the option and the fix.
    """
    if resolve not in RESOLVE_CHOICES:
        raise RuntimeError("resolve must be one of %s, not %r" % (", ".join(RESOLVE_CHOICES), resolve))
    refresh = list(refresh or [])
    unknown = sorted(set(refresh) - set(sets))
    if unknown:
        raise RuntimeError("refresh names sets that are not in sets: %s" % ", ".join(unknown))
    if lock_dir is None:
        if resolve == "none":
            raise RuntimeError("resolve is none (every set from its lock) but no lock_dir is given: name the "
                               "directory holding <set>.txt for every set")
        return dict((name, None) for name in sets)
    if not os.path.isdir(lock_dir):
        raise RuntimeError("lock_dir %s is not a directory: give the directory holding the locks (<set>.txt) to "
                           "stage from" % lock_dir)
    modes, lacking = {}, []
    for name in sorted(sets):
        path = os.path.join(lock_dir, "%s.txt" % name)
        if resolve == "all" or name in refresh:
            modes[name] = None
        elif os.path.isfile(path):
            modes[name] = path
        elif resolve == "none":
            lacking.append(name)
        else:
            modes[name] = None
    if lacking:
        raise RuntimeError("resolve is none but lock_dir %s has no lock for set(s) %s: resolve them on purpose "
                           "(refresh: [%s]) and keep the locks that staging writes" % (
                               lock_dir, ", ".join(lacking), ", ".join(lacking)))
    return modes


def check_lock(set_name, path, text, pins, python_version, platforms):
    """The entries of the lock at PATH (text TEXT) of set SET_NAME, after checking it still describes the set:
    staged for the same Python and platforms from the same pins, and every pin in it at its version. Raises
    RuntimeError naming the set, the lock and the fix."""
    fix = ("resolve the set afresh on purpose (refresh: [%s]; the result lists what moved) or give the lock the "
           "set was staged with" % set_name)
    try:
        entries = parse_lock(text)
    except MirrorError as exc:
        raise RuntimeError("lock %s of set %s cannot be read: %s" % (path, set_name, exc))
    header = read_header(text)
    if header:
        if header["python"] != str(python_version):
            raise RuntimeError("lock %s of set %s was staged for Python %s, the set is staged for Python %s: %s" % (
                path, set_name, header["python"], python_version, fix))
        if header["platforms"] != list(platforms):
            raise RuntimeError("lock %s of set %s was staged for platforms %s, the set for %s: %s" % (
                path, set_name, ", ".join(header["platforms"]), ", ".join(platforms), fix))
        old = dict(parse_pin(pin) for pin in header["pins"])
        new = dict(parse_pin(pin) for pin in pins)
        changed = ["%s==%s" % (name, new[name]) + (" (lock: %s)" % old[name] if name in old else " (new)")
                   for name in sorted(new) if name not in old or not same_version(old[name], new[name])]
        changed += ["%s (no longer pinned)" % name for name in sorted(set(old) - set(new))]
        if changed:
            raise RuntimeError("the pins of set %s changed since its lock %s was staged: %s; %s" % (
                set_name, path, ", ".join(changed), fix))
    for pin in pins:
        name, version = parse_pin(pin)
        if name not in entries or not same_version(entries[name]["version"], version):
            held = entries[name]["version"] if name in entries else "nothing"
            raise RuntimeError("set %s pins %s but its lock %s holds %s for %s: %s" % (
                set_name, pin, path, held, name, fix))
    return entries


def requirements_text(entries):
    """ENTRIES ({name: {'version', 'hashes'}}) as a requirements file for pip's hash-checking mode."""
    return render_lock(entries)


def explain_pip_failure(out, set_name, path, target):
    """A message for pip's failed hash-checking download of set SET_NAME from lock PATH: the file the index served
    and the hash the lock expects, or the pin the index no longer serves; None if the output shows neither."""
    lines = out.splitlines()
    problems = []
    for number, line in enumerate(lines):
        match = _PIP_MISMATCH_RE.match(line)
        if not match or "Expected sha256" not in "".join(lines[number + 1:number + 3]):
            continue
        expected = _PIP_EXPECTED_RE.search(lines[number + 1])
        got = _PIP_GOT_RE.match(lines[number + 2]) if number + 2 < len(lines) else None
        filename = match.group("url").split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        problems.append("%s: the index serves %s with sha256 %s, the lock expects %s" % (
            match.group("pin"), filename, got.group("hex") if got else "(not shown)",
            expected.group("hex") if expected else "(not shown)"))
    if problems:
        return ("lock %s of set %s: the index no longer serves the locked file: %s. The file changed upstream since "
                "the lock was staged (a re-upload, or tampering): find out which, and resolve the set afresh on "
                "purpose (refresh: [%s]) only once the new file is trusted" % (
                    path, set_name, "; ".join(problems), set_name))
    missing = sorted(set(m.group("pin") for m in _PIP_NOT_FOUND_RE.finditer(out)))
    if missing:
        return ("lock %s of set %s: the index no longer serves %s for %s: give the index that served it when the "
                "lock was staged, or resolve the set afresh on purpose (refresh: [%s])" % (
                    path, set_name, ", ".join(missing), target, set_name))
    return None


def lock_moves(old_text, new_entries):
    """What a fresh resolve moved against the previous lock (OLD_TEXT, None for a set without one):
    {'changed': {name: 'old -> new'}, 'added': {name: version}, 'removed': {name: version}}; a version whose files
    changed shows as 'v -> v (other files)'. Only non-empty keys are present."""
    try:
        old = parse_lock(old_text) if old_text else {}
    except MirrorError:
        old = {}
    moved = {"changed": {}, "added": {}, "removed": {}}
    for name in sorted(set(old) | set(new_entries)):
        if name not in old:
            moved["added"][name] = new_entries[name]["version"]
        elif name not in new_entries:
            moved["removed"][name] = old[name]["version"]
        elif not same_version(old[name]["version"], new_entries[name]["version"]):
            moved["changed"][name] = "%s -> %s" % (old[name]["version"], new_entries[name]["version"])
        elif sorted(old[name]["hashes"]) != sorted(new_entries[name]["hashes"]):
            moved["changed"][name] = "%s -> %s (other files)" % (old[name]["version"], new_entries[name]["version"])
    return dict((key, value) for key, value in moved.items() if value)


def describe_moves(moves):
    """One line per set for a person: 'torch_cpu: filelock 4.3.1 -> 4.3.2; added foo 1.0' ('unchanged' if none)."""
    lines = []
    for set_name in sorted(moves):
        moved = moves[set_name]
        parts = ["%s %s" % (name, text) for name, text in sorted(moved.get("changed", {}).items())]
        parts += ["added %s %s" % item for item in sorted(moved.get("added", {}).items())]
        parts += ["removed %s %s" % item for item in sorted(moved.get("removed", {}).items())]
        lines.append("%s: %s" % (set_name, "; ".join(parts) if parts else "unchanged"))
    return lines


def entry_of(entries, filename_info):
    """The lock entry a wheel (parse_wheel_filename's dict) belongs to, or None."""
    entry = entries.get(normalize_name(filename_info["name"]))
    if entry and same_version(entry["version"], filename_info["version"]):
        return entry
    return None
