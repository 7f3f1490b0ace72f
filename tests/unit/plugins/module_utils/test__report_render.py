# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_render: fleet.json sorted, fleet.html escaped and self-contained, junit.xml valid.

The host records are tests/fixtures/audit/{ml1,ml2,ci1}.json (the shape playbooks/audit.yml sends: ml1 healthy,
ml2 with a stub torch installed from a stub index, ci1 a Debian 13 CI runner) and the staging manifest is
tests/fixtures/audit/manifest.json (real names, versions and sha256 of the staged wheels), loaded by the
``manifest`` fixture of tests/unit/conftest.py; report_cases.py holds the helpers the _report_* tests share.
"""

from __future__ import absolute_import, division, print_function

import json
from xml.etree import ElementTree as ET

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils._report_render import Markup, fill, render_html, render_json, render_junit

from report_cases import HOSTILE, STAMP, build, hostile_doc, load_records


# --------------------------------------------------------------------------- fleet.json
def test_json_is_sorted(manifest):
    text = render_json(build(load_records(), manifest))
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + '\n'


# --------------------------------------------------------------------------- escaping and self-containment
def test_html_escapes_everything(manifest):
    page = render_html(hostile_doc(manifest))
    assert '<script' not in page
    assert '<img' not in page
    assert '<b>g</b>' not in page
    assert '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;&quot;' in page
    assert '&lt;img src=x onerror=alert(1)&gt; \ufffd problem' in page
    assert '\x01' not in page


def test_html_is_self_contained(manifest):
    page = render_html(build(load_records(), manifest))
    lowered = page.lower()
    for needle in ('<script', '<link', '<img', '<iframe', 'src=', '@import', 'url(', '@font-face'):
        assert needle not in lowered, needle
    assert lowered.startswith('<!doctype html>')
    assert '<style>' in page and '<meta charset="utf-8">' in page
    # the hrefs are in-page anchors only
    assert all(part.startswith('#') for part in page.split('href="')[1:])


def test_html_marks_cells_with_colour_and_text(manifest):
    page = render_html(build(load_records(), manifest))
    assert ('<td class="cell fail" data-host="ml2" data-check="torch" data-status="fail"><a href="#c-ml2-torch">'
            '<span class="sym">&#10008;</span>FAIL</a>') in page
    assert '<td class="cell pass" data-host="ml1" data-check="torch" data-status="pass"><span class="sym">&#10004;' \
           '</span>pass' in page
    assert '<td class="cell na" data-host="ci1" data-check="torch" data-status="n/a"><span class="sym">&#8211;' \
           '</span>n/a' in page
    assert 'report schema 1' in page and STAMP in page
    assert '<h3 id="c-ml2-torch">' in page
    assert 'Drift between hosts' in page
    assert '<h3>torch</h3>\n<table class="drift"><thead><tr><th>value compared</th><th>ml1</th><th>ml2</th></tr>' in page
    assert '<tr><td><code>build</code></td><td><code>cf30153c4c13 (cpu)</code></td><td><code>? (unknown build)</code>' \
        in page
    # ci1's venv holds another lock (hf alone): it is not a column of the ML nodes' distribution drift
    assert ('<h3>wheels:torch+hf</h3>\n<table class="drift"><thead><tr><th>value compared</th><th>ml1</th>'
            '<th>ml2</th></tr>') in page
    assert '<td class="na"><code>&#8212;</code></td>' not in page


# --------------------------------------------------------------------------- junit
def test_junit_is_valid_and_agrees_with_json(manifest):
    doc = hostile_doc(manifest)
    root = ET.fromstring(render_junit(doc).encode('utf-8'))
    assert root.tag == 'testsuites'
    cases = root.findall('./testsuite/testcase')
    assert len(cases) == len(doc['hosts']) * len(doc['checks'])
    assert int(root.get('tests')) == len(cases)
    by_case = dict(((c.get('classname'), c.get('name')), c) for c in cases)
    for host in doc['hosts']:
        for name, check in host['checks'].items():
            case = by_case[(host['host'], name)]
            failure, skipped = case.find('failure'), case.find('skipped')
            if check['status'] == 'fail':
                assert failure is not None and skipped is None
                assert failure.get('message') == check['summary']
                assert failure.text.splitlines()[0] == check['details']['problems'][0].replace('\x01', '\ufffd')
            elif check['status'] == 'n/a':
                assert skipped is not None and failure is None
                assert skipped.get('message') == check['summary']
            else:
                assert failure is None and skipped is None
    assert int(root.get('failures')) == doc['summary']['counts']['fail'] == len(root.findall('.//failure'))
    assert int(root.get('skipped')) == doc['summary']['counts']['n/a'] == len(root.findall('.//skipped'))
    suites = root.findall('testsuite')
    assert [s.get('name') for s in suites] == [h['host'] for h in doc['hosts']]
    assert ('ml2' + HOSTILE, 'torch') in by_case


# --------------------------------------------------------------------------- the template, autoescaped
def test_fill_escapes_values_but_not_markup():
    assert fill('<p>$a $b $c</p>', a='<i>&"\'', b=Markup('<br>'), c=None) == \
        '<p>&lt;i&gt;&amp;&quot;&#x27; <br> &#8212;</p>'
    assert fill('<td>$v</td>', v='bad \x01 value') == '<td>bad \ufffd value</td>'
    assert isinstance(fill('$v', v='x'), Markup)
    with pytest.raises(KeyError):
        fill('<p>$missing</p>', other='x')
