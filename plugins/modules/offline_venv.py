#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: offline_venv
short_description: Build a Python virtual environment from a local wheel mirror, beside the live one, then swap it in
version_added: 0.1.0
description:
  - Makes the virtual environment at O(path) hold exactly the pinned distributions (or every entry of a hash-pinned lock),
    installed from a local wheel mirror only, with the installer's configuration and environment isolated.
  - Whether anything changes is decided by comparing the installed distributions with the pins and, with a O(lock),
    the wheel hashes the live release was built from (its C(.codex-release.json) marker) with the lock's; when they
    match, no installer and no resolver runs, and the mirror is not contacted. In check mode the module never
    contacts the mirror, so a caller can run it first as a cheap probe of the live venv.
  - A new venv is built in a release directory beside the live one and checked (distributions, then the optional
    O(verify_command)) before O(path), a symlink, is swapped to it atomically. A run killed at any point leaves the
    previous venv working; the next run removes the unfinished release.
  - With installer V(uv) and a O(lock), a new release starts from the live release's files that still match the
    record taken when it passed its health check (O(reuse)), copied, never hard-linked, so that a file changed in
    one release cannot change another; C(uv pip sync) then installs, removes or changes only what the lock changes.
    One file that differs refuses the re-use and the release is built from nothing. A release that changes one pin
    costs that pin, the copy and the health check, not the whole closure again.
  - uv keeps its cache in C(.uv-cache) in the releases directory (mode 0700, the same file system), pruned after
    each build to the versions the live and kept releases hold; its size is in RV(uv_cache). A build works on a
    hard-linked copy that replaces the cache only when the build succeeded, so a failed build leaves it as it was.
  - The C(uv) installer is itself taken from the mirror (its wheel chosen by the interpreter's tags and hash-checked
    against the lock) without pip.
  - Mirror credentials never reach a command line, the environment or the result. The installers get them from a
    netrc file (mode 0600, in a 0700 temporary directory removed after the build); the URL in the result, the
    errors and the release marker is redacted.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.wheel_mirror
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff is the list of distributions (V(name==version)) before and after; when the venv is (or in check mode
        would be) rebuilt, it is shown as the packages changed (name, old -> new version), added and removed.
options:
  path:
    description: Path of the virtual environment. Managed as a symlink to a release directory next to it.
    type: path
    required: true
  lock:
    description:
      - Text of a hash-pinned requirements file (as written by C(playbooks/stage_wheels.yml)). When given, the venv must
        hold exactly its entries and the installer runs with C(--require-hashes).
  installer:
    description:
      - Which installer builds the venv.
      - With V(uv) and no O(lock), a V(uv==version) pin must be among O(requirements).
    type: str
    choices: [uv, pip]
    default: uv
  verify_command:
    description: Arguments given to the new venv's C(bin/python); must exit 0 before the new venv replaces the old one.
    type: list
    elements: str
    default: []
  extra_paths:
    description: Directories added to the venv's C(sys.path) through a C(.pth) file.
    type: list
    elements: path
    default: []
  force:
    description: Rebuild even when the distributions match (for example because a health check failed).
    type: bool
    default: false
  force_reason:
    description: Why O(force) is set; reported in RV(reasons).
    type: str
    default: forced
  timeout:
    description: Seconds any single installer step, the distribution listing and the health check may take.
    type: int
    default: 1800
  keep_releases:
    description:
      - How many previous releases to keep beside the live one (the most recently live first). A process started
        from a previous release keeps working while it is kept; O(rollback) needs at least one.
      - Unfinished builds and the release a rollback left are always removed.
    type: int
    default: 1
  reuse:
    description:
      - With installer V(uv) and a O(lock), start a new release from the live release's verified files (see above).
        V(false) builds every release from nothing (the cache still serves the unpacked wheels).
    type: bool
    default: true
  rollback:
    description:
      - Make the most recently live previous release live again, instead of building. Idempotent (a second run
        changes nothing) and check mode safe. The next run without O(rollback) builds from the pins again and
        removes the release that was rolled back from.
    type: bool
    default: false
seealso:
  - module: codex.offline_ml.wheel_mirror_info
"""

EXAMPLES = r"""
- name: Torch venv from a pypiserver mirror, hash-checked
  codex.offline_ml.offline_venv:
    path: /opt/codex/venv
    requirements: ["torch==2.13.0+cpu"]
    lock: "{{ lookup('ansible.builtin.file', 'mirror/locks/torch_cpu.txt') }}"
    mirror_mode: index
    mirror_url: http://mirror.lab:3141/simple/

