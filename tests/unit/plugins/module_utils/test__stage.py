# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_stage: stage() with a stand-in for `pip download` (the only outside boundary) that copies local wheels."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _stage
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import parse_lock

FAKE_PIP = r'''
"""Stands in for `pip download`: copies the wheels of the pins (and their dependencies) from UPSTREAM."""
import json, os, shutil, sys
UPSTREAM = %(upstream)r
LOG = %(log)r
DEPS = {"alpha": ["beta"]}
args = sys.argv[1:]
with open(LOG, "a") as fh:
    fh.write(json.dumps(args) + "\n")
if os.path.exists(os.path.join(UPSTREAM, "FAIL")):
    print("Collecting alpha==1.0\nERROR: Could not find a version that satisfies the requirement alpha==1.0")
    sys.exit(1)
assert args[0] == "download", args
dest = args[args.index("--dest") + 1]
pins = [a for a in args if "==" in a]
todo = [p.split("==")[0].lower() for p in pins]
done = set()
while todo:
    name = todo.pop()
    if name in done:
        continue
    done.add(name)
    files = [f for f in os.listdir(UPSTREAM) if f.lower().replace("_", "-").startswith(name + "-")]
    if not files:
        print("ERROR: No matching distribution found for %%s" %% name)
        sys.exit(1)
    for f in files:
        print("Saved %%s" %% f)
        shutil.copyfile(os.path.join(UPSTREAM, f), os.path.join(dest, f))
    todo.extend(DEPS.get(name, []))
'''


