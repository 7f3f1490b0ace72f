# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_offline_venv: inspect real venvs, swap/clean releases, and build venvs with the real pip and uv, offline."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _offline_venv as ov
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import (
    parse_wheel_filename,
    render_lock,
    supported_tags,
    wanted_set,
)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_python(venv, code):
    proc = subprocess.run([os.path.join(str(venv), 'bin', 'python'), '-c', code], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout.strip()


class Mirror(object):
    """A wheelhouse directory of small wheels plus the real uv wheel."""

    def __init__(self, path, uv_wheel, write_wheel):
        self.path = path
        self.write_wheel = write_wheel
        path.mkdir()
        self.alpha = write_wheel(path, 'alpha', '1.0', {'alpha.py': 'VALUE = "alpha 1.0"\n'})
        self.beta = write_wheel(path, 'Beta_Pkg', '2.0+local', {'beta_pkg/__init__.py': 'VALUE = "beta"\n'})
        self.uv = path / uv_wheel.name
        shutil.copyfile(str(uv_wheel), str(self.uv))
        self.uv_version = parse_wheel_filename(uv_wheel.name)['version']

    def lock(self, *wheels):
        entries = {}
        for wheel in wheels:
            info = parse_wheel_filename(wheel.name)
            entries[info['name']] = {'version': info['version'], 'hashes': [sha256(wheel)]}
        return render_lock(entries, header=['test lock'])


@pytest.fixture(scope='module')
def mirror(tmp_path_factory, uv_wheel, write_wheel):
    return Mirror(tmp_path_factory.mktemp('ov') / 'wheelhouse', uv_wheel, write_wheel)


def builder(path, mirror, installer, requirements, lock_text=None, wheelhouse=None, **kwargs):
    wanted, lock = wanted_set(requirements, lock_text)
    return ov.Builder(str(path), sys.executable, wanted, lock, lock_text, requirements, installer, 'wheelhouse',
                      wheelhouse=str(wheelhouse or mirror.path), timeout=300, **kwargs)


# --------------------------------------------------------------------------- inspect / differences
@pytest.fixture(scope='module')
def small_venv(venvs, mirror):
    python = venvs.create('ov-small')
    venvs.install(python, mirror.alpha, mirror.beta)
    return python.parent.parent


def test_inspect_venv(small_venv):
    state = ov.inspect_venv(str(small_venv))
    assert state['exists'] is True and state['is_symlink'] is False and state['target'] is None
    assert state['python_version'] == platform.python_version()
    assert state['dists'] == {'alpha': '1.0', 'beta-pkg': '2.0+local'}
    assert 'error' not in state


def test_inspect_venv_through_symlink(small_venv, tmp_path):
    link = tmp_path / 'venv'
    link.symlink_to(small_venv)
    state = ov.inspect_venv(str(link))
    assert state['is_symlink'] is True and state['target'] == os.path.realpath(str(small_venv))
    assert state['dists'] == {'alpha': '1.0', 'beta-pkg': '2.0+local'}


def test_differences(small_venv):
    state = ov.inspect_venv(str(small_venv))
    base = platform.python_version()
    assert ov.differences(state, {'alpha': '1.0', 'beta-pkg': '2.0+LOCAL'}, base, True) == []
    assert ov.differences(state, {'alpha': '1.0'}, base, False) == []
    assert ov.differences(state, {'alpha': '1.0'}, base, True) == ['not in the lock: beta-pkg==2.0+local']
    assert ov.differences(state, {'alpha': '1.1', 'beta-pkg': '2.0+local', 'gamma': '3'}, '3.0.1', True) == [
        'venv Python %s differs from base Python 3.0.1' % base, 'alpha is 1.0, wanted 1.1', 'gamma==3 missing']
    assert ov.differences(state, {'alpha': '1.0', 'beta-pkg': '2.0+local'}, None, True) == []
    # pip is tolerated beyond the lock: python -m venv seeds it
    state = dict(state, dists=dict(state['dists'], pip='24.0'))
    assert ov.differences(state, {'alpha': '1.0', 'beta-pkg': '2.0+local'}, base, True) == []


def test_differences_of_missing_and_broken_venvs(tmp_path):
    state = ov.inspect_venv(str(tmp_path / 'absent'))
    assert state['exists'] is False and state['dists'] == {}
    assert ov.differences(state, {'alpha': '1.0'}, None, True) == ['venv does not exist']

    (tmp_path / 'empty').mkdir()
    state = ov.inspect_venv(str(tmp_path / 'empty'))
    assert ov.differences(state, {}, None, False) == ['venv interpreter does not run: bin/python missing']

    broken = tmp_path / 'broken' / 'bin'
    broken.mkdir(parents=True)
    (broken / 'python').write_text('#!/bin/sh\necho "libpython3.11.so: cannot open" >&2\nexit 127\n')
    (broken / 'python').chmod(0o755)
    state = ov.inspect_venv(str(tmp_path / 'broken'))
    assert ov.differences(state, {}, None, False) == [
        'venv interpreter does not run: libpython3.11.so: cannot open']

    dangling = tmp_path / 'dangling'
    dangling.symlink_to(tmp_path / 'gone')
    state = ov.inspect_venv(str(dangling))
    assert state['exists'] is True and state['is_symlink'] is True
    assert ov.differences(state, {}, None, False)[0].startswith('venv interpreter does not run')


# --------------------------------------------------------------------------- releases
def test_swap_moves_a_real_venv_aside_then_replaces_the_link(tmp_path):
    path = str(tmp_path / 'venv')
    os.mkdir(path)
    with open(os.path.join(path, 'old'), 'w') as fh:
        fh.write('legacy venv')
    rdir = ov.releases_dir(path)
    assert rdir == str(tmp_path / '.venv.releases')
    one, two = os.path.join(rdir, 'r1'), os.path.join(rdir, 'r2')
    os.makedirs(one)
    os.makedirs(two)

    ov.swap(path, one)
    assert os.path.islink(path) and os.readlink(path) == one
    legacy = [e for e in os.listdir(rdir) if e.startswith('legacy-')]
    assert len(legacy) == 1
    with open(os.path.join(rdir, legacy[0], 'old')) as fh:
        assert fh.read() == 'legacy venv'
    assert ov.stale_releases(path) == sorted([os.path.join(rdir, legacy[0]), two])

    os.symlink('/nowhere', os.path.join(rdir, '.swap-link'))  # left over by a killed run
    with ov.ReleaseLock(rdir):
        ov.swap(path, two)
    assert os.readlink(path) == two
    assert not os.path.lexists(os.path.join(rdir, '.swap-link'))
    assert ov.stale_releases(path) == sorted([os.path.join(rdir, legacy[0]), one])
    assert os.path.exists(os.path.join(rdir, '.lock'))

    assert ov.remove_stale(path) == sorted([os.path.join(rdir, legacy[0]), one])
    assert sorted(os.listdir(rdir)) == ['.live-history', '.lock', 'r2']
    assert ov.stale_releases(path) == []


def test_swap_of_a_new_path(tmp_path):
    path = str(tmp_path / 'venv')
    release = ov.new_release_path(path, {'alpha': '1.0'}, 'uv')
    assert os.path.dirname(release) == ov.releases_dir(path)
    assert release != ov.new_release_path(path, {'alpha': '1.0'}, 'uv')
    os.makedirs(release)
    ov.swap(path, release)
    assert os.readlink(path) == release
    assert ov.stale_releases(path) == []


def test_stale_releases_without_releases(tmp_path):
    assert ov.stale_releases(str(tmp_path / 'venv')) == []
    assert ov.remove_stale(str(tmp_path / 'venv')) == []
    os.mkdir(str(tmp_path / 'venv'))
    assert ov.stale_releases(str(tmp_path / 'venv')) == []


# --------------------------------------------------------------------------- builds
@pytest.mark.parametrize('installer', ['pip', 'uv'])
@pytest.mark.parametrize('locked', [False, True], ids=['pins', 'lock'])
def test_build(tmp_path, mirror, installer, locked):
    path = tmp_path / 'venv'
    uv_pin = 'uv==%s' % mirror.uv_version
    requirements = ['alpha==1.0', 'beta-pkg==2.0+local'] + ([uv_pin] if installer == 'uv' else [])
    lock_text = None
    if locked:
        lock_text = mirror.lock(mirror.alpha, mirror.beta, *([mirror.uv] if installer == 'uv' else []))
    build = builder(path, mirror, installer, requirements, lock_text)
    release = ov.new_release_path(str(path), build.wanted, installer)
    state = build.build(release)

    expected = {'alpha': '1.0', 'beta-pkg': '2.0+local'}
    if installer == 'uv':
        expected['uv'] = mirror.uv_version
    assert dict((n, v) for n, v in state['dists'].items() if n in expected) == expected
    assert ov.differences(state, build.wanted, platform.python_version(), locked) == []
    if installer == 'uv':
        assert set(state['dists']) == set(expected)  # --without-pip: nothing but the wanted set
        # with a lock, sync: the venv ends exactly the lock
        assert [s['step'] for s in build.steps] == ['fetch uv %s' % mirror.uv_version, 'create venv',
                                                    'uv pip sync' if locked else 'uv pip install', 'snapshot']
    else:
        assert 'pip' in state['dists']
        assert [s['step'] for s in build.steps] == ['create venv', 'pip install', 'snapshot']
    assert all(step['rc'] == 0 for step in build.steps)
    with open(os.path.join(release, ov.MARKER)) as fh:
        marker = json.load(fh)
    assert marker['wanted'] == build.wanted and marker['installer'] == installer

    ov.swap(str(path), release)
    assert run_python(path, 'import alpha, beta_pkg; print(alpha.VALUE, beta_pkg.VALUE)') == 'alpha 1.0 beta'
    assert ov.differences(ov.inspect_venv(str(path)), build.wanted, platform.python_version(), locked) == []
    assert build.pth_ok(str(path))


@pytest.mark.parametrize('installer', ['pip', 'uv'])
def test_build_rejects_a_tampered_wheel(tmp_path, mirror, installer, write_wheel):
    wheelhouse = tmp_path / 'wheelhouse'
    shutil.copytree(str(mirror.path), str(wheelhouse))
    requirements = ['alpha==1.0'] + (['uv==%s' % mirror.uv_version] if installer == 'uv' else [])
    lock_text = mirror.lock(mirror.alpha, *([mirror.uv] if installer == 'uv' else []))
    expected = sha256(mirror.alpha)
    tampered = write_wheel(wheelhouse, 'alpha', '1.0', {'alpha.py': 'import os; VALUE = "evil"\n'})
    assert tampered.name == mirror.alpha.name and sha256(tampered) != expected
    build = builder(tmp_path / 'venv', mirror, installer, requirements, lock_text, wheelhouse=wheelhouse)
    with pytest.raises(ov.VenvError) as info:
        build.build(str(tmp_path / 'release'))
    msg = info.value.msg
    assert msg.startswith('pip install failed (exit ' if installer == 'pip' else 'uv pip sync failed (exit ')
    assert expected in msg and sha256(tampered) in msg
    assert 'alpha' in msg


def fake_uv(mirror, tmp_path, write_wheel, files):
    wheelhouse = tmp_path / 'wheelhouse'
    wheelhouse.mkdir()
    shutil.copyfile(str(mirror.alpha), str(wheelhouse / mirror.alpha.name))
    return write_wheel(wheelhouse, 'uv', mirror.uv_version, files,
                       tag='py3-none-manylinux_2_17_%s' % platform.machine())


def test_build_rejects_a_tampered_uv_wheel(tmp_path, mirror, write_wheel):
    """uv itself is taken from the mirror without any installer: its hash is checked by the builder."""
    wheel = fake_uv(mirror, tmp_path, write_wheel, {'uv-%s.data/scripts/uv' % mirror.uv_version: '#!/bin/sh\nexit 0\n'})
    build = builder(tmp_path / 'venv', mirror, 'uv', [], mirror.lock(mirror.alpha, mirror.uv), wheelhouse=wheel.parent)
    with pytest.raises(ov.VenvError) as info:
        build.build(str(tmp_path / 'release'))
    assert info.value.msg == 'hash mismatch for %s: got sha256 %s, the lock expects %s' % (
        wheel.name, sha256(wheel), sha256(mirror.uv))
    assert not os.path.exists(str(tmp_path / 'release'))


def test_build_uv_wheel_without_binary(tmp_path, mirror, write_wheel):
    wheel = fake_uv(mirror, tmp_path, write_wheel, {'uv/__init__.py': ''})
    build = builder(tmp_path / 'venv', mirror, 'uv', ['alpha==1.0', 'uv==%s' % mirror.uv_version],
                    wheelhouse=wheel.parent)
    with pytest.raises(ov.VenvError) as info:
        build.build(str(tmp_path / 'release'))
    assert info.value.msg == '%s holds no uv binary' % wheel.name


def test_build_uv_missing_from_the_mirror(tmp_path, mirror):
    wheelhouse = tmp_path / 'wheelhouse'
    wheelhouse.mkdir()
    build = builder(tmp_path / 'venv', mirror, 'uv', ['uv==%s' % mirror.uv_version], wheelhouse=wheelhouse)
    with pytest.raises(ov.VenvError) as info:
        build.build(str(tmp_path / 'release'))
    assert info.value.msg == 'no uv==%s wheel in the mirror %s fits this host (offered: none)' % (
        mirror.uv_version, wheelhouse)


def test_build_installer_uv_needs_uv(tmp_path, mirror):
    build = builder(tmp_path / 'venv', mirror, 'uv', ['alpha==1.0'])
    with pytest.raises(ov.VenvError) as info:
        build.build(str(tmp_path / 'release'))
    assert 'installer uv needs uv' in info.value.msg


def test_build_fails_its_health_check(tmp_path, mirror):
    build = builder(tmp_path / 'venv', mirror, 'uv', ['alpha==1.0', 'uv==%s' % mirror.uv_version],
                    verify_argv=['-c', 'import sys, alpha; print("unhealthy:", alpha.VALUE); sys.exit(4)'])
    with pytest.raises(ov.VenvError) as info:
        build.build(str(tmp_path / 'release'))
    assert info.value.msg == 'the new venv failed its health check (exit 4): unhealthy: alpha 1.0'
    assert info.value.details['health_output'] == 'unhealthy: alpha 1.0\n'
    assert build.steps[-1]['step'] == 'health check' and build.steps[-1]['rc'] == 4
    assert not os.path.exists(os.path.join(str(tmp_path / 'release'), ov.MARKER))


def test_build_with_extra_paths_and_health_check(tmp_path, mirror):
    extra = tmp_path / 'extra'
    extra.mkdir()
    (extra / 'codex_extra_mod.py').write_text('VALUE = "from extra_paths"\n')
    other = tmp_path / 'other'
    build = builder(tmp_path / 'venv', mirror, 'uv', ['alpha==1.0', 'uv==%s' % mirror.uv_version],
                    verify_argv=['-c', 'import codex_extra_mod, alpha'], extra_paths=[str(extra), str(other)])
    release = str(tmp_path / 'release')
    build.build(release)
    assert [s['step'] for s in build.steps[-2:]] == ['health check', 'snapshot']
    assert build.steps[-2]['rc'] == 0 and build.steps[-2]['seconds'] >= 0
    assert run_python(release, 'import codex_extra_mod; print(codex_extra_mod.VALUE)') == 'from extra_paths'
    pth = run_python(release, 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    with open(os.path.join(pth, 'codex_offline_ml.pth')) as fh:
        assert fh.read() == '%s\n%s\n' % (extra, other)
    assert build.pth_ok(release)
    assert not builder(tmp_path / 'venv', mirror, 'uv', [], extra_paths=[str(extra)]).pth_ok(release)
    assert builder(tmp_path / 'venv', mirror, 'uv', []).pth_ok(release)
    assert not build.pth_ok(str(tmp_path / 'nowhere'))


def test_build_that_does_not_install_what_was_asked(tmp_path, mirror):
    build = builder(tmp_path / 'venv', mirror, 'uv', ['alpha==9.9', 'uv==%s' % mirror.uv_version])
    with pytest.raises(ov.VenvError) as info:
        build.build(str(tmp_path / 'release'))
    assert info.value.msg.startswith('uv pip install failed (exit 1): ')
    assert 'alpha==9.9' in info.value.msg


def test_installer_output_is_scrubbed(tmp_path, mirror):
    url = 'http://alice:s3cret-pw@127.0.0.1:9/simple/'
    wanted, lock = wanted_set(['alpha==1.0'], None)
    build = ov.Builder(str(tmp_path / 'venv'), sys.executable, wanted, lock, None, ['alpha==1.0'], 'pip', 'index',
                       mirror_url=url)
    # the command line carries the URL without its credentials (they go through a netrc file)
    assert build._source_args('pip') == ['--index-url', 'http://127.0.0.1:9/simple/']
    with pytest.raises(ov.VenvError) as info:
        build._run(['sh', '-c', 'echo "Looking in indexes: %s"; echo "auth s3cret-pw refused"; exit 3' % url],
                   'pip install')
    assert 's3cret-pw' not in info.value.msg and 's3cret-pw' not in info.value.details['output']
    assert info.value.msg == ('pip install failed (exit 3): Looking in indexes: http://alice:***@127.0.0.1:9/simple/'
                              '\nauth *** refused')


def test_installer_output_goes_to_the_progress_log_as_it_comes(tmp_path, mirror):
    """During a build each step's output is written to the progress log while the step runs (a person follows it
    with tail -f): the first line is there before the step ends; the step's output is still returned."""
    wanted, lock = wanted_set(['alpha==1.0'], None)
    build = ov.Builder(str(tmp_path / 'venv'), sys.executable, wanted, lock, None, ['alpha==1.0'], 'pip', 'index',
                       mirror_url='http://127.0.0.1:9/simple/')
    build._progress = str(tmp_path / ov.PROGRESS_LOG)
    seen = tmp_path / 'seen'
    script = ('echo "Collecting alpha==1.0"; sleep 0.5; cp %s %s; echo "Installing collected packages: alpha"'
              % (build._progress, seen))
    out = build._run(['sh', '-c', script], 'pip install')
    assert out == 'Collecting alpha==1.0\nInstalling collected packages: alpha\n'
    assert seen.read_text().splitlines()[1:] == ['Collecting alpha==1.0']
    log = (tmp_path / ov.PROGRESS_LOG).read_text().splitlines()
    assert log[0].endswith('] pip install') and log[1:] == ['Collecting alpha==1.0', 'Installing collected packages: alpha']
    assert build.steps[-1]['step'] == 'pip install' and build.steps[-1]['rc'] == 0


def test_the_progress_log_goes_with_the_build_directory(tmp_path, mirror, monkeypatch):
    """The log lives in the build's private directory, removed when the build ends (nothing left on the host)."""
    monkeypatch.setattr(ov.tempfile, 'tempdir', str(tmp_path))
    wanted, lock = wanted_set(['alpha==1.0'], None)
    build = ov.Builder(str(tmp_path / 'venv'), sys.executable, wanted, lock, None, ['alpha==9.9'], 'pip', 'index',
                       mirror_url='http://127.0.0.1:9/simple/')
    with pytest.raises(ov.VenvError):
        build.build(str(tmp_path / 'release'))
    assert build._progress is None
    assert [p for p in os.listdir(str(tmp_path)) if p.startswith(ov.WORKDIR_PREFIX)] == []


# --------------------------------------------------------------------------- the uv wheel fits the host by tags
UV_MAC = 'uv-0.13.9-py3-none-macosx_10_12_x86_64.whl'
UV_MAC_ARM = 'uv-0.13.9-py3-none-macosx_11_0_arm64.whl'
UV_LINUX = 'uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'
UV_MUSL = 'uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl'
UV_WIN = 'uv-0.13.9-py3-none-win_amd64.whl'
UV_ARM = 'uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl'
UV_OLD = 'uv-0.13.8-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'


@pytest.mark.parametrize('listing', [
    [UV_MAC, UV_MAC_ARM, UV_LINUX, UV_MUSL, UV_WIN, UV_ARM],   # an index that lists every file: macOS sorts first
    [UV_WIN, UV_MUSL, UV_LINUX],
    [UV_OLD, UV_LINUX, UV_ARM],
])
def test_uv_wheel_is_chosen_by_tags_not_by_name(listing):
    tags = supported_tags(3, 11, 'x86_64', (2, 36))
    build = ov.Builder('/nonexistent', sys.executable, {'uv': '0.13.9'}, None, None, [], 'uv', 'index',
                       mirror_url='http://127.0.0.1:9/simple/')
    files = [dict(parse_wheel_filename(n), sha256=None) for n in listing]
    assert build.choose_uv_wheel(files, tags)['filename'] == UV_LINUX


def test_uv_wheel_on_an_old_glibc_or_arm_host_gets_none_or_its_own():
    build = ov.Builder('/nonexistent', sys.executable, {'uv': '0.13.9'}, None, None, [], 'uv', 'index',
                       mirror_url='http://u:pw-secret@127.0.0.1:9/simple/')
    files = [dict(parse_wheel_filename(n), sha256=None) for n in (UV_MAC, UV_LINUX, UV_ARM)]
    assert build.choose_uv_wheel(files, supported_tags(3, 11, 'aarch64', (2, 28)))['filename'] == UV_ARM
    with pytest.raises(ov.VenvError) as info:
        build.choose_uv_wheel(files, supported_tags(3, 11, 'x86_64', (2, 12)))  # glibc too old for 2_17
    assert info.value.msg == ('no uv==0.13.9 wheel in the mirror http://u:***@127.0.0.1:9/simple/ fits this host '
                              '(offered: %s)' % ', '.join(sorted([UV_ARM, UV_LINUX, UV_MAC])))


def test_uv_wheel_prefers_the_locked_hash():
    other = 'uv-0.13.9-py3-none-manylinux_2_28_x86_64.whl'
    lock = {'uv': {'version': '0.13.9', 'hashes': ['b' * 64]}}
    build = ov.Builder('/nonexistent', sys.executable, {'uv': '0.13.9'}, lock, 'x', [], 'uv', 'index',
                       mirror_url='http://127.0.0.1:9/simple/')
    files = [dict(parse_wheel_filename(UV_LINUX), sha256='a' * 64), dict(parse_wheel_filename(other), sha256='b' * 64)]
    assert build.choose_uv_wheel(files, supported_tags(3, 11, 'x86_64', (2, 36)))['filename'] == other


@pytest.mark.parametrize('content, mode', [
    (b'\x7fELF\x02\x01\x01' + b'\0' * 9 + b'\x02\x00\xb7\x00', 0o755),   # an aarch64 binary on this host
    (b'#!/bin/sh\necho hi\n', 0o644),                                    # not executable (noexec-like)
])
def test_installer_exec_failure_is_a_clear_error(tmp_path, content, mode):
    uv = tmp_path / 'uv'
    uv.write_bytes(content)
    uv.chmod(mode)
    build = ov.Builder('/nonexistent', sys.executable, {'uv': '0.13.9'}, None, None, [], 'uv', 'index',
                       mirror_url='http://alice:s3cret-pw@127.0.0.1:9/simple/')
    with pytest.raises(ov.VenvError) as info:
        build._run([str(uv), 'pip', 'install'], 'uv pip install')
    assert info.value.msg.startswith('uv pip install could not start %s: ' % uv)
    assert 's3cret' not in info.value.msg
    assert build.steps == [{'step': 'uv pip install', 'rc': None, 'seconds': build.steps[0]['seconds']}]


# --------------------------------------------------------------------------- credentials through a netrc file
def test_netrc_is_private_and_gone_after_the_build(tmp_path, mirror, monkeypatch):
    """The installers see $NETRC (0600, in a 0700 directory), never the secret in argv; nothing is left after."""
    seen = []
    build = ov.Builder(str(tmp_path / 'venv'), sys.executable, {'alpha': '1.0'}, None, None, ['alpha==1.0'], 'pip',
                       'index', mirror_url='http://alice:s3cret-pw@127.0.0.1:9/simple/', timeout=60)
    real_run = ov.subprocess.run

    def spy(argv, **kwargs):
        netrc = (kwargs.get('env') or {}).get('NETRC')
        if netrc:
            seen.append((list(argv), netrc, oct(os.stat(netrc).st_mode & 0o777),
                         oct(os.stat(os.path.dirname(netrc)).st_mode & 0o777), open(netrc).read()))
        return real_run(argv, **kwargs)  # pylint: disable=subprocess-run-check

    real_popen = ov.subprocess.Popen

    def spy_popen(argv, **kwargs):  # the installers run with their output going to the progress log
        netrc = (kwargs.get('env') or {}).get('NETRC')
        if netrc:
            seen.append((list(argv), netrc, oct(os.stat(netrc).st_mode & 0o777),
                         oct(os.stat(os.path.dirname(netrc)).st_mode & 0o777), open(netrc).read()))
        return real_popen(argv, **kwargs)

    monkeypatch.setattr(ov.subprocess, 'run', spy)
    monkeypatch.setattr(ov.subprocess, 'Popen', spy_popen)
    with pytest.raises(ov.VenvError):
        build.build(str(tmp_path / 'release'))   # nothing listens on port 9: pip fails after reading the netrc
    assert seen, 'no installer ran with NETRC'
    for argv, netrc, mode, dmode, text in seen:
        assert not any('s3cret' in a for a in argv)
        assert mode == '0o600' and dmode == '0o700'
        assert text == 'machine 127.0.0.1\nlogin alice\npassword "s3cret-pw"\n'
        assert not os.path.exists(netrc) and not os.path.exists(os.path.dirname(netrc))


def test_a_killed_builds_directory_is_removed_by_the_next_build(tmp_path):
    """A build killed with SIGKILL leaves codex-venv-<pid>-*/netrc; the next build removes it, and only it."""
    dead = subprocess.Popen(['true'])
    dead.wait()
    orphan = tmp_path / ('codex-venv-%d-abc' % dead.pid)
    orphan.mkdir(mode=0o700)
    (orphan / 'netrc').write_text('machine m\nlogin a\npassword "s"\n')
    live = tmp_path / ('codex-venv-%d-def' % os.getpid())
    live.mkdir(mode=0o700)
    other = tmp_path / 'codex-venv-notapid'
    other.mkdir()
    link = tmp_path / ('codex-venv-%d-lnk' % dead.pid)
    link.symlink_to(other)
    assert ov.remove_orphan_workdirs(str(tmp_path)) == [str(orphan)]
    assert not orphan.exists() and live.exists() and other.exists() and link.is_symlink()


def test_a_killed_build_that_is_a_zombie_counts_as_gone(tmp_path):
    """In a container whose PID 1 never reaps, the killed module stays a zombie: its directory is still removed."""
    zombie = subprocess.Popen(['true'])
    deadline = time.time() + 10
    while time.time() < deadline:
        with open('/proc/%d/stat' % zombie.pid) as handle:
            if handle.read().rsplit(')', 1)[1].split()[0] == 'Z':
                break
        time.sleep(0.05)
    orphan = tmp_path / ('codex-venv-%d-zzz' % zombie.pid)
    orphan.mkdir(mode=0o700)
    try:
        assert ov.remove_orphan_workdirs(str(tmp_path)) == [str(orphan)]
    finally:
        zombie.wait()


def test_a_reused_pid_does_not_keep_a_directory(tmp_path):
    """The pid is alive but the process started after the directory was last written: it is not the builder."""
    orphan = tmp_path / ('codex-venv-%d-old' % os.getpid())
    orphan.mkdir(mode=0o700)
    os.utime(str(orphan), (1000000000, 1000000000))
    assert ov.remove_orphan_workdirs(str(tmp_path)) == [str(orphan)]


# --------------------------------------------------------------------------- every exception path is a VenvError
def _fake_python(tmp_path, body):
    venv = tmp_path / 'fake'
    (venv / 'bin').mkdir(parents=True)
    py = venv / 'bin' / 'python'
    py.write_text('#!/bin/sh\n' + body)
    py.chmod(0o755)
    return venv


def test_inspect_venv_timeout_is_a_state_not_a_traceback(tmp_path):
    venv = _fake_python(tmp_path, 'exec sleep 30\n')
    state = ov.inspect_venv(str(venv), timeout=1)
    assert 'did not answer within 1s' in state['error']
    assert ov.differences(state, {'alpha': '1.0'}, None, False)[0].startswith('venv interpreter does not run: ')


def test_inspect_venv_garbage_output(tmp_path):
    venv = _fake_python(tmp_path, 'echo not-json\n')
    state = ov.inspect_venv(str(venv))
    assert 'printed no distribution list' in state['error']


def test_health_check_timeout(tmp_path, mirror):
    build = builder(tmp_path / 'venv', mirror, 'pip', ['alpha==1.0'],
                    verify_argv=['-c', 'import time; time.sleep(30)'])
    build.timeout = 2
    release = tmp_path / 'release'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(release)], check=True)
    with pytest.raises(ov.VenvError) as info:
        build._health_check(str(release))
    assert info.value.msg == "the new venv's health check did not finish within 2s"
    assert build.steps[-1]['step'] == 'health check' and build.steps[-1]['rc'] is None


