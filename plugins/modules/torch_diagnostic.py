#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: torch_diagnostic
short_description: Tell whether the PyTorch of a Python interpreter is real, complete and usable
version_added: 0.1.0
description:
  - Runs the collection's torch diagnostic in the interpreter O(python), in a child process that is killed
    after O(timeout) seconds, and sets the fact C(torch_diagnostic).
  - The status is V(ok), V(missing) (no torch module and no torch distribution), V(stub) (C(import torch)
    works but C(from torch.utils.data import Dataset) does not, as with placeholder packages) or V(broken)
    (import fails, no compiled C(torch._C), metadata and module disagree, the tiny tensor check fails,
    the diagnostic hangs or crashes, a CUDA build where O(require_cpu_build) asks for a CPU-only one, or a
    torchvision / torchaudio that is present does not work with this torch).
  - The same check runs without Ansible as C(python -m codex_ml.utils.torch_checks).
  - Never changes anything.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.attributes.read_only
  - codex.offline_ml.attributes.facts
  - codex.offline_ml.interpreter
options:
  require_cpu_build:
    description:
      - Report V(broken) when torch is a CUDA (or ROCm) build, or when C(nvidia-*) distributions are installed.
    type: bool
    default: false
  fail_on_unhealthy:
    description:
      - Fail when the status is not V(ok), with the problems in the message. The facts are returned all the same.
    type: bool
    default: false
notes:
  - O(python) is the interpreter whose torch is checked. A path that does not exist or is not executable makes the
    module fail, whatever O(fail_on_unhealthy) says.
  - A diagnostic that runs past O(timeout) (C(import torch) included) is killed and the status is V(broken).
"""

EXAMPLES = r"""
- name: Diagnose the torch of the ML virtual environment
  codex.offline_ml.torch_diagnostic:
    python: /opt/ml/venv/bin/python
    require_cpu_build: true

- name: Show what is wrong, if anything
  ansible.builtin.debug:
    var: ansible_facts.torch_diagnostic.problems

- name: Fail the play unless torch is usable
  codex.offline_ml.torch_diagnostic:
    python: /opt/ml/venv/bin/python
    fail_on_unhealthy: true
    timeout: 60

