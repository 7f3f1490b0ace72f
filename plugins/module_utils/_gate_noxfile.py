# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Does a project's noxfile call the ci_gates gate? Answered by parsing it, never by running it.

A project's ``noxfile.py`` is writable by the CI user; root (the role) must not execute it (``nox --list``
would). This reads it without following a symlink, as a regular file of bounded size, and walks its syntax
tree: the noxfile calls the gate when a function named ``tests`` (or decorated with ``name="tests"``),
decorated with ``nox.session``/``session``, calls ``gate(...)`` imported from ``codex_gate`` (or
``codex_gate.gate(...)``).

Standard library and _errors only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import errno
import os
import stat

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError

# Written into every noxfile the ci_gates role generates (its templates hold it), as a comment line of its own
# that starts with MANAGED_LINE; a project file that merely mentions the role is not the role's.
MARKER = 'codex.offline_ml.ci_gates'
MANAGED_LINE = '# %s: the quality gate of ' % MARKER
GATE_MODULE = 'codex_gate'
GATE_FUNCTION = 'gate'
SESSION = 'tests'
MAX_BYTES = 1024 * 1024

# What a project's own noxfile adds (the role README shows the same lines).
LINES_TO_ADD = (
    'from codex_gate import gate\n'
    '\n'
    '@nox.session(venv_backend="none")\n'
    'def tests(session):\n'
    '    gate(session)\n'
)

STATE_ABSENT = 'absent'
STATE_MANAGED = 'managed'
STATE_OWN = 'own'


class NoxfileError(OperatorError):
    """The noxfile cannot be read safely (a symlink, not a regular file, too big, not UTF-8)."""


def read_noxfile(path, max_bytes=MAX_BYTES):
    """The text of ``path``, or None when it does not exist. Never follows a symlink, never opens a FIFO
    or device (O_NONBLOCK, then fstat), never reads more than ``max_bytes``."""
    flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise NoxfileError('%s is a symlink: a gated project\'s noxfile.py must be a regular file' % path)
        raise NoxfileError('cannot open %s: %s' % (path, exc.strerror or exc))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NoxfileError('%s is not a regular file' % path)
        if info.st_size > max_bytes:
            raise NoxfileError('%s is larger than %d bytes: not a noxfile' % (path, max_bytes))
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(65536, left))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b''.join(chunks)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise NoxfileError('%s is larger than %d bytes: not a noxfile' % (path, max_bytes))
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        raise NoxfileError('%s is not UTF-8 text' % path)


def _dotted(node):
    """'a.b.c' for Name/Attribute chains, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return '.'.join(reversed(parts))
    return None


class _Names(object):
    """What the module imported: local names of nox.session and of codex_gate.gate."""

    def __init__(self, tree):
        self.session = set()   # dotted names that mean nox.session
        self.gate = set()      # dotted names that mean codex_gate.gate
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name
                    if alias.name == 'nox':
                        self.session.add('%s.session' % local)
                    elif alias.name == GATE_MODULE:
                        self.gate.add('%s.%s' % (local, GATE_FUNCTION))
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                for alias in node.names:
                    local = alias.asname or alias.name
                    if node.module == 'nox' and alias.name == 'session':
                        self.session.add(local)
                    elif node.module == GATE_MODULE and alias.name == GATE_FUNCTION:
                        self.gate.add(local)


def _session_name(function, names):
    """The nox session name of ``function`` when it is decorated as a session, else None."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _dotted(target) not in names.session:
            continue
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == 'name' and isinstance(keyword.value, ast.Constant) \
                        and isinstance(keyword.value.value, str):
                    return keyword.value.value
        return function.name
    return None


def _calls_gate(function, names):
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and _dotted(node.func) in names.gate:
            return node.lineno
    return None


def inspect_source(text, filename='noxfile.py'):
    """Facts about a noxfile's source: sessions, whether ``tests`` calls the gate (and on which line),
    whether the role wrote it, and the problems, in words (empty when the gate is called)."""
    managed = any(line.startswith(MANAGED_LINE) for line in text.splitlines()[:40])
    facts = {'managed': managed, 'sessions': [], 'calls_gate': False, 'gate_line': None, 'problems': []}
    try:
        tree = ast.parse(text, filename=filename)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, 'lineno', None)
        where = ' (line %s)' % line if line is not None else ''
        facts['problems'].append('%s does not parse as Python%s: %s' % (
            filename, where, getattr(exc, 'msg', None) or exc))
        return facts
    names = _Names(tree)
    tests_function = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = _session_name(node, names)
            if name is not None:
                facts['sessions'].append(name)
                if name == SESSION:
                    tests_function = node
    if tests_function is None:
        facts['problems'].append('%s has no nox session named %s' % (filename, SESSION))
    elif not names.gate:
        facts['problems'].append('%s does not import %s from %s' % (filename, GATE_FUNCTION, GATE_MODULE))
    else:
        line = _calls_gate(tests_function, names)
        if line is None:
            facts['problems'].append('the %s session of %s (line %d) does not call %s(session)'
                                     % (SESSION, filename, tests_function.lineno, GATE_FUNCTION))
        else:
            facts['calls_gate'] = True
            facts['gate_line'] = line
    return facts


def inspect_project(path):
    """Facts about the project directory ``path``: exists, the noxfile's state (absent, managed, own) and,
    when there is one, what inspect_source found."""
    result = {'path': path, 'exists': False, 'noxfile': os.path.join(path, 'noxfile.py'), 'state': STATE_ABSENT,
              'sessions': [], 'calls_gate': False, 'gate_line': None, 'problems': []}
    try:
        info = os.stat(path)
    except OSError:
        result['problems'].append('%s does not exist' % path)
        return result
    if not stat.S_ISDIR(info.st_mode):
        result['problems'].append('%s is not a directory' % path)
        return result
    result['exists'] = True
    try:
        text = read_noxfile(result['noxfile'])
    except NoxfileError as exc:
        result['state'] = STATE_OWN
        result['problems'].append(str(exc))
        return result
    if text is None:
        return result
    facts = inspect_source(text, result['noxfile'])
    result['state'] = STATE_MANAGED if facts['managed'] else STATE_OWN
    for key in ('sessions', 'calls_gate', 'gate_line', 'problems'):
        result[key] = facts[key]
    return result
