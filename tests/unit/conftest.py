# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures of the unit tests.

* Makes ``ansible_collections.codex.offline_ml`` importable when the tests run with plain pytest from the
  collection root (ansible-test lays the tree out itself; then nothing is added).
* Builds throw-away virtual environments with ``uv``: bare ones, ones holding the impersonations of torch
  from ``tests/fixtures/stub_torch/build_stub_wheel.py``, and one with the REAL torch wheel, installed
  offline from the directory named by ``CODEX_TEST_WHEELHOUSE`` (torch 2.13.0+cpu and its dependencies).
* Marks ``wheels`` the tests that need wheels staged under build/ (`make mirror`, `make family-wheels`): every
  test using a fixture of WHEEL_FIXTURES, and any test marked by hand. `make unit` runs ``-m "not wheels"`` (a
  fresh clone, before the staging); `make test` runs them all. A marked test without its wheels fails, naming
  the make target that stages them: it never skips.
"""

from __future__ import absolute_import, division, print_function

import atexit
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / 'tests' / 'fixtures'
REAL_TORCH_PIN = 'torch==2.13.0+cpu'
WHEELHOUSE_VAR = 'CODEX_TEST_WHEELHOUSE'
FAMILY_VAR = 'CODEX_FAMILY_WHEELS'
STAGED_MIRROR = REPO_ROOT / 'build' / 'mirror'
STAGED_WHEELS = STAGED_MIRROR / 'wheels'
FAMILY_WHEELS = REPO_ROOT / 'build' / 'family-wheels'
# fixture -> the make target that stages what it reads (the fixtures of test files included: matched by name)
WHEEL_FIXTURES = {
    'real_torch_python': 'mirror',
    'hub_python': 'mirror',
    'uv_wheel': 'mirror',
    'family_wheels': 'family-wheels',
    'family_mirror': 'family-wheels',
}


def pytest_configure(config):
    config.addinivalue_line('markers', 'wheels: needs the wheels staged under build/ by `make mirror` or `make family-wheels` '
                            '(make unit deselects it; make test runs it)')


def _staged_builds(item):
    """The make targets whose wheels ITEM needs: from its fixtures, else `mirror` for a test marked by hand."""
    builds = set(WHEEL_FIXTURES[name] for name in item.fixturenames if name in WHEEL_FIXTURES)
    if not builds and item.get_closest_marker('wheels'):
        builds.add('mirror')
    return builds


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # tryfirst: before -m deselects by marker
    for item in items:
        if _staged_builds(item) and not item.get_closest_marker('wheels'):
            item.add_marker(pytest.mark.wheels)


def _has_wheels(directory):
    return directory.is_dir() and any(directory.glob('*.whl'))


def pytest_runtest_setup(item):
    where = {
        'mirror': [Path(os.environ.get(WHEELHOUSE_VAR) or STAGED_WHEELS), STAGED_WHEELS],
        'family-wheels': [Path(os.environ.get(FAMILY_VAR) or FAMILY_WHEELS)],
    }
    for build in sorted(_staged_builds(item)):
        missing = sorted(set(str(d) for d in where[build] if not _has_wheels(d)))
        if missing:
            pytest.fail('%s is marked `wheels` and finds no wheels in %s: run `make %s` first (`make unit` leaves '
                        'the tests marked `wheels` out; `make test` stages and runs them)' % (item.nodeid, ', '.join(missing), build),
                        pytrace=False)


def _collections_root():
    """A directory holding ansible_collections/codex/offline_ml (this checkout)."""
    parents = REPO_ROOT.parents
    if REPO_ROOT.name == 'offline_ml' and parents[0].name == 'codex' and parents[1].name == 'ansible_collections':
        return parents[2]
    root = Path(tempfile.mkdtemp(prefix='codex-collections-'))
    atexit.register(shutil.rmtree, str(root), True)
    (root / 'ansible_collections' / 'codex').mkdir(parents=True)
    (root / 'ansible_collections' / 'codex' / 'offline_ml').symlink_to(REPO_ROOT, target_is_directory=True)
    return root


COLLECTIONS_ROOT = _collections_root()
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))


def load_fixture_module(relative, name):
    """Import a helper script of tests/fixtures by path."""
    spec = importlib.util.spec_from_file_location(name, str(FIXTURES / relative))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


stub_wheels = load_fixture_module('stub_torch/build_stub_wheel.py', 'codex_build_stub_wheel')


@pytest.fixture(scope='session')
def collections_root():
    """Directory to use as ANSIBLE_COLLECTIONS_PATH."""
    return COLLECTIONS_ROOT


@pytest.fixture(scope='session')
def uv_bin():
    """The uv of the dev virtual environment (or of PATH)."""
    candidate = Path(sys.executable).parent / 'uv'
    found = str(candidate) if candidate.exists() else shutil.which('uv')
    if not found:
        pytest.fail('uv is needed to build the test virtual environments: install the dev requirements '
                    '(make venv) or put uv on PATH')
    return found


def _run(cmd, **kwargs):
    proc = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False, **kwargs)
    if proc.returncode != 0:
        pytest.fail('command failed (%d): %s\n%s' % (proc.returncode, ' '.join(map(str, cmd)), proc.stdout))
    return proc.stdout


class VenvFactory(object):
    """Creates (once per session and per name) virtual environments with uv."""

    def __init__(self, uv, base):
        self.uv = uv
        self.base = base
        self.cache = {}

    def create(self, name):
        path = self.base / name
        _run([self.uv, 'venv', '--quiet', '--python', sys.executable, path])
        return path / 'bin' / 'python'

    def install(self, python, *wheels, **kwargs):
        cmd = [self.uv, 'pip', 'install', '--quiet', '--python', python, '--no-index', '--offline']
        if kwargs.get('no_cache', True):
            cmd.append('--no-cache')
        _run(cmd + list(kwargs.get('extra', [])) + list(wheels))

    def bare(self):
        if 'bare' not in self.cache:
            self.cache['bare'] = self.create('bare')
        return self.cache['bare']

    def wheel(self, variant, version=stub_wheels.DEFAULT_VERSION):
        key = ('wheel', variant, version)
        if key not in self.cache:
            self.cache[key] = stub_wheels.build_wheel(self.base / 'wheels' / variant / version, variant, version)
        return self.cache[key]

    def torch(self, variant, version=stub_wheels.DEFAULT_VERSION, extra_wheels=(), name=None):
        """Interpreter of a venv holding torch ``variant`` (plus ``extra_wheels``)."""
        name = name or 'torch-%s-%s' % (variant, version)
        if name not in self.cache:
            python = self.create(name)
            self.install(python, self.wheel(variant, version), *extra_wheels)
            self.cache[name] = python
        return self.cache[name]


@pytest.fixture(scope='session')
def venvs(uv_bin, tmp_path_factory):
    """Factory of throw-away virtual environments (see VenvFactory)."""
    return VenvFactory(uv_bin, tmp_path_factory.mktemp('venvs'))


@pytest.fixture(scope='session')
def nvidia_wheel(tmp_path_factory):
    """A fake nvidia-cuda-runtime-cu12 wheel (only its name matters to the diagnostic)."""
    return stub_wheels.write_wheel(tmp_path_factory.mktemp('nvidia'), 'nvidia-cuda-runtime-cu12', '12.1.105',
                                   {'nvidia/cuda_runtime/__init__.py': ''})


@pytest.fixture(scope='session')
def real_torch_python(venvs):
    """Interpreter of a venv with the REAL torch 2.13.0+cpu, from $CODEX_TEST_WHEELHOUSE (default: the staged
    mirror's wheels, build/mirror/wheels). Never skipped."""
    wheelhouse = os.environ.get(WHEELHOUSE_VAR) or str(STAGED_WHEELS)
    if not os.path.isdir(wheelhouse):
        pytest.fail('%s=%s is not a directory: run `make mirror`, or point %s at a directory holding %s and its '
                    'dependencies (filelock, typing-extensions, setuptools, sympy, mpmath, networkx, jinja2, markupsafe, '
                    'fsspec)' % (WHEELHOUSE_VAR, wheelhouse, WHEELHOUSE_VAR, REAL_TORCH_PIN), pytrace=False)
    python = venvs.create('real-torch')
    venvs.install(python, REAL_TORCH_PIN, no_cache=False, extra=['--find-links', wheelhouse])
    return python


# ---------------------------------------------------------------- mirror mechanism
# Fixtures of the tests of _mirror/_offline_venv/_stage and the offline_venv/wheel_mirror_info/wheel_stage modules:
# small wheels, the real uv wheel staged by `make mirror`, real HTTP servers on 127.0.0.1, main() in process.
import json  # noqa: E402  (appended section)
import socket  # noqa: E402
import time  # noqa: E402


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='session')
def write_wheel():
    """build_stub_wheel.write_wheel(out_dir, name, version, files, tag='py3-none-any'): any small wheel."""
    return stub_wheels.write_wheel


