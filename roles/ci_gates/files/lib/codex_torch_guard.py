# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Installed by the codex.offline_ml.ci_gates role (roles/ci_gates/files/lib/codex_torch_guard.py): do not edit on the host.
"""pytest guard of codex.offline_ml.ci_gates: a torch that is not usable behaves like a missing one.

Loaded by every pytest of the gate venv without any flag: the role installs a ``codex-torch-guard``
distribution (a ``.dist-info`` with a ``pytest11`` entry point, in the lib directory the gate venv has on
its path), so plain ``pytest`` and the gate's runs load it; no conftest edit is needed.

The import hook. While pytest runs, a finder on ``sys.meta_path`` watches for ``import torch``. The first
time something imports torch, the torch diagnostic of codex.offline_ml (``torch_checks.py`` beside this
file: plugins/module_utils/_torch_checks.py, the code the ``torch_diagnostic`` module and
``codex-torch-check`` run) runs ONCE per session, through its command-line entry point, in a child of this
interpreter with the same ``sys.path`` and a timeout, so a hang or a crash inside torch cannot take pytest
down. When it says ``ok`` the real torch is imported and nothing else changes. Otherwise ``import torch``
raises ``ModuleNotFoundError(name='torch')`` carrying the verdict and the diagnostic's problems, so
``pytest.importorskip("torch")`` (which skips only on ModuleNotFoundError in pytest 9), at module level or
inside a test, skips with that reason, and a bare ``import torch`` fails with it. With
``CODEX_REQUIRE_TORCH=1`` those skips are reported as failures naming the reason. A run that never imports
torch never runs the diagnostic.

The marker and the fixture. A test marked ``@pytest.mark.torch`` or using the ``torch`` fixture (which
returns the imported module) is skipped (or, required, failed) the same way.
"""

from __future__ import absolute_import, division, print_function

import importlib.machinery
import json
import os
import subprocess
import sys

import pytest

from codex_gate import GateError, REQUIRE_TORCH_VARIABLE, torch_check_timeout, torch_required

MARKER = 'torch'
# The diagnostic's command-line entry point, installed beside this file.
DIAGNOSTIC_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'torch_checks.py')
# Exit status of the diagnostic for each verdict (its EXIT_CODES).
STATUS_BY_EXIT = {0: 'ok', 2: 'missing', 3: 'stub', 4: 'broken'}

_GUARD_KEY = pytest.StashKey()
_NEEDS_FAIL = pytest.StashKey()


def run_diagnostic(timeout, python=None, path=None, script=None):
    """Run ``python torch_checks.py --timeout N`` in a child with this process's sys.path; return its facts.

    A child that hangs past its own watchdog, dies, or prints no JSON counts as ``broken``.
    """
    python = python or sys.executable
    script = script or DIAGNOSTIC_SCRIPT
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (sys.path if path is None else path) if p)
    argv = [python, script, '--timeout', '%g' % timeout, '--format', 'json']
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              timeout=timeout + 30, check=False)
    except subprocess.TimeoutExpired:
        return {'status': 'broken', 'problems': ['the torch diagnostic did not finish within %g s' % (timeout + 30)]}
    except OSError as exc:
        return {'status': 'broken', 'problems': ['the torch diagnostic could not start: %s' % exc]}
    try:
        facts = json.loads(proc.stdout.decode('utf-8', 'replace'))
        status = facts['status']
    except (ValueError, KeyError, TypeError):
        tail = ' '.join(proc.stderr.decode('utf-8', 'replace').split())[-400:]
        return {'status': 'broken', 'problems': [
            'the torch diagnostic (%s %s) exited %d without its JSON facts: %s'
            % (python, script, proc.returncode, tail or 'no output')]}
    expected = STATUS_BY_EXIT.get(proc.returncode)
    if expected != status:
        facts.setdefault('problems', []).append('the diagnostic exited %d but reported %s' % (proc.returncode, status))
        if status == 'ok':
            facts['status'] = 'broken'
    return facts


