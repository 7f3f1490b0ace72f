# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every tag a document or a playbook comment names (`--tags X`, `--skip-tags X`, or a role's phase tag written
`<role>_<phase>`) is a tag some task of the collection carries: a tag that exists nowhere selects nothing, and
--skip-tags with it skips nothing without a word. molecule/fleet/tests/test_tags.py runs each role's phase tags."""

from __future__ import absolute_import, division, print_function

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md')) + sorted(ROOT.glob('roles/*/README.md')) \
    + sorted(ROOT.glob('playbooks/*.yml'))
ROLES = sorted(p.name for p in (ROOT / 'roles').iterdir() if p.is_dir())
PHASE = re.compile(r'\b(%s)_(preflight|install|configure|verify|seed)\b' % '|'.join(ROLES))
OPTION = re.compile(r'--(?:skip-)?tags[ =]([A-Za-z0-9_,]+)')


def _tags(node, out):
    if isinstance(node, dict):
        tags = node.get('tags')
        if isinstance(tags, list):
            out.update(tags)
        elif isinstance(tags, str):
            out.add(tags)
        apply = node.get('apply')
        if isinstance(apply, dict):
            _tags(apply, out)
        for value in node.values():
            _tags(value, out)
    elif isinstance(node, list):
        for value in node:
            _tags(value, out)


def defined_tags():
    out = set()
    for path in list(ROOT.glob('roles/*/tasks/*.yml')) + list(ROOT.glob('playbooks/*.yml')):
        _tags(yaml.safe_load(path.read_text()), out)
    return out


def named_tags():
    named = {}
    for path in DOCS:
        text = path.read_text()
        for match in list(PHASE.finditer(text)):
            # a variable named like a tag (torch_cpu_verify_command) is not one: \b stops at _ only at a name's end
            named.setdefault(match.group(0), set()).add(path.relative_to(ROOT).as_posix())
        for match in OPTION.finditer(text):
            for tag in filter(None, match.group(1).split(',')):
                named.setdefault(tag, set()).add(path.relative_to(ROOT).as_posix())
    return named


def test_every_named_tag_exists():
    defined = defined_tags() | {'always', 'never', 'all', 'tagged', 'untagged'}
    missing = dict((tag, sorted(where)) for tag, where in named_tags().items() if tag not in defined)
    assert missing == {}


def test_every_public_role_has_its_four_phase_tags():
    defined = defined_tags()
    for role in ('torch_cpu', 'hf_offline_cache', 'ci_gates'):
        assert set('%s_%s' % (role, phase) for phase in ('preflight', 'install', 'configure', 'verify')) <= defined
