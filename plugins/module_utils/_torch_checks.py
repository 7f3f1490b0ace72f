# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# One file on purpose, over the 600-line size rule: it is copied whole onto hosts as codex_ml/utils/torch_checks.py
# and its source is passed inline to the venv's python, so it cannot import a sibling module.
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
import re
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

# Packages built against one torch: checked when present (an absent one is not a problem).
COMPANIONS = ('torchvision', 'torchaudio')
COMPANION_CHECKS = {
    'torchvision': 'torchvision.ops.nms on two boxes keeps [0]',
    'torchaudio': 'torchaudio loads its compiled extension (_torchaudio, libtorchaudio)',
}
CPU_INDEX_URL = 'https://download.pytorch.org/whl/cpu'
# What the child prints on stderr before each step that may hang: the module names it after a timeout.
STEP_MARK = 'codex-torch-checks step: '
_CURRENT_STEP = [None]


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
        'companions': {},
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


def timeout_problem(seconds, step=None):
    """The problem of a diagnostic that ran out of time; ``step`` is what it was doing (see ``STEP_MARK``)."""
    return 'the diagnostic timed out after %g s (%s hangs)' % (
        seconds, step or 'import torch or the tensor check')


def last_step(text):
    """The last step a child announced on stderr (``STEP_MARK`` lines), or None."""
    found = None
    for line in (text or '').splitlines():
        if line.startswith(STEP_MARK):
            found = line[len(STEP_MARK):].strip() or None
    return found


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
    _check_companions(torch if imported and facts['tensor_check']['ok'] else None, facts)

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


# ---------------------------------------------------------------- companions (torchvision, torchaudio)
_REQ = re.compile(r'^\s*torch(?![\w.-])\s*(?:\[[^\]]*\])?\s*\(?\s*([^;)]*?)\s*\)?\s*(?:;\s*(.*))?$', re.IGNORECASE)
_MISSING_LIB = re.compile(r'(lib[\w.+-]*?\.so[\w.]*): cannot open shared object file')
_RELEASE = re.compile(r'^\s*v?(\d+(?:\.\d+)*)(.*)$')


def _announce(step):
    """Say on stderr what is about to run ('' = nothing named), so that whoever kills a hang can name it."""
    _CURRENT_STEP[0] = step or None
    try:
        sys.stderr.write(STEP_MARK + step + '\n')
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def torch_requirement(requires):
    """The specifier of ``torch`` in a list of Requires-Dist lines (extras ignored): '==2.13.0', '' or None."""
    for line in requires or ():
        match = _REQ.match(line or '')
        if not match or (match.group(2) and 'extra' in match.group(2)):
            continue
        return match.group(1).replace(' ', '')
    return None


def _release(version):
    match = _RELEASE.match(version or '')
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split('.'))


def _padded(release, size):
    return tuple(release) + (0,) * (size - len(release))


def _clause_ok(op, wanted, public, release):
    if wanted.endswith('.*') and op in ('==', '!='):
        prefix = _release(wanted[:-2])
        same = prefix is not None and release[:len(prefix)] == prefix
        return same if op == '==' else not same
    if op in ('==', '!=', '==='):
        target = _release(wanted)
        size = max(len(release), len(target or ()))
        same = target is not None and _padded(release, size) == _padded(target, size) and \
            _RELEASE.match(wanted).group(2) == _RELEASE.match(public).group(2)
        return same if op != '!=' else not same
    target = _release(wanted)
    if target is None:
        return None
    size = max(len(release), len(target))
    have, want = _padded(release, size), _padded(target, size)
    if op == '~=':
        return have >= want and release[:len(target) - 1] == target[:-1]
    return {'>=': have >= want, '<=': have <= want, '>': have > want, '<': have < want}.get(op)


def specifier_allows(specifier, version):
    """Whether ``version`` (e.g. 2.13.0+cpu) satisfies ``specifier`` (e.g. ==2.13.0 or >=2.11,<2.12).

    PEP 440 for the release numbers, which is what a companion's torch pin uses; a local label (+cpu) is ignored
    unless the specifier names one. None when the specifier cannot be read.
    """
    public, _sep, _local = (version or '').partition('+')
    release = _release(public)
    if release is None:
        return None
    verdict = True
    for clause in (specifier or '').split(','):
        clause = clause.strip()
        if not clause:
            continue
        match = re.match(r'^(===|==|!=|~=|>=|<=|>|<)\s*(\S+)$', clause)
        if not match:
            return None
        op, wanted = match.groups()
        if op in ('==', '!=', '===') and '+' in wanted:
            ok = (version == wanted) if op != '!=' else (version != wanted)
        else:
            ok = _clause_ok(op, wanted, public, release)
        if ok is None:
            return None
        verdict = verdict and ok
    return verdict


def _error_chain(exc):
    """The exception and its causes, as one line each."""
    seen = []
    while exc is not None and exc not in seen and len(seen) < 5:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return [_describe(item) for item in seen]


def _shared_objects(location):
    found = []
    for root, dirs, files in os.walk(location or ''):
        dirs[:] = [d for d in dirs if d in ('lib', '_C')] if root != location else [d for d in dirs if d == 'lib']
        found.extend(os.path.join(root, name) for name in sorted(files) if '.so' in name)
    return found[:20]


def _missing_libraries(texts, location):
    """Libraries the companion's compiled part needs and cannot find: from the error, else by loading each .so."""
    missing = []
    for text in texts:
        for lib in _MISSING_LIB.findall(text):
            if lib not in missing:
                missing.append(lib)
    if missing:
        return missing
    try:
        import ctypes
    except ImportError:  # pragma: no cover
        return missing
    for path in _shared_objects(location):
        try:
            ctypes.CDLL(path, mode=getattr(ctypes, 'RTLD_LOCAL', 0))
        except OSError as exc:
            for lib in _MISSING_LIB.findall(str(exc)):
                if lib not in missing:
                    missing.append(lib)
    return missing


