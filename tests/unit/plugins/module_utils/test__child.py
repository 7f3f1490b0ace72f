# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running code in another interpreter: results, junk on stdout, timeouts, crashes, bad interpreters."""

from __future__ import absolute_import, division, print_function

import importlib
import os
import signal
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _child, _torch_checks
from ansible_collections.codex.offline_ml.plugins.module_utils._child import (
    SENTINEL,
    InterpreterError,
    module_source,
    parse_result,
    resolve_interpreter,
    run_function,
    signal_name,
)

PYTHON = sys.executable


def source(text):
    return textwrap.dedent(text).lstrip()


def test_returns_value_and_passes_kwargs():
    code = source('''
        import sys
        def add(a, b):
            return {"sum": a + b, "name": __name__, "isolated": sys.flags.isolated}
    ''')
    result = run_function(PYTHON, code, 'add', {'a': 2, 'b': 3}, timeout=30)
    assert result.ok, result.error
    assert result.kind == 'ok' and result.returncode == 0
    assert result.value == {'sum': 5, 'name': '_codex_child_payload', 'isolated': 1}


def test_tolerates_junk_on_stdout():
    code = source('''
        import os, sys
        print("junk before", "{not json")
        sys.stdout.write("%s{broken json\\n" % SENTINEL_TEXT)
        sys.stdout.flush()
        os.write(1, b"raw junk without newline")
        def f():
            print("more junk")
            return [1, "two", None]
    ''').replace('SENTINEL_TEXT', repr(SENTINEL))
    result = run_function(PYTHON, code, 'f', timeout=30)
    assert result.ok, result.error
    assert result.value == [1, 'two', None]
    assert 'junk before' in result.stdout


def test_parse_result_takes_the_last_valid_sentinel_line():
    out = '\n'.join(['noise', SENTINEL + '{"ok": true, "result": 1}', SENTINEL + '{"ok": true, "result": 2}',
                     SENTINEL + '{truncated', 'trailing C junk'])
    assert parse_result(out) == {'ok': True, 'result': 2}
    assert parse_result('nothing here\n') is None
    assert parse_result('junk' + SENTINEL + '{"ok": false, "error": "x"}') == {'ok': False, 'error': 'x'}


def test_exception_is_reported():
    result = run_function(PYTHON, 'def f():\n    raise ValueError("boom")\n', 'f', timeout=30)
    assert not result.ok
    assert result.kind == 'exception'
    assert result.error == 'raised ValueError: boom'


def test_exit_without_result():
    result = run_function(PYTHON, 'import os\ndef f():\n    os._exit(5)\n', 'f', timeout=30)
    assert not result.ok
    assert result.kind == 'no-result' and result.returncode == 5
    assert result.error == 'exited with status 5 without reporting a result'


def test_syntax_error_in_source():
    result = run_function(PYTHON, 'def f(:\n', 'f', timeout=30)
    assert not result.ok and result.kind == 'exception'
    assert 'SyntaxError' in result.error


@pytest.mark.parametrize('signum', [signal.SIGABRT, signal.SIGSEGV])
def test_crash_names_the_signal(signum):
    code = 'import os, sys\ndef f():\n    sys.stderr.write("about to die\\n")\n    os.kill(os.getpid(), %d)\n' % signum
    result = run_function(PYTHON, code, 'f', timeout=30)
    assert not result.ok
    assert result.kind == 'crash'
    assert result.returncode == -signum
    assert result.signal_name == signal.Signals(signum).name
    assert result.error == 'crashed with %s (about to die)' % signal.Signals(signum).name


def test_signal_name():
    assert signal_name(6) == 'SIGABRT'
    assert signal_name(9) == 'SIGKILL'
    assert signal_name(200) == 'signal 200'


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')  # zombie left to an init that does not reap
    except (IOError, OSError):
        return True


