# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_normalize: venv entries joined with what venv_audit found, the environment file.

The host records are tests/fixtures/audit/{ml1,ml2,ci1}.json (the shape playbooks/audit.yml sends: ml1 healthy,
ml2 with a stub torch installed from a stub index, ci1 a Debian 13 CI runner) and the staging manifest is
tests/fixtures/audit/manifest.json (real names, versions and sha256 of the staged wheels), loaded by the
``manifest`` fixture of tests/unit/conftest.py; report_cases.py holds the helpers the _report_* tests share.
"""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import ReportError
from ansible_collections.codex.offline_ml.plugins.module_utils._report_normalize import merge_venvs, parse_env_file

from report_cases import record, wheels


def test_venvs_with_one_path_are_one_check():
    merged = merge_venvs([{'name': 'torch', 'path': '/opt/v/', 'roles': ['torch_cpu']},
                          {'name': 'gates', 'path': '/opt/g', 'role': 'ci_gates'},
                          {'name': 'hf', 'path': '/opt/v', 'roles': ['hf_offline_cache']}],
                         [{'path': '/opt/v', 'exists': True}])
    assert [(v['name'], v['path'], v['roles'], v['exists']) for v in merged] == [
        ('torch+hf', '/opt/v', ['hf_offline_cache', 'torch_cpu'], True),
        ('gates', '/opt/g', ['ci_gates'], None)]
    assert merged[1]['error'] == 'not collected' and merged[1]['exists'] is None


def test_venv_audit_failure_is_named(manifest):
    rec = record('ml1')
    rec.update(venv_states=[], venv_error='Cannot run /usr/bin/python3: Permission denied')
    check = wheels(manifest, rec)
    assert check['summary'] == ('venv /opt/codex/venv was not examined: Cannot run /usr/bin/python3: '
                                'Permission denied')
    with pytest.raises(ReportError, match='needs a name and a path'):
        merge_venvs([{'path': '/x'}])


def test_env_file_parsing():
    assert parse_env_file("#\n# Ansible managed\nA=1\nexport B='two'\nC=\"x y\"\n\nnot a line\n") == {
        'A': '1', 'B': 'two', 'C': 'x y'}
