# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The offline_mirror role's plan: the checks of where the release comes from, who may sign it, where and how it is
served, that need no host; a release pushed from the controller is verified here before a byte is pushed; and what
the tasks use (the allowed_signers file, the unit's command line, the served URL, the venv's settings).

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tempfile

from ansible_collections.codex.offline_ml.plugins.module_utils import _plan_common as common
from ansible_collections.codex.offline_ml.plugins.module_utils import _release_verify as rv
from ansible_collections.codex.offline_ml.plugins.module_utils._plan_common import require
from ansible_collections.codex.offline_ml.plugins.module_utils._release_build import allowed_signers_line

P = 'offline_mirror_'
VARIABLES = tuple(P + name for name in (
    'source', 'source_controller', 'allowed_signers', 'allow_unsigned', 'root', 'keep', 'serve', 'address', 'port',
    'url', 'tls_cert', 'tls_key', 'server_set', 'venv', 'python', 'user', 'service', 'workers', 'installer',
    'uv_version', 'health_timeout'))
KEY_RE = re.compile(r'^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|'
                    r'sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/=]+$')
PRINCIPAL_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9@._+-]{0,127}$')
NAME_RE = re.compile(r'^[a-z_][a-z0-9_-]{0,31}$')
UNIT_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
ADDRESS_RE = re.compile(r'^[0-9A-Za-z.:-]+$')
# What the plan says of a release pushed from the controller (all None when the release is on the host).
PUSHED_KEYS = ('release', 'manifest_sha256', 'carried_bytes', 'base_release', 'base_manifest_sha256')
# The WSGI app the unit runs: pypiserver for /simple/ and /packages/, whitenoise for the release's files.
APP_DIR = 'app'


def root_reason(v):
    return 'it imports releases into %s (root-owned) and installs the %s service' % (v[P + 'root'], v[P + 'service'])


def _signers(v):
    entries = v[P + 'allowed_signers']
    require(isinstance(entries, list) and all(
        isinstance(e, dict) and PRINCIPAL_RE.match(str(e.get('principal', ''))) and
        KEY_RE.match(' '.join(str(e.get('key', '')).split()[:2])) for e in entries),
        'offline_mirror_allowed_signers must be a list of {principal: NAME, key: "ssh-ed25519 AAAA..."} (the public '
        'keys that may sign releases; a principal is letters, digits and @ . _ + -)')
    require(entries or v[P + 'allow_unsigned'],
            'offline_mirror_allowed_signers is empty: name the public key(s) that sign the releases (the .pub of '
            'stage_signing_key), or set offline_mirror_allow_unsigned: true for releases staged unsigned')
    return ''.join(allowed_signers_line(e['principal'], ' '.join(str(e['key']).split()[:2])) for e in entries)


def _check(v):
    for name, example in (('root', '/srv/offline-mirror'), ('venv', '/opt/codex-offline-mirror/venv'),
                          ('python', '/usr/bin/python3')):
        common.absolute(P + name, v[P + name], example)
    both, neither = v[P + 'source'] and v[P + 'source_controller'], not (v[P + 'source'] or v[P + 'source_controller'])
    require(not both and (not neither or v[P + 'serve']),
            'set one of offline_mirror_source (the carried release directory on the mirror host) and '
            'offline_mirror_source_controller (a release directory on the controller, pushed to the mirror host)%s'
            % (', or offline_mirror_serve alone to serve a release the store already holds' if neither else ''))
    if v[P + 'source']:
        common.absolute(P + 'source', v[P + 'source'], '/media/usb/2026-12-04')
    require(not v[P + 'serve'] or rv.RELEASE_ID_RE.match(str(v[P + 'serve'])),
            'offline_mirror_serve=%s is not a release id (letters, digits, . _ -)' % v[P + 'serve'])
    require(str(v[P + 'keep']).isdigit() and int(v[P + 'keep']) >= 1,
            'offline_mirror_keep=%s: keep at least 1 release (2 or more to roll back)' % v[P + 'keep'])
    require(str(v[P + 'port']).isdigit() and 0 < int(v[P + 'port']) < 65536,
            'offline_mirror_port=%s is not a TCP port (1-65535)' % v[P + 'port'])
    require(str(v[P + 'workers']).isdigit() and 0 < int(v[P + 'workers']) <= 64,
            'offline_mirror_workers=%s: give 1 to 64 worker processes' % v[P + 'workers'])
    require(isinstance(v[P + 'address'], str) and ADDRESS_RE.match(v[P + 'address']),
            'offline_mirror_address=%s is not an address to bind (for example 0.0.0.0, 10.0.0.5 or 127.0.0.1)'
            % v[P + 'address'])
    require(NAME_RE.match(str(v[P + 'user'])) and UNIT_RE.match(str(v[P + 'service'])),
            'offline_mirror_user (%s) must be a system user name and offline_mirror_service (%s) a unit name '
            '(letters, digits, . _ -)' % (v[P + 'user'], v[P + 'service']))
    require(v[P + 'user'] != 'root', 'offline_mirror_user is root: the servers run as an unprivileged user')
    require(bool(v[P + 'tls_cert']) == bool(v[P + 'tls_key']),
            'give both offline_mirror_tls_cert and offline_mirror_tls_key (the lab certificate and its key on the '
            'controller), or neither for plain HTTP')
    for name in ('tls_cert', 'tls_key'):
        require(not v[P + name] or os.path.isfile(v[P + name]),
                'offline_mirror_%s=%s is not a file on the controller' % (name, v[P + name]))
    require(not v[P + 'url'] or re.match(r'^https?://[^/@]+(/.*)?$', v[P + 'url']),
            'offline_mirror_url=%s must be the http:// or https:// URL the nodes reach the mirror host at, without '
            'credentials' % v[P + 'url'])