def test_write_pth_failure_is_a_venv_error(tmp_path, mirror):
    venv = _fake_python(tmp_path, 'echo "sysconfig is broken" >&2; exit 7\n')
    build = builder(tmp_path / 'venv', mirror, 'pip', ['alpha==1.0'], extra_paths=['/opt/codex/lib'])
    with pytest.raises(ov.VenvError) as info:
        build._write_pth(str(venv))
    assert info.value.msg == "the new venv's python cannot tell its site-packages (exit 7): sysconfig is broken"


@pytest.mark.parametrize('dists, wanted, exact, changes', [
    ({'a': '1.0', 'pip': '24.0'}, {'a': '1.0'}, True, {'added': [], 'removed': [], 'changed': []}),
    ({'a': '1.0', 'b': '2.0'}, {'a': '1.1', 'c': '3.0'}, True,
     {'added': [{'name': 'c', 'version': '3.0'}], 'removed': [{'name': 'b', 'version': '2.0'}],
      'changed': [{'name': 'a', 'old': '1.0', 'new': '1.1'}]}),
    ({'a': '1.0', 'b': '2.0'}, {'a': '1.1'}, False,
     {'added': [], 'removed': [], 'changed': [{'name': 'a', 'old': '1.0', 'new': '1.1'}]}),
    ({'torch': '2.13.0+cpu'}, {'torch': '2.13.0+cpu'}, True, {'added': [], 'removed': [], 'changed': []}),
])
def test_package_changes(dists, wanted, exact, changes):
    assert ov.package_changes(dists, wanted, exact) == changes


def test_describe_changes():
    text = ov.describe_changes('/v', ov.package_changes({'a': '1', 'b': '2'}, {'a': '3', 'c': '4'}, True))
    assert text == '/v: 1 changed, 1 added, 1 removed\n  ~ a 1 -> 3\n  + c 4\n  - b 2\n'
