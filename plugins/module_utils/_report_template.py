# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report: the template of fleet.html (the page, its fragments and its stylesheet).

Private to the collection. ``string.Template`` text (``$name`` placeholders), filled by
``_report_render.fill``, which escapes every value unless it is a fragment already rendered (``Markup``). Kept as
Python constants, not a template file: module_utils are what Ansible ships with the module (``fleet_report``
runs delegated to localhost, from a temporary AnsiballZ payload), and a data file beside them would not travel.

One self-contained page: no script, no external asset.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

STYLE = u"""
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px;
       color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #57606a; margin: 0 0 12px; }
.verdict { display: inline-block; padding: 6px 12px; border-radius: 6px; font-weight: 700; margin: 6px 0 10px; }
.verdict.ok { background: #dafbe1; color: #116329; border: 1px solid #4ac26b; }
.verdict.bad { background: #ffebe9; color: #a40e26; border: 1px solid #ff8182; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid #d0d7de; padding: 6px 8px; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
td.host { font-weight: 600; overflow-wrap: anywhere; max-width: 200px; }
td.host .sub { display: block; font-weight: 400; font-size: 12px; color: #57606a; }
td.small, span.small { color: #57606a; font-size: 12px; }
td.cell { min-width: 90px; max-width: 190px; }
td.pass { background: #dafbe1; color: #116329; }
td.fail { background: #ffebe9; color: #a40e26; border: 2px solid #cf222e; }
td.na { background: #f6f8fa; color: #6e7781; }
.sym { font-weight: 700; font-size: 15px; margin-right: 4px; }
.why { display: block; font-size: 12px; margin-top: 2px; overflow-wrap: anywhere; }
td.fail .why { color: #82071e; }
a { color: inherit; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 8px; border-radius: 4px; }
.legend .pass { background: #dafbe1; color: #116329; } .legend .fail { background: #ffebe9; color: #a40e26; }
.legend .na { background: #f6f8fa; color: #6e7781; }
ul.problems { margin: 4px 0 8px 18px; padding: 0; } ul.problems li { color: #a40e26; overflow-wrap: anywhere; }
details { margin: 4px 0; } summary { cursor: pointer; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; max-width: 100%; white-space: pre-wrap;
      overflow-wrap: anywhere; }
code { font-size: 12px; }
footer { margin-top: 32px; color: #57606a; font-size: 12px; }
"""

# The whole page; each $slot is a fragment below, rendered, or a value (escaped).
PAGE = (
    u"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    u"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    u"<title>Fleet audit $generated_at: $title_verdict</title>\n"
    u"<style>" + STYLE + u"</style>\n</head>\n<body>\n"
    u"<h1>codex.offline_ml fleet audit</h1>\n"
    u"<p class=\"meta\">Generated <strong>$generated_at</strong> (UTC) &#183; report schema $schema &#183; $hosts "
    u"&#183; staging manifest <code>$manifest_path</code>$manifest_digest</p>\n"
    u"$manifest_error$mirror$verdict"
    u"<p class=\"legend\">Cells: <span class=\"pass\">&#10004; pass</span><span class=\"fail\">&#10008; FAIL</span>"
    u"<span class=\"na\">&#8211; n/a (the check does not apply to the host)</span> &#183; $passed pass, $failed fail, "
    u"$not_applicable n/a</p>\n"
    u"<h2 id=\"matrix\">Hosts &#215; checks</h2>\n<table class=\"matrix\">\n<thead><tr><th>host</th><th>verdict</th>"
    u"$check_headers</tr></thead>\n<tbody>\n$matrix_rows</tbody>\n</table>\n"
    u"<h2 id=\"failures\">What fails</h2>\n$failures"
    u"<h2 id=\"drift\">Drift between hosts</h2>\n$drift"
    u"<h2 id=\"details\">Every check, in detail</h2>\n$details"
    u"<footer>Written by $generator (codex.offline_ml, playbooks/audit.yml). Beside this page: fleet.json (the same "
    u"verdicts, machine-readable, schema $schema) and junit.xml (one test case per host and check). A check applies "
    u"to a host when the host is expected to have the role it audits$role_groups.</footer>\n"
    u"</body>\n</html>\n"
)

