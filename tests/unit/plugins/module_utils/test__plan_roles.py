# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' plans (module_utils/_plan_*.py): each input rule, table-driven, with the role's own defaults as
the starting point (read from roles/<role>/defaults/main.yml, as Ansible gives them to the role_plan action)."""

from __future__ import absolute_import, division, print_function

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.codex.offline_ml.plugins.module_utils import _plan_common
from ansible_collections.codex.offline_ml.plugins.module_utils._plan_common import PlanError

ROOT = Path(__file__).resolve().parents[4]


def _defaults(role):
    """The role's defaults over those of its dependency mirror_defaults, with the {{ var }} references resolved as
    Ansible would."""
    raw = yaml.safe_load((ROOT / 'roles' / 'mirror_defaults' / 'defaults' / 'main.yml').read_text())
    raw.update(yaml.safe_load((ROOT / 'roles' / role / 'defaults' / 'main.yml').read_text()))
    for _depth in range(3):
        for key, value in raw.items():
            if isinstance(value, str):
                raw[key] = re.sub(r'\{\{\s*(\w+)\s*\}\}', lambda m: str(raw[m.group(1)]), value)
    return raw


def _plan(role, **changes):
    values = _defaults(role)
    values.update(changes)
    specs = yaml.safe_load((ROOT / 'roles' / role / 'meta' / 'argument_specs.yml').read_text())
    return _plan_common.planner(role).plan(values, dict(check_mode=False, argument_specs=specs, host='h1',
                                                        role_dir=str(ROOT / 'roles' / role)))


HF_ERRORS = [
    (dict(hf_offline_cache_endpoint='http://user:s3cret@mirror:8090'), 'hf_offline_cache_endpoint must not carry credentials'),
    (dict(hf_offline_cache_endpoint='tok3n@mirror:8090'), 'hf_offline_cache_endpoint must not carry credentials'),
    (dict(hf_offline_cache_users=['alice']), 'it needs hf_offline_cache_layout: per_user'),
    (dict(hf_offline_cache_home='/srv/$USER'), 'hf_offline_cache_home=/srv/$USER: a $ is not expanded'),
    (dict(hf_offline_cache_profile_script='hf.sh'), "hf_offline_cache_profile_script must be an absolute path"),
    (dict(hf_offline_cache_transformers_cache='/srv/other'), 'must equal hf_offline_cache_hub_cache'),
    (dict(hf_offline_cache_extra_env={'MY VAR': '1'}), 'names must match'),
    (dict(hf_offline_cache_extra_env={'X': 'a b'}), 'X=a b: names must match'),
    (dict(hf_offline_cache_extra_env={'HF_TOKEN': 'x'}), 'may not set HF_TOKEN'),
    (dict(hf_offline_cache_token_path='token'), 'hf_offline_cache_token_path=token must be an absolute path'),
    (dict(hf_offline_cache_login_umask='77x'), 'hf_offline_cache_login_umask=77x must be an octal umask'),
    (dict(hf_offline_cache_packages=['huggingface-hub>=2']), 'must hold exact pins'),
    (dict(hf_offline_cache_packages=['six==1.17.0']), 'pin huggingface-hub exactly once'),
    (dict(hf_offline_cache_repos=['gpt2'], hf_offline_cache_endpoint=''), 'must be the http:// or https:// URL'),
    (dict(hf_offline_cache_repos=['gpt2'], hf_offline_cache_method='bundle'), 'give exactly one of'),
    (dict(hf_offline_cache_repos=['gpt2'], hf_offline_cache_method='bundle', hf_offline_cache_bundle_src='/nonexistent/b.tar'),
     'must both exist on the controller'),
    (dict(hf_offline_cache_lock_file='/nonexistent/lock.txt'), 'is not a file on the controller'),
]


@pytest.mark.parametrize('changes,expected', HF_ERRORS)
def test_hf_offline_cache_inputs_fail_naming_the_variable(changes, expected):
    with pytest.raises(PlanError) as info:
        _plan('hf_offline_cache', **changes)
    assert expected in info.value.msg
    assert 's3cret' not in info.value.msg and 'tok3n' not in info.value.msg


def test_hf_offline_cache_plan_shared_and_per_user():
    plan = _plan('hf_offline_cache', hf_offline_cache_endpoint='http://127.0.0.1:8090/', hf_offline_cache_repos=['gpt2'],
                 hf_offline_cache_members=['alice'], hf_offline_cache_extra_env={'HF_HUB_ETAG_TIMEOUT': 30})
    assert plan['environment'] == {
        'HF_HOME': '/srv/huggingface', 'HF_HUB_CACHE': '/srv/huggingface/hub', 'TRANSFORMERS_CACHE': '/srv/huggingface/hub',
        'HF_DATASETS_CACHE': '/srv/huggingface/datasets', 'TRANSFORMERS_OFFLINE': '1', 'HF_HUB_OFFLINE': '1',
        'HF_DATASETS_OFFLINE': '1', 'HF_HUB_DISABLE_TELEMETRY': '1', 'HF_ENDPOINT': 'http://127.0.0.1:8090',
        'HF_HUB_ETAG_TIMEOUT': '30'}
    assert plan['shared_dirs'] == ['/srv/huggingface', '/srv/huggingface/hub', '/srv/huggingface/datasets']
    assert plan['seed_method'] == 'mirror' and not plan['bundle'] and plan['users'] == ['alice']
    assert plan['token_path'] == {'login_shells': '${HOME}/.cache/huggingface/token', 'services': '/etc/codex/hf-token'}
    assert plan['own_names'] == ['huggingface-hub', 'uv']
    assert 'mirror_url' not in plan['offline_venv']
    per_user = _plan('hf_offline_cache', hf_offline_cache_layout='per_user', hf_offline_cache_users=['bob'],
                     hf_offline_cache_home='/srv/$NOT_USED')
    assert per_user['shared_dirs'] == [] and 'HF_HOME' not in per_user['environment']
    assert per_user['paths']['HF_HOME'] == '${HOME}/.cache/huggingface'
    assert per_user['audit']['expected'] == {'TRANSFORMERS_OFFLINE': '1', 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1'}


SIGNERS = [{'principal': 'stager@lab', 'key': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE4g stager@lab'}]
RELEASE = dict(hf_offline_cache_repos=['gpt2'], hf_offline_cache_method='bundle', hf_offline_cache_release_signers=SIGNERS,
               hf_offline_cache_release_url='http://mirror1:3141/release/', hf_offline_cache_mirror_host='mirror1',
               hf_offline_cache_bundle_url='http://mirror1:3141/release/hf/hf-bundle.tar')


def _release_plan(**changes):
    values = dict(RELEASE)
    values.update(changes)
    return _plan('hf_offline_cache', **values)


@pytest.mark.parametrize('changes,expected', [
    (dict(hf_offline_cache_release_url='mirror1:3141/release/'), 'hf_offline_cache_release_url must be the http://'),
    (dict(hf_offline_cache_release_url='http://ops:s3cret@mirror1:3141/release/'), 'hf_offline_cache_release_url must be'),
    (dict(hf_offline_cache_bundle_url='http://other:8000/hf/hf-bundle.tar'), 'is not a file of hf_offline_cache_release_url'),
    (dict(hf_offline_cache_bundle_url='http://mirror1:3141/release/'), 'is not a file of hf_offline_cache_release_url'),
    (dict(hf_offline_cache_release_signers=[]), 'hf_offline_cache_release_signers is empty'),
])
def test_hf_offline_cache_release_check_inputs(changes, expected):
    with pytest.raises(PlanError) as info:
        _release_plan(**changes)
    assert expected in info.value.msg and 's3cret' not in info.value.msg


def test_hf_offline_cache_bundle_from_the_served_release_is_checked_against_it():
    plan = _release_plan(hf_offline_cache_release_url='http://mirror1:3141/release')
    assert plan['release_args'] == {'url': 'http://mirror1:3141/release/', 'allowed_signers': SIGNERS,
                                    'paths': ['hf/hf-bundle.tar', 'hf/hf-bundle.tar.manifest.json'], 'mirror_host': 'mirror1'}
    assert plan['bundle_manifest_in_release'] == 'hf/hf-bundle.tar.manifest.json'
    assert plan['bundle_path'] == '/var/cache/codex/hf-bundles/hf-bundle.tar'
    # a bundle URL with no served release to check it against: no release check (the bundle's own manifest only)
    plain = _release_plan(hf_offline_cache_release_url='')
    assert plain['release_args'] == {} and plain['bundle_manifest_in_release'] == ''


TORCH_ERRORS = [
    (dict(torch_cpu_packages=['torch>=2']), 'not pins: torch>=2'),
    (dict(torch_cpu_packages=['six==1.17.0']), 'must pin torch exactly once'),
    (dict(torch_cpu_companions=['torchtext==0.18.0']), 'torch_cpu_companions holds exact pins of torchvision / torchaudio'),
    (dict(torch_cpu_companions=['torchvision==0.28.0', 'torchvision==0.28.0']), 'each at most once'),
    (dict(torch_cpu_extra_packages=['torchvision==0.28.0']), 'pinned there only'),
    (dict(torch_cpu_diagnostic_timeout=0), 'torch_cpu_diagnostic_timeout must be a positive'),
    (dict(torch_cpu_lock_file='/nonexistent'), 'torch_cpu_lock_file=/nonexistent is not a file on the controller'),
]


@pytest.mark.parametrize('changes,expected', TORCH_ERRORS)
def test_torch_cpu_inputs_fail_naming_the_variable(changes, expected):
    with pytest.raises(PlanError) as info:
        _plan('torch_cpu', **changes)
    assert expected in info.value.msg


def test_torch_cpu_plan(tmp_path):
    lock = tmp_path / 'lock.txt'
    lock.write_text('torch==2.13.0+cpu \\\n    --hash=sha256:' + 'a' * 64 + '\n')
    plan = _plan('torch_cpu', torch_cpu_companions=['torchvision==0.28.0'], torch_cpu_lock_file=str(lock),
                 torch_cpu_mirror_url='http://u:pw@127.0.0.1/simple/')
    venv = plan['offline_venv']
    assert venv['packages'] == ['torch==2.13.0+cpu', 'torchvision==0.28.0'] and venv['check_requires'] == ['torchvision']
    assert venv['verify_command'][:3] == ['-B', '-I', '-c'] and venv['verify_command'][-1] == '--require-cpu-build'
    assert 'u:pw@' not in repr(plan)
    # the facts record the lock's text without its trailing whitespace, as they always have
    import hashlib
    assert plan['facts']['lock_sha256'] == hashlib.sha256(lock.read_text().rstrip().encode()).hexdigest()


VENV_ERRORS = [
    (dict(path='venv'), 'torch_cpu_venv (venv) and torch_cpu_python (/usr/bin/python3) must be absolute'),
    (dict(mirror_mode='index', mirror_url='ftp://x'), 'torch_cpu_mirror_url must be an http:// or https:// URL of the PEP 503'),
    (dict(mirror_mode='index', mirror_url='/srv/wheels'), 'torch_cpu_mirror_url must be an http:// or https:// URL of the PEP 503'),
    (dict(mirror_mode='find_links', mirror_url='srv/wheels'), 'URL of the wheel directory (or the absolute path of one on the host)'),
    (dict(mirror_mode='wheelhouse'), 'torch_cpu_mirror_wheelhouse must name a wheel directory'),
    (dict(mirror_mode='wheelhouse', mirror_wheelhouse='/nonexistent'), 'is not a directory on the controller'),
    (dict(lock_file='/nonexistent'), 'torch_cpu_lock_file=/nonexistent is not a file'),
    (dict(keep_releases='many'), 'offline_venv_settings (passed by torch_cpu)'),
    (dict(bogus=1), 'offline_venv_settings.bogus'),
    (dict(uv_version=''), 'torch_cpu_uv_version is empty'),
]


@pytest.mark.parametrize('changes,expected', VENV_ERRORS)
def test_offline_venv_settings_fail_naming_the_variable(changes, expected):
    settings = dict(mirror_url='http://127.0.0.1/simple/', variable_prefix='torch_cpu', uv_version='0.13.9')
    settings.update(changes)
    with pytest.raises(PlanError) as info:
        _plan('offline_venv', offline_venv_settings=settings)
    assert expected in info.value.msg


def test_offline_venv_plan_holds_the_module_arguments_but_the_url(tmp_path):
    """What the tasks pass through module_defaults: the settings as the modules name them, the empty ones left out
    as `omit` did, never the URL."""
    settings = dict(mirror_url='http://u:s3cret@127.0.0.1/simple/', packages=['a==1'], uv_version='0.13.9',
                    variable_prefix='torch_cpu', check_requires=['a'])
    plan = _plan('offline_venv', offline_venv_settings=settings)
    venv, info = plan['venv_args'], plan['mirror_info_args']
    assert venv['requirements'] == ['a==1', 'uv==0.13.9'] and venv['mirror_mode'] == 'index'
    assert not set(venv) & {'lock', 'wheelhouse', 'trusted_host', 'ca_bundle', 'mirror_url'}
    assert info['check_requires'] == ['a'] and info['variable_prefix'] == 'torch_cpu'
    assert not set(info) & {'lock', 'wheelhouse', 'files', 'mirror_url'}
    (tmp_path / 'a-1-py3-none-any.whl').write_text('')
    settings.update(mirror_mode='wheelhouse', mirror_wheelhouse=str(tmp_path))
    plan = _plan('offline_venv', offline_venv_settings=settings)
    assert plan['venv_args']['wheelhouse'] == '/var/cache/codex/wheelhouse'
    assert plan['mirror_info_args']['files'] == ['a-1-py3-none-any.whl'] and 'check_requires' not in plan['mirror_info_args']
    assert 's3cret' not in repr(plan)


def test_offline_venv_find_links_takes_a_directory_on_the_host():
    settings = dict(mirror_mode='find_links', mirror_url='/srv/offline-mirror/releases/r1/wheels', packages=['a==1'],
                    variable_prefix='offline_mirror', uv_version='0.13.9')
    plan = _plan('offline_venv', offline_venv_settings=settings)
    assert plan['pip_url'] == '/srv/offline-mirror/releases/r1/wheels' and not plan['url_has_credentials']


def test_offline_venv_plan_keeps_the_url_out(tmp_path):
    (tmp_path / 'a-1-py3-none-any.whl').write_text('')
    (tmp_path / 'notes.txt').write_text('')
    plan = _plan('offline_venv', offline_venv_settings=dict(mirror_url='http://u:s3cret@127.0.0.1/simple/',
                                                            packages=['a==1'], progress_poll=3, uv_version='0.13.9'))
    assert 's3cret' not in repr(plan) and plan['url_has_credentials'] and plan['sync']
    assert plan['requirements'] == ['a==1', 'uv==%s' % plan['settings']['uv_version']]
    assert plan['pip_url'] == 'http://127.0.0.1/simple/' and plan['wheelhouse_dest'] == ''
    wheelhouse = _plan('offline_venv', offline_venv_settings=dict(mirror_mode='wheelhouse', mirror_wheelhouse=str(tmp_path),
                                                                  progress_poll=3, check_requires=['torchvision'], uv_version='0.13.9'))
    assert wheelhouse['wheelhouse_files'] == ['a-1-py3-none-any.whl'] and not wheelhouse['sync']
    assert wheelhouse['wheelhouse_dest'] == '/var/cache/codex/wheelhouse' and wheelhouse['check_requires'] == []


def test_unknown_role_has_no_planner():
    assert _plan_common.planner('nope') is None


VENV_STATES = [
    # (probe, own names, build, huggingface_hub)
    ({'start': None, 'rc': 0, 'stdout': 'skipped, since /v/bin/python does not exist'}, [], True, None),
    ({'start': 't', 'rc': 0, 'stdout': '{"huggingface_hub": "2.4.0", "built_for": ["huggingface-hub", "uv"]}'},
     ['huggingface-hub', 'uv'], True, '2.4.0'),
    ({'start': 't', 'rc': 0, 'stdout': '{"huggingface_hub": "2.4.0", "built_for": ["torch", "uv"]}'},
     ['huggingface-hub', 'uv'], False, '2.4.0'),
    ({'start': 't', 'rc': 0, 'stdout': '{"huggingface_hub": null, "built_for": null}'}, ['uv'], False, None),
    ({'start': 't', 'rc': 1, 'stdout': '', 'stderr': 'bad interpreter'}, ['uv'], False, None),
]


@pytest.mark.parametrize('probe,own,build,hub', VENV_STATES)
def test_hf_offline_cache_venv_state(probe, own, build, hub):
    from ansible_collections.codex.offline_ml.plugins.module_utils._plan_hf_offline_cache import venv_state
    state = venv_state(probe, own, '/opt/codex/venv')
    assert (state['build'], state['huggingface_hub']) == (build, hub)
    assert state['exists'] is (probe['start'] is not None)
    assert state['refusal'].startswith('hf_offline_cache_venv=/opt/codex/venv is a venv without huggingface_hub')


def test_hf_offline_cache_audit_record():
    from ansible_collections.codex.offline_ml.plugins.module_utils._plan_hf_offline_cache import audit_record
    plan = _plan('hf_offline_cache')
    seen = {'read': {'/etc/profile.d/hf-offline.sh': '# profile'}, 'env': {'HF_HOME': '/srv/huggingface'}, 'error': None}
    record = audit_record({'seen': seen, 'scan': {'msg': 'no venv'}}, plan)
    assert record['exports']['profile'] == {'path': '/etc/profile.d/hf-offline.sh', 'exists': True, 'head': '# profile'}
    assert record['exports']['env_file'] == {'path': '/etc/codex/hf-offline.env', 'exists': False, 'text': ''}
    assert record['hf_cache'] == {'python': '/opt/codex/venv/bin/python', 'cache_dir': '/srv/huggingface/hub',
                                  'facts': None, 'error': 'no venv'}
    per_user = _plan('hf_offline_cache', hf_offline_cache_layout='per_user', hf_offline_cache_users=['ann', 'bob'])
    scans = {'results': [{'item': 'ann', 'ansible_facts': {'hf_cache': {'repos': []}}}, {'item': 'bob', 'msg': 'su failed'}]}
    users = audit_record({'seen': {}, 'user_scans': scans}, per_user)['hf_cache']['users']
    assert users == [
        {'user': 'ann', 'python': '/opt/codex/venv/bin/python', 'facts': {'repos': []},
         'cache_dir': '~ann/.cache/huggingface/hub', 'error': None},
        {'user': 'bob', 'python': '/opt/codex/venv/bin/python', 'facts': None,
         'cache_dir': '~bob/.cache/huggingface/hub', 'error': 'su failed'}]


GATES_ERRORS = [
    (dict(ci_gates_packages=['nox==2026.10.20', 'pytest>=9']), 'not pins: pytest>=9'),
    (dict(ci_gates_packages=['nox==2026.10.20', 'pytest==9.2.0']), 'missing: pytest-cov, coverage'),
    (dict(ci_gates_coverage_default='eighty'), 'ci_gates_coverage_default=eighty is not a number from 0 to 100'),
    (dict(ci_gates_coverage_default=101), 'ci_gates_coverage_default=101 is not a number'),
    (dict(ci_gates_lib_dir='lib'), 'must be absolute paths on the host'),
    (dict(ci_gates_torch_command=[]), 'ci_gates_torch_command must be a non-empty argument list'),
    (dict(ci_gates_torch_timeout=0), 'ci_gates_torch_timeout a positive number'),
    (dict(ci_gates_projects=[{'path': 'srv/p', 'source': ['p']}]), 'ci_gates_projects[0] must be a mapping with path'),
    (dict(ci_gates_projects=[{'path': '/srv/p', 'source': 'p'}]), 'ci_gates_projects[0] must be'),
    (dict(ci_gates_projects=[{'path': '/srv/p', 'source': ['p'], 'name': 'a b'}]), 'ci_gates_projects[0] must be'),
    (dict(ci_gates_projects=[{'path': '/srv/p', 'source': ['p']}, {'path': '/srv/p/', 'source': ['q']}]),
     'ci_gates_projects lists a path twice: /srv/p, /srv/p'),
]


@pytest.mark.parametrize('changes,expected', GATES_ERRORS)
def test_ci_gates_inputs_fail_naming_the_variable(changes, expected):
    with pytest.raises(PlanError) as info:
        _plan('ci_gates', **changes)
    assert expected in info.value.msg


def test_ci_gates_plan():
    plan = _plan('ci_gates', ci_gates_projects=[{'path': '/srv/ci/app//', 'source': ['app']},
                                                {'path': '/srv/ci/lib', 'source': ['lib'], 'name': 'the-lib'}])
    assert plan['project_dirs'] == ['/srv/ci/app', '/srv/ci/lib']
    assert plan['audit']['results'] == [
        {'project': '/srv/ci/app', 'name': 'app', 'file': '/srv/ci/app/.codex-gate-result.json'},
        {'project': '/srv/ci/lib', 'name': 'the-lib', 'file': '/srv/ci/lib/.codex-gate-result.json'}]
    assert [f['path'] for f in plan['audit']['files']][-2:] == ['/srv/ci/app/noxfile.py', '/srv/ci/lib/noxfile.py']
    files = dict((f['path'], f['content']) for f in plan['lib_files'])
    lib = ROOT / 'roles' / 'ci_gates' / 'files' / 'lib'
    assert files['/opt/codex/gates-lib/codex_gate.py'] == (lib / 'codex_gate.py').read_text()
    assert files['/opt/codex/gates-lib/torch_checks.py'] == (ROOT / 'plugins' / 'module_utils' / '_torch_checks.py').read_text()
    assert files['/opt/codex/gates-lib/pytest-plugins/codex_torch_guard-1.0.0.dist-info/entry_points.txt'] == (
        lib / 'codex_torch_guard-1.0.0.dist-info' / 'entry_points.txt').read_text()
    assert 'mirror_url' not in plan['offline_venv']


def test_torch_cpu_lib_files_are_the_diagnostic():
    plan = _plan('torch_cpu')
    files = dict((f['path'], f['content']) for f in plan['lib_files'])
    assert files['/opt/codex/lib/codex_ml/utils/torch_checks.py'] == (
        ROOT / 'plugins' / 'module_utils' / '_torch_checks.py').read_text()
    assert plan['facts'] == {'schema': 1, 'venv': '/opt/codex/venv', 'installer': 'uv', 'lock_sha256': None}


def test_ci_gates_audit_takes_any_project_path():
    """The audit's files were once JSON assembled with regex_replace and parsed back: a path with a quote or a
    backslash broke it."""
    odd = '/srv/ci/say "hi"\\x'
    plan = _plan('ci_gates', ci_gates_projects=[{'path': odd + '/', 'source': ['app']}])
    assert plan['audit']['files'][-1] == {'path': odd + '/noxfile.py', 'kind': 'noxfile', 'project': odd}
    assert plan['audit']['results'] == [{'project': odd, 'name': 'say "hi"\\x', 'file': odd + '/.codex-gate-result.json'}]


def test_every_public_role_asks_for_root():
    """The role_plan action checks root for a planner with root_reason: every public role's, never offline_venv's."""
    for role in ('torch_cpu', 'hf_offline_cache', 'ci_gates'):
        planner = _plan_common.planner(role)
        assert planner.root_reason(_defaults(role)).startswith('it ')
    assert not hasattr(_plan_common.planner('offline_venv'), 'root_reason')
