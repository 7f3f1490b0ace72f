# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Is the PyTorch of this interpreter real, complete and usable? One diagnostic, three users.

Standard library only and no Ansible imports, because the same file is used three ways:

* imported by the ``codex.offline_ml.torch_diagnostic`` module, which sends this file's source to
  the interpreter to check and calls :func:`diagnose` there;
* run as a script: ``python _torch_checks.py [--require-cpu-build] [--timeout N] [--format auto|json|human]``;
* copied on hosts as ``codex_ml/utils/torch_checks.py``: ``python -m codex_ml.utils.torch_checks``.

As a command it prints one line with the verdict (and, when it is not ok, the repair to run) on a
terminal, the facts as JSON otherwise (``--format json`` or ``human`` forces one), and exits with
``EXIT_CODES[status]``.
:func:`diagnose` inspects torch in the current process.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import importlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import sys
import threading
import time

try:
    import importlib.metadata as importlib_metadata
except ImportError:  # pragma: no cover - Python < 3.8 is not supported
    importlib_metadata = None

SCHEMA = 1

STATUS_OK = 'ok'
STATUS_MISSING = 'missing'
STATUS_STUB = 'stub'
STATUS_BROKEN = 'broken'

EXIT_CODES = {
    STATUS_OK: 0,
    STATUS_MISSING: 2,
    STATUS_STUB: 3,
    STATUS_BROKEN: 4,
}

DEFAULT_TIMEOUT = 120

TENSOR_EXPRESSION = 'torch.arange(6.).reshape(2, 3) @ torch.ones(3)'
TENSOR_EXPECTED = [3.0, 12.0]

BUILD_KEYS = ('debug', 'git_version', 'mkldnn', 'num_threads', 'openmp')

_MAX_MESSAGE = 400


def _describe(exc):
    """``Type: message`` of an exception, on one line and bounded."""
    text = ' '.join(str(exc).split())
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE - 3] + '...'
    name = type(exc).__name__
    return '%s: %s' % (name, text) if text else name


def base_facts(python=None):
    """All keys of the facts with the values of 'nothing known yet'."""
    return {
        'schema': SCHEMA,
        'status': STATUS_MISSING,
        'problems': [],
        'python': python if python is not None else sys.executable,
        'python_version': None,
        'version': None,
        'dist_version': None,
        'location': None,
        'dataset_available': False,
        'compiled_core': False,
        'cuda_version': None,
        'cpu_build': None,
        'tensor_check': {
            'expression': TENSOR_EXPRESSION,
            'expected': list(TENSOR_EXPECTED),
            'result': None,
            'ok': False,
        },
        'build': dict((key, None) for key in BUILD_KEYS),
        'nvidia_distributions': [],
        'elapsed_s': 0.0,
    }


def failure_facts(python, problem, elapsed_s=0.0, partial=None):
    """Facts for a diagnostic that could not finish (timed out, crashed...): always ``broken``.

    ``partial`` holds what was learnt before it stopped, if anything.
    """
    facts = base_facts(python)
    if partial:
        for key, value in partial.items():
            if key in facts and key not in ('status', 'problems', 'python', 'elapsed_s'):
                facts[key] = value
    facts['problems'] = list((partial or {}).get('problems') or []) + [problem]
    facts['status'] = STATUS_BROKEN
    facts['elapsed_s'] = round(float(elapsed_s), 3)
    return facts


def _distribution(name):
    if importlib_metadata is None:  # pragma: no cover
        return None
    try:
        return importlib_metadata.distribution(name)
    except importlib_metadata.PackageNotFoundError:
        return None
    except Exception:  # a corrupt METADATA file must not kill the diagnostic
        return None


def _nvidia_distributions():
    names = set()
    if importlib_metadata is None:  # pragma: no cover
        return []
    try:
        dists = list(importlib_metadata.distributions())
    except Exception:
        return []
    for dist in dists:
        try:
            name = dist.metadata['Name']
        except Exception:
            continue
        if name and name.lower().replace('_', '-').startswith('nvidia-'):
            names.add(name)
    return sorted(names)