@pytest.fixture(scope='session')
def unused_port():
    """unused_port() -> a port of 127.0.0.1 nothing listens on (for unreachable mirrors)."""
    return free_port


@pytest.fixture(scope='session')
def uv_wheel():
    """The REAL uv wheel of the staged mirror (build/mirror/wheels, written by `make mirror`). Never skipped."""
    found = sorted(STAGED_WHEELS.glob('uv-*-manylinux*_x86_64*.whl')) if STAGED_WHEELS.is_dir() else []
    if not found:
        pytest.fail('no uv wheel in %s: run `make mirror` first' % STAGED_WHEELS, pytrace=False)
    return found[-1]


class ServerFactory(object):
    """Starts real servers on 127.0.0.1 (a free port each) and stops them at the end of the session."""

    def __init__(self, logs):
        self.logs = logs
        self.procs = []

    def _start(self, argv, port, name):
        log = open(str(self.logs / ('%s-%d.log' % (name, port))), 'w')
        proc = subprocess.Popen([str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((proc, log))
        deadline = time.time() + 20
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            try:
                socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
                return 'http://127.0.0.1:%d' % port
            except OSError:
                time.sleep(0.1)
        log.flush()
        pytest.fail('%s did not listen on 127.0.0.1:%d: %s' % (name, port, Path(log.name).read_text()), pytrace=False)

    def pypiserver(self, directory):
        """A pypiserver PEP 503 index of DIRECTORY; returns its .../simple/ URL."""
        exe = Path(sys.executable).parent / 'pypi-server'
        if not exe.exists():
            pytest.fail('pypi-server is not installed in %s: run make venv' % exe.parent, pytrace=False)
        port = free_port()
        base = self._start([exe, 'run', '-i', '127.0.0.1', '-p', port, '--disable-fallback', '-a', '.', '-P', '.',
                            directory], port, 'pypiserver')
        return base + '/simple/'

    def http(self, directory):
        """python -m http.server of DIRECTORY (a flat find-links listing); returns its URL."""
        port = free_port()
        return self._start([sys.executable, '-m', 'http.server', '--bind', '127.0.0.1', port, '--directory',
                            directory], port, 'http-server') + '/'

    def stop(self):
        for proc, log in self.procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


@pytest.fixture(scope='session')
def servers(tmp_path_factory):
    """Factory of real mirror servers on 127.0.0.1 (see ServerFactory)."""
    factory = ServerFactory(tmp_path_factory.mktemp('server-logs'))
    yield factory
    factory.stop()


@pytest.fixture(scope='module')
def serve_handler():
    """serve_handler(HANDLER) -> base URL of an in-process HTTP server on 127.0.0.1 (a free port) answering with
    the http.server request handler class HANDLER (a stand-in Hub or olah); stopped after the test module."""
    from http.server import HTTPServer
    import threading
    started = []

    def start(handler):
        server = HTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return 'http://127.0.0.1:%d' % server.server_address[1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


class ModuleExit(Exception):
    pass


try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    import contextlib

    @contextlib.contextmanager
    def patch_module_args(args=None):
        from ansible.module_utils import basic
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}).encode('utf-8')
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


def _exit_json(self, **kwargs):
    kwargs.setdefault('changed', False)
    raise ModuleExit(False, kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs.update(failed=True, msg=msg)
    raise ModuleExit(True, kwargs)


def run_main(module, **args):
    """Run MODULE.main() in process with ARGS (``_ansible_check_mode=True`` and the like included); returns
    (failed, result). Only the way out (exit_json/fail_json) is replaced; the module's logic runs for real."""
    from unittest import mock
    from ansible.module_utils import basic
    with patch_module_args(args), mock.patch.object(basic.AnsibleModule, 'exit_json', _exit_json), \
            mock.patch.object(basic.AnsibleModule, 'fail_json', _fail_json):
        try:
            module.main()
        except ModuleExit as exc:
            return exc.args
    pytest.fail('%s.main() returned without exit_json or fail_json' % module.__name__)


@pytest.fixture
def run_module():
    """run_module(MODULE, **args) runs MODULE.main() in process; returns (failed, result)."""
    return run_main


@pytest.fixture(scope='module')
def manifest():
    """(info, index) of the fleet report's staging manifest fixture, tests/fixtures/audit/manifest.json."""
    from ansible_collections.codex.offline_ml.plugins.module_utils._report_manifest import load_manifest
    info, index = load_manifest(str(FIXTURES / 'audit' / 'manifest.json'))
    assert info['error'] is None and index
    return info, index


# --------------------------------------------------------------------------- what a cache member can plant
@pytest.fixture
def secret(tmp_path):
    """A root-only file outside the cache, the target of every planted link (the hf layout and safefs tests)."""
    path = tmp_path / 'outside' / 'secret'
    path.parent.mkdir()
    path.write_text('root only\n')
    os.chmod(str(path), 0o600)
    return path


def file_state(path):
    """(mode, uid, gid, content) of PATH itself: equal before and after means nothing wrote through a link to it."""
    st = os.lstat(str(path))
    return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, path.read_bytes())


@pytest.fixture
def tiny_bert_bundle(tmp_path):
    """The path of a bundle (tar and manifest beside it) of the tiny BERT fixture at its commit, built by _hf_bundle
    from a cache made by the fixture's layout module: what the seeding tests unpack."""
    from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_bundle, _hf_specs
    layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')
    stage = tmp_path / 'stage'
    layout.make_cache(stage)
    (spec,) = _hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    path = str(tmp_path / 'b' / 'hf-bundle.tar')
    _hf_bundle.build_bundle(str(stage), [(spec, layout.COMMIT)], path)
    return path
