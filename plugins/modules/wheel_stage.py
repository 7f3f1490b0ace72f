#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: wheel_stage
short_description: Stage a wheel mirror on a connected machine, with hash-pinned locks and a sha256 manifest
version_added: 0.1.0
description:
  - For each named set of exact pins, downloads the whole binary-only dependency closure for the target Python and
    platforms with C(pip download), adds it to O(dest)/wheels, and writes O(dest)/locks/SET.txt (every closure entry
    with its sha256), O(dest)/SHA256SUMS and O(dest)/manifest.json.
  - The installer pins (uv) are added to every set, so each lock names all a role installs.
  - With O(lock_dir), a set whose lock is there is re-staged exactly from it - the same versions and the same files
    (pip in hash-checking mode, without resolving), whatever the index has published since; files already in
    O(dest)/wheels with a locked hash are not downloaded again. Resolving a set afresh is an explicit choice
    (O(refresh), O(resolve)), and RV(moved) then says which packages moved against its previous lock.
  - Run it where an upstream index is reachable; the result is carried over the air gap and served as a PEP 503
    index (for example pypiserver) or a flat directory.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
attributes:
  check_mode:
    support: none
    details: Staging downloads from an upstream index; in check mode the task is skipped.
  diff_mode:
    support: none
    details: No diff is returned; RV(files) and RV(locks) say what the mirror holds.
