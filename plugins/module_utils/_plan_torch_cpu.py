# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The torch_cpu role's plan: the checks of its pins and settings that need no host, and what its tasks use (the
settings of its venv, the diagnostic's files, the facts' fixed parts), derived once.

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import posixpath

from ansible_collections.codex.offline_ml.plugins.module_utils import _plan_common as common
from ansible_collections.codex.offline_ml.plugins.module_utils._plan_common import require
from ansible_collections.codex.offline_ml.plugins.module_utils._torch_checks import COMPANIONS

P = 'torch_cpu_'
VARIABLES = tuple(P + name for name in (
    'packages', 'companions', 'extra_packages', 'venv', 'python', 'installer', 'uv_version', 'lock_file',
    'mirror_mode', 'mirror_url', 'mirror_wheelhouse', 'mirror_trusted_host', 'mirror_ca_bundle', 'mirror_host', 'pip_conf',
    'keep_releases', 'rollback', 'require_cpu_build', 'diagnostic_timeout', 'progress_poll', 'command',
    'python_command'))

# Where the diagnostic lives on the host (python -m codex_ml.utils.torch_checks).
LIB_DIR = '/opt/codex/lib'
FACTS_FILE = '/etc/ansible/facts.d/torch_cpu.fact'


def root_reason(v):
    return common.root_reason(v[P + 'venv'], v[P + 'command'])


def _check(v):
    pins = v[P + 'packages'] + v[P + 'companions'] + v[P + 'extra_packages']
    bad = common.not_pins(pins)
    require(not bad, 'torch_cpu_packages / torch_cpu_extra_packages must hold exact pins written name==version (for '
            'example torch==2.13.0+cpu), and so must torch_cpu_companions; not pins: %s' % ', '.join(map(str, bad)))
    require(common.pin_names(v[P + 'packages']).count('torch') == 1,
            'torch_cpu_packages must pin torch exactly once (for example torch==2.13.0+cpu)%s.' % (
                (': the companions %s are built against one torch and need its pin' % ', '.join(v[P + 'companions']))
                if v[P + 'companions'] else ''))
    companions = common.pin_names(v[P + 'companions'])
    others = common.pin_names(v[P + 'packages'] + v[P + 'extra_packages'])
    require(all(name in COMPANIONS for name in companions) and len(set(companions)) == len(companions)
            and not [name for name in others if name in COMPANIONS],
            'torch_cpu_companions holds exact pins of %s, each at most once, and they are pinned there only (not in '
            'torch_cpu_packages or torch_cpu_extra_packages); got torch_cpu_companions=%s.'
            % (' / '.join(COMPANIONS), v[P + 'companions']))
    require(int(v[P + 'diagnostic_timeout']) > 0, 'torch_cpu_diagnostic_timeout must be a positive number of seconds.')
    return pins


def plan(v, context, exists=os.path.isfile):
    pins = _check(v)
    lock_file = v[P + 'lock_file']
    require(not lock_file or exists(lock_file),
            "torch_cpu_lock_file=%s is not a file on the controller; use a lock written by playbooks/stage_wheels.yml "
            "(locks/SET.txt) or set it to '' to install pins without hashes." % lock_file)
    checks = common.read_text(common.TORCH_CHECKS)
    lock_sha256 = None
    if lock_file:
        # of the text without its trailing whitespace, as the facts have always recorded it
        with open(lock_file) as handle:
            lock_sha256 = hashlib.sha256(handle.read().rstrip().encode('utf-8')).hexdigest()
    cpu = ['--require-cpu-build'] if v[P + 'require_cpu_build'] else []
    root_owned = {'owner': 'root', 'group': 'root'}
    return {
        'python': v[P + 'venv'] + '/bin/python',
        'lib_dir': LIB_DIR,
        # The diagnostic as a package on the host (python -m codex_ml.utils.torch_checks; the venv's .pth points at
        # lib_dir): the same code the torch_diagnostic module runs.
        'lib_dirs': [dict(root_owned, path=path, mode='0755')
                     for path in (LIB_DIR, LIB_DIR + '/codex_ml', LIB_DIR + '/codex_ml/utils')],
        'lib_files': [dict(root_owned, path=LIB_DIR + '/codex_ml/__init__.py', content='', mode='0644'),
                      dict(root_owned, path=LIB_DIR + '/codex_ml/utils/__init__.py', content='', mode='0644'),
                      dict(root_owned, path=LIB_DIR + '/codex_ml/utils/torch_checks.py', content=checks, mode='0644')],
        'facts_file': FACTS_FILE,
        'facts_dir': dict(root_owned, path=posixpath.dirname(FACTS_FILE), mode='0755'),
        # what the audit's one venv_audit call must list for this role (nothing to read in a login shell)
        'audit': {'plan': {'venvs': [{'name': 'torch', 'path': v[P + 'venv'], 'roles': ['torch_cpu']}], 'read': {}}},
        # the facts' parts known before the run (the diagnostic and the distributions come from the host)
        'facts': {'schema': 1, 'venv': v[P + 'venv'], 'installer': v[P + 'installer'], 'lock_sha256': lock_sha256},
        'companion_names': common.pin_names(v[P + 'companions']),
        # What the shared venv mechanism gets; the mirror URL (it may carry credentials) and force (from the
        # diagnostic of the torch that is there) are added by the task.
        'offline_venv': {
            'path': v[P + 'venv'], 'python': v[P + 'python'], 'packages': pins, 'lock_file': lock_file,
            'installer': v[P + 'installer'], 'uv_version': v[P + 'uv_version'], 'mirror_mode': v[P + 'mirror_mode'],
            'mirror_wheelhouse': v[P + 'mirror_wheelhouse'], 'mirror_trusted_host': v[P + 'mirror_trusted_host'],
            'mirror_ca_bundle': v[P + 'mirror_ca_bundle'], 'mirror_host': v[P + 'mirror_host'],
            # The new venv must pass the same diagnostic (its source passed inline: nothing is written to the host
            # before the venv is known to be healthy). -B: no __pycache__ anywhere.
            'verify_command': ['-B', '-I', '-c', checks.rstrip()] + cpu,
            'extra_paths': [LIB_DIR], 'keep_releases': v[P + 'keep_releases'], 'rollback': v[P + 'rollback'],
            'pip_conf': v[P + 'pip_conf'], 'progress_poll': v[P + 'progress_poll'],
            'check_requires': common.pin_names(v[P + 'companions']), 'variable_prefix': 'torch_cpu'},
    }