- name: Install torch only where it is missing or a stub
  ansible.builtin.include_tasks: install_torch.yml
  when: ansible_facts.torch_diagnostic.status in ['missing', 'stub']
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    torch_diagnostic:
      description: What the diagnostic found.
      returned: always
      type: dict
      contains:
        status:
          description: V(ok), V(missing), V(stub) or V(broken).
          type: str
          returned: always
          sample: ok
        problems:
          description: Every problem found, in words. Empty if and only if the status is V(ok).
          type: list
          elements: str
          returned: always
          sample: ["torch.__version__ is 2.12.0 but the installed torch distribution is 2.13.0+cpu"]
        python:
          description: The interpreter checked, as given.
          type: str
          returned: always
          sample: /opt/ml/venv/bin/python
        python_version:
          description: Its version; V(null) if the diagnostic did not finish.
          type: str
          returned: always
          sample: 3.11.7
        version:
          description: C(torch.__version__), or V(null) if torch cannot be imported.
          type: str
          returned: always
          sample: 2.13.0+cpu
        dist_version:
          description: Version of the installed C(torch) distribution (its metadata), or V(null).
          type: str
          returned: always
          sample: 2.13.0+cpu
        location:
          description: Directory of the imported torch package, or V(null).
          type: str
          returned: always
          sample: /opt/ml/venv/lib/python3.11/site-packages/torch
        dataset_available:
          description: Whether C(from torch.utils.data import Dataset) works.
          type: bool
          returned: always
          sample: true
        compiled_core:
          description: Whether C(torch._C) is a compiled extension module.
          type: bool
          returned: always
          sample: true
        cuda_version:
          description: C(torch.version.cuda), V(null) for a CPU build or when unknown.
          type: str
          returned: always
          sample: null
        cpu_build:
          description: Whether torch is a CPU-only build without C(nvidia-*) distributions; V(null) when unknown.
          type: bool
          returned: always
          sample: true
        tensor_check:
          description: The tiny tensor operation and its outcome.
          type: dict
          returned: always
          sample: {"expression": "torch.arange(6.).reshape(2, 3) @ torch.ones(3)", "expected": [3.0, 12.0],
                   "result": [3.0, 12.0], "ok": true}
        build:
          description: A few stable build facts; each is V(null) when unknown.
          type: dict
          returned: always
          sample: {"git_version": "cf30153c4c131c8164ee7798e5022d810682e2cb", "debug": false, "mkldnn": true,
                   "openmp": true, "num_threads": 2}
        nvidia_distributions:
          description: Installed distributions whose name starts with C(nvidia-).
          type: list
          elements: str
          returned: always
          sample: []
        companions:
          description:
            - torchvision / torchaudio found in the interpreter (an absent one is not listed and not a problem), each
              with C(version), C(dist_version), C(location), C(requires_torch) (its Requires-Dist specifier),
              C(torch_requirement_ok), C(check), C(check_ok), C(missing_libraries), C(status) (V(ok), V(broken), or
              V(unchecked) when torch itself is unusable) and C(problems) (also listed in the top-level C(problems)).
          type: dict
          returned: always
          sample: {"torchvision": {"version": null, "dist_version": "0.28.0", "status": "broken", "check_ok": false,
                   "missing_libraries": ["libc10_cuda.so"], "requires_torch": "==2.13.0", "torch_requirement_ok": true}}
        elapsed_s:
          description: Seconds the diagnostic took, interpreter start included. The only field that changes between runs.
          type: float
          returned: always
          sample: 3.1
        schema:
          description: Version of the layout of these facts.
          type: int
          returned: always
          sample: 1
"""

import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils._child import (
    InterpreterError,
    interpreter_spec,
    module_source,
    require_timeout,
    run_function,
)
from ansible_collections.codex.offline_ml.plugins.module_utils._torch_checks import (
    STATUS_OK,
    diagnose,
    failure_facts,
    last_step,
    timeout_problem,
)


def run_diagnostic(python, require_cpu_build=False, timeout=120):
    """The facts for interpreter ``python``. Raises InterpreterError if it cannot be run at all."""
    source = module_source(sys.modules[diagnose.__module__])
    result = run_function(python, source, diagnose.__name__, {'require_cpu_build': require_cpu_build},
                          timeout=timeout)
    elapsed = round(result.elapsed_s, 3)
    if result.ok and isinstance(result.value, dict) and 'status' in result.value:
        facts = result.value
        facts['python'] = python
        facts['elapsed_s'] = elapsed
        return facts
    if result.ok:
        problem = 'the torch diagnostic returned an unexpected result: %r' % (result.value,)
    elif result.timed_out and last_step(result.stderr):
        problem = 'the torch diagnostic %s: %s' % (result.error, timeout_problem(timeout, last_step(result.stderr)))
    else:
        problem = 'the torch diagnostic %s' % result.error
    return failure_facts(python, problem, elapsed)


def main():
    module = AnsibleModule(
        argument_spec=interpreter_spec(
            require_cpu_build=dict(type='bool', default=False),
            fail_on_unhealthy=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    python = module.params['python'] or sys.executable
    require_timeout(module)
    try:
        facts = run_diagnostic(python, module.params['require_cpu_build'], module.params['timeout'])
    except InterpreterError as exc:
        module.fail_json(msg='Cannot run the torch diagnostic: %s (option python)' % exc)

    result = dict(changed=False, ansible_facts=dict(torch_diagnostic=facts))
    if module.params['fail_on_unhealthy'] and facts['status'] != STATUS_OK:
        module.fail_json(msg='torch in %s is %s: %s' % (python, facts['status'], '; '.join(facts['problems'])),
                         **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
