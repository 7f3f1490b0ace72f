# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a function of some Python source in another interpreter, with a timeout, and read back JSON.

Private to the collection. Standard library and _errors only.

The child is started as ``PYTHON -I -`` (isolated mode: no PYTHON* variables, no user site, no
script directory or current directory on ``sys.path``, so a stray ``torch`` directory cannot shadow
the environment's packages) in a new session; the bootstrap is written to its stdin. On timeout the
whole process group is killed. The result travels on a line starting with :data:`SENTINEL`, so
whatever imported libraries print on stdout does not matter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import pkgutil
import shutil
import signal
import subprocess
import time

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError

SENTINEL = '@@codex-offline-ml-child-result@@'

_TAIL = 2000

_BOOTSTRAP = r'''
import json as _json
import os as _os
import sys as _sys
import traceback as _traceback
import types as _types


def _emit(payload):
    try:
        text = _json.dumps(payload, sort_keys=True, default=str)
    except Exception as exc:
        text = _json.dumps({"ok": False, "error": "result is not JSON-able: %%r" %% (exc,)})
    try:
        _sys.stdout.flush()
    except Exception:
        pass
    data = ("\n%(sentinel)s" + text + "\n").encode("utf-8")
    while data:
        data = data[_os.write(1, data):]


def _run():
    name = %(module_name)r
    module = _types.ModuleType(name)
    module.__file__ = "<" + name + ">"
    _sys.modules[name] = module
    exec(compile(%(source)r, module.__file__, "exec"), module.__dict__)
    return getattr(module, %(function)r)(**_json.loads(%(kwargs)r))


try:
    _payload = {"ok": True, "result": _run()}
except BaseException as _exc:
    _payload = {
        "ok": False,
        "error": "%%s: %%s" %% (type(_exc).__name__, _exc),
        "traceback": _traceback.format_exc()[-%(tail)d:],
    }
_emit(_payload)
_os._exit(0)
'''


class InterpreterError(OperatorError):
    """The interpreter cannot be run at all (does not exist, is not executable...)."""


class ChildResult(object):
    """What happened in the child.

    ``ok`` is true when the function returned; its return value is ``value``. Otherwise ``error``
    says why, in words, and ``kind`` is one of ``timeout``, ``crash``, ``exception``, ``no-result``.
    """

    def __init__(self, ok, value=None, kind='ok', error=None, returncode=None, signal_name=None,
                 stdout='', stderr='', elapsed_s=0.0, timed_out=False):
        self.ok = ok
        self.value = value
        self.kind = kind
        self.error = error
        self.returncode = returncode
        self.signal_name = signal_name
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed_s = elapsed_s
        self.timed_out = timed_out

    def __repr__(self):
        return 'ChildResult(ok=%r, kind=%r, error=%r, returncode=%r)' % (
            self.ok, self.kind, self.error, self.returncode)


# The options of a module that runs its check in a child interpreter (doc fragment codex.offline_ml.interpreter).
INTERPRETER_ARGUMENT_SPEC = dict(
    python=dict(type='path'),
    timeout=dict(type='int', default=120),
)


def interpreter_spec(**options):
    """The argument spec of a module that runs its check in a child interpreter: its own OPTIONS and python and
    timeout (INTERPRETER_ARGUMENT_SPEC)."""
    return dict(INTERPRETER_ARGUMENT_SPEC, **options)


def require_timeout(module):
    """Fail the module unless its ``timeout`` parameter is at least one second."""
    if module.params['timeout'] < 1:
        module.fail_json(msg='timeout must be at least 1 second, got %d' % module.params['timeout'])


def signal_name(number):
    """``SIGABRT`` for 6; ``signal 77`` for numbers without a name."""
    try:
        return signal.Signals(number).name
    except (ValueError, AttributeError):
        return 'signal %d' % number


def resolve_interpreter(python):
    """Absolute path of the interpreter ``python`` (a path, or a bare name looked up on PATH).

    Raises :class:`InterpreterError` with a message that says what to fix.
    """
    if not python:
        raise InterpreterError('no Python interpreter given: set it to the path of the interpreter to use')
    if os.sep not in python and not os.path.exists(python):
        found = shutil.which(python)
        if not found:
            raise InterpreterError(
                'Python interpreter %r was not found on PATH: give the absolute path of an existing '
                'interpreter (for example /opt/venv/bin/python)' % python)
        python = found
    if not os.path.exists(python):
        raise InterpreterError(
            'Python interpreter %r does not exist: create that environment first or give the path of an '
            'existing interpreter (for example /opt/venv/bin/python)' % python)
    if os.path.isdir(python):
        raise InterpreterError(
            'Python interpreter %r is a directory: give the interpreter itself (for example %s)'
            % (python, os.path.join(python, 'bin', 'python')))
    if not os.access(python, os.X_OK):
        raise InterpreterError(
            'Python interpreter %r is not executable: fix its permissions (chmod +x) or give the path of an '
            'executable interpreter' % python)
    return os.path.abspath(python)


def module_source(module):
    """Source text of an imported module, also when it was imported from a zip (AnsiballZ)."""
    name = getattr(module, '__name__', None)
    loader = getattr(module, '__loader__', None)
    spec = getattr(module, '__spec__', None)
    if loader is None and spec is not None:
        loader = spec.loader
    get_source = getattr(loader, 'get_source', None)
    if get_source is not None:
        try:
            source = get_source(name)
        except Exception:
            source = None
        if source:
            return source
    path = getattr(module, '__file__', None)
    if path and path.endswith('.py') and os.path.isfile(path):
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8')
    package = getattr(module, '__package__', None)
    if package and name:
        data = pkgutil.get_data(package, name.rpartition('.')[2] + '.py')
        if data:
            return data.decode('utf-8')
    raise ValueError('cannot find the source of module %r' % name)


def build_script(source, function, kwargs=None, module_name='_codex_child_payload'):
    """The program the child runs: execute ``source`` as a module, call ``function(**kwargs)``."""
    return _BOOTSTRAP % {
        'sentinel': SENTINEL,
        'module_name': module_name,
        'source': source,
        'function': function,
        'kwargs': json.dumps(kwargs or {}),
        'tail': _TAIL,
    }


def parse_result(stdout):
    """The payload of the last sentinel line in ``stdout`` (text), or None."""
    for line in reversed(stdout.splitlines()):
        position = line.find(SENTINEL)
        if position < 0:
            continue
        try:
            payload = json.loads(line[position + len(SENTINEL):])
        except ValueError:
            continue
        if isinstance(payload, dict) and 'ok' in payload:
            return payload
    return None


def _tail(text, size=_TAIL):
    return text[-size:] if text else ''


def _last_line(text):
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    return lines[-1][:300] if lines else ''


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass


def run_function(python, source, function, kwargs=None, timeout=120, env=None, cwd=None):
    """Run ``function(**kwargs)`` of ``source`` in interpreter ``python``; return a :class:`ChildResult`.

    Raises :class:`InterpreterError` if the interpreter cannot be started.
    """
    executable = resolve_interpreter(python)
    script = build_script(source, function, kwargs).encode('utf-8')
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            [executable, '-I', '-'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=cwd or '/', env=env, start_new_session=True, close_fds=True)
    except OSError as exc:
        raise InterpreterError('cannot run Python interpreter %r: %s; give the path of a working interpreter'
                               % (python, exc)) from exc
    timed_out = False
    try:
        out, err = proc.communicate(script, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a descendant left the group and holds the pipes
            out, err = b'', b''
            proc.wait()
    finally:
        if proc.returncode is None:
            _kill_group(proc)
            proc.wait()
    elapsed = time.monotonic() - start
    stdout = out.decode('utf-8', 'replace')
    stderr = err.decode('utf-8', 'replace')
    code = proc.returncode
    common = dict(returncode=code, stdout=_tail(stdout), stderr=_tail(stderr), elapsed_s=elapsed,
                  timed_out=timed_out)

    if timed_out:
        return ChildResult(False, kind='timeout', error=(
            'timed out after %g s: the child process group was killed' % timeout), **common)
    payload = parse_result(stdout)
    if payload is not None:
        if payload.get('ok'):
            return ChildResult(True, value=payload.get('result'), **common)
        detail = payload.get('error') or 'unknown error'
        return ChildResult(False, kind='exception', error='raised %s' % detail, **common)
    if code is not None and code < 0:
        name = signal_name(-code)
        detail = _last_line(stderr)
        return ChildResult(False, kind='crash', signal_name=name, error=(
            'crashed with %s' % name + (' (%s)' % detail if detail else '')), **common)
    detail = _last_line(stderr)
    return ChildResult(False, kind='no-result', error=(
        'exited with status %s without reporting a result' % code + (' (%s)' % detail if detail else '')),
        **common)