class Upstream(object):
    def __init__(self, tmp_path, write_wheel):
        self.dir = tmp_path / 'upstream'
        self.log = tmp_path / 'pip-calls.jsonl'
        self.write_wheel = write_wheel
        self.script = tmp_path / 'fake_pip.py'
        self.script.write_text(FAKE_PIP % {'upstream': str(self.dir), 'log': str(self.log)})
        self.argv = [sys.executable, str(self.script)]
        self.wheel('alpha', '1.0', 'one')
        self.wheel('beta', '2.0+cpu', 'two')
        self.wheel('gamma', '3.0', 'three', tag='cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64')
        self.wheel('fakeuv', '0.1', 'uv')

    def wheel(self, name, version, text, tag='py3-none-any'):
        return self.write_wheel(self.dir, name, version, {'%s.py' % name: 'VALUE = %r\n' % text}, tag=tag)

    def calls(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def upstream(tmp_path, write_wheel):
    return Upstream(tmp_path, write_wheel)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


SETS = {'small': ['alpha==1.0'], 'big': ['alpha==1.0', 'gamma==3.0']}
GAMMA = 'gamma-3.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'


def run_stage(dest, upstream, sets=None, platforms=('manylinux_2_28_x86_64',)):
    return _stage.stage(str(dest), sets or SETS, ['fakeuv==0.1'], upstream.argv, '3.11', list(platforms),
                        timeout=60)[:2]


def snapshot(dest):
    return dict((str(p.relative_to(dest)), (p.read_bytes(), p.stat().st_mtime_ns))
                for p in sorted(dest.rglob('*')) if p.is_file())


def test_stage(tmp_path, upstream):
    dest = tmp_path / 'mirror'
    changed, manifest = run_stage(dest, upstream)
    assert changed is True

    wheels = dest / 'wheels'
    names = ['alpha-1.0-py3-none-any.whl', 'beta-2.0+cpu-py3-none-any.whl', 'fakeuv-0.1-py3-none-any.whl', GAMMA]
    assert sorted(os.listdir(str(wheels))) == names
    for name in names:
        assert (wheels / name).read_bytes() == (upstream.dir / name).read_bytes()
    sums = dict((n, sha256(wheels / n)) for n in names)

    assert sorted(os.listdir(str(dest / 'locks'))) == ['big.txt', 'small.txt']
    small = (dest / 'locks' / 'small.txt').read_text()
    assert small.startswith("# Hash-pinned lock for set 'small', written by playbooks/stage_wheels.yml; do not edit.\n"
                            "# Python 3.11, platforms manylinux_2_28_x86_64. Pins: alpha==1.0, fakeuv==0.1\n")
    assert parse_lock(small) == {
        'alpha': {'version': '1.0', 'hashes': [sums[names[0]]]},
        'beta': {'version': '2.0+cpu', 'hashes': [sums[names[1]]]},
        'fakeuv': {'version': '0.1', 'hashes': [sums[names[2]]]},
    }
    big = parse_lock((dest / 'locks' / 'big.txt').read_text())
    assert sorted(big) == ['alpha', 'beta', 'fakeuv', 'gamma']
    assert big['gamma'] == {'version': '3.0', 'hashes': [sums[GAMMA]]}

    assert (dest / 'SHA256SUMS').read_text() == ''.join('%s  wheels/%s\n' % (sums[n], n) for n in names)

    on_disk = json.loads((dest / 'manifest.json').read_text())
    assert on_disk == manifest
    assert manifest == {
        'schema': 1, 'python_version': '3.11', 'platforms': ['manylinux_2_28_x86_64'],
        'sets': {'big': ['alpha==1.0', 'gamma==3.0'], 'small': ['alpha==1.0']}, 'installer': ['fakeuv==0.1'],
        'files': [{'filename': n, 'name': parse_name(n), 'version': parse_version(n), 'sha256': sums[n],
                   'size': (wheels / n).stat().st_size} for n in names],
    }
    assert not list(dest.rglob('*.tmp'))


def parse_name(filename):
    return filename.split('-')[0]


def parse_version(filename):
    return filename.split('-')[1]


def test_pip_argv(tmp_path, upstream):
    dest = tmp_path / 'mirror'
    run_stage(dest, upstream, sets={'small': ['alpha==1.0']},
              platforms=['manylinux_2_28_x86_64', 'linux_x86_64'])
    calls = upstream.calls()
    assert len(calls) == 1
    argv = calls[0]
    assert argv[0] == 'download'
    assert argv[-2:] == ['alpha==1.0', 'fakeuv==0.1']
    options = dict((argv[i], argv[i + 1]) for i in range(len(argv) - 1) if argv[i] in (
        '--python-version', '--implementation', '--abi', '--find-links'))
    assert options == {'--python-version': '311', '--implementation': 'cp', '--abi': 'cp311',
                       '--find-links': str(dest / 'wheels')}
    assert '--only-binary=:all:' in argv
    platforms = [argv[i + 1] for i in range(len(argv)) if argv[i] == '--platform']
    assert platforms[0] == 'manylinux_2_28_x86_64'
    for plat in ('manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux1_x86_64', 'linux_x86_64'):
        assert plat in platforms
    assert 'manylinux_2_29_x86_64' not in platforms
    assert len(platforms) == len(set(platforms))
    dest_dir = argv[argv.index('--dest') + 1]
    assert not os.path.exists(dest_dir), 'the per-set download directory is removed'


def test_second_run_changes_nothing(tmp_path, upstream):
    dest = tmp_path / 'mirror'
    assert run_stage(dest, upstream)[0] is True
    before = snapshot(dest)
    changed, manifest = run_stage(dest, upstream)
    assert changed is False
    assert snapshot(dest) == before
    assert len(upstream.calls()) == 4  # one download per set and run


def test_a_changed_wheel_is_replaced(tmp_path, upstream):
    dest = tmp_path / 'mirror'
    run_stage(dest, upstream)
    old_lock = parse_lock((dest / 'locks' / 'big.txt').read_text())
    new = upstream.wheel('gamma', '3.0', 'rebuilt upstream', tag=GAMMA[len('gamma-3.0-'):-len('.whl')])
    changed, manifest = run_stage(dest, upstream)
    assert changed is True
    digest = sha256(new)
    assert (dest / 'wheels' / GAMMA).read_bytes() == new.read_bytes()
    lock = parse_lock((dest / 'locks' / 'big.txt').read_text())
    assert lock['gamma']['hashes'] == [digest] != old_lock['gamma']['hashes']
    assert dict((n, e) for n, e in lock.items() if n != 'gamma') == dict(
        (n, e) for n, e in old_lock.items() if n != 'gamma')
    assert '%s  wheels/%s\n' % (digest, GAMMA) in (dest / 'SHA256SUMS').read_text()
    assert [f['sha256'] for f in manifest['files'] if f['filename'] == GAMMA] == [digest]
    assert run_stage(dest, upstream)[0] is False


def test_a_changed_set_rewrites_its_lock(tmp_path, upstream):
    dest = tmp_path / 'mirror'
    run_stage(dest, upstream)
    changed, manifest = run_stage(dest, upstream, sets={'small': ['alpha==1.0'], 'big': ['gamma==3.0']})
    assert changed is True
    assert sorted(parse_lock((dest / 'locks' / 'big.txt').read_text())) == ['fakeuv', 'gamma']
    assert manifest['sets']['big'] == ['gamma==3.0']


def test_bad_pin_fails_before_pip(tmp_path, upstream):
    with pytest.raises(MirrorError) as info:
        run_stage(tmp_path / 'mirror', upstream, sets={'small': ['alpha>=1.0']})
    assert info.value.kind == 'invalid_pin' and "'alpha>=1.0'" in info.value.msg
    assert upstream.calls() == []


def test_pip_failure_carries_its_output(tmp_path, upstream):
    (upstream.dir / 'FAIL').write_text('')
    with pytest.raises(RuntimeError) as info:
        run_stage(tmp_path / 'mirror', upstream, sets={'small': ['alpha==1.0']})
    msg = str(info.value)
    assert msg.startswith('pip download of alpha==1.0 fakeuv==0.1 failed (exit 1):\n')
    assert 'ERROR: Could not find a version that satisfies the requirement alpha==1.0' in msg
    assert not (tmp_path / 'mirror' / 'manifest.json').exists()


def test_sha256_file(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / 'blob').write_bytes(data)
    assert _stage.sha256_file(str(tmp_path / 'blob')) == hashlib.sha256(data).hexdigest()


def test_set_python_versions_stage_a_set_for_another_python_in_the_same_manifest(tmp_path, upstream):
    """A set staged for Python 3.13 (Debian 13 hosts) is downloaded with cp313 tags, its lock says so, and the
    one manifest and SHA256SUMS cover the wheels of both Pythons."""
    dest = tmp_path / 'mirror'
    gamma313 = upstream.wheel('gamma', '3.0', 'three-313', tag='cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64')
    changed, manifest, _from, _moves, _report = _stage.stage(
        str(dest), {'big': ['gamma==3.0'], 'big_py313': ['gamma==3.0']}, ['fakeuv==0.1'], upstream.argv, '3.11',
        ['manylinux_2_28_x86_64'], timeout=60, set_python_versions={'big_py313': '3.13'})
    assert changed is True
    pythons = sorted(argv[argv.index('--python-version') + 1] for argv in upstream.calls())
    assert pythons == ['311', '313']
    abis = sorted(argv[argv.index('--abi') + 1] for argv in upstream.calls())
    assert abis == ['cp311', 'cp313']
    assert '# Python 3.13, platforms' in (dest / 'locks' / 'big_py313.txt').read_text()
    assert '# Python 3.11, platforms' in (dest / 'locks' / 'big.txt').read_text()
    assert manifest['python_version'] == '3.11'
    assert manifest['set_python_versions'] == {'big_py313': '3.13'}
    # the fake pip copies every gamma wheel: both builds are in the manifest and the sums
    names = [f['filename'] for f in manifest['files']]
    assert GAMMA in names and gamma313.name in names
    sums = (dest / 'SHA256SUMS').read_text()
    assert 'wheels/%s\n' % GAMMA in sums and 'wheels/%s\n' % gamma313.name in sums
    assert json.loads((dest / 'manifest.json').read_text()) == manifest


def test_set_python_versions_naming_an_unknown_set_fails_before_pip(tmp_path, upstream):
    with pytest.raises(RuntimeError) as info:
        _stage.stage(str(tmp_path / 'mirror'), SETS, ['fakeuv==0.1'], upstream.argv, '3.11', ['manylinux_2_28_x86_64'],
                     timeout=60, set_python_versions={'nope': '3.13'})
    assert 'set_python_versions names sets that are not in sets: nope' in str(info.value)
    assert upstream.calls() == []
    assert not (tmp_path / 'mirror').exists()


def progress_lines(path):
    """The log's lines without their HH:MM:SS stamp."""
    lines = path.read_text().splitlines()
    for line in lines:
        assert line[:9].count(':') == 2 and line[8] == ' ', line
    return [line[9:] for line in lines]


def test_progress_says_each_set_and_each_saved_file_as_it_goes(tmp_path, upstream):
    log = tmp_path / 'stage.log'
    progress = _stage.Progress(str(log))
    _stage.stage(str(tmp_path / 'mirror'), SETS, ['fakeuv==0.1'], upstream.argv, '3.11', ['manylinux_2_28_x86_64'],
                 timeout=60, progress=progress)
    progress.close()
    lines = progress_lines(log)
    assert lines[0] == '[set 1/2] big: pip download of alpha==1.0 gamma==3.0 fakeuv==0.1 for Python 3.11'
    assert '  Saved %s' % GAMMA in lines
    big_end = [n for n, line in enumerate(lines) if line.startswith('[set 1/2] big: 4 wheels (')]
    small_start = lines.index('[set 2/2] small: pip download of alpha==1.0 fakeuv==0.1 for Python 3.11')
    assert big_end and big_end[0] < small_start
    assert ', 4 new in the mirror, ' in lines[big_end[0]]
    # the second set's wheels are all in the mirror already
    assert lines[-1].startswith('[set 2/2] small: 3 wheels (') and ', 0 new in the mirror, ' in lines[-1]
    assert oct(log.stat().st_mode & 0o777) == '0o600'


def test_progress_lines_come_while_pip_still_runs(tmp_path):
    """A line reaches the log as pip prints it, not when pip ends: the stand-in exits 0 only once it has seen its own
    line in the log (and fails after 20 s otherwise)."""
    log = tmp_path / 'stage.log'
    script = tmp_path / 'slow_pip.py'
    script.write_text(
        'import sys, time\n'
        'print("Collecting big==1.0", flush=True)\n'
        'deadline = time.time() + 20\n'
        'while "Collecting big==1.0" not in open(%r).read():\n'
        '    if time.time() > deadline:\n'
        '        print("ERROR: my line never reached the log"); sys.exit(3)\n'
        '    time.sleep(0.05)\n' % str(log))
    progress = _stage.Progress(str(log))
    names, out = _stage.download_set([sys.executable, str(script)], ['big==1.0'], str(tmp_path), '3.11',
                                     ['manylinux_2_28_x86_64'], timeout=30, progress=progress)
    assert names == [] and out == 'Collecting big==1.0\n'
    assert progress_lines(log) == ['  Collecting big==1.0']


def test_a_pip_that_outlives_the_timeout_is_killed(tmp_path):
    script = tmp_path / 'hung_pip.py'
    script.write_text('import time\nprint("Collecting hung==1.0", flush=True)\ntime.sleep(60)\n')
    with pytest.raises(RuntimeError) as err:
        _stage.download_set([sys.executable, str(script)], ['hung==1.0'], str(tmp_path), '3.11',
                            ['manylinux_2_28_x86_64'], timeout=1)
    assert 'could not run' in str(err.value) and 'timed out after 1 seconds' in str(err.value)


def test_progress_log_through_a_link_is_refused(tmp_path):
    target = tmp_path / 'root-only'
    target.write_text('keep\n')
    link = tmp_path / 'stage.log'
    link.symlink_to(target)
    with pytest.raises(RuntimeError) as err:
        _stage.Progress(str(link))
    assert str(err.value).startswith('progress_log %s cannot be opened for appending' % link)
    assert target.read_text() == 'keep\n'


def test_a_bad_pin_in_a_later_set_fails_before_any_download(tmp_path, upstream):
    with pytest.raises(MirrorError):
        _stage.stage(str(tmp_path / 'mirror'), {'a': ['alpha==1.0'], 'b': ['gamma>=3']}, ['fakeuv==0.1'],
                     upstream.argv, '3.11', ['manylinux_2_28_x86_64'], timeout=60)
    assert upstream.calls() == []
