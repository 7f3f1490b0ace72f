# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hugging Face repo specs shared by hf_cache_facts, hf_cache_seed and hf_bundle: the ``repos`` argument spec,
its validation, cache folder names, the error every hf helper raises, and the environment of a child interpreter
that runs huggingface_hub.

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import re

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError

REPO_TYPES = ('model', 'dataset')
REPO_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$')
REVISION_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._/-]*$')
COMMIT_RE = re.compile(r'^[0-9a-f]{40}$')
REF_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')


# The suboptions of a module's ``repos`` option (hf_cache_facts, hf_cache_seed, hf_bundle).
REPO_ARGUMENT_SPEC = dict(
    repo_id=dict(type='str', required=True),
    repo_type=dict(type='str', choices=list(REPO_TYPES), default='model'),
    revision=dict(type='str', default='main'),
    allow_patterns=dict(type='list', elements='str'),
    refs=dict(type='list', elements='str', default=['main']),
)


def child_env(cache_dir, **settings):
    """The environment of a child interpreter that runs huggingface_hub on CACHE_DIR: the caller's without any
    HF_*/HUGGINGFACE_*/TRANSFORMERS_* setting of its own, telemetry and progress bars off, plus SETTINGS."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('HF_', 'HUGGINGFACE_', 'TRANSFORMERS_')))
    env.update({'HF_HUB_CACHE': cache_dir, 'HF_HUB_DISABLE_TELEMETRY': '1', 'HF_HUB_DISABLE_PROGRESS_BARS': '1'})
    env.update(settings)
    return env


def lacks_hub(error):
    """Whether a child's error says its interpreter has no huggingface_hub."""
    error = error or ''
    return 'huggingface_hub' in error and ('ModuleNotFoundError' in error or 'ImportError' in error)


class HfCacheError(OperatorError):
    """A problem with the inputs, the mirror, the bundle or the cache, with a message for the operator."""


# --------------------------------------------------------------------------- repo specs
def is_commit(revision):
    return bool(COMMIT_RE.match(revision or ''))


def normalize_repos(repos, variable='repos'):
    """Validate and fill in repo specs; raise HfCacheError naming the bad entry and the fix.

    Each spec: repo_id (required), repo_type (model|dataset, default model), revision (default main),
    allow_patterns (list or None), refs (list of branch names written to point at the seeded commit,
    default [main]).
    """
    out = []
    seen_refs = {}
    for index, spec in enumerate(repos or []):
        where = '%s[%d]' % (variable, index)
        if not isinstance(spec, dict):
            raise HfCacheError('%s must be a dict with at least repo_id, got %r' % (where, spec), kind='invalid')
        unknown = sorted(set(spec) - set(['repo_id', 'repo_type', 'revision', 'allow_patterns', 'refs']))
        if unknown:
            raise HfCacheError('%s has unknown keys %s: use repo_id, repo_type, revision, allow_patterns, refs'
                               % (where, ', '.join(unknown)), kind='invalid')
        repo_id = spec.get('repo_id') or ''
        if not REPO_ID_RE.match(repo_id):
            raise HfCacheError('%s.repo_id %r is not a Hub repo id: write it as name or org/name (for example '
                               'google-bert/bert-base-uncased)' % (where, repo_id), kind='invalid')
        repo_type = spec.get('repo_type') or 'model'
        if repo_type not in REPO_TYPES:
            raise HfCacheError('%s.repo_type is %r: it must be one of %s' % (where, repo_type, ', '.join(REPO_TYPES)),
                               kind='invalid')
        revision = spec.get('revision') or 'main'
        if not REVISION_RE.match(revision) or '..' in revision:
            raise HfCacheError('%s.revision %r is not a branch, tag or commit name' % (where, revision),
                               kind='invalid')
        patterns = spec.get('allow_patterns')
        if patterns is not None:
            if isinstance(patterns, str):
                patterns = [patterns]
            if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
                raise HfCacheError('%s.allow_patterns must be a list of glob patterns (for example ["*.json", '
                                   '"*.safetensors"])' % where, kind='invalid')
            patterns = list(patterns) or None
        refs = spec.get('refs')
        if refs is None:
            refs = ['main']
        if isinstance(refs, str):
            refs = [refs]
        for ref in refs:
            if not isinstance(ref, str) or not REF_RE.match(ref):
                raise HfCacheError('%s.refs holds %r: refs are branch names such as main' % (where, ref),
                                   kind='invalid')
            key = (repo_type, repo_id, ref)
            if key in seen_refs:
                raise HfCacheError('%s and %s both want ref %r of %s %s: give refs: [] to one of them'
                                   % (seen_refs[key], where, ref, repo_type, repo_id), kind='invalid')
            seen_refs[key] = where
        out.append({'repo_id': repo_id, 'repo_type': repo_type, 'revision': revision,
                    'allow_patterns': patterns, 'refs': sorted(set(refs))})
    return out


def repo_folder(repo_type, repo_id):
    """Cache folder name, as huggingface_hub names it: models--org--name."""
    return '%ss--%s' % (repo_type, repo_id.replace('/', '--'))


def label(spec):
    return '%s %s' % (spec['repo_type'], spec['repo_id'])


def resolve_gid(group, check_mode=False):
    """The gid of GROUP; None when no group is given, or in check mode for a group not created yet."""
    if group is None or group == '':
        return None
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        if check_mode:
            return None
        raise HfCacheError('group %r does not exist on this host' % group, kind='invalid')
