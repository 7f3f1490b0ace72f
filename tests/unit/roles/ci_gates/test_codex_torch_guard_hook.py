# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guard's import hook: ``import torch`` of an unusable torch raises ModuleNotFoundError with the verdict.

In process: the finder, its once-only diagnostic and its fast path (the diagnostic, a child process, is the
boundary replaced by a counter). As users run it: REAL pytest (this venv's) in a child, the guard loaded by
its ``pytest11`` entry point only (the dist-info the role installs, no ``-p`` flag, no conftest), a test suite
written with the seed's idiom, and a site directory holding each torch shape the diagnostic knows, the REAL
torch wheel among them.
"""

from __future__ import absolute_import, division, print_function

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
LIB = ROOT / 'roles' / 'ci_gates' / 'files' / 'lib'
sys.path.insert(0, str(LIB))

import codex_torch_guard as guard  # noqa: E402


class Counted(object):
    """The diagnostic boundary: returns ``facts`` and counts the calls."""

    def __init__(self, facts):
        self.facts = facts
        self.calls = 0

    def __call__(self, timeout):
        self.calls += 1
        return dict(self.facts)


@pytest.fixture
def hook():
    """Installs a finder for a guard built by the test; removes it and any torch afterwards."""
    installed = []

    def make(facts, required=False):
        diagnose = Counted(facts)
        finder = guard.install(guard.Guard(required, 5, diagnose=diagnose))
        installed.append(finder)
        return finder, diagnose

    saved = sys.modules.pop('torch', None)
    yield make
    for finder in installed:
        guard.uninstall(finder)
    sys.modules.pop('torch', None)
    if saved is not None:
        sys.modules['torch'] = saved


STUB = {'status': 'stub', 'problems': ['from torch.utils.data import Dataset failed']}


def test_unusable_torch_raises_module_not_found_with_the_verdict(hook):
    finder, diagnose = hook(STUB)
    with pytest.raises(ModuleNotFoundError) as caught:
        importlib.import_module('torch')
    assert caught.value.name == 'torch'
    assert str(caught.value) == 'codex torch guard: torch is stub: from torch.utils.data import Dataset failed'
    assert 'torch' not in sys.modules
    assert finder in sys.meta_path


def test_the_diagnostic_runs_once_however_often_torch_is_imported(hook):
    finder, diagnose = hook(STUB)
    for dummy in range(3):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module('torch')
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module('torch.utils.data')
    assert diagnose.calls == 1
    assert finder.denied == 4


def test_importorskip_skips_with_the_reason(hook):
    hook({'status': 'broken', 'problems': ['import torch failed: OSError: libtorch_cpu.so: cannot open']})
    with pytest.raises(pytest.skip.Exception) as caught:
        pytest.importorskip('torch')
    assert 'torch is broken: import torch failed: OSError: libtorch_cpu.so' in str(caught.value)


def test_a_usable_verdict_steps_aside_for_the_real_import(hook):
    finder, diagnose = hook({'status': 'ok', 'problems': [], 'version': '2.13.0+cpu'})
    # no torch here: the ordinary finders answer, with the ordinary error
    with pytest.raises(ModuleNotFoundError) as caught:
        importlib.import_module('torch')
    assert str(caught.value) == "No module named 'torch'"
    assert finder not in sys.meta_path
    assert diagnose.calls == 1


def test_imports_of_other_modules_never_run_the_diagnostic(hook):
    finder, diagnose = hook(STUB)
    for name in ('json', 'email.mime.text', 'torchvision_not_here', 'torch_not_torch'):
        sys.modules.pop(name, None)
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    assert diagnose.calls == 0
    assert finder.denied == 0


def test_a_missing_torch_stays_missing_for_probes(hook):
    finder, diagnose = hook({'status': 'missing', 'problems': ['torch is not installed']})
    assert importlib.util.find_spec('torch') is None  # libraries that probe keep working without torch
    with pytest.raises(ModuleNotFoundError) as caught:
        importlib.import_module('torch')
    assert str(caught.value) == "No module named 'torch'"
    assert diagnose.calls == 1 and finder.denied == 0


def test_a_missing_torch_is_refused_with_the_reason_when_required(hook):
    finder, diagnose = hook({'status': 'missing', 'problems': ['torch is not installed']}, required=True)
    with pytest.raises(ModuleNotFoundError, match='codex torch guard: torch is missing: torch is not installed'):
        importlib.import_module('torch')


def test_install_is_idempotent(hook):
    first = hook(STUB)[0]
    second = hook(STUB)[0]
    assert first is second
    assert sum(isinstance(f, guard.TorchFinder) for f in sys.meta_path) == 1


# ------------------------------------------------------------------------- real pytest, every torch shape
SUITE = {
    # the seed's idiom at module level
    'test_module_level.py': '''
        import pytest

        torch = pytest.importorskip("torch")
        from torch.utils.data import Dataset


        def test_dataset():
            class Three(Dataset):
                def __len__(self):
                    return 3

                def __getitem__(self, index):
                    return index

            assert len(Three()) == 3
    ''',
    # inside a test, beside a test that needs no torch
    'test_inside.py': '''
        import pytest


        def test_plain():
            assert sum([1, 2]) == 3


        def test_tensor():
            torch = pytest.importorskip("torch")
            assert float(torch.ones(3).sum()) == 3.0
    ''',
}

NO_TORCH_SUITE = {'test_plain.py': 'def test_plain():\n    assert True\n'}


def _write_tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _dist_info(site, version='2.13.0+cpu'):
    info = site / ('torch-%s.dist-info' % version)
    info.mkdir(parents=True)
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: torch\nVersion: %s\n' % version)
    (info / 'RECORD').write_text('')


def _site_of(python):
    return next(Path(python).parent.parent.glob('lib/python*/site-packages'))


@pytest.fixture(scope='module')
def lib(tmp_path_factory):
    """The lib directory as the role installs it: helpers, the diagnostic, the guard's dist-info."""
    lib = tmp_path_factory.mktemp('gates-lib')
    for entry in LIB.iterdir():
        if entry.is_dir():
            shutil.copytree(str(entry), str(lib / entry.name))
        elif entry.suffix == '.py':
            shutil.copy(str(entry), str(lib / entry.name))
    shutil.copy(str(ROOT / 'plugins' / 'module_utils' / '_torch_checks.py'), str(lib / 'torch_checks.py'))
    return lib


def _hand_made(tmp_path_factory, shape):
    site = tmp_path_factory.mktemp('site-%s' % shape)
    if shape == 'namespace':  # uninstall leftovers: a torch directory without __init__.py
        (site / 'torch' / 'lib').mkdir(parents=True)
        (site / 'torch' / 'lib' / 'leftover.txt').write_text('')
    elif shape in ('oserror', 'runtimeerror'):
        (site / 'torch').mkdir()
        error = ('OSError("libtorch_cpu.so: cannot open shared object file: No such file or directory")'
                 if shape == 'oserror' else 'RuntimeError("generic_type: type \\"_C\\" is already registered")')
        (site / 'torch' / '__init__.py').write_text('__version__ = "2.13.0+cpu"\nraise %s\n' % error)
        _dist_info(site)
    return site


# shape -> (how to get its site directory, the words the skip reason must hold)
SHAPES = {
    'missing': ('bare', "No module named 'torch'"),
    'stub': ('stub', 'torch is stub: from torch.utils.data import Dataset failed'),
    'namespace': ('hand', 'is a directory without __init__.py (leftovers of an uninstall?)'),
    'oserror': ('hand', 'import torch failed: OSError: libtorch_cpu.so: cannot open shared object file'),
    'runtimeerror': ('hand', 'import torch failed: RuntimeError: generic_type'),
    'hang': ('hang', 'the diagnostic timed out after 3 s'),
    'version_skew': ('version_mismatch', 'torch.__version__ is 2.12.0 but the installed torch distribution is'),
}


@pytest.fixture(scope='module')
def sites(venvs, tmp_path_factory):
    made = {}

    def get(shape):
        if shape not in made:
            how = SHAPES[shape][0]
            if how == 'bare':
                made[shape] = _site_of(venvs.bare())
            elif how == 'hand':
                made[shape] = _hand_made(tmp_path_factory, shape)
            else:
                made[shape] = _site_of(venvs.torch(how))
        return made[shape]
    return get


def run_pytest(lib, site, project, **env):
    """This venv's REAL pytest in a child: the lib directory and SITE on its path, nothing else added."""
    environ = dict((k, v) for k, v in os.environ.items()
                   if k not in ('CODEX_REQUIRE_TORCH', 'CODEX_TORCH_CHECK_TIMEOUT', 'PYTEST_ADDOPTS',
                                'PYTEST_PLUGINS', 'PYTEST_DISABLE_PLUGIN_AUTOLOAD', 'PYTHONPATH'))
    environ['PYTHONPATH'] = os.pathsep.join(str(p) for p in (lib, site) if p)
    environ.update(env)
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-rsf', '-p', 'no:cacheprovider', str(project)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          env=environ, cwd=str(project), timeout=600, check=False)
    return proc.returncode, proc.stdout


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    return _write_tree(tmp_path_factory.mktemp('project'), SUITE)


@pytest.mark.parametrize('shape', sorted(SHAPES))
def test_every_unusable_shape_skips_with_its_reason(lib, sites, project, shape):
    rc, out = run_pytest(lib, sites(shape), project, CODEX_TORCH_CHECK_TIMEOUT='3')
    assert rc == 0, out
    assert '1 passed, 2 skipped' in out
    if shape == 'missing':  # stays the ordinary ModuleNotFoundError: nothing to hide
        assert out.count("could not import 'torch': No module named 'torch'") == 2, out
        assert 'codex torch guard: torch is not usable: torch is missing: torch is not installed' in out
        return
    assert out.count("could not import 'torch': codex torch guard: ") == 2, out
    assert SHAPES[shape][1] in out
    assert 'codex torch guard: 2 test(s) or module(s) skipped' in out


@pytest.mark.parametrize('shape', ['stub', 'oserror', 'namespace', 'missing'])
def test_require_torch_turns_the_skips_into_failures(lib, sites, project, shape):
    rc, out = run_pytest(lib, sites(shape), project, CODEX_REQUIRE_TORCH='1')
    assert rc == 1, out
    assert '2 failed, 1 passed' in out
    assert 'FAILED test_module_level.py::torch_required' in out
    assert 'FAILED test_inside.py::test_tensor' in out
    assert out.count('torch is required (CODEX_REQUIRE_TORCH=1 or ci_gates_torch_required) but ') >= 2
    assert (SHAPES[shape][1] if shape != 'missing' else 'torch is missing: torch is not installed') in out


def test_a_bare_import_fails_collection_with_the_reason(lib, sites, tmp_path):
    project = _write_tree(tmp_path, {'test_bare.py': 'import torch\n\n\ndef test_x():\n    assert torch\n'})
    rc, out = run_pytest(lib, sites('stub'), project)
    assert rc == 2, out
    assert 'ModuleNotFoundError: codex torch guard: torch is stub: from torch.utils.data import Dataset' in out
    assert 'E   AttributeError' not in out  # the reason, not a failure three frames later


def test_a_bad_require_value_is_a_usage_error_naming_it(lib, sites, project):
    rc, out = run_pytest(lib, sites('stub'), project, CODEX_REQUIRE_TORCH='maybe')
    assert rc == 4, out
    assert "CODEX_REQUIRE_TORCH='maybe' is not a yes/no value" in out


def test_a_suite_that_never_imports_torch_never_runs_the_diagnostic(lib, sites, tmp_path):
    project = _write_tree(tmp_path, NO_TORCH_SUITE)
    # a diagnostic that would hang for a minute: the run would show it
    rc, out = run_pytest(lib, sites('hang'), project, CODEX_TORCH_CHECK_TIMEOUT='60')
    assert rc == 0, out
    assert '1 passed' in out
    assert 'codex torch guard: ' not in out.split('passed')[0].splitlines()[-1]
    assert 'skipped' not in out and 'is usable' not in out


def test_the_real_torch_imports_unchanged(lib, real_torch_python, project):
    rc, out = run_pytest(lib, _site_of(real_torch_python), project)
    assert rc == 0, out
    assert '3 passed' in out
    assert 'codex torch guard: torch 2.13.0+cpu is usable' in out


def test_the_entry_point_loads_the_guard_without_a_flag(lib, sites, project):
    rc, out = run_pytest(lib, sites('stub'), project, PYTEST_ADDOPTS='--co')
    assert rc == 0, out
    # the module-level importorskip already ran at collection: the guard was active
    assert 'codex torch guard' in out
