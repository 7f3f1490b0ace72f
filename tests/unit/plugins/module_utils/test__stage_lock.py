# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Staging from a lock with the REAL pip against real pypiservers on 127.0.0.1, each one a state of an index over
time: the day the lock was staged, a later day with a newer dependency, a day the locked file was replaced by
other bytes, a day the locked version was deleted. Then the rules of _stage_lock without pip (table-driven)."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _stage
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import parse_lock
from ansible_collections.codex.offline_ml.plugins.module_utils._stage_lock import (
    check_lock,
    describe_moves,
    explain_pip_failure,
    lock_header,
    lock_modes,
    lock_moves,
    read_header,
)
from ansible_collections.codex.offline_ml.plugins.modules import wheel_stage

PIP = [sys.executable, '-m', 'pip']
SETS = {'app': ['alpha==1.0']}
PLATFORMS = ['manylinux_2_28_x86_64']
BETA_10 = 'beta-1.0-py3-none-any.whl'


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


DAYS = {
    'staged': [('beta', '1.0', 'one')],
    'later': [('beta', '1.0', 'one'), ('beta', '1.1', 'newer')],
    'replaced': [('beta', '1.0', 'other bytes under the same name')],
    'deleted': [('beta', '1.1', 'newer')],
}


class Index(object):
    """A pypiserver on 127.0.0.1 over one directory (it lists the directory at each request) whose files are those
    of one day at a time."""

    def __init__(self, directory, write_wheel, servers):
        self.directory, self.write_wheel = directory, write_wheel
        self.day('staged')
        self.url = servers.pypiserver(directory)

    def day(self, name):
        self.directory.mkdir(exist_ok=True)
        for old in self.directory.iterdir():
            old.unlink()
        self.write_wheel(self.directory, 'alpha', '1.0', {'alpha.py': ''}, metadata_extra=['Requires-Dist: beta>=1.0'])
        for dist, version, text in DAYS[name]:
            self.write_wheel(self.directory, dist, version, {'beta.py': 'TEXT = %r\n' % text})
        return self


@pytest.fixture
def index(tmp_path, write_wheel, servers):
    return Index(tmp_path / 'index', write_wheel, servers)


def plan(url):
    return _stage.index_plan(SETS, url)


def stage(dest, url, **kwargs):
    return _stage.stage(str(dest), SETS, [], PIP, '3.11', PLATFORMS, timeout=300, indexes=plan(url), **kwargs)


@pytest.fixture
def staged(index, tmp_path):
    """The release staged on the first day (resolved): its directory."""
    dest = tmp_path / 'staged'
    changed, manifest, staged_from, moves, _report = stage(
        dest, index.url)
    assert changed and staged_from == {'app': 'resolved'} and moves == {}
    assert sorted(parse_lock((dest / 'locks' / 'app.txt').read_text())) == ['alpha', 'beta']
    return dest


def test_restage_from_the_lock_is_byte_identical_although_the_index_moved_on(index, staged, tmp_path):
    dest = tmp_path / 'again'
    changed, manifest, staged_from, moves, _report = stage(
        dest, index.day('later').url, lock_dir=str(staged / 'locks'), resolve='none')
    assert staged_from == {'app': 'lock'} and moves == {}
    for name in ('locks/app.txt', 'SHA256SUMS'):
        assert (dest / name).read_bytes() == (staged / name).read_bytes(), name
    assert [f['filename'] for f in manifest['files']] == ['alpha-1.0-py3-none-any.whl', BETA_10]
    assert (dest / 'wheels' / BETA_10).read_bytes() == (staged / 'wheels' / BETA_10).read_bytes()
    # the same run over a mirror that has the files: nothing downloaded (the index is empty now), nothing changed
    for served in index.directory.iterdir():
        served.unlink()
    changed, _manifest, _from, _moves, _report = stage(
        dest, index.url, lock_dir=str(staged / 'locks'))
    assert changed is False


def test_refresh_resolves_afresh_and_says_what_moved(index, staged, tmp_path):
    dest = tmp_path / 'refreshed'
    changed, manifest, staged_from, moves, _report = stage(
        dest, index.day('later').url, lock_dir=str(staged / 'locks'), refresh=['app'])
    assert staged_from == {'app': 'resolved'}
    assert moves == {'app': {'changed': {'beta': '1.0 -> 1.1'}}}
    assert describe_moves(moves) == ['app: beta 1.0 -> 1.1']
    assert parse_lock((dest / 'locks' / 'app.txt').read_text())['beta']['version'] == '1.1'