def _module_location(module):
    path = getattr(module, '__file__', None)
    if path:
        return os.path.dirname(os.path.abspath(path))
    paths = list(getattr(module, '__path__', None) or [])  # namespace package
    return os.path.abspath(paths[0]) if paths else None


def _dist_base(dist):
    try:
        return os.path.realpath(str(dist.locate_file('')))
    except Exception:
        return None


def _check_compiled_core(torch):
    """(ok, problem) for ``torch._C``: it must be a compiled extension module."""
    core = getattr(torch, '_C', None)
    if core is None:
        core = sys.modules.get('torch._C')
    if core is None:
        try:
            core = importlib.import_module('torch._C')
        except Exception as exc:
            return False, 'torch has no compiled core: torch._C cannot be imported (%s)' % _describe(exc)
    origin = getattr(core, '__file__', None)
    spec = getattr(core, '__spec__', None)
    if not origin and spec is not None:
        origin = getattr(spec, 'origin', None)
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    if not origin or not str(origin).endswith(suffixes):
        return False, ('torch has no compiled core: torch._C is not an extension module (%s); '
                       'expected a file ending with %s' % (origin or 'no file', ' or '.join(suffixes)))
    return True, None


def _tensor_check(torch):
    """Run the tiny tensor operation; the result is a list of floats or an error string."""
    try:
        value = torch.arange(6.).reshape(2, 3) @ torch.ones(3)
        result = value.tolist()
        result = [float(item) for item in result]
    except Exception as exc:
        return _describe(exc), False
    return result, result == TENSOR_EXPECTED


def _call(obj, *names):
    """Call ``obj.a.b.c()`` for names ('a', 'b', 'c'); None when anything is missing or raises."""
    try:
        for name in names:
            obj = getattr(obj, name)
        return obj()
    except Exception:
        return None


def _build_info(torch):
    version = getattr(torch, 'version', None)
    git_version = getattr(version, 'git_version', None)
    debug = getattr(version, 'debug', None)
    num_threads = _call(torch, 'get_num_threads')
    mkldnn = _call(torch, 'backends', 'mkldnn', 'is_available')
    openmp = _call(torch, 'backends', 'openmp', 'is_available')
    return {
        'git_version': str(git_version) if git_version is not None else None,
        'debug': bool(debug) if debug is not None else None,
        'mkldnn': bool(mkldnn) if mkldnn is not None else None,
        'openmp': bool(openmp) if openmp is not None else None,
        'num_threads': int(num_threads) if isinstance(num_threads, int) else None,
    }


def _classify(facts, imported):
    if imported and not facts['dataset_available']:
        return STATUS_STUB
    return STATUS_BROKEN if facts['problems'] else STATUS_OK