def _pushed(v, signers_text):
    """The release id, manifest sha256 and signer of offline_mirror_source_controller, verified here (a delta's
    base is in the mirror host's store: its files are checked there)."""
    source = v[P + 'source_controller']
    require(os.path.isdir(source) and not os.path.islink(source),
            'offline_mirror_source_controller=%s is not a release directory on the controller' % source)
    scratch = tempfile.mkdtemp(prefix='codex-mirror-plan-')
    try:
        allowed = None
        if signers_text:
            allowed = os.path.join(scratch, 'allowed_signers')
            with open(allowed, 'w') as handle:
                handle.write(signers_text)
        verdict = rv.verify(source, allowed, allow_unsigned=bool(v[P + 'allow_unsigned']), need_base=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    problems = verdict['problems']
    require(verdict['ok'], 'offline_mirror_source_controller %s (release %s) does not verify, nothing was pushed: '
            '%s%s' % (source, verdict['release'], '; '.join(problems[:8]),
                      '; and %d more' % (len(problems) - 8) if len(problems) > 8 else ''))
    base = verdict['base'] or {}
    return {'release': verdict['release'], 'manifest_sha256': verdict['manifest_sha256'],
            'carried_bytes': verdict['carried_bytes'], 'base_release': base.get('release'),
            'base_manifest_sha256': base.get('manifest_sha256')}


def plan(v, context):
    _check(v)
    signers = _signers(v)
    root = common.strip_slashes(v[P + 'root'])
    tls = bool(v[P + 'tls_cert'])
    conf_dir = '/etc/' + v[P + 'service']
    address = v[P + 'address']
    local = '127.0.0.1' if address in ('0.0.0.0', '::') else address
    port = int(v[P + 'port'])
    bind = ('[%s]:%d' if ':' in address else '%s:%d') % (address, port)
    pushed = _pushed(v, signers) if v[P + 'source_controller'] else dict.fromkeys(PUSHED_KEYS)
    incoming = root + '/incoming/' + pushed['release'] if pushed['release'] else ''
    app_dir = '/opt/%s/%s' % (v[P + 'service'], APP_DIR)
    argv = [v[P + 'venv'] + '/bin/gunicorn', '--chdir', app_dir, '--bind', bind, '--workers', str(v[P + 'workers']),
            '--worker-tmp-dir', '/dev/shm', '--access-logfile', '-', '--no-control-socket']
    if tls:
        argv += ['--certfile', conf_dir + '/tls/cert.pem', '--keyfile', conf_dir + '/tls/key.pem']
    argv.append('codex_mirror_app:app')
    return {
        'root': root,
        'release_dir': root + '/releases',
        'conf_dir': conf_dir,
        'allowed_signers_path': conf_dir + '/allowed_signers',
        'allowed_signers': signers,
        'pushed': pushed,
        'source': incoming or v[P + 'source'],
        'incoming': incoming,
        'app_dir': app_dir,
        'unit_path': '/etc/systemd/system/%s.service' % v[P + 'service'],
        'exec_start': ' '.join(argv),
        'tls': tls,
        'url': (v[P + 'url'] or '%s://%s:%d' % ('https' if tls else 'http', local, port)).rstrip('/'),
        'health_url': '%s://%s:%d' % ('https' if tls else 'http', local, port),
        'bind': {'address': address, 'port': port},
        'offline_venv': {
            'path': v[P + 'venv'], 'python': v[P + 'python'], 'installer': v[P + 'installer'],
            'uv_version': v[P + 'uv_version'], 'mirror_mode': 'find_links',
            'verify_command': ['-c', 'import pypiserver, gunicorn, whitenoise'], 'keep_releases': 1,
            'variable_prefix': 'offline_mirror'},
    }