@pytest.mark.parametrize('check', [True, False], ids=['preflight', 'pip'])
def test_a_locked_file_the_index_serves_with_other_bytes_fails_naming_it(index, staged, tmp_path, check):
    """Caught by the preflight from the index's sha256 (nothing downloaded); without it, by pip's hash check."""
    dest = tmp_path / 'replaced'
    with pytest.raises(RuntimeError) as info:
        stage(dest, index.day('replaced').url, lock_dir=str(staged / 'locks'), resolve='none', check=check)
    message = str(info.value)
    served, locked = sha(index.directory / BETA_10), sha(staged / 'wheels' / BETA_10)
    if check:
        assert message == ('preflight: nothing was downloaded; 1 package(s) cannot be staged:\n'
                           'set app, target cp311 manylinux_2_28_x86_64: beta==1.0: the index serves %s with sha256 '
                           '%s, the lock expects %s' % (BETA_10, served, locked))
    else:
        assert message.startswith('lock %s of set app: the index no longer serves the locked file: beta==1.0: the '
                                  'index serves %s with sha256 %s, the lock expects %s' % (
                                      staged / 'locks' / 'app.txt', BETA_10, served, locked))
    assert not (dest / 'wheels' / BETA_10).exists() and not (dest / 'manifest.json').exists()


@pytest.mark.parametrize('check', [True, False], ids=['preflight', 'pip'])
def test_a_locked_version_the_index_deleted_fails_naming_it(index, staged, tmp_path, check):
    with pytest.raises(RuntimeError) as info:
        stage(tmp_path / 'deleted', index.day('deleted').url, lock_dir=str(staged / 'locks'), resolve='none',
              check=check)
    if check:
        assert str(info.value) == (
            'preflight: nothing was downloaded; 1 package(s) cannot be staged:\nset app, target cp311 '
            'manylinux_2_28_x86_64: beta==1.0: not on %s (it has: 1.1)' % index.url)
    else:
        assert str(info.value) == (
            'lock %s of set app: the index no longer serves beta==1.0 for Python 3.11 (manylinux_2_28_x86_64): give '
            'the index that served it when the lock was staged, or resolve the set afresh on purpose (refresh: [app])'
            % (staged / 'locks' / 'app.txt'))


def test_module_restages_from_the_locks_it_wrote_and_reports_moves(run_module, index, tmp_path):
    dest = tmp_path / 'mirror'
    args = dict(dest=str(dest), sets=SETS, installer=[], pip=PIP, index_url=index.url)
    failed, first = run_module(wheel_stage, **args)
    assert not failed, first.get('msg')
    assert first['staged_from'] == {'app': 'resolved'} and first['moved'] == {}
    # a later day, the same call: the locks in dest decide, not the index
    index.day('later')
    failed, second = run_module(wheel_stage, **args)
    assert not failed, second.get('msg')
    assert second['staged_from'] == {'app': 'lock'} and second['changed'] is False
    failed, third = run_module(wheel_stage, **dict(args, resolve='all'))
    assert not failed, third.get('msg')
    assert third['moved_lines'] == ['app: beta 1.0 -> 1.1'] and third['changed'] is True
    manifest = json.loads((dest / 'manifest.json').read_text())
    assert [f['version'] for f in manifest['files'] if f['name'] == 'beta'] == ['1.1']


def test_module_pin_changed_since_the_lock_fails_before_any_download(run_module, index, tmp_path):
    dest = tmp_path / 'mirror'
    args = dict(dest=str(dest), sets=SETS, installer=[], pip=PIP, index_url=index.url)
    assert run_module(wheel_stage, **args)[0] is False
    before = sorted(p.name for p in (dest / 'wheels').iterdir())
    failed, result = run_module(wheel_stage, **dict(args, sets={'app': ['alpha==1.0', 'beta==1.1']}))
    assert failed
    assert result['msg'] == (
        'the pins of set app changed since its lock %s was staged: beta==1.1 (new); resolve the set afresh on '
        'purpose (refresh: [app]; the result lists what moved) or give the lock the set was staged with'
        % (dest / 'locks' / 'app.txt'))
    assert sorted(p.name for p in (dest / 'wheels').iterdir()) == before