def diagnose(require_cpu_build=False, _partial=None):
    """Inspect torch in the current process and return the facts (a JSON-able dict).

    ``status`` is ``ok``, ``missing`` (no torch module and no torch distribution), ``stub``
    (``import torch`` works but ``from torch.utils.data import Dataset`` does not) or ``broken``;
    ``problems`` lists every problem found, in words, and is empty if and only if the status is ok.
    """
    start = time.monotonic()
    facts = _partial if _partial is not None else {}
    facts.update(base_facts())
    problems = facts['problems']
    facts['python_version'] = platform.python_version()

    dist = _distribution('torch')
    if dist is not None:
        facts['dist_version'] = dist.version
    facts['nvidia_distributions'] = _nvidia_distributions()

    try:
        spec = importlib.util.find_spec('torch')
    except Exception as exc:  # a broken parent package or finder
        spec = None
        problems.append('looking up the torch module failed: %s' % _describe(exc))

    imported = False
    torch = None
    if spec is None:
        if dist is not None:
            problems.append('distribution torch %s is installed but no torch module can be imported '
                            '(its files are missing: reinstall torch)' % dist.version)
        elif not problems:
            problems.append('torch is not installed: no torch module and no torch distribution for %s'
                            % sys.executable)
            facts['status'] = STATUS_MISSING
            facts['elapsed_s'] = round(time.monotonic() - start, 3)
            return facts
    else:
        try:
            torch = importlib.import_module('torch')
            imported = True
        except (Exception, SystemExit) as exc:
            problems.append('import torch failed: %s' % _describe(exc))
        if imported and getattr(torch, '__file__', None) is None:
            # a namespace package: a torch directory without __init__.py, such as uninstall leftovers
            imported = False
            facts['location'] = _module_location(torch)
            problems.append('torch at %s is a directory without __init__.py (leftovers of an uninstall?), '
                            'not a torch package: remove it and reinstall torch' % facts['location'])

    if imported:
        _inspect_imported(torch, dist, facts, require_cpu_build)
    elif require_cpu_build and facts['nvidia_distributions']:
        problems.append('a CPU-only torch is required but NVIDIA CUDA distributions are installed: %s'
                        % ', '.join(facts['nvidia_distributions']))

    facts['status'] = _classify(facts, imported)
    facts['elapsed_s'] = round(time.monotonic() - start, 3)
    return facts


def _inspect_imported(torch, dist, facts, require_cpu_build):
    problems = facts['problems']
    version = getattr(torch, '__version__', None)
    facts['version'] = str(version) if version is not None else None
    facts['location'] = _module_location(torch)

    try:
        from torch.utils.data import Dataset
        facts['dataset_available'] = Dataset is not None
    except (Exception, SystemExit) as exc:
        problems.append('from torch.utils.data import Dataset failed (%s): this torch is a stub or '
                        'placeholder, not a usable PyTorch' % _describe(exc))

    facts['compiled_core'], problem = _check_compiled_core(torch)
    if problem:
        problems.append(problem)

    if version is None:
        problems.append('torch has no __version__')
    if dist is None:
        problems.append('the torch module at %s has no distribution metadata (it was not installed by '
                        'pip/uv, or its .dist-info is missing)' % facts['location'])
    else:
        if version is not None and str(version) != dist.version:
            problems.append('torch.__version__ is %s but the installed torch distribution is %s'
                            % (version, dist.version))
        base = _dist_base(dist)
        location = facts['location']
        if base and location and os.path.dirname(os.path.realpath(location)) != base:
            problems.append('the torch module imported from %s is not the one installed by the torch '
                            'distribution in %s (shadowed?)' % (location, base))

    result, ok = _tensor_check(torch)
    facts['tensor_check']['result'] = result
    facts['tensor_check']['ok'] = ok
    if not ok:
        problems.append('tensor check %s gave %s, expected %s'
                        % (TENSOR_EXPRESSION, json.dumps(result), json.dumps(TENSOR_EXPECTED)))

    torch_version = getattr(torch, 'version', None)
    cuda = getattr(torch_version, 'cuda', None)
    hip = getattr(torch_version, 'hip', None)
    facts['cuda_version'] = str(cuda) if cuda is not None else None
    if torch_version is not None:
        facts['cpu_build'] = cuda is None and hip is None and not facts['nvidia_distributions']
    facts['build'] = _build_info(torch)

    if require_cpu_build:
        if cuda is not None:
            problems.append('a CPU-only torch is required but this is a CUDA build (CUDA %s); install '
                            'the +cpu wheel' % cuda)
        if hip is not None:
            problems.append('a CPU-only torch is required but this is a ROCm build (HIP %s)' % hip)
        if facts['nvidia_distributions']:
            problems.append('a CPU-only torch is required but NVIDIA CUDA distributions are installed: %s'
                            % ', '.join(facts['nvidia_distributions']))


