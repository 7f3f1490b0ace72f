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

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror import (
    expand_platforms,
    parse_pin,
    parse_wheel_filename,
    render_lock,
)

MANIFEST_SCHEMA = 1


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_set(pip_argv, pins, workdir, python_version, platforms, find_links=(), timeout=3600):
    """pip download the binary-only closure of PINS for the target; returns the wheel file names."""
    pyver = python_version.replace(".", "")
    argv = list(pip_argv) + ["download", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
                             "--dest", workdir, "--only-binary=:all:", "--python-version", pyver,
                             "--implementation", "cp", "--abi", "cp%s" % pyver]
    for plat in expand_platforms(platforms):
        argv += ["--platform", plat]
    for link in find_links:
        argv += ["--find-links", link]
    argv += list(pins)
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError("pip download of %s could not run with pip command %s: %s" % (
            " ".join(pins), " ".join(pip_argv), exc))
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError("pip download of %s failed (exit %s):\n%s" % (" ".join(pins), proc.returncode, out[-4000:]))
    files = sorted(f for f in os.listdir(workdir) if f.endswith(".whl"))
    return files, out


def stage(dest, sets, installer_pins, pip_argv, python_version, platforms, timeout=3600, set_python_versions=None):
    """Fill DEST/wheels, write DEST/locks/<set>.txt, DEST/SHA256SUMS and DEST/manifest.json.

    SET_PYTHON_VERSIONS ({set: "3.13"}) stages those sets for another Python than PYTHON_VERSION, in the same
    run: one mirror, one manifest and one SHA256SUMS cover the wheels of every Python.
    Returns (changed, manifest).
    """
    set_python_versions = dict(set_python_versions or {})
    unknown = sorted(set(set_python_versions) - set(sets))
    if unknown:
        raise RuntimeError("set_python_versions names sets that are not in sets: %s" % ", ".join(unknown))
    wheels_dir = os.path.join(dest, "wheels")
    locks_dir = os.path.join(dest, "locks")
    for d in (wheels_dir, locks_dir):
        os.makedirs(d, exist_ok=True)
    changed = False
    files = {}
    lock_texts = {}
    for set_name in sorted(sets):
        pins = list(sets[set_name]) + list(installer_pins)
        for pin in pins:
            parse_pin(pin)
        set_python = set_python_versions.get(set_name, python_version)
        work = tempfile.mkdtemp(prefix="stage-%s-" % set_name)
        try:
            names, _out = download_set(pip_argv, pins, work, set_python, platforms, [wheels_dir], timeout)
            entries = {}
            for fname in names:
                src = os.path.join(work, fname)
                digest = sha256_file(src)
                info = parse_wheel_filename(fname)
                target = os.path.join(wheels_dir, fname)
                if not os.path.exists(target) or sha256_file(target) != digest:
                    shutil.move(src, target)
                    changed = True
                files[fname] = {"filename": fname, "name": info["name"], "version": info["version"],
                                "sha256": digest, "size": os.path.getsize(target)}
                entries.setdefault(info["name"], {"version": info["version"], "hashes": []})
                entries[info["name"]]["hashes"].append(digest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        lock_texts[set_name] = render_lock(entries, header=[
            "Hash-pinned lock for set %r, written by playbooks/stage_wheels.yml; do not edit." % set_name,
            "Python %s, platforms %s. Pins: %s" % (set_python, ", ".join(platforms), ", ".join(pins))])
    for set_name, text in lock_texts.items():
        changed |= _write_if_changed(os.path.join(locks_dir, "%s.txt" % set_name), text)
    manifest = {"schema": MANIFEST_SCHEMA, "python_version": python_version, "platforms": list(platforms),
                "sets": dict((k, list(v)) for k, v in sorted(sets.items())), "installer": list(installer_pins),
                "files": [files[k] for k in sorted(files)]}
    if set_python_versions:
        # only present when a set is staged for another Python than python_version
        manifest["set_python_versions"] = dict(sorted(set_python_versions.items()))
    changed |= _write_if_changed(os.path.join(dest, "manifest.json"), json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    sums = "".join("%s  wheels/%s\n" % (files[k]["sha256"], k) for k in sorted(files))
    changed |= _write_if_changed(os.path.join(dest, "SHA256SUMS"), sums)
    return changed, manifest


def _write_if_changed(path, text):
    if os.path.exists(path):
        with open(path) as fh:
            if fh.read() == text:
                return False
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True
