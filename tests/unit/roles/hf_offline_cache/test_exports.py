# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/hf_offline_cache: the exports (profile script, environment file) and the endpoint credential check, rendered
by Ansible itself from the role's defaults, vars and templates, one play per case in ONE ansible-playbook run; the
profile script is then sourced by a real sh (and bash -u) to see what a login shell gets."""

from __future__ import absolute_import, division, print_function

import grp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[4]
ROLE = ROOT / 'roles' / 'hf_offline_cache'

CASES = {
    'default': {},
    'token_path': {'hf_offline_cache_token_path': '/srv/huggingface/token'},
    'login_umask': {'hf_offline_cache_login_umask': '0002', 'hf_offline_cache_group': 'codex-not-my-group'},
    # the test's own primary group plays the cache group: this shell is a member
    'login_umask_member': {'hf_offline_cache_login_umask': '0002',
                           'hf_offline_cache_group': grp.getgrgid(os.getgid()).gr_name},
    'endpoint': {'hf_offline_cache_endpoint': 'https://hub.lab:8090/'},
    'per_user': {'hf_offline_cache_layout': 'per_user'},
}
PATHS = ('HF_HOME', 'HF_HUB_CACHE', 'TRANSFORMERS_CACHE', 'HF_DATASETS_CACHE')
# endpoint -> refused by the credential check of the role's plan
ENDPOINTS = {
    'https://hub.lab': False,
    'http://127.0.0.1:8090/x': False,
    'https://hub.lab/a@b': False,
    '': False,
    'https://u:p@hub.lab': True,
    'https://tok@hub.lab': True,
    'http://:p@hub.lab': True,
    'u:p@hub.lab': True,
    'https://@hub.lab': True,
}


def _play(name, case, out):
    # The case's own vars file comes last: vars_files win over play vars, and later files over earlier ones.
    case_file = out[:-len('.json')] + '.vars.yml'
    with open(case_file, 'w') as handle:
        yaml.safe_dump(dict(case, ansible_managed='Ansible managed'), handle)
    return {
        'name': name, 'hosts': 'localhost', 'gather_facts': False, 'connection': 'local',
        'vars_files': [str(ROLE.parent / 'mirror_defaults' / 'defaults' / 'main.yml'), str(ROLE / 'defaults' / 'main.yml'),
                       str(ROLE / 'vars' / 'main.yml'), case_file],
        'tasks': [
            # the role's first task: its checks and its plan, which the templates read (the endpoint's credential
            # check among them: refused is whether the plan failed on it)
            {'codex.offline_ml.role_plan': {'role': 'hf_offline_cache', 'root': False},
             'register': '__hf_offline_cache', 'failed_when': False},
            {'ansible.builtin.copy': {
                'dest': out,
                'content': "{{ {'refused': __hf_offline_cache.msg | default('') is search('must not carry credentials')}"
                           " | combine({} if __hf_offline_cache.plan is not defined else "
                           "{'profile': lookup('ansible.builtin.template', '%s'), "
                           "'env': lookup('ansible.builtin.template', '%s')}) | to_json }}" % (
                               ROLE / 'templates' / 'etc' / 'profile.d' / 'hf-offline.sh.j2',
                               ROLE / 'templates' / 'etc' / 'codex' / 'hf-offline.env.j2')}}],
    }


@pytest.fixture(scope='module')
def rendered(tmp_path_factory, collections_root):
    folder = tmp_path_factory.mktemp('hf-exports')
    plays = []
    for name, case in CASES.items():
        plays.append(_play(name, case, str(folder / (name + '.json'))))
    for index, endpoint in enumerate(ENDPOINTS):
        plays.append(_play('endpoint-%d' % index, {'hf_offline_cache_endpoint': endpoint},
                           str(folder / ('endpoint-%d.json' % index))))
    (folder / 'play.yml').write_text(yaml.safe_dump(plays))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    proc = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,',
                           '-e', 'ansible_python_interpreter=%s' % sys.executable, str(folder / 'play.yml')],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    out = dict((name, json.loads((folder / (name + '.json')).read_text())) for name in CASES)
    out['endpoints'] = dict((endpoint, json.loads((folder / ('endpoint-%d.json' % i)).read_text())['refused'])
                            for i, endpoint in enumerate(ENDPOINTS))
    out['folder'] = folder
    return out


def login_shell(rendered, name, shell='/bin/sh', home='/home/ann'):
    """What a login shell that sources the profile script of case NAME exports (HOME set, as login sets it)."""
    script = rendered['folder'] / (name + '.sh')
    script.write_text(rendered[name]['profile'])
    proc = subprocess.run(['env', '-i', 'HOME=' + home, shell, '-euc', 'umask 022; . "$1"; env; echo UMASK=$(umask)', 'sh',
                           str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return dict(line.split('=', 1) for line in proc.stdout.splitlines() if '=' in line)


def env_file(rendered, name):
    return dict(line.split('=', 1) for line in rendered[name]['env'].splitlines() if line and not line.startswith('#'))


@pytest.mark.parametrize('name, login_token_path, service_token_path', [
    ('default', '/home/ann/.cache/huggingface/token', '/etc/codex/hf-token'),
    ('token_path', '/srv/huggingface/token', '/srv/huggingface/token'),
])
def test_token_path(rendered, name, login_token_path, service_token_path):
    assert login_shell(rendered, name)['HF_TOKEN_PATH'] == login_token_path
    assert login_shell(rendered, name, shell='/bin/bash')['HF_TOKEN_PATH'] == login_token_path
    assert env_file(rendered, name)['HF_TOKEN_PATH'] == service_token_path
    assert '$' not in rendered[name]['env'].split('\n# KEY=VALUE')[1]


@pytest.mark.parametrize('name, umask', [
    ('default', '0022'),
    ('login_umask', '0022'),  # a shell whose user is not in the group keeps its umask
    ('login_umask_member', '0002'),
])
def test_login_umask_only_for_the_group(rendered, name, umask):
    assert ('umask 0002' in rendered[name]['profile']) is (name != 'default')
    assert login_shell(rendered, name)['UMASK'] == umask
    assert login_shell(rendered, name, shell='/bin/bash')['UMASK'] == umask
    assert 'umask' not in rendered[name]['env']  # systemd cannot take it from a file: UMask= in the unit


@pytest.mark.parametrize('name', list(CASES))
def test_same_values_except_the_token_path(rendered, name):
    login = login_shell(rendered, name)
    from_file = env_file(rendered, name)
    for key, value in from_file.items():
        if key != 'HF_TOKEN_PATH':
            assert login[key] == value, key
    assert login['TRANSFORMERS_CACHE'] == login['HF_HUB_CACHE']
    if name != 'per_user':
        assert from_file['HF_HUB_CACHE'] == login['HF_HUB_CACHE'] == '/srv/huggingface/hub'
    assert 'HF_TOKEN' not in login and 'HF_TOKEN' not in from_file


def test_endpoint_exported_without_trailing_slash(rendered):
    assert env_file(rendered, 'endpoint')['HF_ENDPOINT'] == 'https://hub.lab:8090'


@pytest.mark.parametrize('endpoint, refused', sorted(ENDPOINTS.items()))
def test_credentials_in_the_endpoint_refused(rendered, endpoint, refused):
    assert rendered['endpoints'][endpoint] is refused


@pytest.mark.parametrize('home', ['/home/ann', '/home/bob'])
@pytest.mark.parametrize('shell', ['/bin/sh', '/bin/bash'])
def test_per_user_layout_expands_home_in_each_login_shell(rendered, home, shell):
    login = login_shell(rendered, 'per_user', shell=shell, home=home)
    assert dict((k, login[k]) for k in PATHS) == {
        'HF_HOME': home + '/.cache/huggingface',
        'HF_HUB_CACHE': home + '/.cache/huggingface/hub',
        'TRANSFORMERS_CACHE': home + '/.cache/huggingface/hub',  # not the seed's $HF_HOME/transformers
        'HF_DATASETS_CACHE': home + '/.cache/huggingface/datasets',
    }
    assert login['HF_TOKEN_PATH'] == home + '/.cache/huggingface/token'
    assert login['HF_HUB_OFFLINE'] == login['TRANSFORMERS_OFFLINE'] == login['HF_DATASETS_OFFLINE'] == '1'


def test_per_user_environment_file_holds_no_paths(rendered):
    from_file = env_file(rendered, 'per_user')
    assert not set(PATHS) & set(from_file), from_file
    assert from_file['HF_HUB_OFFLINE'] == '1'
    assert all('$' not in value for value in from_file.values())
    assert 'export HF_HOME="${HOME}/.cache/huggingface"' in rendered['per_user']['profile']


@pytest.mark.parametrize('name', list(CASES))
def test_profile_script_is_safe_under_set_u_without_home(rendered, name):
    script = rendered['folder'] / (name + '-nohome.sh')
    script.write_text(rendered[name]['profile'])
    for shell in ('/bin/sh', '/bin/bash'):
        proc = subprocess.run(['env', '-i', shell, '-euc', '. "$1"; echo "HUB=${HF_HUB_OFFLINE}"', 'sh', str(script)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
        assert proc.returncode == 0 and proc.stdout.strip() == 'HUB=1', proc.stderr
