# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""fleet.html in a real browser: Debian's chromium, headless, offline, on a report of tests/fixtures/audit.

The records are three hosts: ml1 healthy, ml2 with a stub torch (its torch and wheels checks fail), ci1 a CI
runner where torch does not apply. The DOM chromium builds must show every host and check, mark the failing
cells, and the page must render (a screenshot, kept as build/test-artifacts/report_html/report.png).

Needs /usr/bin/chromium (`apt-get install -y chromium`); never skipped.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / 'tests' / 'fixtures' / 'audit'
ARTIFACTS = REPO_ROOT / 'build' / 'test-artifacts' / 'report_html'
COLLECTIONS = REPO_ROOT / 'build' / 'collections'
ROLE_GROUPS = {'torch_cpu': ['ml_nodes'], 'hf_offline_cache': ['ml_nodes', 'ci_runners'], 'ci_gates': ['ci_runners']}
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--disable-extensions', '--disable-default-apps', '--mute-audio']


def _report_modules():
    if not (COLLECTIONS / 'ansible_collections' / 'codex' / 'offline_ml').exists():
        pytest.fail('build/collections/ansible_collections/codex/offline_ml is missing: run `make collection`',
                    pytrace=False)
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.codex.offline_ml.plugins.module_utils import _report_files, _report_fleet, _report_manifest
    return _report_manifest, _report_fleet, _report_files


@pytest.fixture(scope='module')
def chromium():
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if not found:
        pytest.fail('chromium is not installed: apt-get install -y chromium (Debian package)', pytrace=False)
    return found


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    manifest, fleet, files = _report_modules()
    records = [json.loads((FIXTURES / ('%s.json' % h)).read_text()) for h in ('ml1', 'ml2', 'ci1')]
    info, index = manifest.load_manifest(str(FIXTURES / 'manifest.json'))
    doc = fleet.build_report(records, info, index, role_groups=ROLE_GROUPS)
    paths = files.write_report(doc, str(tmp_path_factory.mktemp('report')))
    return doc, paths


def run_chromium(chromium, tmp_path, *args):
    argv = [chromium] + CHROMIUM_FLAGS + ['--user-data-dir=%s' % (tmp_path / 'profile')] + list(args)
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180, check=False,
                          env=dict(os.environ, HOME=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr.decode('utf-8', 'replace')[-3000:]
    return proc.stdout.decode('utf-8')


class Cells(HTMLParser):
    """The matrix cells of the DOM: {(host, check): (status, classes, text)}, and all the page's text."""

    def __init__(self):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.cells = {}
        self.text = []
        self._cell = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._cell is not None and tag == 'td':
            self._depth += 1
        if tag == 'td' and 'data-check' in attrs:
            self._cell = {'key': (attrs['data-host'], attrs['data-check']), 'status': attrs['data-status'],
                          'classes': attrs.get('class', '').split(), 'text': []}
            self._depth = 0

    def handle_endtag(self, tag):
        if tag == 'td' and self._cell is not None:
            if self._depth:
                self._depth -= 1
                return
            cell = self._cell
            self.cells[cell['key']] = (cell['status'], cell['classes'], ' '.join(''.join(cell['text']).split()))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell['text'].append(data)


def test_dom_shows_every_host_and_check_and_marks_failures(chromium, report, tmp_path):
    doc, paths = report
    dom = run_chromium(chromium, tmp_path, '--dump-dom', Path(paths['files']['html']).as_uri())
    parser = Cells()
    parser.feed(dom)
    text = ' '.join(''.join(parser.text).split())
    hosts = [h['host'] for h in doc['hosts']]
    assert hosts == ['ci1', 'ml1', 'ml2']
    for host in hosts:
        assert host in text
    for check in doc['checks']:
        assert check in text
    # one cell per host and check, each saying its status in words and a symbol, coloured by class
    assert set(parser.cells) == set((h, c) for h in hosts for c in doc['checks'])
    words = {'pass': ('pass', u'\u2714'), 'fail': ('FAIL', u'\u2718'), 'n/a': ('n/a', u'\u2013')}
    css = {'pass': 'pass', 'fail': 'fail', 'n/a': 'na'}
    for entry in doc['hosts']:
        for name, check in entry['checks'].items():
            status, classes, cell_text = parser.cells[(entry['host'], name)]
            assert status == check['status']
            assert css[status] in classes
            word, symbol = words[status]
            assert cell_text.startswith(symbol + word), cell_text
    failing = sorted(k for k, v in parser.cells.items() if v[0] == 'fail')
    assert failing == [('ml2', 'torch'), ('ml2', 'wheels:torch+hf')]
    assert 'torch is stub' in parser.cells[('ml2', 'torch')][2]
    # the failing details are on the page, not only in the JSON
    assert "No module named 'torch.utils'" in text
    assert 'NOT COMPLIANT: 1 of 3 hosts fail at least one check: ml2' in text
    assert 'report schema 1' in text and doc['generated_at'] in text
    assert 'Drift between hosts' in text and 'cf30153c4c13 (cpu)' in text
    # nothing on the page needs a script or another resource
    assert '<script' not in dom.lower()


def test_page_renders_to_a_screenshot(chromium, report, tmp_path):
    _doc, paths = report
    png = tmp_path / 'report.png'
    run_chromium(chromium, tmp_path, '--screenshot=%s' % png, '--window-size=1280,900', '--hide-scrollbars',
                 Path(paths['files']['html']).as_uri())
    data = png.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    assert len(data) > 20000  # a blank 1280x900 page is a few kB; the matrix in colour is far more
    width, height = int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')
    assert (width, height) == (1280, 900)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(png), str(ARTIFACTS / 'report.png'))
