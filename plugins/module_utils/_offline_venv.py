# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build a virtual environment from a local wheel mirror, beside the live one, then swap it in.

Layout: ``PATH`` is a symlink to ``DIR/.NAME.releases/<id>``. A release is built and checked
completely (distributions equal the wanted set, then an optional health command) before the
symlink is replaced atomically, so a run killed at any point leaves the previous venv working;
the next run removes the unfinished release and builds again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror import (
    MirrorError,
    fetch,
    list_mirror,
    parse_pin,
    redact_url,
    same_version,
    scrub,
    url_secrets,
)

MARKER = ".codex-release.json"
# Distributions a venv may hold beyond the wanted set without being rebuilt: what `python -m venv` seeds for
# installer pip (pip, and setuptools up to Python 3.11), so a lock without setuptools can be built with pip.
ALLOWED_EXTRAS = frozenset(["pip", "setuptools"])

_LIST_DISTS = (
    "import json, sys\n"
    "from importlib import metadata\n"
    "out = {}\n"
    "for d in metadata.distributions():\n"
    "    n = d.metadata['Name']\n"
    "    if n:\n"
    "        out[n.lower().replace('_', '-').replace('.', '-')] = d.version\n"
    "print(json.dumps({'dists': out, 'version': '%d.%d.%d' % sys.version_info[:3]}))\n"
)


class VenvError(Exception):
    def __init__(self, msg, **details):
        super(VenvError, self).__init__(msg)
        self.msg = msg
        self.details = details


def releases_dir(path):
    return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".releases")


def _clean_env(extra=None):
    env = dict((k, v) for k, v in os.environ.items()
               if not k.startswith(("PIP_", "UV_", "PYTHON", "VIRTUAL_ENV", "CONDA")))
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
                "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C.UTF-8"})
    env.update(extra or {})
    return env


