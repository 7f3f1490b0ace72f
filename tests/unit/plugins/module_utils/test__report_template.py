# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_template: every template is valid string.Template text; the page holds the stylesheet itself."""

from __future__ import absolute_import, division, print_function

import string

from ansible_collections.codex.offline_ml.plugins.module_utils import _report_template as T

TEMPLATES = dict((name, value) for name, value in vars(T).items() if name.isupper() and isinstance(value, str))


def test_every_template_is_valid():
    assert len(TEMPLATES) > 20
    for name, text in TEMPLATES.items():
        assert string.Template(text).is_valid(), name


def test_stylesheet_has_no_placeholder_and_is_in_the_page():
    assert string.Template(T.STYLE).get_identifiers() == []
    assert '<style>' + T.STYLE + '</style>' in T.PAGE


def test_page_slots():
    assert set(string.Template(T.PAGE).get_identifiers()) == {
        'generated_at', 'title_verdict', 'schema', 'hosts', 'manifest_path', 'manifest_digest', 'manifest_error',
        'mirror', 'verdict', 'passed', 'failed', 'not_applicable', 'check_headers', 'matrix_rows', 'failures', 'drift',
        'details', 'generator', 'role_groups'}