# Every message the guard gives starts with this, so its own skips can be told from others.
TAG = 'codex torch guard'
MODULE = 'torch'


class Guard(object):
    """The verdict on torch for one pytest session (the diagnostic runs at most once)."""

    def __init__(self, required, timeout, diagnose=None):
        self.required = required
        self.timeout = timeout
        self.facts = None
        self.runs = 0
        self.skipped = 0
        self.failed = 0
        self._diagnose = diagnose or run_diagnostic

    def verdict(self):
        if self.facts is None:
            self.runs += 1
            self.facts = self._diagnose(self.timeout)
        return self.facts

    def usable(self):
        return self.verdict().get('status') == 'ok'

    def reason(self):
        facts = self.verdict()
        problems = '; '.join(facts.get('problems') or []) or 'no details'
        return 'torch is %s: %s' % (facts.get('status'), problems)

    def import_message(self):
        return '%s: %s' % (TAG, self.reason())

    def skip_reason(self):
        return '%s (set %s=1 to fail instead of skipping)' % (self.reason(), REQUIRE_TORCH_VARIABLE)

    def fail_reason(self, tagged=True):
        return '%storch is required (%s=1 or ci_gates_torch_required) but %s' % (
            (TAG + ': ') if tagged else '', REQUIRE_TORCH_VARIABLE, self.reason())


class _Refuse(object):
    """Loader of the spec the finder returns for an unusable torch: creating the module raises."""

    def __init__(self, message):
        self.message = message

    def create_module(self, spec):
        raise ModuleNotFoundError(self.message, name=MODULE)

    def exec_module(self, module):  # pragma: no cover - create_module always raises
        raise ModuleNotFoundError(self.message, name=MODULE)


class TorchFinder(object):
    """A sys.meta_path finder that asks the guard before torch is imported.

    Only the top-level ``torch`` is looked at (``import torch.nn`` imports ``torch`` first). Usable: returns
    None, so the next finders import the real torch, and the finder steps aside for good. Not usable: a spec
    whose loader raises ``ModuleNotFoundError(name='torch')`` with the verdict, so nothing of the broken torch
    is executed and ``sys.modules`` stays clean. A torch that is simply missing stays missing (the ordinary
    ModuleNotFoundError, find_spec None) unless torch is required.
    """

    def __init__(self, guard):
        self.guard = guard
        self.denied = 0

    def find_spec(self, fullname, path=None, target=None):
        if fullname != MODULE or path is not None:
            return None
        if self.guard.usable():
            uninstall(self)
            return None
        if self.guard.verdict().get('status') == 'missing' and not self.guard.required:
            # nothing to hide: the ordinary finders find no torch and raise the ordinary error, and code that
            # probes with importlib.util.find_spec("torch") keeps getting None
            return None
        self.denied += 1
        return importlib.machinery.ModuleSpec(MODULE, _Refuse(self.guard.import_message()))

    # Python 2 style protocol, for old tools that still walk meta_path with it
    def find_module(self, fullname, path=None):  # pragma: no cover
        return None

    def invalidate_caches(self):
        return None


def install(guard):
    """Put a TorchFinder for ``guard`` first on sys.meta_path (once); returns it."""
    for finder in sys.meta_path:
        if isinstance(finder, TorchFinder):
            finder.guard = guard
            return finder
    finder = TorchFinder(guard)
    sys.meta_path.insert(0, finder)
    return finder


def uninstall(finder=None):
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not (isinstance(f, TorchFinder) and (finder is None or f is finder))]


_FINDER_KEY = pytest.StashKey()


def _guard(config):
    return config.stash[_GUARD_KEY]


def _needs_torch(item):
    return item.get_closest_marker(MARKER) is not None or MARKER in getattr(item, 'fixturenames', ())


def _start(config):
    """The guard and its finder, once per config; a bad variable is a usage error naming it."""
    if _GUARD_KEY in config.stash:
        return
    try:
        guard = Guard(torch_required(os.environ), torch_check_timeout(os.environ))
    except GateError as exc:
        raise pytest.UsageError(str(exc))
    config.stash[_GUARD_KEY] = guard
    if MODULE not in sys.modules:
        config.stash[_FINDER_KEY] = install(guard)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # before the conftest files are imported, so a conftest that imports torch is guarded too
    _start(early_config)