def test_timeout_kills_the_whole_process_group(tmp_path):
    pid_file = tmp_path / 'grandchild.pid'
    code = source('''
        import subprocess, time
        def f(pid_file):
            child = subprocess.Popen(["sleep", "300"])
            with open(pid_file, "w") as handle:
                handle.write(str(child.pid))
            time.sleep(300)
    ''')
    start = time.monotonic()
    result = run_function(PYTHON, code, 'f', {'pid_file': str(pid_file)}, timeout=2)
    assert time.monotonic() - start < 20
    assert not result.ok
    assert result.kind == 'timeout' and result.timed_out
    assert result.error == 'timed out after 2 s: the child process group was killed'
    assert result.returncode == -signal.SIGKILL
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild), 'the grandchild sleep survived the timeout'


def test_isolated_from_pythonpath_and_cwd(venvs, tmp_path):
    shadow = tmp_path / 'shadow'
    (shadow / 'torch').mkdir(parents=True)
    (shadow / 'torch' / '__init__.py').write_text('__version__ = "shadow"\n')
    env = dict(os.environ, PYTHONPATH=str(shadow), PYTHONSTARTUP=str(shadow / 'torch' / '__init__.py'))
    code = 'import importlib.util\ndef f():\n    return importlib.util.find_spec("torch") is None\n'
    result = run_function(str(venvs.bare()), code, 'f', timeout=30, env=env, cwd=str(shadow))
    assert result.ok, result.error
    assert result.value is True
    # and the diagnostic therefore says "missing", not "stub"
    result = run_function(str(venvs.bare()), module_source(_torch_checks), 'diagnose', timeout=30, env=env,
                          cwd=str(shadow))
    assert result.ok and result.value['status'] == 'missing'


def test_nonexistent_interpreter(tmp_path):
    missing = str(tmp_path / 'venv' / 'bin' / 'python')
    with pytest.raises(InterpreterError) as info:
        run_function(missing, 'def f(): pass', 'f')
    assert missing in str(info.value) and 'does not exist' in str(info.value)


def test_not_executable_interpreter(tmp_path):
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\n')
    fake.chmod(0o644)
    with pytest.raises(InterpreterError) as info:
        resolve_interpreter(str(fake))
    assert str(fake) in str(info.value) and 'not executable' in str(info.value) and 'chmod +x' in str(info.value)


def test_directory_interpreter(tmp_path):
    with pytest.raises(InterpreterError) as info:
        resolve_interpreter(str(tmp_path))
    assert 'is a directory' in str(info.value)


def test_bare_names_are_looked_up_on_path():
    assert os.path.isabs(resolve_interpreter('sh'))
    with pytest.raises(InterpreterError) as info:
        resolve_interpreter('no-such-python-3.99')
    assert 'not found on PATH' in str(info.value)


def test_not_a_python(tmp_path):
    """An executable that is not Python: no result, not a traceback."""
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\necho "I am not python" >&2\nexit 1\n')
    fake.chmod(0o755)
    result = run_function(str(fake), 'def f(): pass', 'f', timeout=30)
    assert not result.ok and result.kind == 'no-result'
    assert result.error == 'exited with status 1 without reporting a result (I am not python)'


def test_module_source_from_file():
    text = module_source(_torch_checks)
    assert text == (Path(_torch_checks.__file__).read_text())
    assert module_source(_child).startswith('# -*- coding: utf-8 -*-')


def test_module_source_from_zip(tmp_path, monkeypatch):
    """AnsiballZ imports module_utils from a zip: the source must still be found."""
    archive = tmp_path / 'payload.zip'
    text = 'VALUE = 42\n'
    with zipfile.ZipFile(str(archive), 'w') as handle:
        handle.writestr('codex_zip_pkg/__init__.py', '')
        handle.writestr('codex_zip_pkg/inner.py', text)
    monkeypatch.syspath_prepend(str(archive))
    try:
        module = importlib.import_module('codex_zip_pkg.inner')
        assert type(module.__loader__).__name__ == 'zipimporter'
        assert module_source(module) == text
        monkeypatch.setattr(module, '__loader__', None)
        monkeypatch.setattr(module.__spec__, 'loader', None)
        assert module_source(module) == text  # via pkgutil.get_data
    finally:
        for name in ('codex_zip_pkg.inner', 'codex_zip_pkg'):
            sys.modules.pop(name, None)
