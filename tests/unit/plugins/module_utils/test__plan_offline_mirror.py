# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The offline_mirror role's plan: each input rule, table-driven, from the role's own defaults; a release pushed
from the controller verified there (a real release, signed by the real ssh-keygen) before anything is pushed; the
unit's command line with and without TLS; no secret in the plan."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._plan_common import PlanError

from test__plan_roles import _plan
from test__mirror_store import make_release
# keys is a fixture
from test__release import keys  # noqa: F401  # pylint: disable=unused-import


def signers(keys):
    return [{'principal': 'lab-stager', 'key': open(keys['key'] + '.pub').read().strip()}]


ERRORS = [
    (dict(), 'set one of offline_mirror_source'),
    (dict(offline_mirror_source='/m/r1', offline_mirror_source_controller='/c/r1'), 'set one of offline_mirror_source'),
    (dict(offline_mirror_source='media/r1'), 'offline_mirror_source must be an absolute path'),
    (dict(offline_mirror_root='srv'), 'offline_mirror_root must be an absolute path'),
    (dict(offline_mirror_serve='../r1'), 'offline_mirror_serve=../r1 is not a release id'),
    (dict(offline_mirror_keep=0), 'offline_mirror_keep=0: keep at least 1 release'),
    (dict(offline_mirror_port=70000), 'offline_mirror_port=70000 is not a TCP port'),
    (dict(offline_mirror_workers=0), 'offline_mirror_workers=0'),
    (dict(offline_mirror_address='a b'), 'offline_mirror_address=a b is not an address'),
    (dict(offline_mirror_user='root'), 'offline_mirror_user is root'),
    (dict(offline_mirror_service='a/b'), 'offline_mirror_service (a/b) a unit name'),
    (dict(offline_mirror_tls_cert='/etc/hostname'), 'give both offline_mirror_tls_cert and offline_mirror_tls_key'),
    (dict(offline_mirror_tls_cert='/nonexistent.pem', offline_mirror_tls_key='/nonexistent.key'),
     'offline_mirror_tls_cert=/nonexistent.pem is not a file on the controller'),
    (dict(offline_mirror_url='http://u:pw@mirror:3141'), 'offline_mirror_url=http://u:pw@mirror:3141 must be'),
    (dict(offline_mirror_allowed_signers=[{'principal': 'x', 'key': 'not a key'}]),
     'offline_mirror_allowed_signers must be a list of {principal'),
    (dict(offline_mirror_allowed_signers=[]), 'offline_mirror_allowed_signers is empty'),
]


@pytest.mark.parametrize('changes, expected', ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_a_bad_input_names_its_variable(keys, changes, expected):
    values = dict(offline_mirror_allowed_signers=signers(keys))
    if not ({'offline_mirror_source', 'offline_mirror_source_controller'} & set(changes)) and changes:
        values['offline_mirror_source'] = '/media/usb/r1'
    values.update(changes)
    with pytest.raises(PlanError) as err:
        _plan('offline_mirror', **values)
    assert expected in err.value.msg


def test_the_plan_of_a_carried_disk_serves_it_over_http(keys):
    plan = _plan('offline_mirror', offline_mirror_source='/media/usb/r1/', offline_mirror_allowed_signers=signers(keys),
                 offline_mirror_address='0.0.0.0', offline_mirror_port=3141)
    assert plan['source'] == '/media/usb/r1/' and plan['pushed']['release'] is None and plan['incoming'] == ''
    assert plan['allowed_signers'].startswith('lab-stager namespaces="codex.offline_ml-release" ssh-ed25519 ')
    assert plan['url'] == plan['health_url'] == 'http://127.0.0.1:3141'
    assert '--bind 0.0.0.0:3141 ' in plan['exec_start'] and '--certfile' not in plan['exec_start']
    assert plan['exec_start'].endswith(' codex_mirror_app:app')


def test_tls_and_the_nodes_url(keys, tmp_path):
    (tmp_path / 'cert.pem').write_text('CERT')
    (tmp_path / 'key.pem').write_text('SECRET KEY MATERIAL')
    plan = _plan('offline_mirror', offline_mirror_source='/media/usb/r1', offline_mirror_allowed_signers=signers(keys),
                 offline_mirror_tls_cert=str(tmp_path / 'cert.pem'), offline_mirror_tls_key=str(tmp_path / 'key.pem'),
                 offline_mirror_url='https://mirror.lab:3141/', offline_mirror_address='::')
    assert plan['url'] == 'https://mirror.lab:3141' and plan['health_url'] == 'https://127.0.0.1:3141'
    assert '--bind [::]:3141 ' in plan['exec_start']
    assert '--certfile /etc/codex-offline-mirror/tls/cert.pem --keyfile /etc/codex-offline-mirror/tls/key.pem' in \
        plan['exec_start']
    assert 'SECRET KEY MATERIAL' not in json.dumps(plan)


def test_a_pushed_release_is_verified_on_the_controller(keys, tmp_path, write_wheel):
    release = make_release(tmp_path, write_wheel, keys, 'r1')
    plan = _plan('offline_mirror', offline_mirror_source_controller=release,
                 offline_mirror_allowed_signers=signers(keys))
    assert plan['pushed']['release'] == 'r1' and plan['incoming'] == '/srv/offline-mirror/incoming/r1'
    assert plan['source'] == plan['incoming'] and plan['pushed']['carried_bytes'] > 0
    delta = make_release(tmp_path, write_wheel, keys, 'r2', beta='1.1', on=release)
    plan = _plan('offline_mirror', offline_mirror_source_controller=delta,
                 offline_mirror_allowed_signers=signers(keys))
    assert plan['pushed']['base_release'] == 'r1'
    os.unlink(os.path.join(release, 'locks', 'app.txt'))
    with pytest.raises(PlanError) as err:
        _plan('offline_mirror', offline_mirror_source_controller=release, offline_mirror_allowed_signers=signers(keys))
    assert 'offline_mirror_source_controller %s (release r1) does not verify, nothing was pushed: locks/app.txt: ' \
        'missing' % release in err.value.msg
    other = [{'principal': 'other', 'key': open(keys['intruder'] + '.pub').read().strip()}]
    with pytest.raises(PlanError) as err:
        _plan('offline_mirror', offline_mirror_source_controller=delta, offline_mirror_allowed_signers=other)
    assert 'manifest.json.sig: signed by a key that is not in' in err.value.msg