def to_json(facts):
    """The command's output format for scripts."""
    return json.dumps(facts, indent=2, sort_keys=True)


REPAIR = ('repair: apply the codex.offline_ml.torch_cpu role to this host again (it reinstalls the pinned '
          'official CPU wheel from the local mirror)')


def summary(facts):
    """The human-readable form: one line with the verdict and, when it is not ok, the repair to run."""
    status = facts.get('status')
    where = facts.get('location') or facts.get('python')
    if status == STATUS_OK:
        return 'torch ok: torch %s at %s (python %s)' % (facts.get('version'), where, facts.get('python'))
    problems = '; '.join(facts.get('problems') or []) or 'no details'
    return 'torch %s (python %s): %s; %s' % (status, facts.get('python'), problems, REPAIR)


class _Stdout:
    """Send fd 1 to stderr while torch loads, so that what libraries print cannot spoil the JSON."""

    def __enter__(self):
        self.saved = None
        try:
            sys.stdout.flush()
            self.saved = os.dup(1)
            os.dup2(2, 1)
        except (OSError, ValueError, AttributeError):
            self.saved = None
        return self

    def restore(self):
        if self.saved is None:
            return
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        try:  # flush what C libraries buffered, so it lands on stderr too
            import ctypes
            ctypes.CDLL(None).fflush(None)
        except Exception:
            pass
        os.dup2(self.saved, 1)
        os.close(self.saved)
        self.saved = None

    def __exit__(self, *exc_info):
        self.restore()
        return False


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='torch_checks',
        description='Check that the PyTorch of this interpreter is real, complete and usable. '
                    'Prints one line with the verdict on a terminal, the facts as JSON otherwise (--format); '
                    'exit status 0 ok, 2 missing, 3 stub, 4 broken.')
    parser.add_argument('--require-cpu-build', action='store_true',
                        help='a CUDA/ROCm build or installed nvidia-* distributions are a problem')
    parser.add_argument('--format', choices=('auto', 'json', 'human'), default='auto',
                        help='json: the facts as JSON (for scripts); human: one line with the verdict and the '
                             'repair; auto (default): human on a terminal, json otherwise')
    parser.add_argument('--timeout', type=float, default=DEFAULT_TIMEOUT, metavar='N',
                        help='report broken if the check takes longer than N seconds '
                             '(default %(default)s, 0 = no limit)')
    return parser.parse_args(argv)


def _render(facts, fmt):
    if fmt == 'auto':
        try:
            fmt = 'human' if sys.stdout.isatty() else 'json'
        except (AttributeError, ValueError):
            fmt = 'json'
    return summary(facts) if fmt == 'human' else to_json(facts)


def main(argv=None):
    """Command entry point; returns the exit status."""
    args = _parse_args(argv)
    start = time.monotonic()
    partial = {}
    once = threading.Lock()
    redirect = _Stdout()

    def on_timeout():
        if not once.acquire(False):
            return
        redirect.restore()
        facts = failure_facts(sys.executable, 'the diagnostic timed out after %g s (import torch or the '
                              'tensor check hangs)' % args.timeout,
                              time.monotonic() - start, partial=dict(partial))
        sys.stdout.write(_render(facts, args.format) + '\n')
        sys.stdout.flush()
        os._exit(EXIT_CODES[STATUS_BROKEN])

    timer = None
    if args.timeout and args.timeout > 0:
        timer = threading.Timer(args.timeout, on_timeout)
        timer.daemon = True
        timer.start()
    with redirect:
        facts = diagnose(require_cpu_build=args.require_cpu_build, _partial=partial)
        if not once.acquire(False):  # the watchdog won the race and is exiting
            time.sleep(3600)
    if timer is not None:
        timer.cancel()
    sys.stdout.write(_render(facts, args.format) + '\n')
    sys.stdout.flush()
    return EXIT_CODES[facts['status']]


if __name__ == '__main__':
    raise SystemExit(main())
