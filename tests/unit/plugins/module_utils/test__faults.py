# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_faults: a point is inert unless CODEX_FAULT names it; named, it raises ENOSPC or SIGKILLs the process (seen
from a real child process); every point of the registry is used in the source, every point used is registered,
and docs/reliability.md names each one."""

from __future__ import absolute_import, division, print_function

import errno
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _faults

REPO_ROOT = Path(__file__).resolve().parents[4]
PLUGINS = REPO_ROOT / 'plugins'
RELIABILITY_DOC = REPO_ROOT / 'docs' / 'reliability.md'

# A call of a point, with the name as a string literal (the only form the soak can find and run).
LITERAL_CALL = re.compile(r'''_faults\.point\(\s*(["'])([^"']+)\1\s*\)''')
ANY_CALL = re.compile(r'_faults\.point\(')


def point_calls():
    """{name: [file:line, ...]} of every literal _faults.point("NAME") under plugins/, and the list of
    _faults.point( calls whose argument is not a literal."""
    used, dynamic = {}, []
    for path in sorted(PLUGINS.rglob('*.py')):
        if path.name == '_faults.py':
            continue
        for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
            where = '%s:%d' % (path.relative_to(REPO_ROOT), number)
            literals = LITERAL_CALL.findall(line)
            for _quote, name in literals:
                used.setdefault(name, []).append(where)
            if len(ANY_CALL.findall(line)) != len(literals):
                dynamic.append(where)
    return used, dynamic


@pytest.fixture
def no_kill(monkeypatch):
    """os.kill recorded instead of sent: a point that fires by mistake fails the test, not the test run."""
    sent = []
    monkeypatch.setattr(os, 'kill', lambda pid, sig: sent.append((pid, sig)))
    return sent


# --------------------------------------------------------------------------- inert
@pytest.mark.parametrize('spec', [
    None,
    '',
    'venv.swapped',            # another point
    'venv.swapped:kill',
    'venv.swapped:enospc',
    'venv.swa',                # a prefix of the name is not the name
    'venv.swap.x',
    'no.such.point',
    'venv.swap:unknown-action',  # an action the module does not know does nothing
], ids=['unset', 'empty', 'other', 'other-kill', 'other-enospc', 'prefix', 'longer', 'unknown-point',
        'unknown-action'])
def test_point_is_inert_unless_named(monkeypatch, no_kill, spec):
    if spec is None:
        monkeypatch.delenv(_faults.ENV, raising=False)
    else:
        monkeypatch.setenv(_faults.ENV, spec)
    assert _faults.point('venv.swap') is None
    assert no_kill == []


# --------------------------------------------------------------------------- enospc
@pytest.mark.parametrize('name', ['venv.snapshot', 'hf.refs', 'files.write'])
def test_enospc_raises_oserror_naming_the_point(monkeypatch, no_kill, name):
    monkeypatch.setenv(_faults.ENV, name + ':enospc')
    with pytest.raises(OSError) as err:
        _faults.point(name)
    assert err.value.errno == errno.ENOSPC
    assert name in str(err.value)
    assert no_kill == []


# --------------------------------------------------------------------------- kill, in a real child process
CHILD = '\n'.join([
    'import sys',
    'from ansible_collections.codex.offline_ml.plugins.module_utils import _faults',
    'print("before", flush=True)',
    '_faults.point(sys.argv[1])',
    'print("after", flush=True)',
])


def run_child(collections_root, name, spec):
    env = dict(os.environ, PYTHONPATH=str(collections_root))
    env.pop(_faults.ENV, None)
    if spec is not None:
        env[_faults.ENV] = spec
    return subprocess.run([sys.executable, '-c', CHILD, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, universal_newlines=True, timeout=60, check=False)


@pytest.mark.parametrize('spec', ['venv.swap', 'venv.swap:kill'], ids=['bare', 'kill'])
def test_named_point_kills_the_process_with_sigkill(collections_root, spec):
    proc = run_child(collections_root, 'venv.swap', spec)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    assert proc.stdout == 'before\n'          # killed at the point, nothing after it ran


@pytest.mark.parametrize('spec', [None, 'venv.swapped', 'venv.swapped:kill'], ids=['unset', 'other', 'other-kill'])
def test_child_survives_an_unnamed_point(collections_root, spec):
    proc = run_child(collections_root, 'venv.swap', spec)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == 'before\nafter\n'


def test_child_enospc_is_an_ordinary_exception(collections_root):
    proc = run_child(collections_root, 'hf.record', 'hf.record:enospc')
    assert proc.returncode == 1 and proc.stdout == 'before\n'
    assert 'OSError: [Errno %d]' % errno.ENOSPC in proc.stderr and 'hf.record' in proc.stderr


# --------------------------------------------------------------------------- the registry against the source
def test_registry_shape():
    assert _faults.ACTIONS == ('kill', 'enospc')
    assert len(_faults.POINTS) >= 20
    for name, value in _faults.POINTS.items():
        concern, what = value
        assert re.match(r'^[a-z]+\.[a-z_]+$', name), name
        assert name.split('.', maxsplit=1)[0] == concern, name
        assert what and isinstance(what, str), name


def test_every_registered_point_is_used_in_the_source():
    used, _dynamic = point_calls()
    unused = sorted(set(_faults.POINTS) - set(used))
    assert unused == [], 'points in _faults.POINTS never called as _faults.point("NAME") under plugins/'


def test_every_point_used_in_the_source_is_registered():
    used, dynamic = point_calls()
    unknown = dict((name, where) for name, where in used.items() if name not in _faults.POINTS)
    assert unknown == {}, 'points called under plugins/ but missing from _faults.POINTS (the soak never runs them)'
    assert dynamic == [], 'calls of _faults.point without a literal name (the soak cannot find them)'
    assert len(used) >= 20


def test_every_point_is_in_the_reliability_doc():
    # docs/reliability.md is written alongside _faults.py: this is the one assertion that needs that file.
    assert RELIABILITY_DOC.is_file(), 'docs/reliability.md does not exist yet: it must list every fault point'
    text = RELIABILITY_DOC.read_text(encoding='utf-8')
    missing = [name for name in _faults.POINTS
               if not re.search(r'(?<![\w.])%s(?![\w]|\.\w)' % re.escape(name), text)]
    assert missing == [], 'fault points that docs/reliability.md does not name'
