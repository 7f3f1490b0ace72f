# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """O(cache_dir) and O(repos) of hf_cache_facts, hf_cache_seed and hf_bundle. The argument spec of the repos'
    suboptions is _hf_specs.REPO_ARGUMENT_SPEC; each module says itself whether O(repos) is required and what it
    does with the repos (its own C(description) of the option is kept over the one here)."""

    DOCUMENTATION = r"""
options:
  cache_dir:
    description: The hub cache (C(HF_HUB_CACHE)), given as an absolute path.
    type: path
    required: true
  repos:
    description: Hub repos, each a revision of a model or dataset.
    type: list
    elements: dict
    suboptions:
      repo_id:
        description: Hub repo id, V(name) or V(org/name).
        type: str
        required: true
      repo_type:
        description: Kind of repo.
        type: str
        choices: [model, dataset]
        default: model
      revision:
        description: Branch, tag or commit. A commit is the reproducible choice.
        type: str
        default: main
      allow_patterns:
        description: Only files matching these globs belong to the revision (what is seeded, packed, and checked
          for completeness).
        type: list
        elements: str
      refs:
        description:
          - Branches that name the revision's commit in the cache.
          - M(codex.offline_ml.hf_cache_seed) writes them, M(codex.offline_ml.hf_bundle) packs them and
            M(codex.offline_ml.hf_cache_facts) requires each to resolve offline to the same commit as
            O(repos[].revision).
        type: list
        elements: str
        default: [main]
"""
