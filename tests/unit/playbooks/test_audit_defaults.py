# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/audit.yml audits what the roles write: its fall-back values are the roles' defaults.

The audit takes a role's variable from the inventory when it is set there and else __audit_role_defaults; these
tests fail as soon as a role's default (or the derivation of one from another) changes without the audit.
"""

from __future__ import absolute_import, division, print_function

from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO_ROOT / 'playbooks' / 'audit.yml'
ROLES = ('torch_cpu', 'ci_gates', 'hf_offline_cache')


def play_vars():
    (play,) = yaml.safe_load(PLAYBOOK.read_text())
    return play['vars']


def role_file(role, kind):
    return yaml.safe_load((REPO_ROOT / 'roles' / role / kind / 'main.yml').read_text()) or {}


def role_of(variable):
    for role in ROLES:
        if variable.startswith(role + '_'):
            return role
    raise AssertionError('%s belongs to none of %s' % (variable, ', '.join(ROLES)))


def test_fallbacks_are_the_role_defaults():
    fallbacks = play_vars()['__audit_role_defaults']
    assert set(role_of(v) for v in fallbacks) == set(ROLES)
    for variable, value in sorted(fallbacks.items()):
        defaults = role_file(role_of(variable), 'defaults')
        assert variable in defaults, '%s is no longer a variable of roles/%s' % (variable, role_of(variable))
        assert defaults[variable] == value, '%s: the role says %r, audit.yml %r' % (variable, defaults[variable], value)


def test_derived_hf_paths_match_the_role():
    defaults = role_file('hf_offline_cache', 'defaults')
    # audit.yml derives these the same way when the inventory does not set them
    assert defaults['hf_offline_cache_hub_cache'] == '{{ hf_offline_cache_home }}/hub'
    assert defaults['hf_offline_cache_transformers_cache'] == '{{ hf_offline_cache_hub_cache }}'
    assert defaults['hf_offline_cache_datasets_cache'] == '{{ hf_offline_cache_home }}/datasets'
    text = PLAYBOOK.read_text()
    assert "hf_offline_cache_hub_cache | default(__audit_hf_home ~ '/hub')" in text
    assert "hf_offline_cache_transformers_cache | default(__audit_hf_hub_cache)" in text
    assert "hf_offline_cache_datasets_cache | default(__audit_hf_home ~ '/datasets')" in text


def test_gate_pieces_match_the_role():
    role_vars = role_file('ci_gates', 'vars')
    text = PLAYBOOK.read_text()
    assert role_vars['__ci_gates_required_tools'] == ['nox', 'pytest', 'pytest-cov', 'coverage']
    assert 'tools: [nox, pytest, pytest-cov, coverage]' in text
    # the gate helper and the pytest guard the audit looks for are files the role installs into the lib dir
    install = (REPO_ROOT / 'roles' / 'ci_gates' / 'tasks' / 'install.yml').read_text()
    for helper in ('codex_gate.py', 'codex_torch_guard.py'):
        assert 'path: "{{ ci_gates_lib_dir }}/%s"' % helper in install, helper
        assert "__audit_gates_lib ~ '/%s'" % helper in text, helper
    configure = (REPO_ROOT / 'roles' / 'ci_gates' / 'tasks' / 'configure.yml').read_text()
    assert 'dest: "{{ __ci_gates_project.path | regex_replace(\'(.)/+$\', \'\\\\1\') }}/noxfile.py"' in configure
    assert '"path": "\\1/noxfile.py"' in text


def test_export_names_match_the_role():
    role_vars = role_file('hf_offline_cache', 'vars')
    for name in ('HF_HOME', 'HF_HUB_CACHE', 'TRANSFORMERS_CACHE', 'HF_DATASETS_CACHE', 'TRANSFORMERS_OFFLINE',
                 'HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE'):
        assert name in role_vars['__hf_offline_cache_environment'], name
        assert name in play_vars()['__audit_env_keys'], name
