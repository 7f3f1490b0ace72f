# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Floor resolution and the exact comparison of the ci_gates role: the very file the role installs
(roles/ci_gates/files/lib/codex_gate.py), imported from there."""

from __future__ import absolute_import, division, print_function

import decimal
import fractions
import json
import sys
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[4] / 'roles' / 'ci_gates' / 'files' / 'lib'
sys.path.insert(0, str(FILES))

import codex_gate as gate  # noqa: E402

D = decimal.Decimal


def floor(**env):
    return gate.resolve_floor(env, 85)


# ------------------------------------------------------------------------------------------------ sources
def test_unset_uses_the_role_default():
    result = floor()
    assert (result.value, result.source, result.is_default) == (D('85'), 'ci_gates_coverage_default', True)
    assert result.describe() == ('coverage floor 85% from the default ci_gates_coverage_default '
                                 '(COVERAGE_MIN is unset; COV_FAIL_UNDER is unset)')


def test_empty_counts_as_unset():
    result = floor(COVERAGE_MIN='', COV_FAIL_UNDER='  ')
    assert (result.value, result.source) == (D('85'), 'ci_gates_coverage_default')
    assert 'COVERAGE_MIN is empty, counted as unset' in result.describe()
    assert 'COV_FAIL_UNDER is empty, counted as unset' in result.describe()


def test_empty_coverage_min_falls_back_to_cov_fail_under():
    result = floor(COVERAGE_MIN='', COV_FAIL_UNDER='70')
    assert (result.value, result.source) == (D('70'), 'COV_FAIL_UNDER')
    assert result.describe() == 'coverage floor 70% from COV_FAIL_UNDER (COVERAGE_MIN is empty, counted as unset)'


def test_cov_fail_under_when_coverage_min_is_unset():
    result = floor(COV_FAIL_UNDER='72.5')
    assert (result.value, result.source, result.is_default) == (D('72.5'), 'COV_FAIL_UNDER', False)
    assert result.describe() == 'coverage floor 72.5% from COV_FAIL_UNDER (COVERAGE_MIN is unset)'


def test_coverage_min_wins_when_both_are_set():
    result = floor(COVERAGE_MIN='60', COV_FAIL_UNDER='99')
    assert (result.value, result.source) == (D('60'), 'COVERAGE_MIN')
    assert result.describe() == 'coverage floor 60% from COVERAGE_MIN (COV_FAIL_UNDER=99 is ignored: COVERAGE_MIN wins)'


def test_coverage_min_alone():
    assert floor(COVERAGE_MIN='60').describe() == 'coverage floor 60% from COVERAGE_MIN'


def test_the_passed_over_variable_is_not_validated():
    assert floor(COVERAGE_MIN='90', COV_FAIL_UNDER='junk').value == D('90')


def test_surrounding_blanks_are_ignored():
    assert floor(COVERAGE_MIN=' 84.99 ').value == D('84.99')


def test_a_default_name_of_the_caller():
    result = gate.resolve_floor({}, '70', default_name='my_floor')
    assert result.describe().startswith('coverage floor 70% from the default my_floor')


@pytest.mark.parametrize('text, value', [('0', D(0)), ('100', D(100)), ('100.0', D(100)), ('85.', D(85)),
                                         ('.5', D('0.5')), ('084', D(84)), ('84.999999', D('84.999999'))])
def test_valid_values(text, value):
    assert floor(COVERAGE_MIN=text).value == value


# ------------------------------------------------------------------------------------------------ invalid
@pytest.mark.parametrize('text', ['abc', '85%', 'nan', 'inf', '1e2', '+85', '-5', '8 5', '85,5', '0x50', '..5',
                                  '85.5.1', '٨٥'])
def test_non_numeric_fails_naming_the_variable(text):
    with pytest.raises(gate.GateError) as err:
        floor(COVERAGE_MIN=text)
    assert str(err.value).startswith("COVERAGE_MIN=%r is not a number from 0 to 100" % text)


def test_non_numeric_cov_fail_under_fails_naming_it():
    with pytest.raises(gate.GateError, match=r"^COV_FAIL_UNDER='high' is not a number from 0 to 100"):
        floor(COV_FAIL_UNDER='high')


@pytest.mark.parametrize('name', ['COVERAGE_MIN', 'COV_FAIL_UNDER'])
@pytest.mark.parametrize('text', ['100.01', '101', '1000'])
def test_out_of_range_fails_naming_the_variable(name, text):
    with pytest.raises(gate.GateError) as err:
        floor(**{name: text})
    assert str(err.value) == '%s=%r is out of range: a coverage floor is a number from 0 to 100' % (name, text)


def test_an_invalid_default_is_named():
    with pytest.raises(gate.GateError, match=r"^ci_gates_coverage_default='eighty' is not a number"):
        gate.resolve_floor({}, 'eighty')


# ----------------------------------------------------------------------------------------- the comparison
def report(covered, statements, covered_branches=None, branches=None):
    totals = {'covered_lines': covered, 'num_statements': statements,
              'percent_covered': 100.0 * covered / statements if statements else 100.0}
    if branches is not None:
        totals.update(covered_branches=covered_branches, num_branches=branches)
    return {'totals': totals}


def test_below_by_any_amount_fails():
    total = gate.coverage_total(report(8499, 10000))  # 84.99 %
    assert gate.below_floor(total, floor())
    passed, message = gate.compare_message(total, floor())
    assert not passed
    assert message == ('FAILED: total coverage 84.9900% (8499 of 10000 statements and branches) is below the '
                       'coverage floor 85% from the default ci_gates_coverage_default (COVERAGE_MIN is unset; '
                       'COV_FAIL_UNDER is unset); the report above rounds it to 85%, the gate compares the exact value')


def test_equal_to_the_floor_passes():
    total = gate.coverage_total(report(35, 40))  # 87.5 %
    assert not gate.below_floor(total, floor(COVERAGE_MIN='87.5'))
    assert gate.below_floor(total, floor(COVERAGE_MIN='87.5001'))
    assert gate.below_floor(total, floor(COVERAGE_MIN='88'))
    passed, message = gate.compare_message(total, floor(COVERAGE_MIN='87.5'))
    assert passed
    assert message == ('total coverage 87.5000% (35 of 40 statements and branches) meets the coverage floor 87.5% '
                       'from COVERAGE_MIN')


def test_repeating_fractions_are_compared_exactly():
    total = gate.coverage_total(report(2, 3))  # 66.666...
    assert total.percent == fractions.Fraction(200, 3)
    assert not gate.below_floor(total, floor(COVERAGE_MIN='66.6666666666666666666'))
    assert gate.below_floor(total, floor(COVERAGE_MIN='66.6666666666666666667'))
    assert gate.format_percent(total.percent) == '66.6666...'


def test_branches_count_like_coverage_counts_them():
    total = gate.coverage_total(report(30, 40, covered_branches=5, branches=10))
    assert (total.covered, total.measured) == (35, 50)
    assert total.percent == 70


def test_nothing_measured_is_none():
    assert gate.coverage_total(report(0, 0)) is None


def test_format_percent_cuts_never_rounds():
    assert gate.format_percent(fractions.Fraction(849999, 10000)) == '84.9999'
    assert gate.format_percent(fractions.Fraction(8499999, 100000)) == '84.9999...'
    assert gate.format_percent(fractions.Fraction(100)) == '100.0000'
    assert gate.format_percent(fractions.Fraction(1, 200)) == '0.0050'


# ---------------------------------------------------------------------------------- the other variables
@pytest.mark.parametrize('text, default, wanted', [
    (None, False, False), ('', False, False), ('1', False, True), ('TRUE', False, True), ('yes', False, True),
    ('0', False, False), ('no', False, False), ('0', True, True), (None, True, True)])
def test_require_torch(text, default, wanted):
    env = {} if text is None else {'CODEX_REQUIRE_TORCH': text}
    assert gate.torch_required(env, default) is wanted


def test_require_torch_invalid_is_named():
    with pytest.raises(gate.GateError, match=r"^CODEX_REQUIRE_TORCH='maybe' is not a yes/no value"):
        gate.torch_required({'CODEX_REQUIRE_TORCH': 'maybe'})


@pytest.mark.parametrize('text', ['0', '-1', 'soon', 'nan', 'inf'])
def test_timeout_invalid_is_named(text):
    with pytest.raises(gate.GateError, match=r'^CODEX_TORCH_CHECK_TIMEOUT='):
        gate.torch_check_timeout({'CODEX_TORCH_CHECK_TIMEOUT': text})


def test_timeout_default_and_value():
    assert gate.torch_check_timeout({}) == 120
    assert gate.torch_check_timeout({'CODEX_TORCH_CHECK_TIMEOUT': '7.5'}) == 7.5


def test_test_venv_site_dirs(tmp_path):
    assert gate.test_venv_site_dirs('') == []
    assert gate.test_venv_site_dirs(str(tmp_path / 'nowhere')) == []
    site = tmp_path / 'lib' / 'python3.11' / 'site-packages'
    site.mkdir(parents=True)
    assert gate.test_venv_site_dirs(str(tmp_path), (3, 11)) == [str(site)]
    with pytest.raises(gate.GateError, match=r'is for python3.11 but the gate runs Python 3.12'):
        gate.test_venv_site_dirs(str(tmp_path), (3, 12))


def test_summarize_diagnostic():
    ok = {'status': 'ok', 'version': '2.13.0+cpu', 'location': '/v/torch', 'problems': []}
    assert gate.summarize_diagnostic(json.dumps(ok)) == 'torch ok: torch 2.13.0+cpu at /v/torch'
    stub = {'status': 'stub', 'location': '/v/torch', 'problems': ['no Dataset', 'no _C']}
    assert gate.summarize_diagnostic(json.dumps(stub)) == 'torch stub (/v/torch): no Dataset; no _C'
    assert gate.summarize_diagnostic('') == 'the torch diagnostic printed no facts'
    assert gate.summarize_diagnostic('Traceback boom') == 'the torch diagnostic printed no facts: Traceback boom'


# ---------------------------------------------------------------------------------------------- commands
def test_check_env_prints_the_requirement(monkeypatch, capsys):
    monkeypatch.delenv('COVERAGE_MIN', raising=False)
    monkeypatch.delenv('CODEX_REQUIRE_TORCH', raising=False)
    monkeypatch.setenv('COV_FAIL_UNDER', '70')
    assert gate.main(['check-env', '--default', '85', '--torch-required', '1']) == 0
    out, err = capsys.readouterr()
    assert out == '1\n'
    assert err == 'codex-gate: coverage floor 70% from COV_FAIL_UNDER (COVERAGE_MIN is unset)\n'


def test_check_env_rejects_with_exit_2(monkeypatch, capsys):
    monkeypatch.setenv('COVERAGE_MIN', 'eighty')
    assert gate.main(['check-env', '--default', '85', '--quiet']) == 2
    out, err = capsys.readouterr()
    assert out == ''
    assert err.startswith("codex-gate: ERROR: COVERAGE_MIN='eighty' is not a number from 0 to 100")


# ------------------------------------------------------------------------------ the session helper: gate()
def settings(tmp_path, *projects):
    path = tmp_path / 'codex_gate.json'
    path.write_text(json.dumps({'python': '/opt/codex/gates/bin/python', 'coverage_default': '85',
                                'test_venv': '/opt/codex/venv', 'projects': list(projects)}))
    return str(path)


PROJECT = {'path': '/srv/p', 'name': 'p', 'source': ['pkg'], 'tests': ['tests'], 'test_venv': '/opt/codex/venv',
           'pytest_args': ['-x']}


@pytest.mark.parametrize('text', ['85%', '-1', 'nan'])
def test_bad_floors_of_the_issue_exit_2_naming_the_variable(monkeypatch, capsys, text):
    monkeypatch.setenv('COVERAGE_MIN', text)
    assert gate.main(['check-env', '--default', '85', '--quiet']) == 2
    assert "COVERAGE_MIN=%r is not a number from 0 to 100" % text in capsys.readouterr()[1]


def test_find_project_by_real_path(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    (tmp_path / 'link').symlink_to(real)
    config = {'projects': [dict(PROJECT, path=str(real))]}
    assert gate.find_project(config, str(tmp_path / 'link'))['name'] == 'p'
    with pytest.raises(gate.GateError, match='is not a gated project .ci_gates_projects lists: %s' % real):
        gate.find_project(config, str(tmp_path))


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(gate.GateError, match='cannot read the gate settings .*apply codex.offline_ml.ci_gates'):
        gate.load_config(str(tmp_path / 'missing.json'))
    (tmp_path / 'bad.json').write_text('{')
    with pytest.raises(gate.GateError, match='are not JSON'):
        gate.load_config(str(tmp_path / 'bad.json'))


def test_gate_argv():
    config = {'python': '/g/bin/python', 'coverage_default': '85', 'test_venv': '/t'}
    assert gate.gate_argv(PROJECT, config, ['-k', 'x']) == [
        '/g/bin/python', '-m', 'codex_gate', 'pytest', '--default', '85', '--test-venv', '/opt/codex/venv',
        '--project', '/srv/p', '--source', 'pkg', '--tests', 'tests', '--', '-x', '-k', 'x']


class Session(object):
    """The nox session object gate() receives (its run/error/posargs)."""

    def __init__(self, posargs=()):
        self.posargs = list(posargs)
        self.runs = []

    def run(self, *args, **kwargs):
        self.runs.append((args, kwargs))

    def error(self, message):
        raise RuntimeError(message)


def test_gate_runs_the_project_from_its_directory(tmp_path, monkeypatch):
    project = tmp_path / 'proj'
    project.mkdir()
    monkeypatch.setattr(gate, 'CONFIG_FILE', settings(tmp_path, dict(PROJECT, path=str(project))))
    monkeypatch.chdir(project)
    session = Session(['-q'])
    gate.gate(session, source=['other'])
    (args, kwargs), = session.runs
    assert kwargs == {'external': True}
    assert args[:4] == ('/opt/codex/gates/bin/python', '-m', 'codex_gate', 'pytest')
    assert '--source' in args and args[args.index('--source') + 1] == 'other'
    assert args[-2:] == ('-x', '-q')


def test_gate_outside_a_gated_project_is_a_session_error(tmp_path, monkeypatch):
    monkeypatch.setattr(gate, 'CONFIG_FILE', settings(tmp_path, PROJECT))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match='is not a gated project'):
        gate.gate(Session())
    monkeypatch.chdir('/')
    monkeypatch.setattr(gate, 'CONFIG_FILE', settings(tmp_path, dict(PROJECT, path='/')))
    with pytest.raises(RuntimeError, match='gate.. takes source, tests, test_venv and pytest_args; not floor'):
        gate.gate(Session(), floor=3)


def test_project_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gate, 'CONFIG_FILE', settings(tmp_path, dict(PROJECT, path=str(tmp_path))))
    assert gate.main(['project', str(tmp_path)]) == 0
    assert capsys.readouterr()[0] == 'p\t/opt/codex/venv\n'
    assert gate.main(['project', '/nowhere']) == 2
    assert 'ERROR: /nowhere is not a gated project' in capsys.readouterr()[1]


def test_write_result(tmp_path):
    gate.write_result(str(tmp_path), {'result': 'passed'})
    assert json.loads((tmp_path / gate.RESULT_FILE).read_text()) == {'result': 'passed'}
    assert [p.name for p in tmp_path.iterdir()] == [gate.RESULT_FILE]
    gate.write_result(str(tmp_path / 'missing'), {'result': 'passed'})  # reported, not fatal
