# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_manifest: a missing or bad staging manifest is reported, and fails the wheels checks.

The host records are tests/fixtures/audit/{ml1,ml2,ci1}.json (the shape playbooks/audit.yml sends: ml1 healthy,
ml2 with a stub torch installed from a stub index, ci1 a Debian 13 CI runner) and the staging manifest is
tests/fixtures/audit/manifest.json (real names, versions and sha256 of the staged wheels), loaded by the
``manifest`` fixture of tests/unit/conftest.py; report_cases.py holds the helpers the _report_* tests share.
"""

from __future__ import absolute_import, division, print_function

from ansible_collections.codex.offline_ml.plugins.module_utils._report_fleet import build_report
from ansible_collections.codex.offline_ml.plugins.module_utils._report_manifest import load_manifest

from report_cases import STAMP, check_of, record


def test_wheels_manifest_missing(tmp_path):
    info, index = load_manifest(str(tmp_path / 'nope.json'))
    assert index is None and 'cannot read the staging manifest' in info['error']
    doc = build_report([record('ml1')], info, index, generated_at=STAMP)
    check = check_of(doc, 'ml1', 'wheels:torch+hf')
    assert check['status'] == 'fail'
    assert str(tmp_path / 'nope.json') in check['summary']
    (tmp_path / 'bad.json').write_text('{"schema": 2, "files": []}')
    info, index = load_manifest(str(tmp_path / 'bad.json'))
    assert index is None and 'schema 2' in info['error']