- name: Same with pip from a flat directory over HTTP
  codex.offline_ml.offline_venv:
    path: /opt/codex/venv
    requirements: ["torch==2.13.0+cpu"]
    installer: pip
    mirror_mode: find_links
    mirror_url: http://mirror.lab/wheels/
"""

RETURN = r"""
path:
  description: The venv O(path) (without a trailing slash), so that a caller can tell which venv a result is about.
  returned: always
  type: str
  sample: /opt/codex/venv
reasons:
  description: Why the venv was (or in check mode would be) rebuilt; empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ["torch==2.13.0+cpu missing"]
current:
  description:
    - Whether the live venv already was what was asked, before this run (nothing to build, no stale release to
      remove; for O(rollback), nothing to roll back). The roles read it from the comparison in check mode to skip
      the mirror and the build on a converged host.
  returned: always
  type: bool
  sample: true
release:
  description: Release directory O(path) points at after the run.
  returned: always
  type: str
  sample: /opt/codex/.venv.releases/20261128T120000-3f2a9c1d07-ab12
packages:
  description:
    - What the build changes (in check mode, would change) in the live venv's distributions to give the requirements
      or the lock; three empty lists when nothing is built. V(removed) only with O(lock) (pins alone leave other
      distributions in place).
  returned: unless O(rollback)
  type: dict
  sample: {"changed": [{"name": "filelock", "old": "3.20.0", "new": "3.20.3"}], "added": [], "removed": []}
installed:
  description: Distributions in the venv after the run, name to version.
  returned: always
  type: dict
  sample: {"torch": "2.13.0+cpu", "sympy": "1.14.0"}
kept:
  description: Previous releases kept beside the live one (O(keep_releases)), the most recently live first.
  returned: always
  type: list
  elements: str
  sample: ["/opt/codex/.venv.releases/20261127T090000-9a8b7c6d5e-cd34"]
removed:
  description: Stale release directories removed (unfinished builds, releases beyond O(keep_releases)).
  returned: always
  type: list
  elements: str
  sample: []
verify_output:
  description:
    - What O(verify_command) printed on standard output in the new release (it passed), credentials scrubbed; a
      caller whose check prints a report (the torch diagnostic prints its facts as JSON) reads it here instead of
      running the check again.
  returned: when a release was built (empty without O(verify_command))
  type: str
  sample: '{"status": "ok", "version": "2.13.0+cpu"}'
reused:
  description:
    - What the build took from the live release (O(reuse)) - V(from), the V(files) and V(bytes) copied, the
      V(scripts_rewritten) to the new release's interpreter, the V(distributions) re-used - or V(refused) with the reason it built from nothing.
  returned: when a release was built with installer V(uv) from a live release
  type: dict
  sample: {"from": "/opt/codex/.venv.releases/20261127T090000-9a8b7c6d5e-cd34", "files": 20050, "bytes": 904000000,
           "scripts_rewritten": 4, "distributions": 11}
uv_cache:
  description:
    - The uv cache beside the releases - its V(path), its size in V(bytes), and the cache entries V(pruned) by
      this run (versions no live or kept release holds).
  returned: with installer V(uv), once a release was built
  type: dict
  sample: {"path": "/opt/codex/.venv.releases/.uv-cache", "bytes": 820000000, "pruned": []}
steps:
  description: Installer steps run, with exit codes and seconds.
  returned: changed
  type: list
  elements: dict
  sample: [{"step": "uv pip install", "rc": 0, "seconds": 3.1}]
