#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hf_cache_seed
short_description: Seed a shared Hugging Face hub cache from a Hub mirror or from a verified bundle
version_added: 0.1.0
description:
  - O(method=mirror) lists, in the interpreter O(python) and against the Hub-compatible mirror O(endpoint), each
    requested revision that the cache does not hold complete (C(repo_info), then a HEAD per file its
    C(allow_patterns) select) and downloads with C(huggingface_hub.hf_hub_download) only the files whose blob is
    not in the cache; the mirror is asked first (plain HTTP, before anything is written) whether each repo and
    revision is there, so a typo fails with a clear message. Revisions complete per their record cause no request
    at all.
  - huggingface_hub never writes the shared cache (its members could redirect its writes); it downloads into a
    root-only private cache under C(TMPDIR), from which the blobs and snapshot links are installed into
    O(cache_dir) without following any link (see docs/security.md).
  - O(method=bundle) checks every member of the tar O(bundle) against its per-file sha256 manifest before
    anything reaches the cache, and the free space against the manifest's sizes, then installs only what differs
    (blobs, then snapshot links, then refs), through a root-only staging directory inside the cache. A tampered,
    truncated or oversized bundle fails naming the file; the cache is left as it was.
  - Inside O(cache_dir), which members of O(group) can write, every read, write, rename, chmod and chown goes
    through directory descriptors opened without following links; a symlink where a directory is expected fails
    the module naming it, and symlinks, FIFOs and hard links under C(refs/) of the seeded repos are removed (see
    RV(unsafe_removed)).
  - "Completeness is the revision's files: each seeded revision gets a record,
    C(<repo folder>/.codex/<commit>.json), of every file the mirror lists for it (O(method=mirror): the names from
    C(repo_info), the size and ETag from the HEAD answer of each file selected by C(allow_patterns)) or that the
    bundle manifest holds (O(method=bundle), with sha256). A revision is complete when every file its
    C(allow_patterns) select is in C(snapshots/<commit>/) and links to a regular blob of the recorded size. An
    incomplete revision (a deleted blob, a dangling link, a half-downloaded snapshot, a widened C(allow_patterns),
    no record yet) is completed from the mirror, downloading only the files whose blob is not there; when the
    mirror cannot be reached the module fails naming the mirror and the files. When every requested revision is
    complete and its refs resolve, the mirror is not asked anything."
  - Both methods then make every ref in O(repos[].refs) (default V(main)) name the seeded commit, so a program
    asking for C(main) resolves offline a revision that was seeded by commit, and give the cache's entries the
    group O(group), group read/write, setgid directories, and no write bit for others.
  - O(validate_only) probes the mirror (or verifies the bundle) and changes nothing; it needs no C(python).
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.hf_cache
  - codex.offline_ml.interpreter
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The repos seeded or repaired (V(would_download) in check mode), the unsafe refs removed and the number
      of entries whose group or mode was corrected, one line each.
