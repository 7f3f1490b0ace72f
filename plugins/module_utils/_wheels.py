# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wheel knowledge shared by the modules: exact pins, hash-pinned locks, wheel file names and tags, the interpreter
probe, version comparison, and whether a mirror listing offers every wanted wheel.

Private to the collection. Standard library only, so it also runs on a bare target Python.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess

from urllib.parse import unquote

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError

# An exact pin, name==version: the only requirement form the collection takes (requirements, locks, packages).
PIN_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)\s*$")
_HASH_RE = re.compile(r"--hash[= ]sha256:([0-9a-fA-F]{64})")
# A PEP 600 platform tag: manylinux_<glibc major>_<glibc minor>_<arch>.
MANYLINUX_RE = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")


# --------------------------------------------------------------------------- names, pins, locks
def normalize_name(name):
    """PEP 503 normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pin(text):
    """'Name==1.0' -> ('name', '1.0'); anything that is not an exact pin raises MirrorError."""
    match = PIN_RE.match(text or "")
    if not match:
        raise MirrorError(
            "%r is not an exact pin: write it as name==version (for example torch==2.13.0+cpu)" % (text,),
            kind="invalid_pin",
        )
    return normalize_name(match.group(1)), match.group(2)


def parse_lock(text):
    """Parse a hash-pinned requirements file into {name: {'version', 'hashes', 'line'}}."""
    entries = {}
    logical = []
    buf = ""
    for raw in (text or "").splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            logical.append(buf.strip())
        buf = ""
    if buf.strip():
        logical.append(buf.strip())
    for line in logical:
        if line.startswith("-"):
            raise MirrorError("lock line %r: options are not allowed in a lock, only pins with hashes" % line,
                              kind="invalid_lock")
        spec = line.split("--hash", 1)[0].strip()
        spec = spec.split(";", 1)[0].strip()
        name, version = parse_pin(spec)
        hashes = [h.lower() for h in _HASH_RE.findall(line)]
        if not hashes:
            raise MirrorError("lock entry %s==%s has no --hash=sha256:...; a lock must pin every hash" % (name, version),
                              kind="invalid_lock")
        entries[name] = {"version": version, "hashes": hashes}
    if not entries:
        raise MirrorError("the lock is empty", kind="invalid_lock")
    return entries


def render_lock(entries, header=None):
    """Render {name: {'version', 'hashes'}} as a deterministic hash-pinned requirements file."""
    out = []
    if header:
        out.extend("# " + h for h in header)
    for name in sorted(entries):
        entry = entries[name]
        parts = ["%s==%s" % (name, entry["version"])]
        parts.extend("    --hash=sha256:%s" % h for h in sorted(entry["hashes"]))
        out.append(" \\\n".join(parts))
    return "\n".join(out) + "\n"


def wanted_set(requirements, lock_text):
    """What a venv must contain: the lock when there is one, else the pins. Checks they agree."""
    pins = {}
    for req in requirements or []:
        name, version = parse_pin(req)
        pins[name] = version
    if lock_text:
        lock = parse_lock(lock_text)
        for name, version in sorted(pins.items()):
            if name not in lock:
                raise MirrorError("%s==%s is requested but the lock does not pin %s; re-run "
                                  "playbooks/stage_wheels.yml with it in the set" % (name, version, name),
                                  kind="lock_mismatch", package=name)
            if lock[name]["version"] != version:
                raise MirrorError("%s==%s is requested but the lock pins %s==%s; make them agree "
                                  "(re-stage, or change the pin)" % (name, version, name, lock[name]["version"]),
                                  kind="lock_mismatch", package=name)
        return dict((n, e["version"]) for n, e in lock.items()), lock
    return pins, None


# --------------------------------------------------------------------------- wheel tags
def parse_wheel_filename(filename):
    """'torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl' -> dict or None."""
    base = unquote(os.path.basename(filename))
    if not base.endswith(".whl"):
        return None
    parts = base[:-4].split("-")
    if len(parts) not in (5, 6):
        return None
    name, version = parts[0], parts[1]
    pyt, abit, platt = parts[-3], parts[-2], parts[-1]
    tags = set()
    for p in pyt.split("."):
        for a in abit.split("."):
            for pl in platt.split("."):
                tags.add((p, a, pl))
    return {"filename": base, "name": normalize_name(name), "version": version, "tags": tags}


_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def supported_tags(major, minor, machine, glibc=None, abiflags=""):
    """The tags a CPython X.Y on linux/<machine> with glibc accepts (the common subset of packaging.tags)."""
    cp = "cp%d%d" % (major, minor)
    platforms = []
    if glibc:
        gmaj, gmin = glibc
        for m in range(gmin, -1, -1):
            platforms.append("manylinux_%d_%d_%s" % (gmaj, m, machine))
        for legacy, (lmaj, lmin) in _LEGACY_MANYLINUX.items():
            if (lmaj, lmin) <= (gmaj, gmin):
                platforms.append("%s_%s" % (legacy, machine))
    platforms.append("linux_%s" % machine)
    tags = set()
    for plat in platforms + ["any"]:
        if plat != "any":
            tags.add((cp, cp + abiflags, plat))
            for m in range(minor, 1, -1):
                tags.add(("cp%d%d" % (major, m), "abi3", plat))
            tags.add((cp, "none", plat))
        for m in range(minor, -1, -1):
            tags.add(("py%d%d" % (major, m), "none", plat))
        tags.add(("py%d" % major, "none", plat))
        tags.add((cp, "none", plat))
    return tags


_PROBE = (
    "import json, os, platform, sys\n"
    "g = None\n"
    "try:\n"
    "    v = os.confstr('CS_GNU_LIBC_VERSION') or ''\n"
    "    if v.startswith('glibc '):\n"
    "        g = [int(x) for x in v.split()[1].split('.')[:2]]\n"
    "except (ValueError, OSError, AttributeError):\n"
    "    pass\n"
    "print(json.dumps({'major': sys.version_info[0], 'minor': sys.version_info[1],\n"
    "    'machine': platform.machine(), 'glibc': g, 'abiflags': getattr(sys, 'abiflags', ''),\n"
    "    'implementation': sys.implementation.name, 'version': platform.python_version()}))\n"
)


def probe_interpreter(python, timeout=30):
    """Ask an interpreter for what decides wheel compatibility."""
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise MirrorError("python interpreter %s does not exist or is not executable" % python,
                          kind="no_python")
    try:
        proc = subprocess.run([python, "-I", "-c", _PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MirrorError("python interpreter %s did not answer within %ss" % (python, timeout), kind="no_python")
    except OSError as exc:
        raise MirrorError("python interpreter %s cannot be run: %s" % (python, exc), kind="no_python")
    if proc.returncode != 0:
        raise MirrorError("python interpreter %s failed to start: %s" % (python, proc.stderr.decode("utf-8", "replace")),
                          kind="no_python")
    try:
        info = json.loads(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise MirrorError("python interpreter %s printed no tag information: %r" % (python, proc.stdout[-300:]),
                          kind="no_python")
    info["python_tag"] = "cp%d%d" % (info["major"], info["minor"])
    info["platform_tag"] = ("manylinux_%d_%d_%s" % (info["glibc"][0], info["glibc"][1], info["machine"])
                            if info.get("glibc") else "linux_%s" % info["machine"])
    return info


def expand_platforms(platforms):
    """manylinux_2_28_x86_64 -> itself and every older manylinux tag it accepts (pip does not expand them)."""
    out = []
    for plat in platforms:
        match = MANYLINUX_RE.match(plat)
        if not match:
            out.append(plat)
            continue
        gmaj, gmin, machine = int(match.group(1)), int(match.group(2)), match.group(3)
        out.extend("manylinux_%d_%d_%s" % (gmaj, m, machine) for m in range(gmin, 4, -1))
        out.extend("%s_%s" % (legacy, machine) for legacy, ver in sorted(_LEGACY_MANYLINUX.items())
                   if ver <= (gmaj, gmin))
    seen = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def tags_for(info):
    glibc = tuple(info["glibc"]) if info.get("glibc") else None
    return supported_tags(info["major"], info["minor"], info["machine"], glibc, info.get("abiflags", ""))


def listing_from_names(filenames, names):
    """A listing like list_mirror's, from bare wheel file names (a wheelhouse still on the controller)."""
    found = dict((n, []) for n in names)
    for entry in filenames:
        info = parse_wheel_filename(entry)
        if info and info["name"] in found:
            info["url"] = entry
            info["sha256"] = None
            found[info["name"]].append(info)
    return found