# --------------------------------------------------------------------------- the rules, without pip
LOCK = '\n'.join(['# ' + line for line in lock_header('app', '3.11', PLATFORMS, ['alpha==1.0', 'uv==0.13.9'])] + [
    'alpha==1.0 \\', '    --hash=sha256:' + 'a' * 64,
    'beta==1.0 \\', '    --hash=sha256:' + 'b' * 64,
    'uv==0.13.9 \\', '    --hash=sha256:' + 'c' * 64, ''])
COMPILED = 'alpha==1.0 \\\n    --hash=sha256:%s\n    # via -r requirements.in\nbeta==1.0 \\\n    --hash=sha256:%s\n' % (
    'a' * 64, 'b' * 64)
FIX = 'resolve the set afresh on purpose (refresh: [app]; the result lists what moved) or give the lock the set was ' \
      'staged with'


def test_read_header_gives_what_the_lock_was_staged_for():
    assert read_header(LOCK) == {'python': '3.11', 'platforms': PLATFORMS, 'pins': ['alpha==1.0', 'uv==0.13.9']}
    assert read_header(COMPILED) is None


@pytest.mark.parametrize('text, pins, python, platforms, message', [
    (LOCK, ['alpha==1.0', 'uv==0.13.9'], '3.11', PLATFORMS, None),
    (LOCK, ['alpha==1.0', 'uv==0.13.9'], '3.13', PLATFORMS,
     'lock L of set app was staged for Python 3.11, the set is staged for Python 3.13: ' + FIX),
    (LOCK, ['alpha==1.0', 'uv==0.13.9'], '3.11', ['manylinux_2_28_aarch64'],
     'lock L of set app was staged for platforms manylinux_2_28_x86_64, the set for manylinux_2_28_aarch64: ' + FIX),
    (LOCK, ['alpha==2.0', 'uv==0.13.9'], '3.11', PLATFORMS,
     'the pins of set app changed since its lock L was staged: alpha==2.0 (lock: 1.0); ' + FIX),
    (LOCK, ['uv==0.13.9'], '3.11', PLATFORMS,
     'the pins of set app changed since its lock L was staged: alpha (no longer pinned); ' + FIX),
    (COMPILED, ['alpha==1.0'], '3.11', PLATFORMS, None),
    (COMPILED, ['alpha==1.0', 'gamma==1.0'], '3.11', PLATFORMS,
     'set app pins gamma==1.0 but its lock L holds nothing for gamma: ' + FIX),
    (COMPILED, ['beta==2.0'], '3.11', PLATFORMS, 'set app pins beta==2.0 but its lock L holds 1.0 for beta: ' + FIX),
    ('alpha==1.0\n', ['alpha==1.0'], '3.11', PLATFORMS,
     'lock L of set app cannot be read: lock entry alpha==1.0 has no --hash=sha256:...; a lock must pin every hash'),
    ('# nothing\n', ['alpha==1.0'], '3.11', PLATFORMS, 'lock L of set app cannot be read: the lock is empty'),
], ids=['ok', 'python', 'platform', 'pin-moved', 'pin-dropped', 'compiled-ok', 'compiled-lacks', 'compiled-other',
        'no-hash', 'empty'])
def test_check_lock(text, pins, python, platforms, message):
    if message is None:
        assert sorted(check_lock('app', 'L', text, pins, python, platforms)) >= ['alpha']
        return
    with pytest.raises(RuntimeError) as info:
        check_lock('app', 'L', text, pins, python, platforms)
    assert str(info.value) == message