def _companion_location(name):
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        return None, False
    if spec is None:
        return None, False
    paths = list(spec.submodule_search_locations or [])
    return (os.path.abspath(paths[0]) if paths else None), True


def _exercise(name, module, torch):
    """Run the companion's check; returns None or an error string."""
    if name == 'torchvision':
        ops = importlib.import_module('torchvision.ops')
        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0]])
        kept = ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist()
        if kept != [0]:
            return 'torchvision.ops.nms gave %s, expected [0]' % json.dumps(kept)
        return None
    if name == 'torchaudio':
        extension = importlib.import_module('torchaudio._extension')
        available = getattr(extension, '_IS_TORCHAUDIO_EXT_AVAILABLE', None)
        if available is False:
            return 'torchaudio has no compiled extension (_torchaudio is missing from %s)' % (
                _module_location(module) or 'its package')
        return None
    return None  # pragma: no cover - COMPANIONS and this function agree


def _companion_repair(name, torch_version):
    return ('repair: reinstall %s as the CPU build made for torch %s (from the PyTorch CPU index %s, staged into '
            'the mirror), e.g. with the torch_cpu role and %s pinned in torch_cpu_companions; or uninstall %s'
            % (name, torch_version or 'the installed torch', CPU_INDEX_URL, name, name))


def _check_companion(name, torch, facts):
    dist = _distribution(name)
    location, has_module = _companion_location(name)
    if dist is None and not has_module:
        return None
    info = {
        'version': None,
        'dist_version': dist.version if dist is not None else None,
        'location': location,
        'requires_torch': None,
        'torch_requirement_ok': None,
        'check': COMPANION_CHECKS[name],
        'check_ok': None,
        'missing_libraries': [],
        'status': STATUS_OK,
        'problems': [],
    }
    facts['companions'][name] = info
    problems = info['problems']
    torch_version = facts.get('version') or facts.get('dist_version')
    label = '%s %s' % (name, info['dist_version'] or '(no metadata)')
    if dist is not None:
        try:
            requires = list(dist.requires or [])
        except Exception:
            requires = []
        info['requires_torch'] = torch_requirement(requires)
        if info['requires_torch'] and torch_version:
            info['torch_requirement_ok'] = specifier_allows(info['requires_torch'], torch_version)
            if info['torch_requirement_ok'] is False:
                problems.append('%s requires torch%s but torch %s is installed (version skew); %s'
                                % (label, info['requires_torch'], torch_version,
                                   _companion_repair(name, torch_version)))
    else:
        problems.append('the %s module at %s has no distribution metadata (not installed by pip/uv?); %s'
                        % (name, location, _companion_repair(name, torch_version)))
    if torch is None:
        info['status'] = STATUS_BROKEN if problems else 'unchecked'
        return info
    error = None
    texts = []
    _announce('import %s' % name)
    try:
        module = importlib.import_module(name)
        version = getattr(module, '__version__', None)
        info['version'] = str(version) if version is not None else None
        _announce(COMPANION_CHECKS[name])
        error = _exercise(name, module, torch)
    except (Exception, SystemExit) as exc:
        texts = _error_chain(exc)
        error = ' <- '.join(texts)
    _announce('')
    info['check_ok'] = error is None
    if error is not None:
        info['missing_libraries'] = _missing_libraries(texts or [error], location)
        tag = (info['version'] or info['dist_version'] or '').partition('+')[2]
        cuda_libs = [lib for lib in info['missing_libraries'] if 'cuda' in lib or 'cudnn' in lib or 'cublas' in lib]
        if cuda_libs or tag.startswith('cu'):
            cause = ('likely cause: a CUDA build of %s%s over a CPU torch %s%s'
                     % (name, ' (+%s)' % tag if tag else '', torch_version,
                        ': it needs %s, which a CPU torch does not have' % ', '.join(cuda_libs) if cuda_libs
                        else ''))
        elif info['torch_requirement_ok'] is False:
            cause = 'likely cause: version skew: %s is built for torch%s, torch %s is installed' % (
                label, info['requires_torch'], torch_version)
        elif info['missing_libraries']:
            cause = 'likely cause: missing libraries %s' % ', '.join(info['missing_libraries'])
        else:
            cause = ('likely cause: its compiled part was built for another torch than %s (Requires-Dist: torch%s)'
                     % (torch_version, info['requires_torch'] or ' unpinned'))
        problems.append('%s does not work: %s failed: %s; %s; %s' % (
            label, COMPANION_CHECKS[name], error, cause, _companion_repair(name, torch_version)))
    info['status'] = STATUS_BROKEN if problems else STATUS_OK
    return info


def _check_companions(torch, facts):
    """Check each companion that is present; ``torch`` is None when torch itself is unusable."""
    for name in COMPANIONS:
        info = _check_companion(name, torch, facts)
        if info is not None:
            facts['problems'].extend(info['problems'])


def to_json(facts):
    """The command's output format for scripts."""
    return json.dumps(facts, indent=2, sort_keys=True)


REPAIR = ('repair: apply the codex.offline_ml.torch_cpu role to this host again (it reinstalls the pinned '
          'official CPU wheels of torch and its companions from the local mirror)')


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
        facts = failure_facts(sys.executable, timeout_problem(args.timeout, _CURRENT_STEP[0]),
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
