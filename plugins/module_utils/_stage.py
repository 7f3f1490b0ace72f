# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connected-side staging: download a dependency closure per set, write locks and a sha256 manifest."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_http import _files_from_html, http_get
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import (
    redact_url,
    strip_userinfo,
    write_netrc,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import (
    expand_platforms,
    normalize_name,
    parse_pin,
    parse_wheel_filename,
    render_lock,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._stage_preflight import check_room, preflight
from ansible_collections.codex.offline_ml.plugins.module_utils._stage_lock import (
    check_lock,
    entry_of,
    explain_pip_failure,
    lock_header,
    lock_modes,
    lock_moves,
    requirements_text,
)

MANIFEST_SCHEMA = 1
# pip's lines a person follows while a set downloads (one per requirement found, download started, file saved)
PIP_PROGRESS = ("Collecting ", "Downloading ", "Saved ", "File was already downloaded ", "ERROR")


class Progress(object):
    """Where staging says what it does while it runs: a timestamped line per step appended to a file (`tail -f`).

    PATH None: silent. The file is opened once, without following a link (O_NOFOLLOW), created 0600 and appended
    to; SCRUB (a function) is applied to every line, so no credential of an index URL reaches it.
    """

    def __init__(self, path=None, scrub=None):
        self.path = path
        self.scrub = scrub or (lambda text: text)
        self.handle = None
        if path:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                             0o600)
            except OSError as exc:
                raise RuntimeError("progress_log %s cannot be opened for appending (%s); give a regular file in a "
                                   "directory you own, or none" % (path, exc.strerror or exc))
            self.handle = os.fdopen(fd, "a")

    def __call__(self, text):
        if self.handle:
            self.handle.write("%s %s\n" % (time.strftime("%H:%M:%S"), self.scrub(text.rstrip())))
            self.handle.flush()

    def close(self):
        if self.handle:
            self.handle.close()
            self.handle = None


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_argv(pip_argv, workdir, python_version, platforms, find_links=(), indexes=None, no_deps=False):
    """pip download's command line for a binary-only download for the target (requirements not included)."""
    pyver = python_version.replace(".", "")
    argv = list(pip_argv) + ["download", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
                             "--dest", workdir, "--only-binary=:all:", "--python-version", pyver,
                             "--implementation", "cp", "--abi", "cp%s" % pyver]
    if indexes:
        argv[len(pip_argv) + 1:len(pip_argv) + 1] = ["--isolated"]
        argv += ["--index-url", indexes[0]]
        for extra in indexes[1:]:
            argv += ["--extra-index-url", extra]
    if no_deps:
        argv.append("--no-deps")
    for plat in expand_platforms(platforms):
        argv += ["--platform", plat]
    for link in find_links:
        argv += ["--find-links", link]
    return argv


def _run_pip(argv, what, pip_argv, timeout, env, progress):
    """Run pip's ARGV (streaming its progress); (exit status, output). WHAT names the download in errors."""
    try:
        return _run_streaming(argv, timeout, env, progress or Progress())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError("pip download of %s could not run with pip command %s: %s" % (
            what, " ".join(pip_argv), exc))


def download_set(pip_argv, pins, workdir, python_version, platforms, find_links=(), timeout=3600, indexes=None,
                 no_deps=False, env=None, progress=None):
    """pip download the binary-only closure of PINS for the target; returns the wheel file names.

    INDEXES (a list: the index, then extra indexes; URLs without credentials, see netrc_env) makes pip run isolated:
    the staging machine's pip configuration and PIP_* variables add no source.
    PROGRESS (a Progress): pip's output is read line by line as pip writes it, and its progress lines go there.
    """
    argv = _download_argv(pip_argv, workdir, python_version, platforms, find_links, indexes, no_deps) + list(pins)
    returncode, out = _run_pip(argv, " ".join(pins), pip_argv, timeout, env, progress)
    if returncode != 0:
        pins_text = " ".join(os.path.basename(pin) for pin in pins)
        raise RuntimeError("pip download of %s failed (exit %s):\n%s" % (pins_text, returncode, out[-4000:]))
    files = sorted(f for f in os.listdir(workdir) if f.endswith(".whl"))
    return files, out


def _run_streaming(argv, timeout, env, progress):
    """Run ARGV, reading its output line by line (PROGRESS gets pip's progress lines as they come); kill it after
    TIMEOUT seconds (subprocess.TimeoutExpired). Returns (exit status, the whole output)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    expired = []

    def kill():
        expired.append(True)
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    lines = []
    try:
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            if line.lstrip().startswith(PIP_PROGRESS):
                progress("  " + line.strip())
        proc.wait()
    finally:
        timer.cancel()
        proc.stdout.close()
    if expired:
        raise subprocess.TimeoutExpired(argv, timeout)
    return proc.returncode, "".join(lines)


def index_plan(sets, index_url=None, extra_index_urls=(), set_indexes=None, package_indexes=None):
    """Where each set comes from: {set: {"indexes": [url, ...], "packages": {name: url}}}, or None when no index is
    given (pip's own configuration decides, as before). Checks the input; raises RuntimeError naming the option."""
    set_indexes = dict(set_indexes or {})
    package_indexes = dict((normalize_name(k), v) for k, v in (package_indexes or {}).items())
    if not (index_url or extra_index_urls or set_indexes or package_indexes):
        return None
    unknown = sorted(set(set_indexes) - set(sets))
    if unknown:
        raise RuntimeError("set_indexes names sets that are not in sets: %s" % ", ".join(unknown))
    pinned = set(parse_pin(pin)[0] for pins in sets.values() for pin in pins)
    stray = sorted(set(package_indexes) - pinned)
    if stray:
        raise RuntimeError("package_indexes names packages that no set pins: %s (an index per package applies to "
                           "pinned packages; pin them in a set)" % ", ".join(stray))
    plan = {}
    for name in sets:
        override = set_indexes.get(name) or {}
        if isinstance(override, str):
            override = {"index_url": override}
        unknown_keys = sorted(set(override) - {"index_url", "extra_index_urls"})
        if unknown_keys:
            raise RuntimeError("set_indexes[%s] takes index_url and extra_index_urls, not %s"
                               % (name, ", ".join(unknown_keys)))
        main = override.get("index_url") or index_url
        extras = list(override.get("extra_index_urls", extra_index_urls) or [])
        if not main:
            raise RuntimeError("set %s has extra indexes or per-package indexes but no index_url: give index_url "
                               "(for example https://pypi.org/simple/)" % name)
        urls = [main] + [u for u in extras if u != main]
        for url in urls + list(package_indexes.values()):
            if not str(url).startswith(("http://", "https://", "file://")):
                raise RuntimeError("index %s is not an http(s):// or file:// URL" % redact_url(str(url)))
        plan[name] = {"indexes": urls, "packages": package_indexes}
    return plan


def netrc_env(urls, workdir):
    """Environment for pip with the URLs' credentials in a 0600 netrc (never in argv): (env, clean urls)."""
    env = dict(os.environ)
    env["PIP_CONFIG_FILE"] = os.devnull
    clean = dict((url, strip_userinfo(url)) for url in urls)
    path = write_netrc(urls, workdir, "index")
    if path:
        env["NETRC"] = path
    return env, clean


def _listed_on(index, name, filename, cache):
    """Whether the project page of NAME on INDEX lists FILENAME (the record of where a wheel came from)."""
    key = (index, name)
    if key not in cache:
        if index.startswith("file://"):
            page = os.path.join(index[len("file://"):], name)
            cache[key] = set(os.listdir(page)) if os.path.isdir(page) else set()
        else:
            base = index if index.endswith("/") else index + "/"
            try:
                status, html = http_get(base + name + "/", 30)
            except MirrorError:
                status, html = 0, ""
            cache[key] = set(f["filename"] for f in _files_from_html(base, html)) if status == 200 else set()
    return filename in cache[key]


def _download_planned(pip_argv, pins, work, python_version, platforms, plan, timeout, progress=None):
    """Download a set as PLAN says; returns ({filename: index it came from}, pip output)."""
    pinned_dir = os.path.join(work, "pinned")
    files_dir = os.path.join(work, "files")
    os.makedirs(pinned_dir)
    os.makedirs(files_dir)
    urls = plan["indexes"] + sorted(set(plan["packages"].values()))
    env, clean = netrc_env(urls, work)
    sources, outputs = {}, []
    requirements = []
    for pin in pins:
        name = parse_pin(pin)[0]
        index = plan["packages"].get(name)
        if not index:
            requirements.append(pin)
            continue
        # the package alone from its own index; its dependencies come with the rest of the set below
        before = set(os.listdir(pinned_dir))
        got, out = download_set(pip_argv, [pin], pinned_dir, python_version, platforms, (), timeout,
                                indexes=[clean[index]], no_deps=True, env=env, progress=progress)
        outputs.append(out)
        for fname in set(got) - before:
            sources[fname] = redact_url(index)
            requirements.append(os.path.join(pinned_dir, fname))
    names, out = download_set(pip_argv, requirements, files_dir, python_version, platforms, (), timeout,
                              indexes=[clean[u] for u in plan["indexes"]], env=env, progress=progress)
    outputs.append(out)
    cache = {}
    for fname in names:
        if fname in sources:
            continue
        info = parse_wheel_filename(fname)
        found = [u for u in plan["indexes"] if len(plan["indexes"]) == 1 or
                 _listed_on(clean[u], info["name"], fname, cache)]
        sources[fname] = redact_url(found[0]) if found else None
    return names, sources, files_dir, "\n".join(outputs)


class _Hashes(object):
    """sha256 of files, each file hashed once per run (torch is in several sets)."""

    def __init__(self):
        self.known = {}

    def __call__(self, path):
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in self.known:
            self.known[key] = sha256_file(path)
        return self.known[key]


def _source_of(fname, name, plan, clean, cache, recorded=None):
    """The index a locked file came from: RECORDED (the previous manifest's record of the same bytes), else the
    package's own index, else the first of the set's indexes that lists it."""
    if recorded:
        return recorded
    if name in plan["packages"]:
        return redact_url(plan["packages"][name])
    found = [u for u in plan["indexes"] if len(plan["indexes"]) == 1 or _listed_on(clean[u], name, fname, cache)]
    return redact_url(found[0]) if found else None


def reusable(entries, wheels_dir, hashes):
    """{name: file name} of the lock ENTRIES already in WHEELS_DIR with a locked hash (nothing to download)."""
    reused = {}
    for fname in sorted(os.listdir(wheels_dir)) if os.path.isdir(wheels_dir) else []:
        info = parse_wheel_filename(fname)
        entry = entry_of(entries, info) if info else None
        if entry and info["name"] not in reused and hashes(os.path.join(wheels_dir, fname)) in entry["hashes"]:
            reused[info["name"]] = fname
    return reused


def _download_locked(pip_argv, set_name, lock_path, entries, work, wheels_dir, python_version, platforms, plan,
                     timeout, progress, hashes, previous):
    """Stage exactly the files of a lock: those already in WHEELS_DIR with a locked hash are kept, the rest
    downloaded by pip in hash-checking mode (--no-deps: the lock is the closure), each package from the index the
    plan names for it. Returns (downloaded names, reused names, {filename: index}, the directory they are in).
    A file the index no longer serves with a locked hash fails naming it."""
    reused = reusable(entries, wheels_dir, hashes)
    groups = {}
    for name, entry in entries.items():
        if name in reused:
            continue
        key = ()
        if plan:
            key = (plan["packages"][name],) if name in plan["packages"] else tuple(plan["indexes"])
        groups.setdefault(key, {})[name] = entry
    files_dir = os.path.join(work, "files")
    os.makedirs(files_dir)
    env, clean = None, {}
    if plan:
        env, clean = netrc_env(plan["indexes"] + sorted(set(plan["packages"].values())), work)
    target = "Python %s (%s)" % (python_version, ", ".join(platforms))
    sources, cache = {}, {}
    for number, key in enumerate(sorted(groups)):
        requirements = os.path.join(work, "lock-%d.txt" % number)
        with open(requirements, "w") as handle:
            handle.write(requirements_text(groups[key]))
        before = set(os.listdir(files_dir))
        argv = _download_argv(pip_argv, files_dir, python_version, platforms, indexes=[clean[u] for u in key],
                              no_deps=True) + ["--require-hashes", "-r", requirements]
        returncode, out = _run_pip(argv, "the lock %s" % lock_path, pip_argv, timeout, env, progress)
        if returncode != 0:
            raise RuntimeError(explain_pip_failure(out, set_name, lock_path, target) or
                               "pip download of the lock %s of set %s failed (exit %s):\n%s" % (
                                   lock_path, set_name, returncode, out[-4000:]))
        for fname in set(os.listdir(files_dir)) - before:
            info = parse_wheel_filename(fname)
            if plan and info:
                sources[fname] = _source_of(fname, info["name"], plan, clean, cache)
    downloaded = sorted(f for f in os.listdir(files_dir) if f.endswith(".whl"))
    covered = dict(reused)
    for fname in downloaded:
        info = parse_wheel_filename(fname)
        entry = entry_of(entries, info) if info else None
        if not entry:
            raise RuntimeError("lock %s of set %s: pip downloaded %s, which the lock does not name" % (
                lock_path, set_name, fname))
        digest = hashes(os.path.join(files_dir, fname))
        if digest not in entry["hashes"]:
            raise RuntimeError("lock %s of set %s: the index no longer serves the locked file: %s has sha256 %s, "
                               "the lock expects %s" % (lock_path, set_name, fname, digest, ", ".join(entry["hashes"])))
        covered[info["name"]] = fname
    lacking = sorted("%s==%s" % (n, entries[n]["version"]) for n in set(entries) - set(covered))
    if lacking:
        raise RuntimeError("lock %s of set %s: no file was staged for %s" % (lock_path, set_name, ", ".join(lacking)))
    if plan:
        for fname in reused.values():
            sources[fname] = _source_of(fname, parse_wheel_filename(fname)["name"], plan, clean, cache,
                                        previous.get(hashes(os.path.join(wheels_dir, fname))))
    return downloaded, sorted(reused.values()), sources, files_dir


def _previous_sources(dest):
    """{sha256: index} recorded by the manifest a previous run left in DEST ({} without one)."""
    try:
        with open(os.path.join(dest, "manifest.json")) as handle:
            files = json.load(handle).get("files", [])
        return dict((f["sha256"], f["index"]) for f in files if f.get("index"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeError("lock %s cannot be read: %s" % (path, getattr(exc, "strerror", None) or exc))


def stage(dest, sets, installer_pins, pip_argv, python_version, platforms, timeout=3600, set_python_versions=None,
          indexes=None, progress=None, lock_dir=None, resolve="missing", refresh=(), check=True):
    """Fill DEST/wheels, write DEST/locks/<set>.txt, DEST/SHA256SUMS and DEST/manifest.json.

    SET_PYTHON_VERSIONS ({set: "3.13"}) stages those sets for another Python than PYTHON_VERSION, in the same
    run: one mirror, one manifest and one SHA256SUMS cover the wheels of every Python.
    INDEXES (index_plan's result, None = pip's own configuration) names where each set and pinned package comes
    from; then the lock and the manifest record the index of each wheel.
    LOCK_DIR, RESOLVE, REFRESH (see _stage_lock.lock_modes): a set with a lock there is re-staged exactly from it
    (same versions, same hashes; files already in DEST/wheels are not downloaded again), the others are resolved
    by pip; a resolved set that had a lock reports what moved.
    PROGRESS (a Progress) gets a line as each set starts and ends and pip's lines as each wheel downloads.
    With INDEXES and CHECK, the preflight (_stage_preflight) runs before the first download: every gap of every set x target
    fails the run at once, and so does a destination without room for what will be downloaded.
    Returns (changed, manifest, {set: 'lock' or 'resolved'}, {set: moves}, the preflight report or None).
    """
    set_python_versions = dict(set_python_versions or {})
    unknown = sorted(set(set_python_versions) - set(sets))
    if unknown:
        raise RuntimeError("set_python_versions names sets that are not in sets: %s" % ", ".join(unknown))
    modes = lock_modes(sets, lock_dir, resolve, refresh)
    # every set's pins, and every lock against its set, are checked before the first download
    locked = {}
    for set_name in sorted(sets):
        pins = list(sets[set_name]) + list(installer_pins)
        for pin in pins:
            parse_pin(pin)
        if modes[set_name]:
            path = modes[set_name]
            locked[set_name] = (path, check_lock(set_name, path, _read_text(path), pins,
                                                 set_python_versions.get(set_name, python_version), platforms))
    wheels_dir = os.path.join(dest, "wheels")
    locks_dir = os.path.join(dest, "locks")
    progress = progress or Progress()
    hashes = _Hashes()
    report = None
    if indexes and check:
        already = dict((name, set(reusable(locked[name][1], wheels_dir, hashes))) for name in locked)
        report = preflight(sets, installer_pins, python_version, set_python_versions, platforms, indexes, locked,
                           already)
        progress("preflight: %d set(s), %d gap(s), about %.1f MB to download" % (
            len(sets), len(report["gaps"]), report["download_bytes"] / 1e6))
        if report["gaps"]:
            raise RuntimeError("preflight: nothing was downloaded; %d package(s) cannot be staged:\n%s" % (
                len(report["gaps"]), "\n".join(report["gaps"])))
        check_room(dest, report["download_bytes"])
    for d in (wheels_dir, locks_dir):
        os.makedirs(d, exist_ok=True)
    changed = False
    files = {}
    moves = {}
    previous = _previous_sources(dest) if indexes else {}
    for number, set_name in enumerate(sorted(sets), 1):
        pins = list(sets[set_name]) + list(installer_pins)
        set_python = set_python_versions.get(set_name, python_version)
        started = time.monotonic()
        work = tempfile.mkdtemp(prefix="stage-%s-" % set_name)
        try:
            sources, reused = {}, []
            if set_name in locked:
                lock_path, lock_entries = locked[set_name]
                progress("[set %d/%d] %s: the %d files of lock %s for Python %s" % (
                    number, len(sets), set_name, len(lock_entries), lock_path, set_python))
                names, reused, sources, got_dir = _download_locked(
                    pip_argv, set_name, lock_path, lock_entries, work, wheels_dir, set_python, platforms,
                    indexes[set_name] if indexes else None, timeout, progress, hashes, previous)
            else:
                progress("[set %d/%d] %s: pip download of %s for Python %s" % (
                    number, len(sets), set_name, " ".join(pins), set_python))
                if indexes:
                    names, sources, got_dir, _out = _download_planned(pip_argv, pins, work, set_python, platforms,
                                                                      indexes[set_name], timeout, progress)
                else:
                    names, _out = download_set(pip_argv, pins, work, set_python, platforms, [wheels_dir], timeout,
                                               progress=progress)
                    got_dir = work
            entries = {}
            added = 0
            for fname in names + reused:
                target = os.path.join(wheels_dir, fname)
                if fname in names:
                    src = os.path.join(got_dir, fname)
                    digest = hashes(src)
                    if not os.path.exists(target) or hashes(target) != digest:
                        shutil.move(src, target)
                        changed = True
                        added += 1
                else:
                    digest = hashes(target)
                info = parse_wheel_filename(fname)
                files[fname] = {"filename": fname, "name": info["name"], "version": info["version"],
                                "sha256": digest, "size": os.path.getsize(target)}
                if indexes:
                    files[fname]["index"] = sources.get(fname)
                entries.setdefault(info["name"], {"version": info["version"], "hashes": []})
                entries[info["name"]]["hashes"].append(digest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        staged = sorted(names + reused)
        size = sum(files[f]["size"] for f in staged)
        progress("[set %d/%d] %s: %d wheels (%.1f MB), %d new in the mirror, %.0f s" % (
            number, len(sets), set_name, len(staged), size / 1e6, added, time.monotonic() - started))
        header = lock_header(set_name, set_python, platforms, pins)
        if indexes:
            header += ["from %s: %s" % (sources.get(f) or "an unknown index", f) for f in staged]
        if set_name in locked:
            # the lock as it was given: every hash it allows, also those of files this target did not need
            entries = locked[set_name][1]
        else:
            before = os.path.join(lock_dir or locks_dir, "%s.txt" % set_name)
            if os.path.isfile(before):
                moves[set_name] = lock_moves(_read_text(before), entries)
        # written as soon as the set is staged: a run interrupted later re-stages this set from it (its files are
        # in wheels/ already, nothing is downloaded again)
        changed |= _write_if_changed(os.path.join(locks_dir, "%s.txt" % set_name), render_lock(entries, header=header))
    manifest = {"schema": MANIFEST_SCHEMA, "python_version": python_version, "platforms": list(platforms),
                "sets": dict((k, list(v)) for k, v in sorted(sets.items())), "installer": list(installer_pins),
                "files": [files[k] for k in sorted(files)]}
    if indexes:
        # only present when indexes were given (else pip's configuration chose, which nobody recorded)
        manifest["indexes"] = dict((k, {"indexes": [redact_url(u) for u in v["indexes"]],
                                        "packages": dict((n, redact_url(u)) for n, u in sorted(v["packages"].items()))})
                                   for k, v in sorted(indexes.items()))
    if set_python_versions:
        # only present when a set is staged for another Python than python_version
        manifest["set_python_versions"] = dict(sorted(set_python_versions.items()))
    changed |= _write_if_changed(os.path.join(dest, "manifest.json"), json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    sums = "".join("%s  wheels/%s\n" % (files[k]["sha256"], k) for k in sorted(files))
    changed |= _write_if_changed(os.path.join(dest, "SHA256SUMS"), sums)
    staged_from = dict((k, "lock" if k in locked else "resolved") for k in sets)
    return changed, manifest, staged_from, moves, report


def _write_if_changed(path, text):
    if os.path.exists(path):
        with open(path) as fh:
            if fh.read() == text:
                return False
    _durable.write_file(path, text)
    return True
