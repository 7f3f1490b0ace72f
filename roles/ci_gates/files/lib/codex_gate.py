# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Installed by the codex.offline_ml.ci_gates role (roles/ci_gates/files/lib/codex_gate.py): do not edit on the host.
"""The coverage gate of codex.offline_ml.ci_gates: which floor, the pytest run, the exact comparison.

Standard library only at import time (pytest is imported only by the ``pytest`` command), so the unit
tests import this very file. It lives in the gate's lib directory, which the gate venv has on its path.

Commands (``python -m codex_gate COMMAND``), exit status 0 ok, 1 gate failed, 2 configuration error:

``check-env --default N [--torch-required 0|1]``
    Validate ``COVERAGE_MIN``, ``COV_FAIL_UNDER``, ``CODEX_REQUIRE_TORCH`` and ``CODEX_TORCH_CHECK_TIMEOUT``;
    print ``1`` when torch is required (``--torch-required 1`` or ``CODEX_REQUIRE_TORCH``), else ``0``.
``pytest --default N --source PKG... [--tests PATH...] [--test-venv DIR] [-- PYTEST_ARGS]``
    The body of the nox ``tests`` session: print which source set the floor, run pytest in this process
    with coverage and the torch guard, fail when pytest fails or collects no tests, then compare the
    measured total with the floor exactly (never rounded).
``torch-summary``
    Read the torch diagnostic's JSON on stdin and print one line about it.
``project DIR``
    Print the name and the test venv (tab-separated) of the gated project at DIR (one of
    ``ci_gates_projects``); exit 2 when it is not one.

From a noxfile (the project's own or the one the role writes), the ``tests`` session calls :func:`gate`::

    from codex_gate import gate

    @nox.session(venv_backend="none")
    def tests(session):
        gate(session)

The settings (the role's default floor, each project's sources, tests, test venv and pytest arguments) come
from ``codex_gate.json`` beside this file, which the role writes from ``ci_gates_projects``.

The floor is ``COVERAGE_MIN`` when it is set and not empty, else ``COV_FAIL_UNDER`` when set and not empty,
else the role default (``ci_gates_coverage_default``). A value that is not a number from 0 to 100 is an
error naming the variable.
"""

from __future__ import absolute_import, division, print_function

import argparse
import collections
import decimal
import fractions
import json
import os
import re
import shutil
import sys
import tempfile
import time

FLOOR_VARIABLES = ('COVERAGE_MIN', 'COV_FAIL_UNDER')
DEFAULT_NAME = 'ci_gates_coverage_default'
REQUIRE_TORCH_VARIABLE = 'CODEX_REQUIRE_TORCH'
TIMEOUT_VARIABLE = 'CODEX_TORCH_CHECK_TIMEOUT'
DEFAULT_TORCH_TIMEOUT = 120
GUARD_PLUGIN = 'codex_torch_guard'

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
# pytest's exit status when it collected no tests (pytest.ExitCode.NO_TESTS_COLLECTED).
PYTEST_NO_TESTS = 5
PYTEST_EXIT_WORDS = {1: 'tests failed', 2: 'the run was interrupted (collection errors?)',
                     3: 'pytest hit an internal error', 4: 'pytest was called wrongly (usage error)'}

_NUMBER = re.compile(r'^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$')
_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('0', 'false', 'no', 'off')

PREFIX = 'codex-gate: '
# Written by the role beside this file: the default floor, the gate python and the projects.
CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'codex_gate.json')
# Written into the project directory by each gate run (the audit reads it): the last result.
RESULT_FILE = '.codex-gate-result.json'


class GateError(Exception):
    """A configuration error; the message names the variable and the fix."""


class Floor(collections.namedtuple('Floor', 'value source text notes is_default')):
    """The coverage floor: ``value`` (Decimal, exact), ``source`` (the variable that set it), ``text`` (as
    given), ``notes`` (what was passed over, in words) and ``is_default`` (no variable set it)."""

    __slots__ = ()

    def describe(self):
        where = ('the default %s' % self.source) if self.is_default else self.source
        line = 'coverage floor %s%% from %s' % (format_decimal(self.value), where)
        return line + (' (%s)' % '; '.join(self.notes) if self.notes else '')


def format_decimal(value):
    """85 -> '85', Decimal('72.50') -> '72.5'."""
    text = format(value, 'f')
    if '.' in text:
        text = text.rstrip('0').rstrip('.')
    return text or '0'


def parse_percent(name, text):
    """The Decimal value of ``text`` for the variable ``name``; GateError unless it is a number from 0 to 100."""
    stripped = str(text).strip()
    if not _NUMBER.match(stripped):
        raise GateError('%s=%r is not a number from 0 to 100: set it to a percentage such as 85 or 72.5 '
                        '(digits and one dot, no %% sign), or unset it' % (name, text))
    value = decimal.Decimal(stripped)
    if value > 100:
        raise GateError('%s=%r is out of range: a coverage floor is a number from 0 to 100' % (name, text))
    return value


