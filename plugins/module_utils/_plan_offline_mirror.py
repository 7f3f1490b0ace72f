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
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils._plan_common import PlanError, require
from ansible_collections.codex.offline_ml.plugins.module_utils._release_build import allowed_signers_text

P = 'offline_mirror_'
VARIABLES = tuple(P + name for name in (
    'source', 'source_controller', 'allowed_signers', 'allow_unsigned', 'root', 'keep', 'serve', 'address', 'port',
    'url', 'tls_cert', 'tls_key', 'server_set', 'venv', 'python', 'user', 'service', 'workers', 'installer',
    'uv_version', 'health_timeout'))
# what the audit entry point's mirror_audit action reads (audit() below)
AUDIT_VARIABLES = tuple(P + name for name in (
    'root', 'allowed_signers', 'allow_unsigned', 'address', 'port', 'tls_cert', 'service', 'health_timeout'))
NAME_RE = re.compile(r'^[a-z_][a-z0-9_-]{0,31}$')
UNIT_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
ADDRESS_RE = re.compile(r'^[0-9A-Za-z.:-]+$')
# What the plan says of a release pushed from the controller (all None when the release is on the host).
PUSHED_KEYS = ('release', 'manifest_sha256', 'carried_bytes', 'base_release', 'base_manifest_sha256')
# The WSGI app the unit runs: pypiserver for /simple/ and /packages/, whitenoise for the release's files.
APP_DIR = 'app'


UNIT = '''# Managed by codex.offline_ml (role offline_mirror): changes here are replaced on the next run.
[Unit]
Description=codex.offline_ml mirror host: the served release of {root} (PEP 503 index and files)
After=network.target

[Service]
Type=simple
User={user}
Group={user}
Environment=CODEX_MIRROR_ROOT={root}
ExecStart={exec_start}
Restart=on-failure
RestartSec=2
NoNewPrivileges=yes
UMask=0077
{capabilities}
[Install]
WantedBy=multi-user.target
'''


def root_reason(v):
    return 'it imports releases into %s (root-owned) and installs the %s service' % (v[P + 'root'], v[P + 'service'])


def _signers(v):
    entries = v[P + 'allowed_signers']
    try:
        text = allowed_signers_text(entries, P + 'allowed_signers')
    except OperatorError as exc:
        raise PlanError(exc.msg)
    require(entries or v[P + 'allow_unsigned'],
            'offline_mirror_allowed_signers is empty: name the public key(s) that sign the releases (the .pub of '
            'stage_signing_key), or set offline_mirror_allow_unsigned: true for releases staged unsigned')
    return text


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


def _local_url(v):
    """(the URL the mirror host asks itself at, the CA file on the host that verifies it, or None over HTTP)."""
    address = v[P + 'address']
    local = '127.0.0.1' if address in ('0.0.0.0', '::') else address
    tls = bool(v[P + 'tls_cert'])
    return ('%s://%s:%d' % ('https' if tls else 'http', local, int(v[P + 'port'])),
            '/etc/%s/tls/cert.pem' % v[P + 'service'] if tls else None)


def audit(v):
    """The arguments of the audit's mirror_audit call (the offline_mirror audit entry point): the store, the served
    address as the role's own health check asks it, the keys that may sign. Checks only what these need: the
    audit neither verifies again nor needs a release on the controller."""
    common.absolute(P + 'root', v[P + 'root'], '/srv/offline-mirror')
    require(str(v[P + 'port']).isdigit() and 0 < int(v[P + 'port']) < 65536,
            'offline_mirror_port=%s is not a TCP port (1-65535)' % v[P + 'port'])
    require(UNIT_RE.match(str(v[P + 'service'])), 'offline_mirror_service (%s) must be a unit name (letters, '
            'digits, . _ -)' % v[P + 'service'])
    url, ca_bundle = _local_url(v)
    return {'root': common.strip_slashes(v[P + 'root']), 'url': url, 'ca_bundle': ca_bundle,
            'timeout': int(v[P + 'health_timeout']), 'allowed_signers': _signers(v),
            'allow_unsigned': bool(v[P + 'allow_unsigned'])}


def plan(v, context):
    _check(v)
    signers = _signers(v)
    root = common.strip_slashes(v[P + 'root'])
    tls = bool(v[P + 'tls_cert'])
    conf_dir = '/etc/' + v[P + 'service']
    address = v[P + 'address']
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
    exec_start = ' '.join(argv)
    unit_path = '/etc/systemd/system/%s.service' % v[P + 'service']
    signers_path = conf_dir + '/allowed_signers'
    health_url, ca_bundle = _local_url(v)

    def owned(path, mode, content=None, group='root'):
        entry = {'path': path, 'mode': mode, 'owner': 'root', 'group': group}
        if content is not None:
            entry['content'] = content
        return entry

    unit = UNIT.format(root=root, user=v[P + 'user'], exec_start=exec_start, capabilities=(
        'AmbientCapabilities=CAP_NET_BIND_SERVICE\n' if port < 1024 else ''))
    return {
        'release_dir': root + '/releases',
        'allowed_signers': signers,
        'pushed': pushed,
        'source': incoming or v[P + 'source'],
        'incoming': incoming,
        'exec_start': exec_start,
        # the arguments of every mirror_release call (the tasks set source where it differs)
        'store': {
            'root': root, 'source': v[P + 'source'], 'release_id': pushed['release'],
            'manifest_sha256': pushed['manifest_sha256'], 'carried_bytes': pushed['carried_bytes'],
            'base_release': pushed['base_release'], 'base_manifest_sha256': pushed['base_manifest_sha256'],
            'allowed_signers_text': signers or None, 'allow_unsigned': bool(v[P + 'allow_unsigned']),
            'serve': v[P + 'serve'] or None, 'require_set': v[P + 'server_set'], 'keep': int(v[P + 'keep']),
            'remove_source': True, 'variable_prefix': 'offline_mirror'},
        # the arguments of both mirror_health calls (the port check adds check: port)
        'health': {
            'root': root, 'url': health_url, 'ca_bundle': ca_bundle,
            'timeout': int(v[P + 'health_timeout']), 'address': address, 'port': port, 'service': v[P + 'service'],
            'unit_path': unit_path},
        # what managed_files writes: the application, the unit, the allowed signers
        'directories': [owned(conf_dir, '0755'), owned(os.path.dirname(app_dir), '0755'), owned(app_dir, '0755')],
        'files': [owned(app_dir + '/codex_mirror_app.py', '0644',
                        common.read_text(os.path.join(context['role_dir'], 'files', 'codex_mirror_app.py'))),
                  owned(unit_path, '0644', unit), owned(signers_path, '0644', signers)],
        'tls_dir': owned(conf_dir + '/tls', '0750', group=v[P + 'user']),
        # the certificate is public; the key's content is added by the task (no_log), never held here
        'tls_files': [owned(conf_dir + '/tls/cert.pem', '0644', common.read_text(v[P + 'tls_cert']))] if tls else [],
        'tls_key': owned(conf_dir + '/tls/key.pem', '0640', group=v[P + 'user']),
        'tls': tls,
        'url': (v[P + 'url'] or health_url).rstrip('/'),
        'health_url': health_url,
        'offline_venv': {
            'path': v[P + 'venv'], 'python': v[P + 'python'], 'installer': v[P + 'installer'],
            'uv_version': v[P + 'uv_version'], 'mirror_mode': 'find_links',
            'verify_command': ['-c', 'import pypiserver, gunicorn, whitenoise'], 'keep_releases': 1,
            'variable_prefix': 'offline_mirror'},
    }
