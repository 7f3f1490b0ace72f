# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The committed locks of the test mirror (molecule/_shared/locks) decide every version in its closure.

* Every set of molecule/_shared/stage_vars.yml has a lock that still describes it (the check staging itself makes
  before its first download: same Python, platforms and pins), so `make mirror` on a fresh clone stages the same
  bytes on any day.
* No file that runs against the staged mirror (the scenarios, the integration tests, the demo, the benchmarks)
  names a version of a locked package that the locks do not hold. A test names the package and reads the file
  and version from the lock (tests/integration/integration_helpers.locked_wheel). A line that names another
  version on purpose (a companion built for another torch, say) carries the marker ``not-a-staged-version``.
Needs no staged wheels: it reads only committed files.
"""

from __future__ import absolute_import, division, print_function

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import normalize_name, parse_lock
from ansible_collections.codex.offline_ml.plugins.module_utils._stage_lock import check_lock

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCKS = REPO_ROOT / 'molecule' / '_shared' / 'locks'
STAGE_VARS = REPO_ROOT / 'molecule' / '_shared' / 'stage_vars.yml'
STAGE_PLAYBOOK = REPO_ROOT / 'playbooks' / 'stage_wheels.yml'
# What runs against the staged mirror. Not scanned: unit tests and tests/fixtures/audit (self-contained made-up
# wheels and recorded reports, never compared with the mirror), requirements files (other venvs' closures: the
# controller's tools, olah's).
SCANNED = ('molecule', 'tests/integration', 'demo', 'benchmarks', 'tests/unit/conftest.py')
SKIPPED = ('molecule/_shared/locks/',)
MARKER = 'not-a-staged-version'
PIN_RE = re.compile(r'(?<![\w.-])([A-Za-z][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!_-]*[A-Za-z0-9+])')
WHEEL_RE = re.compile(r'(?<![\w.-])([A-Za-z][A-Za-z0-9_.]*)-([0-9][A-Za-z0-9.+!_]*)'
                      r'-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl')


def locked_versions(lock_dir):
    """{normalized name: {versions}} over every lock in LOCK_DIR."""
    versions = {}
    for path in sorted(Path(lock_dir).glob('*.txt')):
        for name, entry in parse_lock(path.read_text()).items():
            versions.setdefault(name, set()).add(entry['version'])
    return versions


def stray_versions(text, versions):
    """(line number, what) for every pin or wheel file name in TEXT of a locked package at a version the locks do
    not hold, on lines without the marker."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if MARKER in line:
            continue
        for regex in (PIN_RE, WHEEL_RE):
            for match in regex.finditer(line):
                name = normalize_name(match.group(1))
                if name in versions and match.group(2) not in versions[name]:
                    found.append((number, match.group(0)))
    return found


def scanned_files():
    for entry in SCANNED:
        path = REPO_ROOT / entry
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob('*') if p.is_file())
        for candidate in candidates:
            relative = candidate.relative_to(REPO_ROOT).as_posix()
            if relative.startswith(SKIPPED) or candidate.name.startswith('requirements') or \
                    candidate.suffix not in ('.py', '.yml', '.yaml', '.sh', '.j2', '.txt', '.md', '.json', ''):
                continue
            yield relative, candidate


def stage_sets():
    staged = yaml.safe_load(STAGE_VARS.read_text())
    (play,) = yaml.safe_load(STAGE_PLAYBOOK.read_text())
    defaults = play['vars']
    python = staged.get('stage_wheels_python_version', defaults['stage_wheels_python_version'])
    platforms = staged.get('stage_wheels_platforms', defaults['stage_wheels_platforms'])
    # the playbook's default names the roles' uv (mirror_defaults_uv_version, its vars_files)
    uv = yaml.safe_load((REPO_ROOT / 'roles' / 'mirror_defaults' / 'defaults' / 'main.yml').read_text())
    installer = [pin.replace('{{ mirror_defaults_uv_version }}', str(uv['mirror_defaults_uv_version']))
                 for pin in staged.get('stage_wheels_installer', defaults['stage_wheels_installer'])]
    for name, pins in sorted(staged['stage_wheels_sets'].items()):
        yield name, list(pins) + list(installer), staged.get('stage_wheels_set_python_versions', {}).get(name, python), \
            platforms


@pytest.mark.parametrize('set_name, pins, python, platforms', list(stage_sets()), ids=lambda v: str(v)[:30])
def test_every_set_has_a_lock_that_still_describes_it(set_name, pins, python, platforms):
    path = LOCKS / ('%s.txt' % set_name)
    assert path.is_file(), 'set %s has no committed lock %s: run make refresh-locks' % (set_name, path)
    check_lock(set_name, str(path), path.read_text(), pins, python, platforms)


def test_no_lock_without_a_set():
    sets = set(name for name, _pins, _python, _platforms in stage_sets())
    assert sorted(p.stem for p in LOCKS.glob('*.txt') if p.stem not in sets) == []


def test_no_file_run_against_the_mirror_names_a_version_the_locks_do_not_hold():
    versions = locked_versions(LOCKS)
    assert 'torch' in versions and 'filelock' in versions, 'the committed locks are not where this test looks'
    strays = []
    for relative, path in scanned_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        strays += ['%s:%d: %s' % (relative, number, what) for number, what in stray_versions(text, versions)]
    assert strays == [], ('these name versions the committed locks (%s) do not hold; take the file and version '
                          'from the lock (integration_helpers.locked_wheel), or mark a deliberate one with %r:\n%s'
                          % (LOCKS.relative_to(REPO_ROOT), MARKER, '\n'.join(strays)))


VERSIONS = {'filelock': {'4.3.2'}, 'torch': {'2.13.0+cpu'}, 'typing-extensions': {'4.16.0'}}


@pytest.mark.parametrize('text, expected', [
    ('name = "filelock-4.3.1-py3-none-any.whl"', [(1, 'filelock-4.3.1-py3-none-any.whl')]),
    ('["Hash mismatch for `filelock==4.3.1`"]', [(1, 'filelock==4.3.1')]),
    ('x\n    "torch==2.11.0"', [(2, 'torch==2.11.0')]),
    ('typing_extensions-4.15.0-py3-none-any.whl', [(1, 'typing_extensions-4.15.0-py3-none-any.whl')]),
    ('typing_extensions==4.15.0', [(1, 'typing_extensions==4.15.0')]),
    ('torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl and filelock==4.3.2', []),
    ('requires torch==2.11.0  # not-a-staged-version: a companion built for another torch', []),
    ('codexfit==1.0 and codexfit-1.0-cp399-cp399-manylinux_2_17_x86_64.whl', []),   # not a locked package
    ('pytorch==9.9 or my-filelock==1.0', []),
])
def test_stray_versions_finds_pins_and_file_names(text, expected):
    assert stray_versions(text, VERSIONS) == expected