def inspect_venv(path, timeout=60):
    """What the venv at PATH holds: {'exists', 'python_version', 'dists', 'target'}."""
    py = os.path.join(path, "bin", "python")
    state = {"exists": os.path.lexists(path), "is_symlink": os.path.islink(path), "target": None,
             "python_version": None, "dists": {}}
    if state["is_symlink"]:
        state["target"] = os.path.realpath(path)
    if not os.path.exists(py):
        return state
    proc = subprocess.run([py, "-I", "-c", _LIST_DISTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, env=_clean_env(), check=False)
    if proc.returncode != 0:
        state["error"] = proc.stderr.decode("utf-8", "replace")[-2000:]
        return state
    data = json.loads(proc.stdout.decode("utf-8").strip().splitlines()[-1])
    state["python_version"] = data["version"]
    state["dists"] = data["dists"]
    return state


def differences(state, wanted, base_version, exact):
    """Why the venv does not match: a list of short reasons (empty means it matches)."""
    reasons = []
    if not state["exists"]:
        return ["venv does not exist"]
    if state.get("error") or state["python_version"] is None:
        return ["venv interpreter does not run: %s" % (state.get("error") or "bin/python missing").strip()]
    if base_version and state["python_version"] != base_version:
        reasons.append("venv Python %s differs from base Python %s" % (state["python_version"], base_version))
    dists = state["dists"]
    for name in sorted(wanted):
        have = dists.get(name)
        if have is None:
            reasons.append("%s==%s missing" % (name, wanted[name]))
        elif not same_version(have, wanted[name]):
            reasons.append("%s is %s, wanted %s" % (name, have, wanted[name]))
    if exact:
        extras = sorted(n for n in dists if n not in wanted and n not in ALLOWED_EXTRAS)
        if extras:
            reasons.append("not in the lock: %s" % ", ".join("%s==%s" % (n, dists[n]) for n in extras))
    return reasons


class Builder(object):
    """Everything needed to build one release from the mirror."""

    def __init__(self, path, python, wanted, lock, lock_text, requirements, installer, mirror_mode, mirror_url=None,
                 wheelhouse=None, trusted_host=None, ca_bundle=None, verify_argv=None, extra_paths=None,
                 timeout=1800, log=None):
        self.path = path
        self.python = python
        self.wanted = wanted
        self.lock = lock
        self.lock_text = lock_text
        self.requirements = requirements
        self.installer = installer
        self.mode = mirror_mode
        self.url = mirror_url
        self.wheelhouse = wheelhouse
        self.trusted_host = trusted_host
        self.ca_bundle = ca_bundle
        self.verify_argv = verify_argv or []
        self.extra_paths = extra_paths or []
        self.timeout = timeout
        self.secrets = url_secrets(mirror_url)
        self.steps = []
        self._log = log

    # ------------------------------------------------------------------ helpers
    def _run(self, argv, what, env=None, cwd=None):
        start = time.time()
        try:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env or _clean_env(),
                                  cwd=cwd, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise VenvError("%s timed out after %ss" % (what, self.timeout))
        out = scrub(proc.stdout.decode("utf-8", "replace"), self.secrets + ([self.url] if self.url else []))
        self.steps.append({"step": what, "rc": proc.returncode, "seconds": round(time.time() - start, 2)})
        if proc.returncode != 0:
            raise VenvError("%s failed (exit %s): %s" % (what, proc.returncode, out.strip()[-3000:]), output=out)
        return out

    def _source_args(self, installer):
        args = []
        if self.mode == "wheelhouse":
            args += ["--no-index", "--find-links", self.wheelhouse]
            if installer == "uv":
                args += ["--offline"]
        elif self.mode == "find_links":
            args += ["--no-index", "--find-links", self.url]
        else:
            args += ["--index-url", self.url]
        if self.trusted_host and self.mode != "wheelhouse":
            args += (["--allow-insecure-host", self.trusted_host] if installer == "uv"
                     else ["--trusted-host", self.trusted_host])
        if self.ca_bundle and installer == "pip":
            args += ["--cert", self.ca_bundle]
        return args

    def _requirement_args(self, workdir):
        if self.lock_text:
            lockfile = os.path.join(workdir, "requirements.lock")
            with open(lockfile, "w") as fh:
                fh.write(self.lock_text)
            return ["--require-hashes", "-r", lockfile]
        return ["%s==%s" % (n, v) for n, v in sorted(self.wanted.items())]

    def _fetch_uv(self, workdir):
        """Take the uv binary out of its (hash-checked) wheel in the mirror, without pip."""
        version = self.wanted["uv"]
        listing = list_mirror(self.mode, self.url, self.wheelhouse, ["uv"], ca_bundle=self.ca_bundle,
                              trusted_host=self.trusted_host)
        import platform as _platform
        machine = _platform.machine()
        files = [f for f in listing["uv"] if f["version"] == version and any(machine in t[2] for t in f["tags"])]
        if not files:
            raise VenvError("uv==%s for %s is not in the mirror %s" % (version, machine, redact_url(self.url or self.wheelhouse)))
        info = sorted(files, key=lambda f: f["filename"])[0]
        if self.mode == "wheelhouse":
            with open(info["url"], "rb") as fh:
                data = fh.read()
        else:
            status, data = fetch(info["url"], 300, self.ca_bundle, self.trusted_host, auth_from=self.url, accept="*/*")
            if status != 200:
                raise VenvError("download of %s failed: HTTP %s" % (redact_url(info["url"]), status))
        digest = hashlib.sha256(data).hexdigest()
        if self.lock and digest not in self.lock["uv"]["hashes"]:
            raise VenvError("hash mismatch for %s: got sha256 %s, the lock expects %s" % (
                info["filename"], digest, " or ".join(self.lock["uv"]["hashes"])))
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            member = [n for n in zf.namelist() if n.endswith(".data/scripts/uv")]
            if not member:
                raise VenvError("%s holds no uv binary" % info["filename"])
            target = os.path.join(workdir, "uv")
            with zf.open(member[0]) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        os.chmod(target, 0o755)
        self.steps.append({"step": "fetch uv %s" % version, "rc": 0, "seconds": 0})
        return target

    # ------------------------------------------------------------------ build
    def build(self, release):
        workdir = tempfile.mkdtemp(prefix="codex-venv-")
        try:
            req_args = self._requirement_args(workdir)
            if self.installer == "uv":
                if "uv" not in self.wanted:
                    raise VenvError("installer uv needs uv in the lock or requirements")
                uv = self._fetch_uv(workdir)
                self._run([self.python, "-m", "venv", "--without-pip", release], "create venv")
                env = _clean_env({"SSL_CERT_FILE": self.ca_bundle} if self.ca_bundle else None)
                self._run([uv, "pip", "install", "--python", os.path.join(release, "bin", "python"), "--no-config",
                           "--no-cache", "--only-binary", ":all:", "--link-mode", "copy", "--compile-bytecode"]
                          + self._source_args("uv") + req_args, "uv pip install", env=env, cwd=workdir)
            else:
                self._run([self.python, "-m", "venv", release], "create venv")
                self._run([os.path.join(release, "bin", "python"), "-m", "pip", "install", "--isolated", "--no-input",
                           "--disable-pip-version-check", "--no-cache-dir", "--progress-bar", "off",
                           "--only-binary", ":all:"] + self._source_args("pip") + req_args,
                          "pip install", cwd=workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if self.extra_paths:
            self._write_pth(release)
        state = inspect_venv(release)
        reasons = differences(state, self.wanted, None, bool(self.lock))
        if reasons:
            raise VenvError("the new venv does not match what was asked: %s" % "; ".join(reasons))
        if self.verify_argv:
            py = os.path.join(release, "bin", "python")
            proc = subprocess.run([py] + list(self.verify_argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=_clean_env(), timeout=self.timeout, check=False)
            self.steps.append({"step": "health check", "rc": proc.returncode, "seconds": 0})
            if proc.returncode != 0:
                raise VenvError("the new venv failed its health check (exit %s): %s" % (
                    proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()[-3000:]),
                    health_output=proc.stdout.decode("utf-8", "replace"))
        with open(os.path.join(release, MARKER), "w") as fh:
            # What an audit compares with the staging manifest: each distribution with the wheel sha256(s)
            # the lock allowed (null without a lock).
            json.dump({"schema": 1, "wanted": self.wanted, "installer": self.installer, "built": int(time.time()),
                       "hashes": dict((n, e["hashes"]) for n, e in (self.lock or {}).items()) or None,
                       "mirror": redact_url(self.url) if self.url else self.wheelhouse}, fh, sort_keys=True)
        return state

    def _write_pth(self, release):
        site = subprocess.run([os.path.join(release, "bin", "python"), "-I", "-c",
                               "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              stdout=subprocess.PIPE, check=True).stdout.decode().strip()
        with open(os.path.join(site, "codex_offline_ml.pth"), "w") as fh:
            fh.write("\n".join(self.extra_paths) + "\n")

    def pth_ok(self, path):
        if not self.extra_paths:
            return True
        rel = os.path.join(path, "lib")
        for root, _dirs, files in os.walk(rel):
            if "codex_offline_ml.pth" in files:
                with open(os.path.join(root, "codex_offline_ml.pth")) as fh:
                    return fh.read().split() == list(self.extra_paths)
        return False


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
        if self.created and os.listdir(self.rdir) == [".lock"]:
            shutil.rmtree(self.rdir, ignore_errors=True)
            parent = os.path.dirname(self.rdir)
            while self.created_top and len(parent) >= len(self.created_top) and os.path.isdir(parent) \
                    and not os.listdir(parent):
                os.rmdir(parent)
                parent = os.path.dirname(parent)
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def new_release_path(path, wanted, installer):
    digest = hashlib.sha256(json.dumps([wanted, installer], sort_keys=True).encode()).hexdigest()[:10]
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return os.path.join(releases_dir(path), "%s-%s-%s" % (stamp, digest, os.urandom(2).hex()))


def swap(path, release):
    """Point PATH at RELEASE atomically; a real directory at PATH (an old venv) is moved aside first."""
    rdir = releases_dir(path)
    tmp_link = os.path.join(rdir, ".swap-link")
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(release, tmp_link)
    if os.path.lexists(path) and not os.path.islink(path):
        os.rename(path, os.path.join(rdir, "legacy-%s" % time.strftime("%Y%m%dT%H%M%S", time.gmtime())))
    os.rename(tmp_link, path)


def stale_releases(path):
    """Release directories that PATH does not point at (unfinished builds, replaced venvs)."""
    rdir = releases_dir(path)
    if not os.path.isdir(rdir):
        return []
    current = os.path.realpath(path) if os.path.islink(path) else None
    out = []
    for entry in sorted(os.listdir(rdir)):
        full = os.path.join(rdir, entry)
        if entry.startswith(".") or not os.path.isdir(full):
            continue
        if current and os.path.realpath(full) == current:
            continue
        out.append(full)
    return out


def remove_stale(path):
    removed = []
    for full in stale_releases(path):
        shutil.rmtree(full, ignore_errors=True)
        removed.append(full)
    return removed


def pin_names(requirements):
    return [parse_pin(r)[0] for r in requirements]


__all__ = ["Builder", "MirrorError", "ReleaseLock", "VenvError", "differences", "inspect_venv", "new_release_path",
           "releases_dir", "remove_stale", "stale_releases", "swap"]
