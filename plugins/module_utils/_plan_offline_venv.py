# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The offline_venv role's plan: its settings over the defaults of its argument spec (the one place they are
written), the checks that need no host, and what its tasks pass to the modules (the lock's text, the requirements,
the wheelhouse's files, whether the build runs synchronously).

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import strip_userinfo, url_has_credentials
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.codex.offline_ml.plugins.module_utils._plan_common import PlanError, require

VARIABLES = ('offline_venv_settings',)


def defaults(argument_specs):
    """The default of every key of offline_venv_settings, from the role's argument spec."""
    options = argument_specs['argument_specs']['main']['options']['offline_venv_settings']['options']
    return dict((key, spec.get('default')) for key, spec in options.items())


def settings(given, argument_specs):
    """GIVEN validated against the spec (types, choices, unknown keys) and filled in with its defaults."""
    spec = argument_specs['argument_specs']['main']['options']
    result = ArgumentSpecValidator(spec).validate({'offline_venv_settings': given or {}})
    if result.error_messages:
        raise PlanError('offline_venv_settings (passed by %s): %s' % (
            (given or {}).get('variable_prefix', 'the calling role'), '; '.join(result.error_messages)))
    merged = defaults(argument_specs)
    merged.update(result.validated_parameters['offline_venv_settings'])
    return merged


def requirements(s):
    """The pins the venv is built from: uv comes from the lock when there is one, else at uv_version."""
    pins = list(s['packages'])
    if s['installer'] == 'uv' and not s['lock_file'] and not [pin for pin in pins if re.match(r'^uv==', pin)]:
        pins.append('uv==%s' % s['uv_version'])
    return pins


def _check(s, isdir, isfile):
    prefix = s['variable_prefix'].rstrip('_')
    require(s['installer'] != 'uv' or s['lock_file'] or s['uv_version'],
            '%s_uv_version is empty: with installer uv and no lock the venv needs a uv version from the mirror (the '
            'default is mirror_defaults_uv_version).' % prefix)
    require(s['path'].startswith('/') and s['python'].startswith('/'),
            '%s_venv (%s) and %s_python (%s) must be absolute paths on the host, for example /opt/codex/venv and '
            '/usr/bin/python3.' % (prefix, s['path'], prefix, s['python']))
    mode = s['mirror_mode']
    if mode == 'wheelhouse':
        require(s['mirror_wheelhouse'], '%s_mirror_mode is wheelhouse: %s_mirror_wheelhouse must name a wheel directory '
                'on the controller.' % (prefix, prefix))
        require(isdir(s['mirror_wheelhouse']),
                '%s_mirror_wheelhouse=%s is not a directory on the controller; point it at the wheels/ folder that '
                'playbooks/stage_wheels.yml wrote.' % (prefix, s['mirror_wheelhouse']))
    else:
        on_host = mode == 'find_links' and (s['mirror_url'] or '').startswith('/')
        require(re.match(r'^https?://[^/]+', s['mirror_url'] or '') or on_host,
                '%s_mirror_mode is %s: %s_mirror_url must be an http:// or https:// URL of the %s.'
                % (prefix, mode, prefix, 'PEP 503 index (…/simple/)' if mode == 'index' else
                   'wheel directory (or the absolute path of one on the host)'))
    require(not s['lock_file'] or isfile(s['lock_file']),
            "%s_lock_file=%s is not a file on the controller; use a lock written by playbooks/stage_wheels.yml "
            "(locks/SET.txt) or set it to '' to install pins without hashes." % (prefix, s['lock_file']))


def _present(**args):
    """ARGS without the empty ones: what a task leaves out with `omit` (an empty list or string is no value)."""
    return dict((key, value) for key, value in args.items() if value not in ('', None, []))


KILLED = ('the venv build on %s ended without a result: its process was killed (an OOM kill, a reboot, a stopped '
          'container?). %s is still the release it was, or the new one if the swap had happened (a release is '
          'swapped in only when it is whole and healthy); the next run removes what the build left and builds '
          'again. Check the host\'s memory and disk (journalctl -k for the OOM killer), then run the play again.')


def plan(v, context, isdir=os.path.isdir, isfile=os.path.isfile, listdir=os.listdir):
    s = settings(v.get('offline_venv_settings'), context['argument_specs'])
    _check(s, isdir, isfile)
    lock_text = ''
    if s['lock_file']:
        with open(s['lock_file']) as handle:
            lock_text = handle.read()
    credentials = url_has_credentials(s['mirror_url'])
    wheelhouse = s['mirror_mode'] == 'wheelhouse'
    wheelhouse_files = sorted(name for name in listdir(s['mirror_wheelhouse']) if name.endswith('.whl')) \
        if wheelhouse else []
    public = dict((key, value) for key, value in s.items() if key != 'mirror_url')
    return {
        # every setting but the URL, which may carry credentials: the tasks take it from offline_venv_settings
        'settings': public,
        'lock': lock_text,
        'requirements': requirements(s),
        'url_has_credentials': credentials,
        'pip_url': strip_userinfo(s['mirror_url']),
        # where a wheelhouse is pushed on the host ('' for the HTTP modes)
        'wheelhouse_dest': s['wheelhouse_dest'] if wheelhouse else '',
        # the companions' Requires-Dist, read by the preflight's one mirror call (HTTP modes)
        'check_requires': [] if wheelhouse else list(s['check_requires']),
        'killed_msg': KILLED % (context.get('host'), s['path']),
        'wheelhouse_files': wheelhouse_files,
        # the arguments of the offline_venv module and of wheel_mirror_info, but the URL (the tasks add it)
        'venv_args': _present(
            path=s['path'], python=s['python'], requirements=requirements(s), lock=lock_text, installer=s['installer'],
            mirror_mode=s['mirror_mode'], wheelhouse=s['wheelhouse_dest'] if wheelhouse else '',
            trusted_host=s['mirror_trusted_host'], ca_bundle=s['mirror_ca_bundle'], verify_command=s['verify_command'],
            extra_paths=s['extra_paths'], force=s['force'], force_reason=s['force_reason'],
            keep_releases=s['keep_releases'], rollback=s['rollback']),
        'mirror_info_args': _present(
            python=s['python'], requirements=requirements(s), lock=lock_text, mirror_mode=s['mirror_mode'],
            wheelhouse=s['mirror_wheelhouse'] if wheelhouse else '', files=wheelhouse_files if wheelhouse else None,
            trusted_host=s['mirror_trusted_host'], ca_bundle=s['mirror_ca_bundle'],
            check_requires=[] if wheelhouse else list(s['check_requires']), variable_prefix=s['variable_prefix'],
            mirror_host=s['mirror_host']),
        # a credentialed URL never goes to an asynchronous module (its arguments wait in the host's temporary
        # directory while it runs); check mode and a rollback are quick
        'sync': s['progress_poll'] <= 0 or context['check_mode'] or bool(s['rollback']) or credentials,
    }