# header
MANIFEST_DIGEST = u" (sha256 $sha256, $wheels)"
MANIFEST_ERROR = u"<p class=\"verdict bad\">&#10008; $error</p>\n"
VERDICT_OK = u"<div class=\"verdict ok\">&#10004; COMPLIANT: all $hosts pass every check that applies to them</div>\n"
VERDICT_BAD = (u"<div class=\"verdict bad\">&#10008; NOT COMPLIANT: $failing of $hosts fail at least one check: "
               u"$names</div>\n")
ROLE_GROUPS = u": $role_groups"
# a line per mirror host: what it serves, the signature verdict (verified again by the audit), the releases it keeps
MIRROR = (u"<p class=\"meta\">$symbol mirror host <strong>$host</strong> serves release <strong>$release</strong> "
          u"(manifest sha256 $sha256) &#183; $signature &#183; health $health &#183; kept: $releases</p>\n")

# hosts x checks: a row per host, a cell per check
CHECK_HEADER = u"<th>$check</th>"
MATRIX_ROW = (u"<tr><td class=\"host\" id=\"$anchor\">$host<span class=\"sub\">$groups</span><span class=\"sub\">"
              u"$os &#183; Python $python</span></td>$verdict$cells</tr>\n")
HOST_COMPLIANT = u"<td class=\"cell pass\"><span class=\"sym\">&#10004;</span>compliant</td>"
HOST_NONCOMPLIANT = (u"<td class=\"cell fail\"><span class=\"sym\">&#10008;</span>NOT compliant"
                     u"<span class=\"why\">$failing</span></td>")
CELL = (u"<td class=\"cell $css\" data-host=\"$host\" data-check=\"$check\" data-status=\"$status\">$label"
        u"<span class=\"why\">$why</span></td>")
CELL_LABEL = u"<span class=\"sym\">$symbol</span>$word"
CELL_LINK = u"<a href=\"#$anchor\">$label</a>"

# what fails
NOTHING_FAILS = u"<p>Nothing fails.</p>\n"
FAILURE = u"<h3 id=\"$anchor\">&#10008; $host &#8212; $check</h3>\n$summary<ul class=\"problems\">\n$problems</ul>\n"
FAILURE_SUMMARY = u"<p>$summary</p>\n"
FAILURE_PROBLEM = u"<li>$problem</li>\n"

# drift
NO_DRIFT = (u"<p>No drift: the hosts where a check applies agree on every compared value (torch version and build, "
            u"distribution versions and lock of each venv, offline exports, cached revisions).</p>\n")
DRIFT_INTRO = (u"<p>Values that differ among the hosts where the check applies, one table per check: a row per value "
               u"compared, a column per host (&#8212; = absent).</p>\n")
DRIFT_TABLE = (u"<h3>$check</h3>\n<table class=\"drift\"><thead><tr><th>value compared</th>$hosts</tr></thead>\n"
               u"<tbody>\n$rows</tbody></table>\n")
DRIFT_HOST = u"<th>$host</th>"
DRIFT_ROW = u"<tr><td><code>$key</code></td>$cells</tr>\n"
DRIFT_VALUE = u"<td><code>$value</code></td>"
DRIFT_ABSENT = u"<td class=\"na\"><code>$value</code></td>"

# every check, in detail
HOST_DETAILS = u"<h3>$symbol $host <span class=\"small\">(roles expected: $roles; from $source)</span></h3>\n$checks"
CHECK_DETAILS = (u"<details$open><summary>$symbol $check &#8212; <strong>$word</strong>: $summary</summary>\n"
                 u"$problems$data</details>\n")
DETAIL_PROBLEMS = u"<ul class=\"problems\">$items</ul>\n"
DETAIL_PROBLEM = u"<li>$problem</li>"
DETAIL_DATA = u"<pre>$data</pre>\n"
