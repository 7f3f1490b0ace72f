#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hf_cache_facts
short_description: Describe a Hugging Face hub cache and tell whether requested repos resolve offline
version_added: 0.1.0
description:
  - Runs C(huggingface_hub.scan_cache_dir) on O(cache_dir) in the interpreter O(python) (one that has
    C(huggingface_hub), for example the C(bin/python) of a virtual environment), in a child process killed
    after O(timeout) seconds, and sets the fact C(hf_cache).
  - For every repo in O(repos) it also calls C(snapshot_download(local_files_only=True)) with
    C(HF_HUB_OFFLINE=1), so C(resolves_offline) in RV(ansible_facts.hf_cache.requested) says whether a program on
    this host would find that revision (and each of its refs) without any network.
  - That call does not look at the files, so the revision is also checked against its record
    (C(<repo folder>/.codex/<commit>.json), written by M(codex.offline_ml.hf_cache_seed)) - every file the
    revision's C(allow_patterns) select must be in C(snapshots/<commit>/) and link to a regular blob of the recorded
    size - and against huggingface_hub's own reading of the refs (no strip). C(resolves_offline) is true only when
    both agree; the files that are missing, of the wrong size or corrupt are named in C(problems).
  - A revision without a record (seeded before records existed) is judged by its links only and reported with
    C(complete=null), unverified. Converging hf_cache_seed once with the mirror reachable writes the record.
  - Never changes anything.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.attributes.read_only
  - codex.offline_ml.attributes.facts
  - codex.offline_ml.hf_cache
  - codex.offline_ml.interpreter
options:
  cache_dir:
    description:
      - The hub cache (C(HF_HUB_CACHE)), an absolute path. A directory that does not exist is reported with
        RV(ansible_facts.hf_cache.exists=false) and no repos.
  repos:
    description:
      - Repos whose revision must resolve offline (the completeness check honours their C(allow_patterns)).
    default: []
  fail_on_unresolved:
    description: Fail, naming them, when some of O(repos) do not resolve offline. The facts are returned all the same.
    type: bool
    default: false
  verify:
    description:
      - Also hash the blobs of the requested revisions against their record (sha256 for LFS files and bundles, the
        git blob sha1 otherwise), as C(hf cache verify) does; a blob whose content differs makes its revision
        unresolved, naming the file.
    type: bool
    default: false
notes:
  - O(python) must have C(huggingface_hub); an interpreter without it makes the module fail.
  - The child runs with C(HF_HUB_OFFLINE=1), so nothing is fetched from anywhere.
seealso:
  - module: codex.offline_ml.hf_cache_seed
"""

EXAMPLES = r"""
- name: Describe the shared cache with the venv's huggingface_hub
  codex.offline_ml.hf_cache_facts:
    python: /opt/codex/venv/bin/python
    cache_dir: /srv/huggingface/hub

- name: Fail unless the tiny model resolves offline, also as main
  codex.offline_ml.hf_cache_facts:
    python: /opt/codex/venv/bin/python
    cache_dir: /srv/huggingface/hub
    repos:
      - repo_id: codex-test/tiny-bert
        revision: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
        refs: [main]
    fail_on_unresolved: true

- name: Show the revisions of every cached repo
  ansible.builtin.debug:
    msg: "{{ ansible_facts.hf_cache.repos | map(attribute='refs') | list }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    hf_cache:
      description: What the cache holds.
      returned: always
      type: dict
      contains:
        cache_dir:
          description: The cache scanned.
          type: str
          returned: always
          sample: /srv/huggingface/hub
        exists:
          description: Whether O(cache_dir) is a directory.
          type: bool
          returned: always
          sample: true
        size_on_disk:
          description: Bytes used by the cached repos.
          type: int
          returned: always
          sample: 40213
        repos:
          description: Every cached repo, with its revisions and refs (from C(scan_cache_dir)).
          type: list
          elements: dict
          returned: always
          sample:
            - repo_id: codex-test/tiny-bert
              repo_type: model
              repo_path: /srv/huggingface/hub/models--codex-test--tiny-bert
              size_on_disk: 40213
              nb_files: 7
              refs: {"main": "5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b"}
              last_modified: "2026-11-28T12:00:00Z"
              revisions:
                - commit: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
                  refs: [main]
                  size_on_disk: 40213
                  nb_files: 7
                  files: [README.md, config.json, model.safetensors]
                  snapshot_path: /srv/huggingface/hub/models--codex-test--tiny-bert/snapshots/5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
        warnings:
          description: Corrupt entries C(scan_cache_dir) reported, in words.
          type: list
          elements: str
          returned: always
          sample: ["Snapshots dir doesn't exist in cached repo: /srv/huggingface/hub/models--x--y/snapshots"]
        incomplete_files:
          description: Unfinished downloads (C(*.incomplete) blobs).
          type: list
          elements: str
          returned: always
          sample: []
        requested:
          description: One entry per O(repos) item.
          type: list
          elements: dict
          returned: always
          sample:
            - repo_id: codex-test/tiny-bert
              repo_type: model
              revision: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
              resolves_offline: true
              commit: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
              snapshot_path: /srv/huggingface/hub/models--codex-test--tiny-bert/snapshots/5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
              refs: {"main": "5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b"}
              error: null
              complete: true
              record: true
              files: 7
              problems: []
        unresolved:
          description: C(repo_type repo_id@revision) of every requested repo that does not resolve offline.
          type: list
          elements: str
          returned: always
          sample: []
        huggingface_hub_version:
          description: Version of C(huggingface_hub) in O(python).
          type: str
          returned: always
          sample: 2.4.0
        python:
          description: The interpreter used.
          type: str
          returned: always
          sample: /opt/codex/venv/bin/python
        elapsed_s:
          description: Seconds the scan took, interpreter start included.
          type: float
          returned: always
          sample: 0.8
