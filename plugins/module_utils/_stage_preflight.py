# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The staging preflight: before the first download, for every set and its target (Python tag, platform), whether
each package has a fitting wheel on the index the set names, exists there only as an sdist, or is missing; and how
many bytes the download will take.

pip's `download --platform` forces binary-only and stops at the first package without a wheel, after the others
were downloaded; a set staged for another Python found its gap only then. Here every gap of every set is reported
at once, before anything is downloaded. A set staged from its lock is checked entry by entry (its whole closure);
a set resolved afresh only by its pins (its closure is pip's to find).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from concurrent.futures import ThreadPoolExecutor

from urllib.parse import quote, unquote, urljoin

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_http import anchor_files, http_get, open_with_userinfo
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import redact_url
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import (
    MANYLINUX_RE,
    normalize_name,
    parse_pin,
    parse_wheel_filename,
    same_version,
    supported_tags,
)

_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


def target_tags(python_version, platforms):
    """The wheel tags a CPython PYTHON_VERSION on PLATFORMS (manylinux_X_Y_arch, or a literal platform tag)
    accepts."""
    major, minor = [int(p) for p in str(python_version).split(".")[:2]]
    tags = set()
    for plat in platforms:
        match = MANYLINUX_RE.match(plat)
        if match:
            tags |= supported_tags(major, minor, match.group(3), (int(match.group(1)), int(match.group(2))))
            continue
        generic = supported_tags(major, minor, "none")
        tags |= set(t for t in generic if t[2] == "any")
        tags |= set((t[0], t[1], plat) for t in generic if t[2] != "any")
    return tags


def _sdist_version(filename, name):
    """The version of an sdist file of NAME ('foo_bar-1.2.tar.gz' -> '1.2'), or None."""
    base = unquote(filename)
    for suffix in _SDIST_SUFFIXES:
        if base.endswith(suffix):
            stem = base[:-len(suffix)]
            head, _sep, version = stem.rpartition("-")
            if head and normalize_name(head) == name:
                return version
    return None


def project_files(index, name, timeout=30):
    """The files an index's PEP 503 page lists for NAME: [{'filename', 'url', 'version', 'wheel' (tags or None)}];
    None when the index has no such project (HTTP 404)."""
    base = index if index.endswith("/") else index + "/"
    page = urljoin(base, quote(name) + "/")
    status, html = http_get(page, timeout)
    if status == 404:
        return None
    if status != 200:
        raise MirrorError("index %s answered HTTP %s" % (redact_url(page), status), kind="unreachable")
    files = []
    for filename, url, digest in anchor_files(page, html):
        wheel = parse_wheel_filename(filename)
        if wheel and wheel["name"] == name:
            files.append({"filename": filename, "url": url, "version": wheel["version"], "tags": wheel["tags"],
                          "sha256": digest})
            continue
        version = _sdist_version(filename, name)
        if version:
            files.append({"filename": filename, "url": url, "version": version, "tags": None, "sha256": digest})
    return files


def file_size(url, timeout=30):
    """Content-Length of URL from a HEAD request (no body is downloaded), or None."""
    try:
        resp = open_with_userinfo(url, method="HEAD", timeout=timeout)
        length = resp.headers.get("Content-Length")
        return int(length) if length else None
    except Exception:  # pylint: disable=broad-except  # a size is an estimate: its absence is not a failure
        return None


def check_package(name, version, indexes, tags, python_tag, hashes=None, timeout=30):
    """Where NAME==VERSION stands on INDEXES (tried in order) for TAGS: a dict with 'status' ('wheel', 'sdist',
    'missing'), 'file', 'url', 'index' and 'detail' (what exists instead, for a person). With HASHES (a lock
    entry's), a wheel whose index page names another sha256 does not count (the download would fail on it)."""
    others, sdists, unfit, rehashed = set(), set(), set(), set()
    for index in indexes:
        files = project_files(index, name, timeout)
        if files is None:
            continue
        others |= set(f["version"] for f in files if not same_version(f["version"], version))
        same = [f for f in files if same_version(f["version"], version)]
        fit = [f for f in same if f["tags"] is not None and f["tags"] & tags]
        locked = [f for f in fit if not hashes or not f["sha256"] or f["sha256"] in hashes]
        if locked:
            chosen = sorted(locked, key=lambda f: f["filename"])[0]
            return {"status": "wheel", "file": chosen["filename"], "url": chosen["url"], "index": redact_url(index),
                    "detail": ""}
        rehashed |= set((f["filename"], f["sha256"]) for f in fit)
        unfit |= set(f["filename"] for f in same if f["tags"] is not None and not f["tags"] & tags)
        sdists |= set(f["filename"] for f in same if f["tags"] is None)
    result = {"status": "missing", "file": None, "url": None, "index": None}
    if rehashed:
        result["detail"] = "; ".join("the index serves %s with sha256 %s, the lock expects %s" % (
            filename, digest, " or ".join(hashes)) for filename, digest in sorted(rehashed))
    elif unfit or sdists:
        result["status"] = "sdist" if sdists else "missing"
        result["detail"] = "no %s wheel for this target; %s" % (python_tag, "; ".join(filter(None, [
            "sdist only (%s)" % ", ".join(sorted(sdists)) if sdists else "",
            "wheels only for other targets (%s)" % ", ".join(sorted(unfit)) if unfit else ""])))
    else:
        result["detail"] = "not on %s (%s)" % (", ".join(redact_url(i) for i in indexes), "it has: " + ", ".join(
            sorted(others)[-8:]) if others else "no version of it at all")
    return result


def _target_label(python_version, platforms):
    return "cp%s %s" % (str(python_version).replace(".", ""), ", ".join(platforms))


def preflight(sets, installer_pins, python_version, set_python_versions, platforms, plan, locked, staged,
              timeout=30):
    """The report of every set x target before any download.

    SETS {set: [pins]}; PLAN index_plan's result (required: without named indexes nothing can be asked);
    LOCKED {set: (path, lock entries)} for sets staged from their lock; STAGED {set: names} of their entries already
    staged with a locked hash: reported as the index has them, but never a gap and not downloaded.
    Returns {'sets': {set: {'python', 'platforms', 'target', 'scope', 'packages':
    {name: {'status', 'version', 'file', 'index', 'detail', 'size', 'staged'}}}}, 'gaps': [line, ...],
    'download_bytes': int, 'unknown_sizes': int}.
    """
    jobs = []
    report = {"sets": {}, "gaps": [], "download_bytes": 0, "unknown_sizes": 0}
    for set_name in sorted(sets):
        set_python = set_python_versions.get(set_name, python_version)
        if set_name in locked:
            wanted = dict((n, (e["version"], e["hashes"])) for n, e in locked[set_name][1].items())
            scope = "lock"
        else:
            wanted = dict((parse_pin(p)[0], (parse_pin(p)[1], None)) for p in list(sets[set_name]) + list(installer_pins))
            scope = "pins"
        report["sets"][set_name] = {"python": set_python, "platforms": list(platforms), "scope": scope,
                                    "target": _target_label(set_python, platforms), "packages": {}}
        tags = target_tags(set_python, platforms)
        for name, (version, hashes) in sorted(wanted.items()):
            package_index = plan[set_name]["packages"].get(name)
            indexes = [package_index] if package_index else plan[set_name]["indexes"]
            jobs.append((set_name, name, version, indexes, tags, "cp%s" % set_python.replace(".", ""), hashes,
                         name in staged.get(set_name, ())))

    def run(job):
        set_name, name, version, indexes, tags, python_tag, hashes, have = job
        result = check_package(name, version, indexes, tags, python_tag, hashes, timeout)
        result["version"] = version
        result["staged"] = have
        result["size"] = file_size(result["url"], timeout) if result["status"] == "wheel" else None
        return set_name, name, result

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, jobs))
    counted = set()
    for set_name, name, result in results:
        url = result.pop("url")
        report["sets"][set_name]["packages"][name] = result
        if result["staged"]:
            continue
        if result["status"] != "wheel":
            report["gaps"].append("set %s, target %s: %s==%s: %s" % (
                set_name, report["sets"][set_name]["target"], name, result["version"], result["detail"]))
        elif url not in counted:
            counted.add(url)
            if result["size"] is None:
                report["unknown_sizes"] += 1
            else:
                report["download_bytes"] += result["size"]
    return report


def release_report(report):
    """The part of a report that describes the indexes and the targets (what a release carries as preflight.json):
    without what depended on this run's staging cache (staged, bytes to download), so a re-run writes the same."""
    sets = {}
    for set_name, entry in report["sets"].items():
        packages = dict((name, dict((k, v) for k, v in package.items() if k != "staged"))
                        for name, package in entry["packages"].items())
        sets[set_name] = dict(entry, packages=packages)
    return {"sets": sets, "gaps": list(report["gaps"])}


def check_room(dest, needed, free=None, what="the download needs about %.1f MB (the preflight's sizes)",
               name="dest"):
    """Raise RuntimeError when DEST's file system has less free space than NEEDED bytes (plus 5 %)."""
    if free is None:
        where = os.path.abspath(dest)
        while not os.path.exists(where) and os.path.dirname(where) != where:
            where = os.path.dirname(where)
        stat = os.statvfs(where)
        free = stat.f_bavail * stat.f_frsize
    if needed * 1.05 > free:
        raise RuntimeError("%s %s has %.1f MB free, %s: free space there or use another file system" % (
            name, dest, free / 1e6, what % (needed / 1e6)))
