# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_report_common: the check result and the one summary of a failing check."""

from __future__ import absolute_import, division, print_function

from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import (
    FAIL,
    fingerprint,
    plural,
    result,
    summarize,
)


def test_summary_of_one_problem_is_the_problem():
    assert summarize(['gate venv /opt/codex/gates lacks nox']) == 'gate venv /opt/codex/gates lacks nox'


def test_summary_of_several_problems_counts_them_and_names_the_first():
    assert summarize(['a missing', 'b missing', 'c missing']) == '3 problems; first: a missing'
    assert summarize(['a missing', 'b missing']) == '2 problems; first: a missing'


def test_result_keeps_problems_and_drops_volatile_keys():
    check = result(FAIL, 'x', ('p1', 'p2'), data={'elapsed_s': 1.5, 'keep': [{'elapsed_s': 2, 'v': 1}]})
    assert check == {'status': 'fail', 'summary': 'x',
                     'details': {'problems': ['p1', 'p2'], 'data': {'keep': [{'v': 1}]}}}


def test_plural_and_fingerprint():
    assert (plural(1, 'host'), plural(2, 'host'), plural(0, 'repo')) == ('1 host', '2 hosts', '0 repos')
    assert fingerprint({'b': [1], 'a': 2}) == fingerprint({'a': 2, 'b': [1]}) != fingerprint({'a': 2, 'b': [2]})