def _version_key(version):
    """PEP 440-ish normalisation without `packaging`: case, a leading v, trailing .0 of the release."""
    v = version.strip().lower()
    if v.startswith("v"):
        v = v[1:]
    local = ""
    if "+" in v:
        v, local = v.split("+", 1)
    head = re.match(r"^[0-9]+(\.[0-9]+)*", v)
    release, rest = (head.group(0), v[head.end():]) if head else ("", v)
    parts = [int(p) for p in release.split(".")] if release else []
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return (tuple(parts), rest, local.replace("-", ".").replace("_", "."))


def same_version(a, b):
    """1.17 == 1.17.0, 2.13.0+CPU == 2.13.0+cpu, 2.13.0%2Bcpu (a file name in a URL) == 2.13.0+cpu;
    2.13.0+cpu != 2.13.0."""
    return _version_key(unquote(a)) == _version_key(unquote(b))


def check_availability(wanted, listing, tags, info, url_label, lock=None):
    """Every wanted name==version has a wheel that fits the interpreter (and, with a lock, the hash).

    Returns {name: filename}; raises MirrorError naming the first problem set (all problems listed).
    """
    chosen = {}
    missing, unfit, mismatched, other_lock = [], [], [], []
    for name in sorted(wanted):
        version = wanted[name]
        files = [f for f in listing.get(name, []) if same_version(f["version"], version)]
        if not files:
            others = sorted(set(unquote(f["version"]) for f in listing.get(name, [])))
            missing.append("%s==%s (mirror has: %s)" % (name, version, ", ".join(others) if others else "no versions"))
            continue
        fit = [f for f in files if f["tags"] & tags]
        if not fit:
            unfit.append("%s==%s (mirror has only %s)" % (name, version, ", ".join(sorted(f["filename"] for f in files))))
            continue
        if lock and name in lock:
            hashed = [f for f in fit if f.get("sha256")]
            if hashed and not [f for f in hashed if f["sha256"] in lock[name]["hashes"]]:
                locked = [f for f in files if f.get("sha256") in lock[name]["hashes"]]
                if locked:
                    # The lock's wheel is in the mirror, it just does not fit this host: a lock staged for another
                    # Python or platform (a cp311 lock on a Debian 13 host), not a tampered mirror.
                    other_lock.append("%s==%s (the lock's %s does not fit this host; the mirror's %s is not in the lock)"
                                      % (name, version, locked[0]["filename"], hashed[0]["filename"]))
                    continue
                mismatched.append("%s (mirror sha256 %s, lock expects %s)" % (
                    hashed[0]["filename"], hashed[0]["sha256"], " or ".join(lock[name]["hashes"])))
                continue
        chosen[name] = sorted(f["filename"] for f in fit)[0]
    problems = []
    if missing:
        problems.append("not in mirror %s: %s" % (url_label, "; ".join(missing)))
    if unfit:
        problems.append("no wheel in mirror %s fits this host (Python tag %s, platform %s): %s" % (
            url_label, info["python_tag"], info["platform_tag"], "; ".join(unfit)))
    if other_lock:
        problems.append("the lock was staged for another Python or platform than this host's (Python tag %s, "
                        "platform %s): %s" % (info["python_tag"], info["platform_tag"], "; ".join(other_lock)))
    if mismatched:
        problems.append("hash mismatch in mirror %s: %s" % (url_label, "; ".join(mismatched)))
    if problems:
        kind = ("missing_package" if missing else "no_compatible_wheel" if unfit else
                "lock_for_other_python" if other_lock else "hash_mismatch")
        raise MirrorError(". ".join(problems), kind=kind, missing=missing, unfit=unfit, mismatched=mismatched,
                          other_lock=other_lock)
    return chosen
