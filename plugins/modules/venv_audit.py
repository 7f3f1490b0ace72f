#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: venv_audit
short_description: List what virtual environments hold and what their release markers say, for an audit
version_added: 0.1.0
description:
  - For every path in O(venvs), reports whether the venv exists, the release directory it points at, its Python
    version, its installed distributions (listed by the venv's own interpreter with C(importlib.metadata), in
    isolated mode) and the release marker C(.codex-release.json) that M(codex.offline_ml.offline_venv) writes
    (wanted versions, the lock's sha256 per distribution, installer, mirror).
  - Comparing that with the staging manifest is done on the controller by M(codex.offline_ml.fleet_report).
  - Never changes anything. A venv that does not exist or whose interpreter does not run is reported, not an error.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.attributes.read_only
options:
  venvs:
    description: Paths of the virtual environments to describe (for example the C(torch_cpu) venv).
    type: list
    elements: path
    required: true
  timeout:
    description: Seconds each venv's interpreter may take to list its distributions.
    type: int
    default: 60
seealso:
  - module: codex.offline_ml.offline_venv
  - module: codex.offline_ml.fleet_report
"""

EXAMPLES = r"""
- name: Describe the torch venv and the gate venv
  codex.offline_ml.venv_audit:
    venvs:
      - /opt/codex/venv
      - /opt/codex/gates-venv
  register: venvs

- name: Show the torch version installed in the first one
  ansible.builtin.debug:
    msg: "{{ venvs.venvs[0].dists.torch | default('not installed') }}"
"""

RETURN = r"""
venvs:
  description: One entry per O(venvs) item, in the same order.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The venv path, as given (without a trailing slash).
      type: str
      returned: always
      sample: /opt/codex/venv
    exists:
      description: Whether the path exists (a dangling symlink does not).
      type: bool
      returned: always
      sample: true
    is_symlink:
      description: Whether the path is a symlink (a venv managed as releases).
      type: bool
      returned: always
      sample: true
    target:
      description: The directory the path resolves to; V(null) when it does not exist.
      type: str
      returned: always
      sample: /opt/codex/.venv.releases/20261128T114007-92c51afd23-15a4
    python_version:
      description: Version of the venv's interpreter; V(null) when it does not run.
      type: str
      returned: always
      sample: 3.11.2
    dists:
      description: Installed distributions, normalised name to version.
      type: dict
      returned: always
      sample: {"torch": "2.13.0+cpu", "sympy": "1.14.0"}
    marker:
      description: The release marker's content, or V(null) when the release has none.
      type: dict
      returned: always
      sample: {"schema": 1, "installer": "uv", "wanted": {"torch": "2.13.0+cpu"},
               "hashes": {"torch": ["6746dbcbeb526eb61330b76b41ff1b4eb848951103a892eeb080dfa2b264667b"]},
               "mirror": "http://127.0.0.1:18141/simple/", "built": 1795866031}
    marker_path:
      description: Where the marker was read; V(null) without one.
      type: str
      returned: always
      sample: /opt/codex/.venv.releases/20261128T114007-92c51afd23-15a4/.codex-release.json
    error:
      description: Why the interpreter or the marker could not be read; V(null) when both were.
      type: str
      returned: always
      sample: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._child import require_timeout
from ansible_collections.codex.offline_ml.plugins.module_utils._venv_audit import audit_venv


def main():
    module = AnsibleModule(
        argument_spec=dict(
            venvs=dict(type="list", elements="path", required=True),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    require_timeout(module)
    relative = [p for p in module.params["venvs"] if not p.startswith("/")]
    if relative:
        module.fail_json(msg="venvs must be absolute paths; not absolute: %s" % ", ".join(relative))
    module.exit_json(changed=False, venvs=[audit_venv(p, module.params["timeout"]) for p in module.params["venvs"]])


if __name__ == "__main__":
    main()
