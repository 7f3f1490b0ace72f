# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module's documentation against its code, one table-driven test for all of plugins/modules.

The documentation is read the way users read it: ``ansible-doc --json`` over the collection, so the doc
fragments (plugins/doc_fragments) are merged in as Ansible merges them. The code side is what each module's
``main()`` hands to ``AnsibleModule`` (caught before anything runs). validate-modules (make sanity) checks much
the same; this test runs with the unit tests and also ties the attributes to the code (check mode, diff output).
"""

from __future__ import absolute_import, division, print_function

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

MODULES_DIR = Path(__file__).resolve().parents[4] / 'plugins' / 'modules'
MODULES = sorted(p.stem for p in MODULES_DIR.glob('*.py') if p.stem != '__init__')

# The top-level keys of RETURN, for the modules whose unit tests pinned them (torch_diagnostic and
# wheel_mirror_info check theirs against the code in their own test files).
RETURN_KEYS = {
    'fleet_report': {'dir', 'latest', 'files', 'written', 'compliant', 'noncompliant', 'summary', 'failure_message',
                     'drift', 'generated_at'},
    'release_build': {'release', 'path', 'manifest_sha256', 'signed', 'base', 'files', 'carried', 'bytes',
                      'carried_bytes', 'models', 'tar'},
    'release_verify': {'ok', 'release', 'manifest_sha256', 'signed', 'signer', 'base', 'files', 'carried', 'bytes',
                       'carried_bytes', 'problems'},
    'offline_venv': {'path', 'reasons', 'packages', 'release', 'installed', 'kept', 'removed', 'steps', 'verify_output',
                     'reused', 'uv_cache', 'current'},
    'role_plan': {'plan'},
    'rollout_summary': {'summary', 'lines', 'files', 'written'},
    'venv_audit': {'venvs'},
    'wheel_stage': {'files', 'locks', 'indexes', 'staged_from', 'moved', 'moved_lines', 'preflight'},
}

# Option keys compared, with the value Ansible assumes when a side leaves the key out.
COMPARED = (('type', 'str'), ('elements', None), ('default', None), ('required', False), ('choices', None))


@pytest.fixture(scope='session')
def docs(collections_root):
    """ansible-doc's JSON for every module, fragments merged."""
    ansible_doc = Path(sys.executable).parent / 'ansible-doc'
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root), ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([str(ansible_doc), '--json', '-t', 'module']
                          + ['codex.offline_ml.%s' % name for name in MODULES],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert '[WARNING]' not in proc.stderr, proc.stderr
    return dict((name.split('.')[-1], value) for name, value in json.loads(proc.stdout).items())


def module_kwargs(name, monkeypatch):
    """The keyword arguments main() of module NAME gives AnsibleModule."""
    module = importlib.import_module('ansible_collections.codex.offline_ml.plugins.modules.%s' % name)
    captured = {}

    class Stop(Exception):
        pass

    def fake_module(**kwargs):
        captured.update(kwargs)
        raise Stop()

    monkeypatch.setattr(module, 'AnsibleModule', fake_module)
    with pytest.raises(Stop):
        module.main()
    return module, captured


def disagreements(documented, spec, where=''):
    """Each way the documented options and the argument spec differ, in words (recursing into suboptions)."""
    problems = ['%s%s is in the argument spec but not documented' % (where, n) for n in sorted(set(spec) - set(documented))]
    problems += ['%s%s is documented but not in the argument spec' % (where, n) for n in sorted(set(documented) - set(spec))]
    for name in sorted(set(spec) & set(documented)):
        doc, code = documented[name], spec[name]
        for key, assumed in COMPARED:
            doc_value, code_value = doc.get(key, assumed), code.get(key, assumed)
            if key == 'choices' and doc_value is not None and code_value is not None:
                doc_value, code_value = list(doc_value), list(code_value)
            if doc_value != code_value:
                problems.append('%s%s: %s is %r in the documentation, %r in the argument spec' % (
                    where, name, key, doc_value, code_value))
        if doc.get('suboptions') or code.get('options'):
            problems += disagreements(doc.get('suboptions') or {}, code.get('options') or {}, '%s%s.' % (where, name))
    return problems


def test_every_module_is_covered(docs):
    assert len(MODULES) >= 11 and set(docs) == set(MODULES)


# Modules that document an action plugin of the same name (no main(): the action runs on the controller).
ACTIONS = ('role_plan',)


@pytest.mark.parametrize('name', ACTIONS)
def test_an_action_documents_exactly_the_arguments_it_takes(name, docs):
    action = importlib.import_module('ansible_collections.codex.offline_ml.plugins.action.%s' % name)
    doc = docs[name]['doc']
    assert set(doc['options']) == set(action.ActionModule._VALID_ARGS)
    assert doc['attributes']['action']['support'] == 'full'
    assert set(docs[name]['return']) == RETURN_KEYS[name]


@pytest.mark.parametrize('name', [m for m in MODULES if m not in ACTIONS])
def test_documentation_matches_the_code(name, docs, monkeypatch):
    module, kwargs = module_kwargs(name, monkeypatch)
    doc = docs[name]['doc']
    assert disagreements(doc.get('options') or {}, kwargs['argument_spec']) == []

    attributes = doc['attributes']
    # partial: the module runs in check mode but does less there (its details say what)
    check_mode = ('full', 'partial') if kwargs.get('supports_check_mode', False) else ('none',)
    assert attributes['check_mode']['support'] in check_mode
    assert attributes['check_mode']['support'] != 'partial' or attributes['check_mode'].get('details')
    returns_diff = '_diff' in Path(module.__file__).read_text()
    assert (attributes['diff_mode']['support'] in ('full', 'partial')) == returns_diff
    assert attributes['platform']['platforms'] == 'posix'

    returned = docs[name]['return']
    assert returned
    if name in RETURN_KEYS:
        assert set(returned) == RETURN_KEYS[name]
    examples = yaml.safe_load(docs[name]['examples'])
    assert examples and all('name' in task for task in examples)