options:
  dest:
    description: Mirror directory to fill.
    type: path
    required: true
  sets:
    description: Set name to list of exact pins.
    type: dict
    required: true
  installer:
    description: Pins added to every set (the installer the roles bootstrap from the mirror).
    type: list
    elements: str
    default: ["uv==0.13.9"]
  python_version:
    description: Target Python version (V(3.11)).
    type: str
    default: "3.11"
  set_python_versions:
    description:
      - Set name to the Python version that set is staged for, when it differs from O(python_version) (for
        example V(3.13) for a set of Debian 13 hosts). Every set still goes into the one mirror, manifest and
        C(SHA256SUMS); each lock's header names its Python.
      - The manifest records these as C(set_python_versions) when any is given.
    type: dict
    default: {}
  platforms:
    description: Target platform tags; older compatible manylinux tags are included by pip.
    type: list
    elements: str
    default: [manylinux_2_28_x86_64]
  pip:
    description: Command that runs pip on the staging machine.
    type: list
    elements: str
    default: [python3, -m, pip]
  index_url:
    description:
      - Default index every set is staged from (for example V(https://pypi.org/simple/)). When this or any of
        O(extra_index_urls), O(set_indexes), O(package_indexes) is given, pip runs isolated (C(--isolated),
        C(PIP_CONFIG_FILE=/dev/null)), so the staging machine's pip configuration adds no source. Credentials in a URL
        go to a 0600 netrc, never into pip's argv, the lock or the manifest.
      - Empty (and no other index option) means pip's own configuration decides, as before; nothing records the index.
    type: str
    default: ""
  extra_index_urls:
    description: More indexes searched besides O(index_url).
    type: list
    elements: str
    default: []
  set_indexes:
    description: Set name to a dict with C(index_url) and C(extra_index_urls) (or a bare index URL) replacing the defaults for that set.
    type: dict
    default: {}
  package_indexes:
    description:
      - Pinned package name to the index it alone comes from, for example
        C(torch) and C(torchvision) mapped to U(https://download.pytorch.org/whl/cpu) (the seed's CPU index); its
        dependencies come from the set's indexes. Names no set pins are an error.
      - The lock's header and the manifest's C(files[].index) record the index of every wheel.
    type: dict
    default: {}
  progress_log:
    description:
      - File that staging appends a timestamped line to as it goes, for a person to follow with C(tail -f) while a
        download of several GB runs (run the task with C(async)/C(poll), as C(playbooks/stage_wheels.yml) does, to
        get Ansible's own poll lines too).
      - One line when each set starts and ends (wheels, size, how many were new, seconds) and pip's own lines as it
        finds, downloads and saves each file. Credentials of the index URLs never reach it.
      - Created 0600 if missing; a link there is refused. Not set means no log.
    type: path
    version_added: 0.3.0
  lock_dir:
    description:
      - Directory holding a hash-pinned lock C(SET.txt) per set to stage from (a lock this module wrote earlier, or
        the output of C(pip-compile --generate-hashes) or C(uv pip compile --generate-hashes)). A set staged from
        its lock gets exactly the lock's files; a file the index no longer serves with a locked hash fails the run
        naming the file, and so does a version the index no longer has.
      - The lock must still describe its set (checked before the first download) - staged for the same Python and
        platforms from the same pins (read from the header this module writes), and every pin in it at its version.
        Otherwise the run fails naming the set and the pin; resolve it afresh with O(refresh).
      - The lock written to O(dest)/locks of a set staged from its lock is byte-identical to the lock given.
      - Not set means O(dest)/locks when that directory exists (a run again over the same mirror re-stages what it
        staged before), else every set is resolved by pip (a first staging).
    type: path
    version_added: 0.3.0
  resolve:
    description:
      - What a set without a lock in O(lock_dir) gets. V(missing) resolves it (a set added since the last staging).
        V(none) fails the run naming the sets without a lock (a mirror that must be reproducible). V(all) resolves
        every set afresh, as O(refresh) listing every set does.
    type: str
    choices: [missing, none, all]
    default: missing
    version_added: 0.3.0
  refresh:
    description:
      - Sets resolved afresh although O(lock_dir) holds a lock for them (a deliberate update - a new pin, or the
        newest closure of the same pins). RV(moved) lists what changed against the previous lock.
    type: list
    elements: str
    default: []
    version_added: 0.3.0
  preflight:
    description:
      - With an index named (O(index_url) and the others), ask the index before the first download, for every set
        and its target (Python tag, platforms), whether each package has a fitting wheel there, exists only as an
        sdist, or is missing (a set staged from its lock - every entry of the lock not staged yet; a set resolved
        afresh - its pins), and the size of each file (HTTP HEAD). Any gap fails the run before anything is
        downloaded, naming the set, the target, the package and what exists instead; so does a O(dest) without
        room for the download. RV(preflight) is the report.
      - Without an index named, pip's own configuration decides where the wheels come from and nothing is asked.
    type: bool
    default: true
    version_added: 0.3.0
"""

EXAMPLES = r"""
- name: Stage torch for Python 3.11 hosts
  codex.offline_ml.wheel_stage:
    dest: /srv/mirror
    sets:
      torch_cpu: ["torch==2.13.0+cpu"]

- name: Stage the gate tools for Python 3.11 and, as a set of its own, for Python 3.13 hosts
  codex.offline_ml.wheel_stage:
    dest: /srv/mirror
    sets:
      ci_gates: ["pytest==9.2.0"]
      ci_gates_py313: ["pytest==9.2.0"]
    set_python_versions:
      ci_gates_py313: "3.13"

- name: Re-stage last month's release exactly, for another disk (same files, same hashes)
  codex.offline_ml.wheel_stage:
    dest: /srv/mirror-copy
    lock_dir: /srv/mirror/locks
    resolve: none
    sets:
      torch_cpu: ["torch==2.13.0+cpu"]

- name: Take the newest closure of torch_cpu's pins on purpose; moved says what changed
  codex.offline_ml.wheel_stage:
    dest: /srv/mirror
    lock_dir: /srv/mirror/locks
    refresh: [torch_cpu]
    sets:
      torch_cpu: ["torch==2.13.0+cpu"]

- name: The seed's torch family from the PyTorch CPU index, everything else from PyPI
  codex.offline_ml.wheel_stage:
    dest: /srv/mirror
    sets:
      torch_cpu: ["torch==2.13.0+cpu", "torchvision==0.29.0+cpu"]
    index_url: https://pypi.org/simple/
    package_indexes:
      torch: https://download.pytorch.org/whl/cpu
      torchvision: https://download.pytorch.org/whl/cpu
"""

RETURN = r"""
files:
  description: Number of wheel files in the manifest.
  returned: always
  type: int
  sample: 11
locks:
  description: Lock file written per set.
  returned: always
  type: dict
  sample: {"torch_cpu": "/srv/mirror/locks/torch_cpu.txt"}
indexes:
  description: Per set, the indexes it was staged from and the per-package ones (credentials removed); V({}) without indexes.
  returned: always
  type: dict
  sample: {"torch_cpu": {"indexes": ["https://pypi.org/simple/"], "packages": {"torch": "https://download.pytorch.org/whl/cpu"}}}
staged_from:
  description: Per set, V(lock) (re-staged exactly from its lock in O(lock_dir)) or V(resolved) (resolved by pip).
  returned: always
  type: dict
  sample: {"torch_cpu": "lock", "ci_gates": "resolved"}
  version_added: 0.3.0
moved:
  description:
    - Per set resolved afresh that had a lock before (in O(lock_dir), else in O(dest)/locks), what moved against
      it - C(changed) (name to C(old -> new); C(v -> v (other files)) when a version's files changed), C(added) and
      C(removed) (name to version). A set whose closure did not move has V({}). Sets staged from their lock are
      not listed.
  returned: always
  type: dict
  sample: {"torch_cpu": {"changed": {"filelock": "4.3.1 -> 4.3.2"}}}
  version_added: 0.3.0
preflight:
  description:
    - The preflight's report (None without an index named, or with O(preflight=false)) - per set its C(python),
      C(platforms), C(target), C(scope) (V(lock) - every entry checked, or V(pins)) and C(packages) (name to
      C(status) V(wheel), V(sdist), V(missing) or V(staged), C(version), C(file), C(index), C(size), C(detail));
      C(gaps) (one line per package that cannot be staged), C(download_bytes) and C(unknown_sizes).
  returned: always
  type: dict
  sample: {"sets": {"ci_gates_py313": {"target": "cp313 manylinux_2_28_x86_64", "scope": "lock", "packages": {
    "coverage": {"status": "wheel", "version": "7.17.5", "size": 250000}}}}, "gaps": [], "download_bytes": 250000}
  version_added: 0.3.0
moved_lines:
  description: RV(moved) as one line per set, for a person.
  returned: always
  type: list
  elements: str
  sample: ["torch_cpu: filelock 4.3.1 -> 4.3.2"]
  version_added: 0.3.0
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import long_secrets, scrub, url_secrets
from ansible_collections.codex.offline_ml.plugins.module_utils._stage import Progress, index_plan, stage
from ansible_collections.codex.offline_ml.plugins.module_utils._stage_lock import RESOLVE_CHOICES, describe_moves


def _urls(params):
    urls = [params["index_url"]] + list(params["extra_index_urls"]) + list(params["package_indexes"].values())
    for value in params["set_indexes"].values():
        if isinstance(value, dict):
            urls += [value.get("index_url") or ""] + list(value.get("extra_index_urls") or [])
        else:
            urls.append(value)
    return [str(u) for u in urls if u]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            sets=dict(type="dict", required=True),
            installer=dict(type="list", elements="str", default=["uv==0.13.9"]),
            python_version=dict(type="str", default="3.11"),
            set_python_versions=dict(type="dict", default={}),
            platforms=dict(type="list", elements="str", default=["manylinux_2_28_x86_64"]),
            pip=dict(type="list", elements="str", default=["python3", "-m", "pip"]),
            index_url=dict(type="str", default=""),
            extra_index_urls=dict(type="list", elements="str", default=[]),
            set_indexes=dict(type="dict", default={}),
            package_indexes=dict(type="dict", default={}),
            progress_log=dict(type="path"),
            lock_dir=dict(type="path"),
            resolve=dict(type="str", choices=list(RESOLVE_CHOICES), default="missing"),
            refresh=dict(type="list", elements="str", default=[]),
            preflight=dict(type="bool", default=True),
        ),
        supports_check_mode=False,
    )
    p = module.params
    secrets = []
    for url in _urls(p):
        secrets += url_secrets(url)
        module.no_log_values.update(long_secrets(url))
    progress = None
    try:
        set_python = dict((k, str(v)) for k, v in p["set_python_versions"].items())
        plan = index_plan(p["sets"], p["index_url"], p["extra_index_urls"], p["set_indexes"], p["package_indexes"])
        try:
            os.makedirs(p["dest"], exist_ok=True)
        except OSError as exc:
            raise RuntimeError("dest %s cannot be created: %s" % (p["dest"], exc.strerror or exc))
        progress = Progress(p["progress_log"], lambda text: scrub(text, secrets))
        lock_dir = p["lock_dir"]
        if lock_dir is None and os.path.isdir(os.path.join(p["dest"], "locks")):
            lock_dir = os.path.join(p["dest"], "locks")
        changed, manifest, staged_from, moved, report = stage(
            p["dest"], p["sets"], p["installer"], p["pip"], p["python_version"], p["platforms"],
            set_python_versions=set_python, indexes=plan, progress=progress, lock_dir=lock_dir,
            resolve=p["resolve"], refresh=p["refresh"], check=p["preflight"])
    except (MirrorError, RuntimeError) as exc:
        if progress:
            progress("failed: %s" % str(exc).splitlines()[0])
            progress.close()
        module.fail_json(msg=scrub(str(exc), secrets))
    progress.close()
    module.exit_json(changed=changed, files=len(manifest["files"]), indexes=manifest.get("indexes", {}),
                     locks=dict((s, os.path.join(p["dest"], "locks", "%s.txt" % s)) for s in p["sets"]),
                     staged_from=staged_from, moved=moved, moved_lines=describe_moves(moved), preflight=report)


if __name__ == "__main__":
    main()