def _is_set(environ, name):
    value = environ.get(name)
    return value is not None and value.strip() != ''


def resolve_floor(environ, default, default_name=DEFAULT_NAME):
    """The Floor for this environment (a mapping such as os.environ).

    ``COVERAGE_MIN`` set and not empty wins; else ``COV_FAIL_UNDER``; else ``default``. Empty (or blank)
    counts as unset. Only the variable that is used is validated; the ones passed over are noted.
    """
    notes = []
    for position, name in enumerate(FLOOR_VARIABLES):
        if not _is_set(environ, name):
            if name in environ:
                notes.append('%s is empty, counted as unset' % name)
            else:
                notes.append('%s is unset' % name)
            continue
        value = parse_percent(name, environ[name])
        for later in FLOOR_VARIABLES[position + 1:]:
            if _is_set(environ, later):
                notes.append('%s=%s is ignored: %s wins' % (later, environ[later].strip(), name))
        return Floor(value, name, environ[name], tuple(notes), False)
    value = parse_percent(default_name, default)
    return Floor(value, default_name, str(default), tuple(notes), True)


def torch_required(environ, default=False):
    """Whether torch is required: ``CODEX_REQUIRE_TORCH`` (1/true/yes/on or 0/false/no/off), else ``default``."""
    raw = environ.get(REQUIRE_TORCH_VARIABLE)
    if raw is None or raw.strip() == '':
        return bool(default)
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return bool(default)
    raise GateError('%s=%r is not a yes/no value: set it to 1 (tests that need torch fail when torch is '
                    'missing or unusable) or 0, or unset it' % (REQUIRE_TORCH_VARIABLE, raw))


def torch_check_timeout(environ):
    """Seconds the guard gives the torch diagnostic: ``CODEX_TORCH_CHECK_TIMEOUT``, else 120."""
    raw = environ.get(TIMEOUT_VARIABLE, '').strip()
    if not raw:
        return DEFAULT_TORCH_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float('inf'):
        raise GateError('%s=%r must be a positive number of seconds' % (TIMEOUT_VARIABLE, raw))
    return value


Total = collections.namedtuple('Total', 'percent covered measured')


def coverage_total(report):
    """Total of a coverage.py JSON report as an exact Fraction of percent (lines plus branches, as coverage
    counts them); None when nothing was measured."""
    totals = report['totals']
    covered = int(totals['covered_lines']) + int(totals.get('covered_branches') or 0)
    measured = int(totals['num_statements']) + int(totals.get('num_branches') or 0)
    if measured == 0:
        return None
    return Total(fractions.Fraction(100 * covered, measured), covered, measured)


def below_floor(total, floor):
    """True when the total is below the floor by any amount (exact rational comparison, no rounding)."""
    return total.percent < fractions.Fraction(floor.value)


def format_percent(fraction, places=4):
    """An exact Fraction as a decimal string cut (not rounded) to ``places``: 84.999 -> '84.9990'."""
    scaled = fraction * (10 ** places)
    whole = scaled.numerator // scaled.denominator
    text = str(whole).rjust(places + 1, '0')
    exact = '' if whole == scaled else '...'
    return '%s.%s%s' % (text[:-places], text[-places:], exact)


def compare_message(total, floor):
    """(passed, message) for a total against the floor."""
    shown = format_percent(total.percent)
    counted = '%d of %d statements and branches' % (total.covered, total.measured)
    if below_floor(total, floor):
        rounded = int(round(float(total.percent)))
        hint = ''
        if rounded >= floor.value:
            hint = ('; the report above rounds it to %d%%, the gate compares the exact value' % rounded)
        return False, ('FAILED: total coverage %s%% (%s) is below the %s%s'
                       % (shown, counted, floor.describe(), hint))
    return True, 'total coverage %s%% (%s) meets the %s' % (shown, counted, floor.describe())


def test_venv_site_dirs(venv, version_info=None):
    """site-packages of ``venv`` for this Python version ([] when there is none); GateError when the venv
    exists but was made for another Python version."""
    if not venv:
        return []
    version_info = version_info or sys.version_info
    lib = os.path.join(venv, 'lib')
    site = os.path.join(lib, 'python%d.%d' % tuple(version_info[:2]), 'site-packages')
    if os.path.isdir(site):
        return [site]
    if os.path.isdir(lib):
        others = sorted(d for d in os.listdir(lib) if d.startswith('python'))
        if others:
            raise GateError('the test venv %s is for %s but the gate runs Python %d.%d: rebuild one of them with '
                            'the same interpreter (ci_gates_python / torch_cpu_python)'
                            % (venv, ', '.join(others), version_info[0], version_info[1]))
    return []


