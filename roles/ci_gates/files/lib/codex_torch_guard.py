# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Installed by the codex.offline_ml.ci_gates role (roles/ci_gates/files/lib/codex_torch_guard.py): do not edit on the host.
"""pytest guard of codex.offline_ml.ci_gates: tests that need torch run only when torch is usable.

Loaded by the gate (``pytest -p codex_torch_guard``); a project can also load it in its own runs with
``pytest_plugins = ["codex_torch_guard"]`` in its top conftest.py.

A test needs torch when it is marked ``@pytest.mark.torch`` or uses the ``torch`` fixture (which returns
the imported module). For those, the torch diagnostic of codex.offline_ml (``torch_checks.py`` beside this
file: the role installs plugins/module_utils/_torch_checks.py there, the code the ``torch_diagnostic`` module and
the ``codex-torch-check`` command run) is run ONCE per session, through its own command-line entry point, in a
child process of this interpreter with the same ``sys.path`` and with a timeout, so a hang or a crash
inside torch cannot take pytest down. When it does not say ``ok`` (torch missing, a stub without
``torch.utils.data.Dataset``, or present but broken in any way it recognises) those tests are skipped with
the diagnostic's reason; with ``CODEX_REQUIRE_TORCH=1`` they fail instead. Tests that do not need torch
never pay for the diagnostic.
"""

from __future__ import absolute_import, division, print_function

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
    argv = [python, script, '--timeout', '%g' % timeout]
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


class Guard(object):
    """The verdict on torch for one pytest session (the diagnostic runs at most once)."""

    def __init__(self, required, timeout):
        self.required = required
        self.timeout = timeout
        self.facts = None
        self.skipped = 0
        self.failed = 0

    def verdict(self):
        if self.facts is None:
            self.facts = run_diagnostic(self.timeout)
        return self.facts

    def usable(self):
        return self.verdict().get('status') == 'ok'

    def reason(self):
        facts = self.verdict()
        problems = '; '.join(facts.get('problems') or []) or 'no details'
        return 'torch is %s: %s' % (facts.get('status'), problems)

    def skip_reason(self):
        return '%s (set %s=1 to fail instead of skipping)' % (self.reason(), REQUIRE_TORCH_VARIABLE)

    def fail_reason(self):
        return 'torch is required (%s=1 or ci_gates_torch_required) but %s' % (REQUIRE_TORCH_VARIABLE, self.reason())


def _guard(config):
    return config.stash[_GUARD_KEY]


def _needs_torch(item):
    return item.get_closest_marker(MARKER) is not None or MARKER in getattr(item, 'fixturenames', ())


def pytest_configure(config):
    config.addinivalue_line(
        'markers', '%s: the test needs a usable PyTorch; skipped when the torch diagnostic is not ok, failed '
                   'instead with %s=1' % (MARKER, REQUIRE_TORCH_VARIABLE))
    try:
        config.stash[_GUARD_KEY] = Guard(torch_required(os.environ), torch_check_timeout(os.environ))
    except GateError as exc:
        raise pytest.UsageError(str(exc))


def pytest_report_header(config):
    guard = _guard(config)
    outcome = 'FAIL' if guard.required else 'are skipped'
    return ('codex torch guard: tests marked %r or using the torch fixture %s when torch is not usable '
            '(diagnostic %s, once, timeout %gs)' % (MARKER, outcome, DIAGNOSTIC_SCRIPT, guard.timeout))


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
    guard = _guard(config)
    if guard.facts is None:
        return
    if guard.usable():
        terminalreporter.write_line('codex torch guard: torch %s is usable' % guard.facts.get('version'))
    elif guard.failed:
        terminalreporter.write_line('codex torch guard: %d test(s) failed: %s' % (guard.failed, guard.fail_reason()))
    else:
        terminalreporter.write_line('codex torch guard: %d test(s) skipped: %s' % (guard.skipped, guard.reason()))
