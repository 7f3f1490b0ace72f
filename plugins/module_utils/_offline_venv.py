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

import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable, _faults
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError, OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_http import fetch, list_mirror
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import (
    redact_url,
    scrub,
    strip_userinfo,
    url_secrets,
    write_netrc,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import (
    probe_interpreter,
    same_version,
    tags_for,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._venv_releases import (  # noqa: F401 (re-exported)
    MARKER,
    ReleaseError,
    ReleaseLock,
    clear_rollback,
    kept_releases,
    new_release_path,
    read_marker,
    releases_dir,
    remove_stale,
    rollback,
    rollback_plan,
    stale_releases,
    swap,
    write_release_pth,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._venv_reuse import (
    ReuseRefused,
    clone,
    snapshot,
    write_snapshot,
)

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


class VenvError(OperatorError):
    """A build, check or health check of a release that failed; DETAILS go into the result."""


def _clean_env(extra=None):
    env = dict((k, v) for k, v in os.environ.items()
               if not k.startswith(("PIP_", "UV_", "PYTHON", "VIRTUAL_ENV", "CONDA")))
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
                "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C.UTF-8"})
    env.update(extra or {})
    return env


def inspect_venv(path, timeout=60):
    """What the venv at PATH holds: {'exists', 'python_version', 'dists', 'target'}. An interpreter that fails,
    hangs past TIMEOUT or prints nonsense gives state['error'] (the venv then counts as broken), never an
    exception."""
    py = os.path.join(path, "bin", "python")
    state = {"exists": os.path.lexists(path), "is_symlink": os.path.islink(path), "target": None,
             "python_version": None, "dists": {}}
    if state["is_symlink"]:
        state["target"] = os.path.realpath(path)
    if not os.path.exists(py):
        return state
    try:
        proc = subprocess.run([py, "-I", "-c", _LIST_DISTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, env=_clean_env(), check=False)
    except subprocess.TimeoutExpired:
        state["error"] = "%s did not answer within %ss (listing its distributions)" % (py, timeout)
        return state
    except OSError as exc:
        state["error"] = "%s cannot be run: %s" % (py, exc)
        return state
    if proc.returncode != 0:
        state["error"] = proc.stderr.decode("utf-8", "replace")[-2000:]
        return state
    try:
        data = json.loads(proc.stdout.decode("utf-8").strip().splitlines()[-1])
        state["python_version"] = data["version"]
        state["dists"] = data["dists"]
    except (ValueError, IndexError, KeyError, TypeError):
        state["error"] = "%s printed no distribution list: %r" % (py, proc.stdout[-500:])
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


def package_changes(dists, wanted, exact):
    """What a build would change in a venv holding DISTS to give WANTED: {added, removed, changed}, each sorted by
    name (added/removed: {name, version}; changed: {name, old, new}). Removed only with EXACT (a lock): pins
    alone leave other distributions where they are."""
    added = [{"name": n, "version": wanted[n]} for n in sorted(wanted) if n not in dists]
    changed = [{"name": n, "old": dists[n], "new": wanted[n]} for n in sorted(wanted)
               if n in dists and not same_version(dists[n], wanted[n])]
    removed = [{"name": n, "version": dists[n]} for n in sorted(dists)
               if exact and n not in wanted and n not in ALLOWED_EXTRAS]
    return {"added": added, "removed": removed, "changed": changed}


def describe_changes(path, changes):
    """CHANGES (package_changes) in words, one package a line, for the diff of check mode."""
    counts = (len(changes["changed"]), len(changes["added"]), len(changes["removed"]))
    head = "%s: %d changed, %d added, %d removed\n" % ((path,) + counts)
    return head + "".join(["  ~ %s %s -> %s\n" % (c["name"], c["old"], c["new"]) for c in changes["changed"]]
                          + ["  + %s %s\n" % (c["name"], c["version"]) for c in changes["added"]]
                          + ["  - %s %s\n" % (c["name"], c["version"]) for c in changes["removed"]])


def marker_differs(path, lock):
    """Why the live release at PATH was not built from LOCK (its marker's wheel hashes differ), or None.

    Versions alone do not say it: a re-staged wheel of the same version has another hash. Without a lock there
    are no hashes to compare (None)."""
    if not lock or not os.path.islink(path):
        return None
    marker = read_marker(os.path.realpath(path))
    if marker is None:
        return "the live release has no readable %s" % MARKER
    built = marker.get("hashes")
    if not isinstance(built, dict):
        return "the live release was built without a lock (no wheel hashes in %s)" % MARKER
    want = dict((n, sorted(e["hashes"])) for n, e in lock.items())
    have = dict((n, sorted(h or [])) for n, h in built.items())
    if want != have:
        names = sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))
        return "the live release was built from another lock (wheel hashes differ for %s)" % ", ".join(names[:10])
    return None