def say(message, stream=None):
    stream = stream or sys.stdout
    stream.write(PREFIX + message + '\n')
    stream.flush()


def load_config(path=None):
    """The role's settings (``codex_gate.json``); GateError when it is missing or not JSON."""
    path = path or CONFIG_FILE
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (IOError, OSError) as exc:
        raise GateError('cannot read the gate settings %s (%s): apply codex.offline_ml.ci_gates' % (path, exc))
    except ValueError as exc:
        raise GateError('the gate settings %s are not JSON (%s): apply codex.offline_ml.ci_gates again' % (path, exc))
    config.setdefault('projects', [])
    return config


def find_project(config, directory):
    """The entry of ``config['projects']`` for ``directory`` (compared as real paths), else GateError."""
    wanted = os.path.realpath(directory)
    for project in config.get('projects') or []:
        if os.path.realpath(project['path']) == wanted:
            return project
    listed = ', '.join(p['path'] for p in config.get('projects') or []) or 'none'
    raise GateError('%s is not a gated project (ci_gates_projects lists: %s): add it to ci_gates_projects and '
                    'apply codex.offline_ml.ci_gates' % (wanted, listed))


def gate_argv(project, config, posargs=()):
    """The command line of the gate's pytest run for ``project`` (an entry of ``config['projects']``)."""
    argv = [config.get('python') or sys.executable, '-m', 'codex_gate', 'pytest',
            '--default', str(config.get('coverage_default', 85)),
            '--test-venv', project.get('test_venv', config.get('test_venv', '')) or '',
            '--project', project['path']]
    for source in project.get('source') or []:
        argv += ['--source', source]
    for path in project.get('tests') or ['tests']:
        argv += ['--tests', path]
    return argv + ['--'] + list(project.get('pytest_args') or []) + list(posargs)


def gate(session, **overrides):
    """Run the gate from a nox session: ``gate(session)`` in the ``tests`` session of a project's noxfile.

    The project is the noxfile's directory (nox runs sessions there); its settings come from
    ``ci_gates_projects`` through ``codex_gate.json``. Keyword arguments (source, tests, test_venv,
    pytest_args) override them for this call. Offline: nothing is installed; pytest runs with the gate
    venv's interpreter.
    """
    try:
        config = load_config()
        project = dict(find_project(config, os.getcwd()))
    except GateError as exc:
        session.error(str(exc))
        return None
    unknown = set(overrides) - set(('source', 'tests', 'test_venv', 'pytest_args'))
    if unknown:
        session.error('gate() takes source, tests, test_venv and pytest_args; not %s' % ', '.join(sorted(unknown)))
    project.update(overrides)
    return session.run(*gate_argv(project, config, session.posargs), external=True)


def write_result(project, result):
    """Write the run's result to PROJECT/.codex-gate-result.json (atomically, as the user who ran the gate);
    the audit reads it. A failure to write is reported, never fatal."""
    if not project:
        return
    path = os.path.join(project, RESULT_FILE)
    try:
        handle, temp = tempfile.mkstemp(prefix='.codex-gate-', dir=project)
        with os.fdopen(handle, 'w') as stream:
            json.dump(result, stream, sort_keys=True)
            stream.write('\n')
        os.chmod(temp, 0o644)
        os.rename(temp, path)
    except (IOError, OSError) as exc:
        say('could not record the result in %s: %s' % (path, exc), sys.stderr)


# ---------------------------------------------------------------------------------------------- commands
def _cmd_check_env(args):
    floor = resolve_floor(os.environ, args.default, args.default_name)
    required = torch_required(os.environ, args.torch_required == '1')
    torch_check_timeout(os.environ)
    if not args.quiet:
        say(floor.describe(), sys.stderr)
    print('1' if required else '0')
    return EXIT_OK


def _pytest_argv(args, report, extra):
    argv = ['-p', GUARD_PLUGIN, '-p', 'no:cacheprovider', '-rfEs']
    argv += ['--cov=%s' % source for source in args.source]
    # The floor is checked here, exactly; coverage's own --cov-fail-under rounds, so it is switched off.
    argv += ['--cov-report=term-missing', '--cov-report=json:%s' % report, '--cov-fail-under=0']
    return argv + list(extra) + list(args.tests)


