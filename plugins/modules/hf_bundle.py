#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hf_bundle
short_description: Pack seeded revisions of a Hugging Face hub cache into a bundle with a per-file sha256 manifest
version_added: 0.1.0
description:
  - Writes O(dest), a tar of the hub-cache entries of every repo of O(repos) (the blobs, the snapshot links, the
    tree listing and the refs of the seeded revision), and O(dest)C(.manifest.json), listing each member with its
    size and sha256 (symlinks with their target) and the sha256 of the whole tar.
  - The tar is deterministic (sorted members, fixed owner and times), so the same cache content gives the same
    bytes and a second run reports no change.
  - Used by C(playbooks/stage_hf.yml) on the connected side; C(codex.offline_ml.hf_cache_seed) with
    C(method=bundle) verifies and unpacks the result on the air-gapped host.
author:
  - codex.offline_ml maintainers (@codex)
extends_documentation_fragment:
  - codex.offline_ml.attributes
  - codex.offline_ml.hf_cache
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  cache_dir:
    description: The hub cache the repos were seeded into (absolute path).
  dest:
    description: Path of the tar to write; the manifest is written beside it.
    type: path
    required: true
  repos:
    description: Repos to pack; each must resolve in O(cache_dir) (seed them first). Their refs are packed as refs files.
    required: true
seealso:
  - module: codex.offline_ml.hf_cache_seed
"""

EXAMPLES = r"""
- name: Pack the staged tiny model
  codex.offline_ml.hf_bundle:
    cache_dir: /srv/stage/hf/cache
    dest: /srv/stage/hf/hf-bundle.tar
    repos:
      - repo_id: codex-test/tiny-bert
        revision: 5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b
"""

RETURN = r"""
bundle:
  description: Path of the tar.
  returned: always
  type: str
  sample: /srv/stage/hf/hf-bundle.tar
manifest:
  description: Path of the manifest.
  returned: always
  type: str
  sample: /srv/stage/hf/hf-bundle.tar.manifest.json
bundle_sha256:
  description: sha256 of the tar.
  returned: always
  type: str
  sample: 0f343b0931126a20f133d67c2b018a3b1c6ac5d1c0a1b2ed1b9f4cb1ef7a27f1
repos:
  description: The repos packed, with the commit of each.
  returned: always
  type: list
  elements: dict
  sample: [{"repo_id": "codex-test/tiny-bert", "repo_type": "model", "revision": "main",
            "commit": "5f7d8ce8444b1962a94acfe425ba7a2f3d18a20b", "refs": ["main"],
            "folder": "models--codex-test--tiny-bert"}]
files:
  description: Number of members.
  returned: always
  type: int
  sample: 15
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_bundle, _hf_layout, _hf_specs
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError


def pack(params, check_mode):
    """(changed, manifest); raises HfCacheError or OSError."""
    specs = _hf_specs.normalize_repos(params['repos'])
    if not specs:
        raise HfCacheError('repos is empty: name at least one repo to pack', kind='invalid')
    resolved = []
    for spec in specs:
        commit = _hf_layout.local_commit(params['cache_dir'], spec)
        if commit is None:
            raise HfCacheError('%s %s@%s is not in the cache %s: seed it first (hf_cache_seed)' % (
                spec['repo_type'], spec['repo_id'], spec['revision'], params['cache_dir']), kind='not_cached')
        resolved.append((spec, commit))
    return _hf_bundle.build_bundle(params['cache_dir'], resolved, params['dest'], check_mode=check_mode)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cache_dir=dict(type='path', required=True),
            dest=dict(type='path', required=True),
            repos=dict(type='list', elements='dict', required=True, options=_hf_specs.REPO_ARGUMENT_SPEC),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        changed, manifest = pack(params, module.check_mode)
    except HfCacheError as exc:
        module.fail_json(msg=exc.msg, kind=exc.kind)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot write the bundle %s: %s%s' % (
            params['dest'], exc.strerror or exc, ' (%s)' % exc.filename if getattr(exc, 'filename', None) else ''),
            kind='os_error')
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='cannot write the bundle %s: unexpected %s: %s' % (params['dest'], type(exc).__name__, exc),
                         kind='unexpected')
    module.exit_json(changed=changed, bundle=params['dest'], manifest=_hf_bundle.manifest_path_for(params['dest']),
                     bundle_sha256=manifest['bundle_sha256'], repos=manifest['repos'],
                     files=len(manifest['files']))


if __name__ == '__main__':
    main()