def pytest_configure(config):
    config.addinivalue_line(
        'markers', '%s: the test needs a usable PyTorch; skipped when the torch diagnostic is not ok, failed '
                   'instead with %s=1' % (MARKER, REQUIRE_TORCH_VARIABLE))
    _start(config)  # loaded late (pytest_plugins in a conftest)


def pytest_unconfigure(config):
    finder = config.stash.get(_FINDER_KEY, None)
    if finder is not None:
        uninstall(finder)


def pytest_report_header(config):
    guard = _guard(config)
    outcome = 'FAIL' if guard.required else 'are skipped'
    return ('codex torch guard: when torch is not usable, import torch raises ModuleNotFoundError and tests that '
            'need torch %s (diagnostic %s, once, on the first import of torch, timeout %gs)'
            % (outcome, DIAGNOSTIC_SCRIPT, guard.timeout))


def _our_skip(longrepr):
    """The reason of a skip the guard caused (importorskip of an unusable torch), else None."""
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or '')
    return reason if TAG in reason else None


class TorchRequired(pytest.Item):
    """Stands for a test module that importorskip("torch") skipped while torch is required: it fails."""

    def __init__(self, reason, **kwargs):
        super(TorchRequired, self).__init__(**kwargs)
        self.reason = reason

    def runtest(self):
        pytest.fail(self.reason, pytrace=False)

    def reportinfo(self):
        return self.path, None, '%s::%s' % (self.parent.name, self.name)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    guard = collector.config.stash.get(_GUARD_KEY, None)
    if guard is None or not report.skipped or not _our_skip(report.longrepr):
        return report
    if not guard.required:
        guard.skipped += 1  # a module that importorskip skipped as a whole
        return report
    # the module skipped itself at import (module-level importorskip): report it as one failed test
    guard.failed += 1
    item = TorchRequired.from_parent(collector, name='torch_required', reason=guard.fail_reason())
    return pytest.CollectReport(report.nodeid, 'passed', None, [item])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    guard = item.config.stash.get(_GUARD_KEY, None)
    if guard is None or not report.skipped or not _our_skip(report.longrepr):
        return report
    if guard.required:
        guard.failed += 1
        report.outcome = 'failed'
        report.longrepr = guard.fail_reason()
    elif call.when != 'teardown':
        guard.skipped += 1
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if not _needs_torch(item):
        return
    guard = _guard(item.config)
    if guard.usable():
        return
    if guard.required:
        # fail in the call phase, so the test is reported failed (not an error in setup)
        item.stash[_NEEDS_FAIL] = guard.fail_reason()
        return
    guard.skipped += 1
    pytest.skip(guard.skip_reason())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    reason = item.stash.get(_NEEDS_FAIL, None)
    if reason is not None:
        _guard(item.config).failed += 1
        pytest.fail(reason, pytrace=False)


@pytest.fixture(scope='session')
def torch(request):
    """The torch module, after the guard has decided it is usable."""
    guard = _guard(request.config)
    if not guard.usable():
        if guard.required:
            return None  # the call phase fails the test with the reason
        pytest.skip(guard.skip_reason())
    import torch as module
    return module


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    guard = config.stash.get(_GUARD_KEY, None)
    if guard is None or guard.facts is None:
        return
    if guard.usable():
        terminalreporter.write_line('codex torch guard: torch %s is usable' % guard.facts.get('version'))
    elif guard.failed:
        terminalreporter.write_line('%s: %d test(s) failed: %s' % (TAG, guard.failed, guard.fail_reason(False)))
    elif guard.skipped:
        terminalreporter.write_line('%s: %d test(s) or module(s) skipped: %s' % (TAG, guard.skipped, guard.reason()))
    else:
        terminalreporter.write_line('%s: torch is not usable: %s' % (TAG, guard.reason()))