def _cmd_pytest(args, extra):
    floor = resolve_floor(os.environ, args.default, args.default_name)
    torch_required(os.environ)  # validated now, not in the middle of the run
    torch_check_timeout(os.environ)
    say(floor.describe())
    code, message, total = _run_pytest(args, extra)
    if code == EXIT_OK:
        passed, message = compare_message(total, floor)
        code = EXIT_OK if passed else EXIT_FAILED
    say(message)
    result = {'result': 'passed' if code == EXIT_OK else 'failed', 'message': message,
              'floor': format_decimal(floor.value), 'floor_source': floor.source,
              'total': format_percent(total.percent) if total else None,
              'finished': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
    write_result(args.project, result)
    return code


def _run_pytest(args, extra):
    """(EXIT_OK, None, Total) when pytest passed and measured something, else (EXIT_FAILED, message, None)."""
    for site in test_venv_site_dirs(args.test_venv):
        import site as site_module
        site_module.addsitedir(site)
        say('tests also import the packages of %s (%s), after the gate venv\'s own' % (args.test_venv, site))
    if args.test_venv and not os.path.isdir(args.test_venv):
        say('test venv %s does not exist: tests import only the gate venv\'s packages' % args.test_venv)
    work = tempfile.mkdtemp(prefix='codex-gate-')
    try:
        report = os.path.join(work, 'coverage.json')
        # the data file stays out of the project tree
        os.environ['COVERAGE_FILE'] = os.path.join(work, '.coverage')
        import pytest
        argv = _pytest_argv(args, report, extra)
        say('pytest %s' % ' '.join(argv))
        status = int(pytest.main(argv))
        if status == PYTEST_NO_TESTS:
            return EXIT_FAILED, ('FAILED: pytest collected no tests (exit 5) from %s: a gate that runs no tests '
                                 'cannot pass; check the tests paths (ci_gates_projects[].tests) and that test '
                                 'files are named test_*.py' % ' '.join(args.tests or ['.'])), None
        if status != 0:
            return EXIT_FAILED, 'FAILED: %s (pytest exit %d)' % (
                PYTEST_EXIT_WORDS.get(status, 'pytest failed'), status), None
        if not os.path.isfile(report):
            return EXIT_FAILED, 'FAILED: pytest-cov wrote no coverage report (%s)' % report, None
        with open(report) as handle:
            total = coverage_total(json.load(handle))
        if total is None:
            return EXIT_FAILED, ('FAILED: coverage measured no statements in %s: check ci_gates_projects[].source'
                                 % ', '.join(args.source)), None
        return EXIT_OK, None, total
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summarize_diagnostic(text):
    """One line about the torch diagnostic's JSON output."""
    try:
        facts = json.loads(text)
        status = facts['status']
    except (ValueError, TypeError, KeyError):
        tail = ' '.join(str(text).split())[-300:]
        return 'the torch diagnostic printed no facts%s' % ((': ' + tail) if tail else '')
    where = facts.get('location') or facts.get('python')
    if status == 'ok':
        return 'torch ok: torch %s at %s' % (facts.get('version'), where)
    problems = '; '.join(facts.get('problems') or []) or 'no details'
    return 'torch %s (%s): %s' % (status, where, problems)


def _cmd_torch_summary(_args):
    print(summarize_diagnostic(sys.stdin.read()))
    return EXIT_OK


def _parser():
    parser = argparse.ArgumentParser(prog='codex_gate', description=__doc__.split('\n\n', 1)[0])
    sub = parser.add_subparsers(dest='command')
    sub.required = True
    check = sub.add_parser('check-env', help='validate the gate variables; print 1 if torch is required')
    check.add_argument('--default', required=True)
    check.add_argument('--default-name', default=DEFAULT_NAME)
    check.add_argument('--torch-required', choices=['0', '1'], default='0')
    check.add_argument('--quiet', action='store_true')
    run = sub.add_parser('pytest', help='the nox tests session: pytest with coverage against the floor')
    run.add_argument('--default', required=True)
    run.add_argument('--default-name', default=DEFAULT_NAME)
    run.add_argument('--source', action='append', required=True, help='package or directory to measure')
    run.add_argument('--tests', action='append', default=[], help='test path (default: pytest finds them)')
    run.add_argument('--test-venv', default='', help='venv whose packages the tests also import')
    run.add_argument('--project', default='', help='project directory: the result is recorded there')
    sub.add_parser('torch-summary', help='one line about the torch diagnostic JSON on stdin')
    project = sub.add_parser('project', help='print the name of the gated project at DIR')
    project.add_argument('directory')
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if '--' in argv:
        extra = argv[argv.index('--') + 1:]
        argv = argv[:argv.index('--')]
    args = _parser().parse_args(argv)
    try:
        if args.command == 'check-env':
            return _cmd_check_env(args)
        if args.command == 'pytest':
            return _cmd_pytest(args, extra)
        if args.command == 'project':
            config = load_config()
            project = find_project(config, args.directory)
            print('%s\t%s' % (project.get('name') or os.path.basename(args.directory),
                              project.get('test_venv', config.get('test_venv', '')) or ''))
            return EXIT_OK
        return _cmd_torch_summary(args)
    except GateError as exc:
        say('ERROR: %s' % exc, sys.stderr)
        return EXIT_CONFIG


if __name__ == '__main__':
    sys.exit(main())
