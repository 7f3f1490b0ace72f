# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hf_offline_cache role's plan: every check of its inputs that needs no host, and the values its tasks and
templates use (the exports, the cache paths, the bundle's place, what its venv gets), derived once.

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import posixpath
import re

from ansible_collections.codex.offline_ml.plugins.module_utils import _plan_common as common
from ansible_collections.codex.offline_ml.plugins.module_utils._plan_common import require
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import normalize_name, parse_lock

P = 'hf_offline_cache_'
VARIABLES = tuple(P + name for name in (
    'layout', 'users', 'home', 'hub_cache', 'transformers_cache', 'datasets_cache', 'group', 'members', 'acl',
    'login_umask', 'token_path', 'offline', 'disable_telemetry', 'export_endpoint', 'extra_env', 'profile_script',
    'env_file', 'venv', 'python', 'packages', 'lock_file', 'installer', 'uv_version', 'mirror_mode', 'mirror_url',
    'mirror_wheelhouse', 'mirror_trusted_host', 'mirror_ca_bundle', 'mirror_host', 'repos', 'method', 'endpoint',
    'endpoint_ca_bundle', 'bundle_src', 'bundle_url', 'bundle_dir', 'release_url', 'release_signers', 'seed_timeout',
    'facts_timeout'))

# A per-user cache below each user's home, relative to it.
USER_HUB = '.cache/huggingface/hub'
OFFLINE_FLAGS = {'TRANSFORMERS_OFFLINE': '1', 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1'}
# Names the role manages itself (hf_offline_cache_extra_env may not set them).
MANAGED_NAMES = ('HF_HOME', 'HF_HUB_CACHE', 'TRANSFORMERS_CACHE', 'HF_DATASETS_CACHE', 'TRANSFORMERS_OFFLINE',
                 'HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE', 'HF_HUB_DISABLE_TELEMETRY', 'HF_ENDPOINT', 'HF_TOKEN',
                 'HF_TOKEN_PATH')
# The per_user layout's cache paths, written literally for each login shell to expand; TRANSFORMERS_CACHE stays
# HF_HUB_CACHE (transformers 4.36+ reads models offline from there).
PER_USER_PATHS = {'HF_HOME': '${HOME}/.cache/huggingface', 'HF_HUB_CACHE': '${HF_HOME}/hub',
                  'TRANSFORMERS_CACHE': '${HF_HUB_CACHE}', 'HF_DATASETS_CACHE': '${HF_HOME}/datasets'}
FACTS_DIR = '/etc/ansible/facts.d'
# hf_cache_seed appends a line per downloaded file here while it runs (`tail -f` it during a long seed).
PROGRESS_LOG = '/var/log/codex-hf-seed.log'
VERIFY_COMMAND = ['-I', '-c', 'import huggingface_hub']
# Run by the venv's python in preflight: its huggingface_hub and the distributions its release was built for.
VENV_PROBE = '''import json, os, sys
from importlib import metadata
try:
    hub = metadata.version('huggingface-hub')
except Exception:
    hub = None
try:
    with open(os.path.join(sys.prefix, '.codex-release.json')) as handle:
        built_for = sorted(json.load(handle)['wanted'])
except Exception:
    built_for = None
print(json.dumps({'huggingface_hub': hub, 'built_for': built_for}))
'''


def root_reason(v):
    return 'it writes %s and the shared cache %s, owned by root' % (v[P + 'profile_script'], v[P + 'home'])


def _check_endpoint(v):
    endpoint = v[P + 'endpoint']
    # Refused with or without repos to seed: the URL is exported as HF_ENDPOINT in files every user reads.
    require(not common.netloc_has_userinfo(endpoint),
            "hf_offline_cache_endpoint must not carry credentials (got %s): the URL is exported as HF_ENDPOINT in %s "
            "and %s, which every user reads, and kept in the local facts. Give the URL without user:password@ or "
            "token@ and put the secret in hf_offline_cache_token, which only the download gets."
            % (common.redact_userinfo(endpoint), v[P + 'profile_script'], v[P + 'env_file']))


def _cache_paths(v):
    return {P + 'home': v[P + 'home'], P + 'hub_cache': v[P + 'hub_cache'],
            P + 'transformers_cache': v[P + 'transformers_cache'], P + 'datasets_cache': v[P + 'datasets_cache']}


def _check_paths(v, per_user):
    require(per_user or not v[P + 'users'],
            'hf_offline_cache_users (%s) seeds per-user caches: it needs hf_offline_cache_layout: per_user. For the '
            'shared cache, list the users in hf_offline_cache_members.' % ', '.join(v[P + 'users']))
    paths = {} if per_user else _cache_paths(v)
    # in the order the variables are documented, so that the first one a person set is the one named
    for name, value in paths.items():
        require('$' not in value,
                "%s=%s: a $ is not expanded in the shared layout. The environment file is read by systemd, which does "
                "not expand it, and the shared cache is one path for every user and service. For the seed's per-user "
                "caches set hf_offline_cache_layout: per_user, which writes HF_HOME=${HOME}/.cache/huggingface for "
                "each login shell to expand (and leaves %s unused)." % (name, value, name))
    for name in ('profile_script', 'env_file', 'venv', 'bundle_dir'):
        paths[P + name] = v[P + name]
    for name, value in paths.items():
        require(isinstance(value, str) and value.startswith('/'),
                "%s must be an absolute path on the host (for example /srv/huggingface/hub), got '%s': a relative "
                "cache path would resolve against whatever directory each program happens to start in." % (name, value))
    if not per_user:
        require(common.strip_slashes(v[P + 'transformers_cache']) == common.strip_slashes(v[P + 'hub_cache']),
                'hf_offline_cache_transformers_cache (%s) must equal hf_offline_cache_hub_cache (%s): snapshot_download '
                'seeds HF_HUB_CACHE, and a transformers that reads TRANSFORMERS_CACHE from another directory would not '
                'find the seeded models offline. Leave hf_offline_cache_transformers_cache at its default.'
                % (v[P + 'transformers_cache'], v[P + 'hub_cache']))


def environment(v, per_user):
    """The one set of exports: the environment file and the fact come from it, the profile script adds the
    per_user paths (systemd does not expand ${HOME}: a service gets huggingface_hub's own per-user default)."""
    env = {} if per_user else {'HF_HOME': v[P + 'home'], 'HF_HUB_CACHE': v[P + 'hub_cache'],
                               'TRANSFORMERS_CACHE': v[P + 'transformers_cache'],
                               'HF_DATASETS_CACHE': v[P + 'datasets_cache']}
    if v[P + 'offline']:
        env.update(OFFLINE_FLAGS)
    if v[P + 'disable_telemetry']:
        env['HF_HUB_DISABLE_TELEMETRY'] = '1'
    if v[P + 'export_endpoint'] and v[P + 'endpoint']:
        env['HF_ENDPOINT'] = common.strip_slashes(v[P + 'endpoint'])
    env.update(dict((key, '%s' % (value,)) for key, value in v[P + 'extra_env'].items()))
    return env


def _check_environment(v, env):
    for key, value in env.items():
        text = value if isinstance(value, str) else str(value)
        require(common.ENV_NAME_RE.match(key) and common.SAFE_VALUE_RE.match(text),
                '%s=%s: names must match [A-Z_][A-Z0-9_]* and values may hold only letters, digits and %s (no spaces, '
                'quotes, $, backquote or backslash); fix the variable that sets it (hf_offline_cache_extra_env or the '
                'path variables).%s' % (key, text, common.SAFE_CHARS, (
                    ' A $ is refused because the environment file is read by systemd, which does not expand it, and '
                    'the shared cache must be one path for every user and service; for the seed\'s per-user caches '
                    '(HF_HOME=${HOME}/.cache/huggingface) set hf_offline_cache_layout: per_user instead.')
                    if '$' in text else ''))
    token_path = v[P + 'token_path']
    require(token_path == '' or (token_path.startswith('/') and common.SAFE_VALUE_RE.match(token_path)),
            'hf_offline_cache_token_path=%s must be an absolute path of letters, digits and %s (or empty: tokens per '
            'user, ${HOME}/.cache/huggingface/token)' % (token_path, common.SAFE_CHARS))
    require(re.match(r'^(0?[0-7]{3})?$', v[P + 'login_umask']),
            'hf_offline_cache_login_umask=%s must be an octal umask such as 0002 (or empty: no umask)' % v[P + 'login_umask'])
    overridden = sorted(set(v[P + 'extra_env']) & set(MANAGED_NAMES))
    require(not overridden, 'hf_offline_cache_extra_env may not set %s: set them through their own variables (the '
            'token is never exported).' % ', '.join(overridden))


def _check_pins(v):
    pins = v[P + 'packages']
    hub = [pin for pin in pins if re.match(r'(?i)^huggingface[-_.]hub==', str(pin))]
    require(not common.not_pins(pins) and len(hub) == 1,
            'hf_offline_cache_packages must hold exact pins written name==version and pin huggingface-hub exactly once '
            '(for example huggingface-hub==2.4.0); got %s.' % ', '.join(str(pin) for pin in pins))


def _check_seeding(v, exists):
    method = v[P + 'method']
    if method == 'mirror':
        endpoint = v[P + 'endpoint']
        require(re.match(r'^https?://[^/@]+(/.*)?$', endpoint),
                "hf_offline_cache_method is mirror: hf_offline_cache_endpoint must be the http:// or https:// URL of a "
                "Hub mirror, without credentials (got %s)." % (common.redact_userinfo(endpoint) or "''"))
        return
    src, url = v[P + 'bundle_src'], v[P + 'bundle_url']
    require(bool(src) != bool(url),
            'hf_offline_cache_method is bundle: give exactly one of hf_offline_cache_bundle_src (a tar written by '
            'playbooks/stage_hf.yml, on the controller) and hf_offline_cache_bundle_url.')
    if src:
        require(exists(src) and exists(src + '.manifest.json'),
                'hf_offline_cache_bundle_src=%s: the tar and its manifest (%s.manifest.json) must both exist on the '
                'controller; write them with playbooks/stage_hf.yml.' % (src, src))


def release_args(v, bundle):
    """The release_manifest call of the preflight: the bundle fetched from a mirror host's served release is checked
    against that release's signed manifest ({} when the bundle does not come from hf_offline_cache_release_url)."""
    release, url = v[P + 'release_url'], re.sub(r'[?#].*$', '', v[P + 'bundle_url'])
    if not (bundle and url and release):
        return {}
    base = release.rstrip('/') + '/'
    require(re.match(r'^https?://[^/@]+/', base),
            'hf_offline_cache_release_url must be the http:// or https:// URL of the mirror host\'s served release '
            '(offline_mirror_url followed by release/), without credentials (got %s).' % common.redact_userinfo(release))
    require(url.startswith(base) and len(url) > len(base),
            'hf_offline_cache_bundle_url (%s) is not a file of hf_offline_cache_release_url (%s): fetch the bundle from '
            'the served release (for example %shf/hf-bundle.tar), or set hf_offline_cache_release_url to \'\' for a '
            'bundle that is not part of a signed release.' % (common.redact_userinfo(url), base, base))
    require(v[P + 'release_signers'],
            'hf_offline_cache_release_signers is empty: the served release\'s manifest is checked against its signature; '
            'give the lab\'s signers (mirror_defaults_allowed_signers, [{principal, key}]).')
    path = url[len(base):]
    args = {'url': base, 'allowed_signers': v[P + 'release_signers'], 'paths': [path, path + '.manifest.json'],
            'mirror_host': v[P + 'mirror_host']}
    if v[P + 'endpoint_ca_bundle']:
        args['ca_path'] = v[P + 'endpoint_ca_bundle']
    return args


def own_names(v):
    """Distribution names of a venv this role builds (a venv whose release marker names only these is its own)."""
    lock_file = v[P + 'lock_file']
    if lock_file:
        with open(lock_file) as handle:
            names = list(parse_lock(handle.read()))
    else:
        names = common.pin_names(v[P + 'packages']) + ['uv']
    return sorted(set(normalize_name(name) for name in names))


def venv_state(probe, own, venv):
    """What the venv at VENV is to this role, from the preflight's probe (PROBE: the registered command result, its
    stdout {huggingface_hub, built_for}; not run, start null, where the interpreter does not exist): build is whether
    this role builds it (none there, or one whose release marker names only OWN distributions); refusal is the
    message for a venv of someone else's without huggingface_hub (or whose interpreter does not run)."""
    exists = (probe or {}).get('start') is not None
    state = {'huggingface_hub': None, 'built_for': None}
    if exists and (probe or {}).get('rc') == 0:
        try:
            state.update(json.loads(probe.get('stdout') or '{}'))
        except ValueError:
            pass
    built_for = state['built_for']
    build = not exists or (built_for is not None and not set(built_for) - set(own))
    refusal = ('hf_offline_cache_venv=%s is a venv without huggingface_hub that this role did not build %s; rebuilding it '
               'would drop what it holds. Add huggingface-hub (or transformers) to the pins of the role that owns it, '
               'for example torch_cpu_extra_packages, or point hf_offline_cache_venv at a path of its own such as '
               '/opt/codex/hf-venv.' % (venv, ('(built for %s)' % ', '.join(built_for)) if built_for else '(by hand)'))
    return dict(state, exists=exists, build=build, refusal=refusal)


def audit_record(collected, plan):
    """The hf_offline_cache part of a host's audit record, {exports, hf_cache}, from what the audit COLLECTED:
    seen (the login-shell read: read, env, error), scan (hf_cache_facts on the shared cache) and user_scans (the
    looped scans, one per user, layout per_user)."""
    seen = collected.get('seen') or {}
    read = seen.get('read') or {}
    profile, env_file = read.get(plan['profile_script']), read.get(plan['env_file'])
    exports = {
        'profile': {'path': plan['profile_script'], 'exists': isinstance(profile, str), 'head': profile or ''},
        'env_file': {'path': plan['env_file'], 'exists': isinstance(env_file, str), 'text': env_file or ''},
        'login_env': seen.get('env'), 'error': seen.get('error'), 'expected': plan['audit']['expected']}
    if plan['per_user']:
        users = []
        for scan in (collected.get('user_scans') or {}).get('results') or []:
            facts = (scan.get('ansible_facts') or {}).get('hf_cache') if 'ansible_facts' in scan else None
            users.append({'user': scan['item'], 'python': plan['python'], 'facts': facts,
                          'cache_dir': '~%s/%s' % (scan['item'], plan['user_hub']),
                          'error': None if 'ansible_facts' in scan else scan.get('msg') or 'not collected'})
        return {'exports': exports, 'hf_cache': {'users': users}}
    scan = collected.get('scan') or {}
    facts = (scan.get('ansible_facts') or {}).get('hf_cache')
    return {'exports': exports, 'hf_cache': {
        'python': plan['python'], 'cache_dir': plan['hub_cache'], 'facts': facts,
        'error': None if 'ansible_facts' in scan else scan.get('msg') or 'not collected'}}


def plan(v, context, exists=os.path.isfile):
    per_user = v[P + 'layout'] == 'per_user'
    seeding = bool(v[P + 'repos'])
    _check_endpoint(v)
    _check_paths(v, per_user)
    env = environment(v, per_user)
    _check_environment(v, env)
    _check_pins(v)
    if seeding:
        _check_seeding(v, exists)
    lock_file = v[P + 'lock_file']
    require(not lock_file or exists(lock_file),
            'hf_offline_cache_lock_file=%s is not a file on the controller; use a lock written by '
            "playbooks/stage_wheels.yml (locks/SET.txt) or set it to '' to install pins without hashes." % lock_file)
    token_path = v[P + 'token_path']
    bundle = seeding and v[P + 'method'] == 'bundle'
    bundle_name = posixpath.basename(v[P + 'bundle_src'] or re.sub(r'[?#].*$', '', v[P + 'bundle_url']))
    release = release_args(v, bundle)
    shared_dirs = [] if per_user else sorted(set([v[P + 'home'], v[P + 'hub_cache'], v[P + 'datasets_cache']]),
                                             key=[v[P + 'home'], v[P + 'hub_cache'], v[P + 'datasets_cache']].index)
    token = {'login_shells': token_path or '${HOME}/.cache/huggingface/token',
             'services': token_path or posixpath.dirname(v[P + 'env_file']) + '/hf-token'}
    return {
        'per_user': per_user,
        'seeding': seeding,
        'seed_method': v[P + 'method'] if seeding else None,
        'bundle': bundle,
        'bundle_path': (v[P + 'bundle_dir'] + '/' + bundle_name) if bundle else '',
        # the bundle's .manifest.json as the signed release lists it (its sha256 is the fetch's checksum)
        'release_args': release,
        'bundle_manifest_in_release': (release.get('paths') or ['', ''])[1],
        'shared_dirs': shared_dirs,
        'paths': PER_USER_PATHS if per_user else {},
        'environment': env,
        'token_path': token,
        'user_hub': USER_HUB,
        'users': list(dict.fromkeys(v[P + 'members'] + v[P + 'users'])),
        'venv': v[P + 'venv'],
        'hub_cache': v[P + 'hub_cache'],
        'profile_script': v[P + 'profile_script'],
        'env_file': v[P + 'env_file'],
        'python': v[P + 'venv'] + '/bin/python',
        'own_names': own_names(v),
        'venv_probe': [v[P + 'venv'] + '/bin/python', '-I', '-c', VENV_PROBE],
        'progress_log': PROGRESS_LOG,
        'facts_file': FACTS_DIR + '/hf_offline_cache.fact',
        # the directories of the environment file and of the facts (the profile script's is the system's)
        'export_dirs': [{'path': path, 'mode': '0755', 'owner': 'root', 'group': 'root'}
                        for path in dict.fromkeys([posixpath.dirname(v[P + 'env_file']), FACTS_DIR])],
        'facts': {'schema': 1, 'environment': env, 'profile_script': v[P + 'profile_script'],
                  'env_file': v[P + 'env_file'], 'group': v[P + 'group'], 'token_path': token, 'venv': v[P + 'venv']},
        # What the shared venv mechanism gets when this role builds the venv; the mirror URL (it may carry
        # credentials) is added by the task, from the role variable, so that no secret is in the plan.
        'offline_venv': {
            'path': v[P + 'venv'], 'python': v[P + 'python'], 'packages': v[P + 'packages'],
            'lock_file': lock_file, 'installer': v[P + 'installer'], 'uv_version': v[P + 'uv_version'],
            'mirror_mode': v[P + 'mirror_mode'], 'mirror_wheelhouse': v[P + 'mirror_wheelhouse'],
            'mirror_trusted_host': v[P + 'mirror_trusted_host'], 'mirror_ca_bundle': v[P + 'mirror_ca_bundle'], 'mirror_host': v[P + 'mirror_host'],
            'verify_command': VERIFY_COMMAND, 'variable_prefix': 'hf_offline_cache'},
        # The audit: the exports a login shell is asked for (never HF_TOKEN), and the values the core four must
        # have with the offline flags on (the audit always expects offline mode).
        'audit': {'plan': {'venvs': [{'name': 'hf', 'path': v[P + 'venv'], 'roles': ['hf_offline_cache']}],
                           'read': {'env': [name for name in MANAGED_NAMES if name != 'HF_TOKEN'],
                                    'read': [v[P + 'profile_script'], v[P + 'env_file']]}},
                  'expected': dict(({} if per_user else {
                      'HF_HOME': v[P + 'home'], 'HF_HUB_CACHE': v[P + 'hub_cache'],
                      'TRANSFORMERS_CACHE': v[P + 'transformers_cache'], 'HF_DATASETS_CACHE': v[P + 'datasets_cache']}),
                      **OFFLINE_FLAGS)},
    }
