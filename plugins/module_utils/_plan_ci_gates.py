# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ci_gates role's plan: the checks of its pins, paths, coverage floor, torch settings and project entries that
need no host, and what its tasks use (the projects' directories, the gate venv's settings, the offline exports
the gate falls back on, the audit's files), derived once.

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.codex.offline_ml.plugins.module_utils import _plan_common as common
from ansible_collections.codex.offline_ml.plugins.module_utils._plan_common import require

P = 'ci_gates_'
VARIABLES = tuple(P + name for name in (
    'projects', 'venv', 'python', 'packages', 'extra_packages', 'installer', 'uv_version', 'lock_file',
    'mirror_mode', 'mirror_url', 'mirror_wheelhouse', 'mirror_trusted_host', 'mirror_ca_bundle', 'mirror_host', 'rollback',
    'lib_dir', 'command', 'coverage_default', 'test_venv', 'torch_required', 'torch_command', 'torch_timeout',
    'offline_env_file', 'hf_home', 'hf_hub_cache', 'hf_datasets_cache', 'nox_command'))

# Distributions the gate needs (each pinned exactly once in ci_gates_packages).
REQUIRED_TOOLS = ('nox', 'pytest', 'pytest-cov', 'coverage')
NUMBER_RE = re.compile(r'^([0-9]+([.][0-9]*)?|[.][0-9]+)$')
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
# What the gate's last run writes in each project (codex_gate.py's RESULT_FILE).
RESULT_FILE = '.codex-gate-result.json'
# The pytest guard as an installed distribution: its pytest11 entry point makes every pytest of the gate venv load it
# (no -p flag, no conftest edit); importlib.metadata finds the dist-info on the venv's path (install.yml's .pth).
GUARD_DIST = 'codex_torch_guard-1.0.0.dist-info'


def root_reason(v):
    return common.root_reason(v[P + 'venv'], v[P + 'command'])


def project_dir(path):
    """A project's directory as the role writes it: without trailing slashes (the root stays /)."""
    return re.sub(r'(.)/+$', r'\1', path)


def _project_ok(project):
    if not isinstance(project, dict):
        return False
    path, source = project.get('path', ''), project.get('source', [])
    name, test_venv = project.get('name', 'x'), project.get('test_venv', '/')
    return (isinstance(path, str) and path.startswith('/') and isinstance(source, list) and len(source) > 0
            and not isinstance(project.get('tests', []), str) and not isinstance(project.get('pytest_args', []), str)
            and isinstance(test_venv, str) and (test_venv == '' or test_venv.startswith('/'))
            and isinstance(name, str) and bool(NAME_RE.match(name)))


def _check(v):
    pins = v[P + 'packages'] + v[P + 'extra_packages']
    bad = common.not_pins(pins)
    require(not bad, 'ci_gates_packages / ci_gates_extra_packages must hold exact pins written name==version (for '
            'example pytest==9.2.0); not pins: %s' % ', '.join(map(str, bad)))
    missing = [tool for tool in REQUIRED_TOOLS if tool not in common.pin_names(v[P + 'packages'])]
    require(not missing, 'ci_gates_packages must pin %s (the gate runs nox -s tests with pytest-cov); missing: %s.'
            % (', '.join(REQUIRED_TOOLS), ', '.join(missing)))
    floor = str(v[P + 'coverage_default']).strip()
    require(NUMBER_RE.match(floor) and float(floor) <= 100,
            'ci_gates_coverage_default=%s is not a number from 0 to 100: set a percentage such as 85 or 72.5.'
            % v[P + 'coverage_default'])
    require(all(str(v[P + name]).startswith('/') for name in ('lib_dir', 'command', 'offline_env_file'))
            and (v[P + 'test_venv'] == '' or v[P + 'test_venv'].startswith('/')),
            "ci_gates_lib_dir (%s), ci_gates_command (%s), ci_gates_offline_env_file (%s) and ci_gates_test_venv (%s, "
            "or '') must be absolute paths on the host." % (v[P + 'lib_dir'], v[P + 'command'],
                                                            v[P + 'offline_env_file'], v[P + 'test_venv']))
    command = v[P + 'torch_command']
    require(isinstance(command, list) and command and command[0] and int(v[P + 'torch_timeout']) > 0,
            'ci_gates_torch_command must be a non-empty argument list (for example [/usr/local/bin/codex-torch-check]) '
            'and ci_gates_torch_timeout a positive number of seconds; to run without torch, set '
            'ci_gates_torch_required: false instead.')
    for index, project in enumerate(v[P + 'projects']):
        require(_project_ok(project),
                "ci_gates_projects[%d] must be a mapping with path (an absolute directory on the host) and source (a "
                "non-empty list of packages or directories to measure), and optionally name (letters, digits, . _ -), "
                "tests and pytest_args (lists) and test_venv (an absolute path or ''); got %s."
                % (index, json.dumps(project, sort_keys=True, default=str)))
    paths = [re.sub('/+$', '', project['path']) for project in v[P + 'projects']]
    require(len(set(paths)) == len(paths), 'ci_gates_projects lists a path twice: %s' % ', '.join(paths))


def lib_entries(v, files_dir):
    """The gate's helpers, file by file (a directory copy would also ship a local __pycache__): the directories and
    files managed_files writes into ci_gates_lib_dir and the plugin directory, read here on the controller."""
    lib = v[P + 'lib_dir']
    plugins = lib + '/pytest-plugins'
    dirs = [{'path': path, 'mode': '0755', 'owner': 'root', 'group': 'root'}
            for path in (lib, plugins, plugins + '/' + GUARD_DIST)]
    sources = [(lib + '/codex_gate.py', os.path.join(files_dir, 'codex_gate.py')),
               (lib + '/codex_torch_guard.py', os.path.join(files_dir, 'codex_torch_guard.py')),
               (lib + '/torch_checks.py', common.TORCH_CHECKS)]
    sources += [(plugins + '/' + GUARD_DIST + '/' + name, os.path.join(files_dir, GUARD_DIST, name))
                for name in ('METADATA', 'entry_points.txt', 'RECORD')]
    files = [{'path': dest, 'content': common.read_text(src), 'mode': '0644', 'owner': 'root', 'group': 'root'}
             for dest, src in sources]
    return dirs, files


def plan(v, context, exists=os.path.isfile):
    _check(v)
    lock_file = v[P + 'lock_file']
    require(not lock_file or exists(lock_file),
            "ci_gates_lock_file=%s is not a file on the controller; use a lock written by playbooks/stage_wheels.yml "
            "(locks/SET.txt) or set it to '' to install pins without hashes." % lock_file)
    lib = v[P + 'lib_dir']
    dirs = [project_dir(project['path']) for project in v[P + 'projects']]
    lib_dirs, lib_files = lib_entries(v, os.path.join(context['role_dir'], 'files', 'lib'))
    return {
        'project_dirs': dirs,
        'plugin_dir': lib + '/pytest-plugins',
        'lib_dirs': lib_dirs,
        'lib_files': lib_files,
        # The seven offline variables the gate exports where hf_offline_cache's file is missing.
        'offline_exports': {
            'HF_HOME': v[P + 'hf_home'], 'HF_HUB_CACHE': v[P + 'hf_hub_cache'], 'TRANSFORMERS_CACHE': v[P + 'hf_hub_cache'],
            'HF_DATASETS_CACHE': v[P + 'hf_datasets_cache'], 'TRANSFORMERS_OFFLINE': '1', 'HF_HUB_OFFLINE': '1',
            'HF_DATASETS_OFFLINE': '1'},
        # What the shared venv mechanism gets; the mirror URL (it may carry credentials) is added by the task.
        'offline_venv': {
            'path': v[P + 'venv'], 'python': v[P + 'python'], 'packages': v[P + 'packages'] + v[P + 'extra_packages'],
            'lock_file': lock_file, 'installer': v[P + 'installer'], 'uv_version': v[P + 'uv_version'],
            'mirror_mode': v[P + 'mirror_mode'], 'mirror_wheelhouse': v[P + 'mirror_wheelhouse'],
            'mirror_trusted_host': v[P + 'mirror_trusted_host'], 'mirror_ca_bundle': v[P + 'mirror_ca_bundle'], 'mirror_host': v[P + 'mirror_host'],
            # the new venv must import the tools before it is swapped in (the helpers are checked by verify.yml)
            'verify_command': ['-c', 'import nox, pytest, pytest_cov, coverage'], 'extra_paths': [lib],
            'rollback': v[P + 'rollback'], 'variable_prefix': 'ci_gates'},
        'audit': audit(v),
    }


def audit(v):
    """The files the gate needs (the command, the helpers in the lib dir, each project's noxfile.py), and each
    gated project's name and the file its last gate run wrote."""
    lib = v[P + 'lib_dir']
    files = [{'path': v[P + 'command'], 'kind': 'gate command', 'executable': True},
             {'path': lib + '/codex_gate.py', 'kind': 'gate helper'},
             {'path': lib + '/codex_torch_guard.py', 'kind': 'pytest guard'}]
    results = []
    for project in v[P + 'projects']:
        path = project_dir(project['path'])
        files.append({'path': path.rstrip('/') + '/noxfile.py', 'kind': 'noxfile', 'project': path.rstrip('/')})
        results.append({'project': path, 'name': project.get('name') or os.path.basename(path),
                        'file': path + '/' + RESULT_FILE})
    # what the audit's one venv_audit call and one login-shell read must cover for this role
    plan = {'venvs': [{'name': 'gates', 'path': v[P + 'venv'], 'roles': ['ci_gates']}],
            'read': {'stat': [entry['path'] for entry in files], 'results': [entry['file'] for entry in results]}}
    return {'plan': plan, 'files': files, 'results': results, 'tools': list(REQUIRED_TOOLS)}