"""

import os
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_child, _hf_layout, _hf_record, _hf_specs
from ansible_collections.codex.offline_ml.plugins.module_utils._child import (
    InterpreterError,
    interpreter_spec,
    module_source,
    require_timeout,
    run_function,
)


def interpreter_problem(python, error):
    if _hf_specs.lacks_hub(error):
        return ('the interpreter %s has no huggingface_hub: give the python of a venv that has it (the '
                'codex.offline_ml.hf_offline_cache role installs it from the wheel mirror)' % python)
    return 'the cache scan in %s %s' % (python, error)


def scan(python, cache_dir, specs, timeout, verify=False):
    """The hf_cache facts; raises InterpreterError or RuntimeError (with a message for the operator)."""
    unsafe = _hf_layout.unsafe_entries(cache_dir)
    if unsafe:
        raise _hf_specs.HfCacheError(
            'the cache %s holds entries that are symlinks, FIFOs or hard links where huggingface_hub expects plain '
            'files or directories (a cache member may have planted them): %s; remove them (hf_cache_seed removes '
            'those under refs/ of the repos it seeds) and run again' % (cache_dir, ', '.join(unsafe[:10])),
            kind='unsafe_path')
    source = module_source(_hf_child)
    result = run_function(python, source, 'child_scan', {'cache_dir': cache_dir, 'requested': specs},
                          timeout=timeout, env=_hf_specs.child_env(cache_dir, HF_HUB_OFFLINE='1'))
    if not result.ok:
        raise RuntimeError(interpreter_problem(python, result.error))
    facts = result.value
    if not isinstance(facts, dict) or not isinstance(facts.get('requested'), list):
        raise RuntimeError('the cache scan in %s returned no facts (%r)' % (python, facts))
    for spec, entry in zip(specs, facts['requested']):
        state = _hf_record.check(cache_dir, spec, verify=verify)
        entry.update(complete=state['complete'], record=state['record'], files=len(state['files']),
                     problems=['%s: %s' % kv for kv in sorted(state['problems'].items())]
                     + ['refs/%s %s' % kv for kv in sorted(state['ref_problems'].items())])
        if state['complete'] is False or state['ref_problems']:
            hub_said = entry['error']
            entry['resolves_offline'] = False
            entry['error'] = 'incomplete: %s%s' % (_hf_record.describe(state),
                                                   ' (huggingface_hub: %s)' % hub_said if hub_said else '')
        elif entry['resolves_offline'] and state['complete'] is None:
            entry['error'] = _hf_record.describe(state)
    facts['python'] = python
    facts['elapsed_s'] = round(result.elapsed_s, 3)
    facts['unresolved'] = ['%s %s@%s' % (r['repo_type'], r['repo_id'], r['revision'])
                           for r in facts['requested'] if not r['resolves_offline']]
    return facts


def main():
    module = AnsibleModule(
        argument_spec=interpreter_spec(
            cache_dir=dict(type='path', required=True),
            repos=dict(type='list', elements='dict', default=[], options=_hf_specs.REPO_ARGUMENT_SPEC),
            fail_on_unresolved=dict(type='bool', default=False),
            verify=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    python = params['python'] or sys.executable
    if not os.path.isabs(params['cache_dir']):
        module.fail_json(msg='cache_dir must be an absolute path, got %r' % params['cache_dir'])
    require_timeout(module)
    try:
        specs = _hf_specs.normalize_repos(params['repos'])
        facts = scan(python, params['cache_dir'], specs, params['timeout'], params['verify'])
    except _hf_specs.HfCacheError as exc:
        module.fail_json(msg=exc.msg, kind=exc.kind)
    except InterpreterError as exc:
        module.fail_json(msg='Cannot scan the hub cache: %s (option python)' % exc)
    except RuntimeError as exc:
        module.fail_json(msg='Cannot scan the hub cache: %s' % exc)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot scan the hub cache %s: %s' % (params['cache_dir'], exc.strerror or exc))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='Cannot scan the hub cache %s: unexpected %s: %s'
                         % (params['cache_dir'], type(exc).__name__, exc))

    result = dict(changed=False, ansible_facts=dict(hf_cache=facts))
    if params['fail_on_unresolved'] and facts['unresolved']:
        details = '; '.join('%s %s@%s: %s' % (r['repo_type'], r['repo_id'], r['revision'], r['error'])
                            for r in facts['requested'] if not r['resolves_offline'])
        module.fail_json(msg='not resolvable offline from %s: %s' % (params['cache_dir'], details), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