options:
  method:
    description: Where the cache content comes from.
    type: str
    choices: [mirror, bundle]
    required: true
  cache_dir:
    description: The hub cache (C(HF_HUB_CACHE)), an existing directory given as an absolute path.
  repos:
    description:
      - Repos to seed (O(method=mirror)) or that the bundle must hold (O(method=bundle)).
    default: []
  variable_prefix:
    description:
      - The role whose variables messages name instead of the option names (V(hf_offline_cache) names
        V(hf_offline_cache_endpoint)).
      - A trailing V(_) is optional (V(hf_offline_cache_) is the same).
    type: str
    default: ''
  python:
    description:
      - Interpreter that has C(huggingface_hub), in which C(snapshot_download) runs; required for O(method=mirror)
        unless O(validate_only).
      - A path that does not exist or is not executable makes the module fail.
  endpoint:
    description: URL of the Hub-compatible mirror (C(HF_ENDPOINT)), without credentials.
    type: str
  token:
    description:
      - Token for a private mirror, sent as a bearer token by the probe and by C(snapshot_download). It reaches the
        child interpreter as C(HF_TOKEN) in its environment only (readable by root alone), never in its argv or
        its script; masked in the module's output, never logged, never written anywhere.
    type: str
  ca_bundle:
    description:
      - CA bundle (PEM) on the host for an HTTPS mirror whose certificate a private CA signed. The probe and
        C(snapshot_download) (through C(huggingface_hub)'s C(set_client_factory)) both verify the mirror against
        it. A certificate that does not verify fails naming the option (the role's
        C(hf_offline_cache_endpoint_ca_bundle)).
    type: path
  bundle:
    description: Path of the bundle tar on the host running the module, for O(method=bundle).
    type: path
  manifest:
    description: Its manifest; defaults to O(bundle) with C(.manifest.json) appended.
    type: path
  group:
    description:
      - Group (name or id) the cache entries are given, with group read/write, setgid directories and no write bit
        for others. Permissions are left alone when omitted.
    type: str
  owner:
    description:
      - A per-user cache (the role's O(cache_dir) under a user's home, hf_offline_cache_layout=per_user) - the user
        whose cache O(cache_dir) is. It must lie inside that user's home directory, which root then trusts but not
        what is below it - every path is walked down from the home without following links (the user can redirect
        any path there), missing directories are created, and everything in the cache is given to the user and the
        user's primary group (O(group) is ignored; modes are left alone).
    type: str
  validate_only:
    description: Only probe the mirror or verify the bundle; change nothing.
    type: bool
    default: false
  timeout:
    description: Seconds the downloads of one run may take before the child process group is killed.
    default: 3600
  probe_timeout:
    description: Seconds each mirror probe request may take.
    type: int
    default: 10
  verify:
    description:
      - Also hash every blob of the requested revisions against its record (sha256 for LFS files and bundles, the
        git blob sha1 otherwise, as C(hf cache verify) does); a blob whose content differs is downloaded again.
      - Without it a blob counts as present when it is a regular file of the recorded size.
    type: bool
    default: false
  progress_log:
    description:
      - File (outside the cache, on the host) truncated at the start of a download and given one line per file as
        it completes, so a person can C(tail -f) a long snapshot download while the task runs.
    type: path
seealso:
  - module: codex.offline_ml.hf_cache_facts
  - module: codex.offline_ml.hf_bundle
"""

EXAMPLES = r"""
- name: Seed the tiny model by commit from the Hub mirror, and make main point at it
  codex.offline_ml.hf_cache_seed:
    method: mirror
    python: /opt/codex/venv/bin/python
    cache_dir: /srv/huggingface/hub
    endpoint: http://hub-mirror.lab:8090
    group: hf-cache
    repos:
      - repo_id: codex-test/tiny-bert
        revision: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b

- name: Unpack a bundle written by playbooks/stage_hf.yml
  codex.offline_ml.hf_cache_seed:
    method: bundle
    bundle: /var/cache/codex/hf-bundles/hf-bundle.tar
    cache_dir: /srv/huggingface/hub
    group: hf-cache
"""

RETURN = r"""
repos:
  description: One entry per repo seeded or found in the bundle.
  returned: always
  type: list
  elements: dict
  sample:
    - repo_id: codex-test/tiny-bert
      repo_type: model
      revision: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
      commit: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
      action: downloaded
      refs_written: [main]
  contains:
    action:
      description:
        - V(present) (complete per its record, nothing asked of the mirror), V(downloaded) (files were fetched),
          V(repaired) (only links and the record were rewritten), V(would_download) (check mode), V(unpacked) or
          V(present) for bundles.
      type: str
would_seed:
  description: C(repo_type repo_id@revision) of the repos the cache lacks (what a real run downloads or unpacks).
  returned: always
  type: list
  elements: str
  sample: ["model codex-test/tiny-bert@main"]
installed:
  description: Cache paths installed from the bundle (O(method=bundle)).
  returned: always
  type: list
  elements: str
  sample: ["models--codex-test--tiny-bert/refs/main"]
permissions_fixed:
  description: Number of cache entries whose group or mode was corrected.
  returned: always
  type: int
  sample: 0
unsafe_removed:
  description:
    - Entries under C(refs/) of the seeded repos that cannot be refs (symlinks, FIFOs, hard links, which a
      cache member planted), removed without following them (would be removed, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["models--codex-test--tiny-bert/refs/main.codex-tmp"]
downloaded_files:
  description: Each file downloaded from the mirror, as C(repo_type repo_id@revision commit) then its name.
  returned: always
  type: list
  elements: str
  sample: ["model codex-test/tiny-bert@main 98e98c5452e67e2486bba8b369e5a810876abdeb: model.safetensors"]
bundle_files:
  description: Number of bundle members verified against the manifest (O(method=bundle)).
  returned: always
  type: int
  sample: 11
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_layout, _hf_specs
from ansible_collections.codex.offline_ml.plugins.module_utils._child import InterpreterError
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import variable_prefix
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_seed import seed
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            method=dict(type='str', choices=['mirror', 'bundle'], required=True),
            cache_dir=dict(type='path', required=True),
            repos=dict(type='list', elements='dict', default=[], options=_hf_specs.REPO_ARGUMENT_SPEC),
            variable_prefix=dict(type='str', default=''),
            python=dict(type='path'),
            endpoint=dict(type='str'),
            token=dict(type='str', no_log=True),
            ca_bundle=dict(type='path'),
            bundle=dict(type='path'),
            manifest=dict(type='path'),
            group=dict(type='str'),
            owner=dict(type='str'),
            validate_only=dict(type='bool', default=False),
            timeout=dict(type='int', default=3600),
            probe_timeout=dict(type='int', default=10),
            verify=dict(type='bool', default=False),
            progress_log=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params, variable_prefix=variable_prefix(module.params['variable_prefix']))
    cache_dir = params['cache_dir']
    if not os.path.isabs(cache_dir):
        module.fail_json(msg='cache_dir must be an absolute path, got %r' % cache_dir)
    try:
        result = seed(params, cache_dir, module.check_mode)
    except HfCacheError as exc:
        module.fail_json(msg=exc.msg, kind=exc.kind)
    except InterpreterError as exc:
        module.fail_json(msg='Cannot seed the hub cache: %s (option python)' % exc, kind='invalid')
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot seed the hub cache %s: %s%s' % (
            cache_dir, exc.strerror or exc, ' (%s)' % exc.filename if getattr(exc, 'filename', None) else ''),
            kind='os_error')
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='Cannot seed the hub cache %s: unexpected %s: %s' % (cache_dir, type(exc).__name__, exc),
                         kind='unexpected')
    if module._diff and result['changed']:
        result['diff'] = {'prepared': _hf_layout.describe_seed(cache_dir, result)}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