@pytest.mark.parametrize('lock_dir, resolve, refresh, expected', [
    (None, 'missing', [], {'a': None, 'b': None}),
    ('DIR', 'missing', [], {'a': 'DIR/a.txt', 'b': None}),
    ('DIR', 'missing', ['a'], {'a': None, 'b': None}),
    ('DIR', 'all', [], {'a': None, 'b': None}),
    ('DIR', 'none', [], 'resolve is none but lock_dir DIR has no lock for set(s) b: resolve them on purpose '
                        '(refresh: [b]) and keep the locks that staging writes'),
    (None, 'none', [], 'resolve is none (every set from its lock) but no lock_dir is given: name the directory '
                       'holding <set>.txt for every set'),
    ('DIR/nope', 'missing', [], 'lock_dir DIR/nope is not a directory: give the directory holding the locks '
                                '(<set>.txt) to stage from'),
    ('DIR', 'missing', ['c'], 'refresh names sets that are not in sets: c'),
    ('DIR', 'sometimes', [], "resolve must be one of missing, none, all, not 'sometimes'"),
])
def test_lock_modes(tmp_path, lock_dir, resolve, refresh, expected):
    (tmp_path / 'a.txt').write_text(LOCK)
    lock_dir = lock_dir.replace('DIR', str(tmp_path)) if lock_dir else None
    if isinstance(expected, dict):
        assert lock_modes({'a': [], 'b': []}, lock_dir, resolve, refresh) == dict(
            (k, v.replace('DIR', str(tmp_path)) if v else v) for k, v in expected.items())
        return
    with pytest.raises(RuntimeError) as info:
        lock_modes({'a': [], 'b': []}, lock_dir, resolve, refresh)
    assert str(info.value) == expected.replace('DIR', str(tmp_path))


def test_lock_moves_lists_changed_added_removed_and_other_files():
    new = {'alpha': {'version': '1.0', 'hashes': ['d' * 64]}, 'beta': {'version': '1.1', 'hashes': ['e' * 64]},
           'delta': {'version': '0.1', 'hashes': ['f' * 64]}}
    moves = lock_moves(LOCK, new)
    assert moves == {'changed': {'alpha': '1.0 -> 1.0 (other files)', 'beta': '1.0 -> 1.1'},
                     'added': {'delta': '0.1'}, 'removed': {'uv': '0.13.9'}}
    assert describe_moves({'app': moves, 'same': {}}) == [
        'app: alpha 1.0 -> 1.0 (other files); beta 1.0 -> 1.1; added delta 0.1; removed uv 0.13.9', 'same: unchanged']


def test_explain_pip_failure_reads_pips_own_lines():
    out = ('ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated ...\n'
           '    beta==1.0 from https://u:***@idx/packages/beta-1.0-py3-none-any.whl#sha256=%s (from -r /w/l.txt '
           '(line 1)):\n        Expected sha256 %s\n             Got        %s\n' % ('d' * 64, 'a' * 64, 'd' * 64))
    assert explain_pip_failure(out, 'app', 'L', 'T').startswith(
        'lock L of set app: the index no longer serves the locked file: beta==1.0: the index serves '
        'beta-1.0-py3-none-any.whl with sha256 %s, the lock expects %s. ' % ('d' * 64, 'a' * 64))


def test_explain_pip_failure_without_a_known_cause_is_none():
    assert explain_pip_failure('ERROR: something else\n', 'app', 'L', 'Python 3.11') is None


def test_a_run_interrupted_after_a_set_restages_that_set_from_its_lock(index, tmp_path):
    """The first set is staged and its lock written; the second fails (its pin is not on the index; the preflight is
    off, as for an index whose pages cannot be asked); the run again, with the pin fixed, downloads nothing for the
    first set."""
    dest = tmp_path / 'mirror'
    sets = {'app': ['alpha==1.0'], 'zz': ['beta==9.9']}
    with pytest.raises(RuntimeError):
        _stage.stage(str(dest), sets, [], PIP, '3.11', PLATFORMS, timeout=300, indexes=_stage.index_plan(sets, index.url),
                     check=False)
    assert (dest / 'locks' / 'app.txt').is_file() and not (dest / 'locks' / 'zz.txt').exists()
    log = tmp_path / 'progress.log'
    sets['zz'] = ['beta==1.0']
    progress = _stage.Progress(str(log))
    _changed, _manifest, staged_from, _moves, _report = _stage.stage(
        str(dest), sets, [], PIP, '3.11', PLATFORMS, timeout=300, indexes=_stage.index_plan(sets, index.url),
        lock_dir=str(dest / 'locks'), progress=progress)
    progress.close()
    assert staged_from == {'app': 'lock', 'zz': 'resolved'}
    text = log.read_text()
    app = text[text.index('[set 1/2] app'):text.index('[set 2/2] zz')]
    assert 'Downloading' not in app and '2 wheels' in app and '0 new in the mirror' in app, app