WORKDIR_PREFIX = "codex-venv-"
# In the build's private directory (0700, removed after the build): each step's name and time, then the
# installer's own output as it comes (pip: a line per package as it is collected; uv: what it resolved,
# prepared and installed), for a person to follow with `tail -f /tmp/codex-venv-*/build.log` during a build.
PROGRESS_LOG = "build.log"


def _boot_time():
    with open("/proc/stat") as handle:
        for line in handle:
            if line.startswith("btime "):
                return int(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _process_alive(pid, since):
    """Whether PID is a live process that may have made a directory last written at SINCE (epoch seconds).

    A zombie is not alive: in a container whose PID 1 never reaps (``sleep infinity``), a build killed with
    SIGKILL stays one. Nor is a process that started after SINCE: the pid was reused."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return False
        started = _boot_time() + int(fields[19]) / float(os.sysconf("SC_CLK_TCK"))
        return started <= since + 1
    except (IOError, OSError, IndexError, ValueError):
        pass
    try:  # no /proc: ask the kernel
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphan_workdirs(tmpdir=None):
    """Remove build directories (they may hold a netrc) left by a build that was killed: our own 0700 directories
    named codex-venv-<pid>-* whose process is gone. Returns their paths."""
    tmpdir = tmpdir or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(tmpdir)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(WORKDIR_PREFIX):
            continue
        pid = name[len(WORKDIR_PREFIX):].split("-", 1)[0]
        path = os.path.join(tmpdir, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        # Only a real directory of ours (not a link or another user's entry) whose maker is gone.
        if not pid.isdigit() or not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.geteuid():
            continue
        if _process_alive(int(pid), st.st_mtime):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


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
        # What goes on an installer's command line: the URL without its userinfo. The credentials reach uv and
        # pip through a netrc file (0600, in a 0700 directory removed after the build) named by $NETRC.
        self.plain_url = strip_userinfo(mirror_url)
        self.wheelhouse = wheelhouse
        self.trusted_host = trusted_host
        self.ca_bundle = ca_bundle
        self.verify_argv = verify_argv or []
        self.extra_paths = extra_paths or []
        self.timeout = timeout
        self.secrets = url_secrets(mirror_url)
        self.steps = []
        # What the health check (verify_argv) printed on standard output when it passed, scrubbed.
        self.verify_output = ""
        self._log = log
        self._netrc = None
        # The progress log of the build that is running (None outside a build).
        self._progress = None
        # Set by the caller under the release lock: the uv cache to use (None: no cache), the live release whose
        # verified files a build with a lock starts from (None: from nothing), and what that re-use did.
        self.cache = None
        self.reuse_from = None
        self.reuse = None

    # ------------------------------------------------------------------ helpers
    def _env(self, extra=None):
        env = dict(extra or {})
        if self._netrc:
            env["NETRC"] = self._netrc
        return _clean_env(env)

    def _scrub(self, text):
        return scrub(text, self.secrets + ([self.url] if self.url else []))

    def _run(self, argv, what, env=None, cwd=None):
        start = time.time()
        try:
            if self._progress:
                proc = self._run_logged(argv, what, env, cwd)
            else:
                proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env or self._env(),
                                      cwd=cwd, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            self.steps.append({"step": what, "rc": None, "seconds": round(time.time() - start, 2)})
            raise VenvError("%s timed out after %ss" % (what, self.timeout))
        except OSError as exc:
            # uv taken from a wheel that does not run here (another architecture, a noexec /tmp), python gone.
            self.steps.append({"step": what, "rc": None, "seconds": round(time.time() - start, 2)})
            raise VenvError("%s could not start %s: %s" % (what, argv[0], self._scrub(str(exc))))
        out = self._scrub(proc.stdout.decode("utf-8", "replace"))
        self.steps.append({"step": what, "rc": proc.returncode, "seconds": round(time.time() - start, 2)})
        if proc.returncode != 0:
            raise VenvError("%s failed (exit %s): %s" % (what, proc.returncode, out.strip()[-3000:]), output=out)
        return out

    def _run_logged(self, argv, what, env, cwd):
        """Run ARGV with its output going line by line to the build's progress log (PROGRESS_LOG in the build's
        private directory, where a person can follow it with tail -f while the build runs); the output is read
        back from there. Same result as subprocess.run with stdout captured."""
        with open(self._progress, "ab") as fh:
            fh.write(("[%s] %s\n" % (time.strftime("%H:%M:%S"), what)).encode("utf-8"))
            fh.flush()
            offset = fh.tell()
            proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env or self._env(), cwd=cwd)
            try:
                proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
        with open(self._progress, "rb") as fh:
            fh.seek(offset)
            proc.stdout = fh.read()
        return proc

    def _source_args(self, installer):
        args = []
        if self.mode == "wheelhouse":
            args += ["--no-index", "--find-links", self.wheelhouse]
            if installer == "uv":
                args += ["--offline"]
        elif self.mode == "find_links":
            args += ["--no-index", "--find-links", self.plain_url]
        else:
            args += ["--index-url", self.plain_url]
        if self.trusted_host and self.mode != "wheelhouse":
            args += (["--allow-insecure-host", self.trusted_host] if installer == "uv"
                     else ["--trusted-host", self.trusted_host])
        if self.ca_bundle and installer == "pip":
            args += ["--cert", self.ca_bundle]
        return args

    def _requirement_args(self, workdir, sync=False):
        if self.lock_text:
            lockfile = os.path.join(workdir, "requirements.lock")
            with open(lockfile, "w") as fh:
                fh.write(self.lock_text)
            return ["--require-hashes"] + ([lockfile] if sync else ["-r", lockfile])
        return ["%s==%s" % (n, v) for n, v in sorted(self.wanted.items())]

    def _unchanged(self, live):
        """Distributions of the lock the live release was built with at the same version from the same wheels."""
        marker = read_marker(live) or {}
        wanted, hashes = marker.get("wanted") or {}, marker.get("hashes") or {}
        if not isinstance(wanted, dict) or not isinstance(hashes, dict):
            return set()
        return set(n for n, e in (self.lock or {}).items()
                   if wanted.get(n) == e["version"] and sorted(hashes.get(n) or []) == sorted(e["hashes"]))

    def _start_from_live(self, release):
        """Copy the live release's verified files into the new venv RELEASE (see _venv_reuse); on a refusal the
        venv is made again from nothing."""
        if not (self.reuse_from and self.lock_text):
            return
        keep = self._unchanged(self.reuse_from)
        if not keep:
            return
        start = time.time()
        try:
            stats = clone(self.reuse_from, release, keep)
        except (ReuseRefused, OSError) as exc:
            reason = exc.msg if isinstance(exc, ReuseRefused) else "%s: %s" % (type(exc).__name__, exc)
            self.steps.append({"step": "re-use the live release", "rc": 1, "refused": reason,
                               "seconds": round(time.time() - start, 2)})
            self.reuse = {"from": self.reuse_from, "refused": reason}
            shutil.rmtree(release, ignore_errors=True)
            self._run([self.python, "-m", "venv", "--without-pip", release], "create venv")
            return
        self.steps.append(dict(stats, step="re-use the live release", rc=0, seconds=round(time.time() - start, 2)))
        self.reuse = dict(stats, **{"from": self.reuse_from})

    def _write_netrc(self, workdir):
        return write_netrc([self.url], workdir) if self.mode != "wheelhouse" else None

    def choose_uv_wheel(self, files, tags):
        """The uv wheel for this host: the version pinned, tags this interpreter accepts, the lock's hash when
        the index publishes it. Deterministic; never a wheel for another platform."""
        version = self.wanted["uv"]
        fit = [f for f in files if same_version(f["version"], version) and f["tags"] & tags]
        if self.lock and "uv" in self.lock:
            locked = [f for f in fit if f.get("sha256") in self.lock["uv"]["hashes"]]
            fit = locked or fit
        if not fit:
            offered = sorted(f["filename"] for f in files if same_version(f["version"], version))
            raise VenvError("no uv==%s wheel in the mirror %s fits this host (offered: %s)" % (
                version, redact_url(self.url or self.wheelhouse), ", ".join(offered) or "none"))
        return sorted(fit, key=lambda f: f["filename"])[0]

    def _fetch_uv(self, workdir):
        """Take the uv binary out of its (hash-checked) wheel in the mirror, without pip."""
        start = time.time()
        version = self.wanted["uv"]
        try:
            tags = tags_for(probe_interpreter(self.python))
        except MirrorError as exc:
            raise VenvError("cannot read the tags of %s: %s" % (self.python, exc.msg))
        listing = list_mirror(self.mode, self.url, self.wheelhouse, ["uv"], ca_bundle=self.ca_bundle,
                              trusted_host=self.trusted_host)
        info = self.choose_uv_wheel(listing["uv"], tags)
        if self.mode == "wheelhouse" or info["url"].startswith("/"):
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
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                member = [n for n in zf.namelist() if n.endswith(".data/scripts/uv")]
                if not member:
                    raise VenvError("%s holds no uv binary" % info["filename"])
                target = os.path.join(workdir, "uv")
                with zf.open(member[0]) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        except zipfile.BadZipFile as exc:
            raise VenvError("%s is not a readable wheel: %s" % (info["filename"], exc))
        os.chmod(target, 0o755)
        self.steps.append({"step": "fetch uv %s" % version, "wheel": info["filename"], "rc": 0,
                           "seconds": round(time.time() - start, 2)})
        return target

    # ------------------------------------------------------------------ build
    def build(self, release):
        # 0700: the lock copy, uv and the netrc live here; removed whatever happens (and, after a SIGKILL, by the
        # next build: the directory names the process that made it).
        remove_orphan_workdirs()
        workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX + "%d-" % os.getpid())
        try:
            self._progress = os.path.join(workdir, PROGRESS_LOG)
            self._netrc = self._write_netrc(workdir)
            if self.installer == "uv":
                if "uv" not in self.wanted:
                    raise VenvError("installer uv needs uv in the lock or requirements")
                uv = self._fetch_uv(workdir)
                _faults.point("venv.uv_fetched")
                self._run([self.python, "-m", "venv", "--without-pip", release], "create venv")
                _faults.point("venv.created")
                self._start_from_live(release)
                env = self._env({"SSL_CERT_FILE": self.ca_bundle} if self.ca_bundle else None)
                # With a lock, sync: the venv ends exactly the lock whatever the re-used release held. Copies, not
                # links, from the cache: see _venv_reuse for why releases never share a file.
                sync = bool(self.lock_text)
                cache = ["--cache-dir", self.cache] if self.cache else ["--no-cache"]
                self._run([uv, "pip", "sync" if sync else "install", "--python", os.path.join(release, "bin", "python"),
                           "--no-config"] + cache + ["--only-binary", ":all:", "--link-mode", "copy",
                                                     "--compile-bytecode"]
                          + self._source_args("uv") + self._requirement_args(workdir, sync),
                          "uv pip sync" if sync else "uv pip install", env=env, cwd=workdir)
            else:
                req_args = self._requirement_args(workdir)
                self._run([self.python, "-m", "venv", release], "create venv")
                _faults.point("venv.created")
                self._run([os.path.join(release, "bin", "python"), "-m", "pip", "install", "--isolated", "--no-input",
                           "--disable-pip-version-check", "--no-cache-dir", "--progress-bar", "off",
                           "--only-binary", ":all:"] + self._source_args("pip") + req_args,
                          "pip install", cwd=workdir)
        finally:
            self._netrc = None
            self._progress = None
            shutil.rmtree(workdir, ignore_errors=True)
        _faults.point("venv.installed")
        self._write_pth(release)
        state = inspect_venv(release, timeout=self.timeout)
        reasons = differences(state, self.wanted, None, bool(self.lock))
        if reasons:
            raise VenvError("the new venv does not match what was asked: %s" % "; ".join(reasons))
        if self.verify_argv:
            self._health_check(release)
        _faults.point("venv.checked")
        start = time.time()
        write_snapshot(release, snapshot(release))
        self.steps.append({"step": "snapshot", "rc": 0, "seconds": round(time.time() - start, 2)})
        _faults.point("venv.marker")
        # The marker makes the release count as finished (a rollback target, a re-use source): published last, by
        # rename, so that a release with a marker is whole.
        # What an audit compares with the staging manifest: each distribution with the wheel sha256(s) the lock
        # allowed (null without a lock). The mirror only redacted.
        _durable.write_json(os.path.join(release, MARKER), {
            "schema": 1, "wanted": self.wanted, "installer": self.installer, "built": int(time.time()),
            "hashes": dict((n, e["hashes"]) for n, e in (self.lock or {}).items()) or None,
            "mirror": redact_url(self.url) if self.url else self.wheelhouse})
        return state

    def _health_check(self, release):
        py = os.path.join(release, "bin", "python")
        start = time.time()
        try:
            proc = subprocess.run([py] + list(self.verify_argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=_clean_env(), timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            self.steps.append({"step": "health check", "rc": None, "seconds": round(time.time() - start, 2)})
            raise VenvError("the new venv's health check did not finish within %ss" % self.timeout)
        except OSError as exc:
            raise VenvError("the new venv's health check could not start %s: %s" % (py, exc))
        self.steps.append({"step": "health check", "rc": proc.returncode, "seconds": round(time.time() - start, 2)})
        if proc.returncode != 0:
            raise VenvError("the new venv failed its health check (exit %s): %s" % (
                proc.returncode, self._scrub((proc.stdout + proc.stderr).decode("utf-8", "replace")).strip()[-3000:]),
                health_output=self._scrub(proc.stdout.decode("utf-8", "replace")))
        self.verify_output = self._scrub(proc.stdout.decode("utf-8", "replace"))[-200000:]

    def _write_pth(self, release):
        try:
            site = subprocess.run([os.path.join(release, "bin", "python"), "-I", "-c",
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
                                  timeout=min(self.timeout, 120)).stdout.decode().strip()
            write_release_pth(site)
            if self.extra_paths:
                with open(os.path.join(site, "codex_offline_ml.pth"), "w") as fh:
                    fh.write("\n".join(self.extra_paths) + "\n")
        except subprocess.CalledProcessError as exc:
            raise VenvError("the new venv's python cannot tell its site-packages (exit %s): %s" % (
                exc.returncode, (exc.stderr or b"").decode("utf-8", "replace").strip()[-2000:]))
        except subprocess.TimeoutExpired:
            raise VenvError("the new venv's python did not tell its site-packages in time")
        except OSError as exc:
            raise VenvError("cannot write the .pth file of the new venv: %s" % exc)

    def pth_ok(self, path):
        if not self.extra_paths:
            return True
        rel = os.path.join(path, "lib")
        for root, _dirs, files in os.walk(rel):
            if "codex_offline_ml.pth" in files:
                with open(os.path.join(root, "codex_offline_ml.pth")) as fh:
                    return fh.read().split() == list(self.extra_paths)
        return False


__all__ = ["Builder", "MARKER", "MirrorError", "ReleaseError", "ReleaseLock", "VenvError", "clear_rollback",
           "describe_changes", "differences", "inspect_venv", "marker_differs", "package_changes", "kept_releases",
           "new_release_path", "releases_dir", "remove_stale",
           "rollback", "rollback_plan", "stale_releases", "swap"]
