# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_files: one folder per run, the latest symlink, no temporary file left.

The host records are tests/fixtures/audit/{ml1,ml2,ci1}.json (the shape playbooks/audit.yml sends: ml1 healthy,
ml2 with a stub torch installed from a stub index, ci1 a Debian 13 CI runner) and the staging manifest is
tests/fixtures/audit/manifest.json (real names, versions and sha256 of the staged wheels), loaded by the
``manifest`` fixture of tests/unit/conftest.py; report_cases.py holds the helpers the _report_* tests share.
"""

from __future__ import absolute_import, division, print_function

import json
import os
from pathlib import Path

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import ReportError
from ansible_collections.codex.offline_ml.plugins.module_utils._report_files import write_report
from ansible_collections.codex.offline_ml.plugins.module_utils._report_render import render_json

from report_cases import build, load_records


def test_write_report_folders_and_latest(tmp_path, manifest):
    doc = build(load_records(), manifest)
    now = 1795867200.0  # 2026-11-28T12:00:00Z
    first = write_report(doc, str(tmp_path), now)
    assert first['dir'] == str(tmp_path / '20261128T120000Z')
    assert sorted(os.listdir(first['dir'])) == ['fleet.html', 'fleet.json', 'junit.xml']
    assert os.readlink(str(tmp_path / 'latest')) == '20261128T120000Z'
    assert json.loads(Path(first['files']['json']).read_text()) == json.loads(render_json(doc))
    second = write_report(doc, str(tmp_path), now)  # same second: a new folder all the same
    assert second['dir'] == str(tmp_path / '20261128T120000Z-1')
    assert os.readlink(str(tmp_path / 'latest')) == '20261128T120000Z-1'
    assert Path(first['files']['html']).read_text() == Path(second['files']['html']).read_text()
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith('.') or n.endswith('.tmp')]
    with pytest.raises(ReportError, match='absolute'):
        write_report(doc, 'relative/dir', now)