"""

import os
import shutil
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_http import MIRROR_URL_REQUIRED_IF, mirror_spec
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import (
    hide_mirror_url,
    redact_url,
    scrub,
    url_secrets,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import probe_interpreter, wanted_set
from ansible_collections.codex.offline_ml.plugins.module_utils._offline_venv import (
    MARKER,
    Builder,
    ReleaseError,
    ReleaseLock,
    VenvError,
    clear_rollback,
    describe_changes,
    differences,
    inspect_venv,
    kept_releases,
    marker_differs,
    new_release_path,
    package_changes,
    releases_dir,
    remove_stale,
    rollback,
    rollback_plan,
    stale_releases,
    swap,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._venv_releases import current_release
from ansible_collections.codex.offline_ml.plugins.module_utils._venv_reuse import (
    CacheError,
    cache_state,
    commit_cache,
    discard_cache,
    stage_cache,
)


def _lines(dists):
    return "".join("%s==%s\n" % (n, dists[n]) for n in sorted(dists))


class _Fail(Exception):
    """The way out of run_module with a message for the operator (main turns it into fail_json)."""

    def __init__(self, msg, **extra):
        super(_Fail, self).__init__(msg)
        self.msg = msg
        self.extra = extra


def _uv_cache(path, prune, timeout, keep_releases=1):
    """The uv cache's state for the result (None without one); with PRUNE, first pruned to the live and kept
    releases."""
    live = current_release(path)
    return cache_state(releases_dir(path), [live] + kept_releases(path, keep_releases) if live else [],
                       uv=os.path.join(live, "bin", "uv") if live else None, prune=prune, timeout=min(timeout, 300))


def run_module(module, p):
    path = p["path"].rstrip("/")
    try:
        wanted, lock = wanted_set(p["requirements"], p["lock"])
        if p["installer"] == "uv" and "uv" not in wanted:
            raise _Fail("installer uv needs a uv==VERSION pin in requirements or a lock that pins uv")
        base = probe_interpreter(p["python"], timeout=min(p["timeout"], 60))
    except MirrorError as exc:
        raise _Fail(exc.msg, kind=exc.kind)
    if p["keep_releases"] < 0:
        raise _Fail("keep_releases must be 0 or more (it is %s)" % p["keep_releases"])

    builder = Builder(path, p["python"], wanted, lock, p["lock"], p["requirements"], p["installer"], p["mirror_mode"],
                      p["mirror_url"], p["wheelhouse"], p["trusted_host"], p["ca_bundle"], p["verify_command"],
                      p["extra_paths"], p["timeout"])
    if p["rollback"]:
        return _rollback(module, path, p)
    state = inspect_venv(path, timeout=min(p["timeout"], 120))
    reasons = differences(state, wanted, base["version"], bool(lock))
    if not reasons and not builder.pth_ok(path):
        reasons.append("sys.path entries differ from extra_paths")
    if not reasons and state["exists"] and not state["is_symlink"]:
        reasons.append("venv is not managed as a release yet")
    if not reasons:
        other_lock = marker_differs(path, lock)
        if other_lock:
            reasons.append(other_lock)
    if p["force"] and not reasons:
        reasons.append(p["force_reason"])
    stale = stale_releases(path, p["keep_releases"])
    result = dict(path=path, changed=bool(reasons or stale), reasons=reasons, removed=stale, installed=state["dists"],
                  release=state["target"] or "", kept=kept_releases(path, p["keep_releases"]),
                  current=not (reasons or stale))
    # What a build would do to the packages (empty lists when nothing is to be built): check mode's answer.
    result["packages"] = package_changes(state["dists"], wanted, bool(lock)) if reasons else \
        package_changes(state["dists"], state["dists"], False)
    if module._diff:
        result["diff"] = dict(before=_lines(state["dists"]), after=_lines(wanted) if reasons else _lines(state["dists"]),
                              before_header=path, after_header=path)
        if reasons:
            result["diff"]["prepared"] = describe_changes(path, result["packages"])
    if not result["changed"] or module.check_mode:
        if p["installer"] == "uv":
            cache = _uv_cache(path, False, p["timeout"])
            if cache:
                result["uv_cache"] = cache
        return result

    try:
        lock_ctx = ReleaseLock(releases_dir(path))
        lock_ctx.__enter__()
    except OSError as exc:
        raise _Fail("cannot create or lock %s: %s" % (releases_dir(path), exc), reasons=reasons)
    try:
        if reasons:
            if p["installer"] == "uv":
                try:
                    builder.cache = stage_cache(releases_dir(path))
                except CacheError as exc:
                    raise _Fail(exc.msg, reasons=reasons)
                live = current_release(path)
                if p["reuse"] and live and os.path.isfile(os.path.join(live, MARKER)):
                    builder.reuse_from = live
            release = new_release_path(path, wanted, p["installer"])
            try:
                new_state = builder.build(release)
                swap(path, release)
            except Exception as exc:  # pylint: disable=broad-except
                if current_release(path) == os.path.realpath(release):
                    # The link already names the new release (what failed came after it): it is live and whole
                    # (health-checked, marked, synced), so it stays; the next run finishes the bookkeeping.
                    raise _Fail("the new release %s is live, but recording it failed: %s: %s" % (
                        release, type(exc).__name__, exc), reasons=reasons, steps=builder.steps)
                # Whatever went wrong, the half-built release and what the build added to uv's cache go, and the
                # live venv stays as it was.
                shutil.rmtree(release, ignore_errors=True)
                discard_cache(releases_dir(path))
                msg = exc.msg if isinstance(exc, (VenvError, MirrorError)) else "%s: %s" % (type(exc).__name__, exc)
                raise _Fail("building %s from mirror %s: %s" % (
                    path, redact_url(p["mirror_url"] or p["wheelhouse"]), msg), reasons=reasons,
                    steps=builder.steps)
            clear_rollback(path)
            if builder.cache:
                try:
                    commit_cache(releases_dir(path))
                except OSError as exc:
                    raise _Fail("the new release is live, but its uv cache could not replace the old one: %s" % exc)
            result["release"] = release
            result["installed"] = new_state["dists"]
            result["verify_output"] = builder.verify_output
            if builder.reuse:
                result["reused"] = builder.reuse
        result["removed"] = remove_stale(path, p["keep_releases"])
        result["kept"] = kept_releases(path, p["keep_releases"])
        if p["installer"] == "uv":
            start = time.time()
            try:
                cache = _uv_cache(path, True, p["timeout"], p["keep_releases"])
            except CacheError as exc:
                raise _Fail("the new release is live, but %s" % exc.msg)
            if cache:
                result["uv_cache"] = cache
                builder.steps.append({"step": "prune the uv cache", "rc": 0, "seconds": round(time.time() - start, 2),
                                      "pruned": len(cache["pruned"])})
    finally:
        lock_ctx.__exit__(None, None, None)
    result["steps"] = builder.steps
    return result


def _rollback(module, path, p):
    try:
        target, reason = rollback_plan(path)
    except ReleaseError as exc:
        raise _Fail("%s. Fix: build a release first (without rollback), and keep keep_releases at 1 "
                    "or more." % exc.msg)
    state = inspect_venv(path, timeout=min(p["timeout"], 120))
    result = dict(path=path, changed=target is not None, reasons=[reason] if reason else [], removed=[],
                  release=target or state["target"] or "", installed=state["dists"],
                  kept=kept_releases(path, p["keep_releases"]), current=target is None)
    if target is None or module.check_mode:
        if target is not None:
            result["installed"] = inspect_venv(target, timeout=min(p["timeout"], 120))["dists"]
        return result
    try:
        with ReleaseLock(releases_dir(path)):
            rollback(path, target)
    except OSError as exc:
        raise _Fail("rolling %s back to %s: %s" % (path, target, exc))
    result["installed"] = inspect_venv(path, timeout=min(p["timeout"], 120))["dists"]
    result["kept"] = kept_releases(path, p["keep_releases"])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            **mirror_spec("python", "requirements", "lock"),
            installer=dict(type="str", choices=["uv", "pip"], default="uv"),
            **mirror_spec("mirror_mode", "mirror_url", "wheelhouse", "trusted_host", "ca_bundle"),
            verify_command=dict(type="list", elements="str", default=[]),
            extra_paths=dict(type="list", elements="path", default=[]),
            force=dict(type="bool", default=False),
            force_reason=dict(type="str", default="forced"),
            timeout=dict(type="int", default=1800),
            keep_releases=dict(type="int", default=1),
            rollback=dict(type="bool", default=False),
            reuse=dict(type="bool", default=True),
        ),
        required_if=MIRROR_URL_REQUIRED_IF + [("mirror_mode", "wheelhouse", ["wheelhouse"])],
        supports_check_mode=True,
    )
    p = hide_mirror_url(module)
    mirror_url = p["mirror_url"]
    secrets = url_secrets(mirror_url)
    try:
        result = run_module(module, p)
    except _Fail as exc:
        module.fail_json(msg=scrub(exc.msg, secrets), **exc.extra)
    except Exception as exc:  # pylint: disable=broad-except
        # Last net: a message, never a traceback, never a secret.
        module.fail_json(msg="offline_venv failed unexpectedly on %s: %s: %s" % (
            p["path"], type(exc).__name__, scrub(str(exc), url_secrets(mirror_url))),
            exception=scrub(traceback.format_exc(), url_secrets(mirror_url)))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
