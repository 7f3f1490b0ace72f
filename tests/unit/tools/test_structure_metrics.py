# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/tools/structure_metrics.py on small trees: each number, what the duplicate check reports and leaves out,
and the ratchet (a regression fails naming the number; --update lowers and never raises)."""

from __future__ import absolute_import, division, print_function

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / 'tests' / 'tools' / 'structure_metrics.py'
_spec = importlib.util.spec_from_file_location('codex_structure_metrics', str(SCRIPT))
metrics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(metrics)


def build(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / 'roles').mkdir(exist_ok=True)
    (root / 'plugins').mkdir(exist_ok=True)
    return root


def run(root, *args):
    return subprocess.run([sys.executable, str(SCRIPT), '--root', str(root), '--limits', str(root / 'limits.json')]
                          + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=60, check=False)


# A function body worth reporting when copied: a loop, a guarded call, a decision (the shape of real copy-paste).
WALK = '''def {name}(paths, seen):
    for top in paths:
        fd = open_root(top)
        if fd is None:
            continue
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        finally:
            os.close(fd)
'''
# The same shape with other names, strings and numbers.
WALK_RENAMED = '''def other(roots, known):
    for entry in roots:
        handle = open_top(entry)
        if handle is None:
            continue
        try:
            info = os.stat(handle)
            if (info.st_size, info.st_mode) in known:
                continue
            known.add((info.st_size, info.st_mode))
        finally:
            os.close(handle)
'''
HEADER = '''# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys
import json
from ansible.module_utils.basic import (
    AnsibleModule,
)
'''
DOCS = '''DOCUMENTATION = r"""
module: {name}
short_description: One module.
options:
  path:
    description: A path.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Run it
  codex.offline_ml.{name}:
    path: /srv/x
"""

RETURN = r"""
path:
  description: The path.
  type: str
  returned: always
"""
'''
# Six file tasks in a row: the same keys, one variable each. Similar, but a list of data, not copied logic.
FILE_TASK = '''- name: Create {what}
  ansible.builtin.file:
    path: "{{{{ {var} }}}}"
    state: directory
    owner: root
    group: root
    mode: "0755"
'''
# Tasks with real logic in their expressions, copied with other variable names.
LOGIC_TASK = '''- name: Seed {what}
  codex.offline_ml.hf_cache_seed:
    endpoint: "{{{{ {p}_endpoint if {p}_method == 'mirror' else omit }}}}"
    token: "{{{{ {p}_token if {p}_token and {p}_method == 'mirror' else omit }}}}"
    ca_bundle: "{{{{ {p}_ca_bundle if {p}_ca_bundle else omit }}}}"
    bundle: "{{{{ {p}_bundle_path if {p}_method == 'bundle' else omit }}}}"
  when:
    - {p}_seeding | bool
    - not {p}_per_user | bool
'''


def test_task_lines_counts_only_the_hf_roles_top_level_task_files(tmp_path):
    root = build(tmp_path, {
        'roles/hf_offline_cache/tasks/main.yml': 'a\nb\nc\n',
        'roles/hf_offline_cache/tasks/install.yml': 'a\n\nb\n',
        'roles/hf_offline_cache/tasks/sub/deep.yml': 'x\n' * 50,
        'roles/hf_offline_cache/vars/main.yml': 'x\n' * 50,
        'roles/torch_cpu/tasks/main.yml': 'x\n' * 50,
    })
    assert metrics.task_lines(root) == 6


@pytest.mark.parametrize('files, expected', [
    ({'roles/r/tasks/main.yml': 'a: "{{ x }}"\nb: "{% if y %}1{% endif %}"\n'}, 3),
    ({'roles/r/tasks/sub/deep.yml': 'a: "{{ x }}{{ y }}"\n'}, 2),
    ({'roles/r/vars/main.yml': 'a: "{{ x }}"\n'}, 1),
    ({'roles/r/defaults/main.yml': 'a: "{{ x }}"\n', 'roles/r/templates/t.j2': '{{ x }}\n',
      'playbooks/site.yml': 'a: "{{ x }}"\n'}, 0),
    ({'roles/r/tasks/main.yml': 'a: "{ x }"\nb: "}}"\n'}, 0),
], ids=['tasks', 'nested-tasks', 'vars', 'elsewhere-not-counted', 'no-markers'])
def test_template_markers(tmp_path, files, expected):
    assert metrics.template_markers(build(tmp_path, files)) == expected


@pytest.mark.parametrize('files, expected', [
    ({'roles/torch_cpu/tasks/main.yml': 'a: "{{ __torch_cpu_x }}"\n'}, []),
    ({'roles/offline_venv/defaults/main.yml': '\n\nv: "{{ __torch_cpu_offline_venv }}"\n'},
     [('roles/offline_venv/defaults/main.yml', 3, '__torch_cpu_offline_venv', 'torch_cpu')]),
    ({'playbooks/audit.yml': 'x: "{{ __ci_gates_audit_plan }}"\n'},
     [('playbooks/audit.yml', 1, '__ci_gates_audit_plan', 'ci_gates')]),
    ({'roles/torch_cpu/tasks/main.yml': 'a: "{{ __offline_venv_probe.rc }}"\n'},
     [('roles/torch_cpu/tasks/main.yml', 1, '__offline_venv_probe', 'offline_venv')]),
    ({'roles/offline_venv/tasks/main.yml': 'a: "{{ x__torch_cpu_y }} {{ torch_cpu_x }} {{ __other_role_x }}"\n'}, []),
], ids=['own-role', 'other-role', 'playbook', 'one-more', 'not-private-or-unknown-role'])
def test_private_reads(tmp_path, files, expected):
    for role in ('torch_cpu', 'offline_venv', 'ci_gates'):
        (tmp_path / 'roles' / role).mkdir(parents=True, exist_ok=True)
    assert metrics.private_reads(build(tmp_path, files)) == expected


def test_private_reads_prefer_the_longest_role_name(tmp_path):
    root = build(tmp_path, {'roles/offline_venv/x.yml': '', 'roles/offline_venv_extra/x.yml': '',
                            'playbooks/p.yml': 'a: "{{ __offline_venv_extra_y }}"\n'})
    assert [r[3] for r in metrics.private_reads(root)] == ['offline_venv_extra']


def test_long_python_files(tmp_path):
    root = build(tmp_path, {
        'plugins/modules/big.py': 'x = 1\n' * 601,
        'plugins/modules/fits.py': 'x = 1\n' * 600,
        'plugins/module_utils/_torch_checks.py': 'x = 1\n' * 900,
        'roles/r/files/big.py': 'x = 1\n' * 900,
    })
    assert metrics.long_python_files(root) == [('plugins/modules/big.py', 601)]


@pytest.mark.parametrize('files, expected', [
    # copied logic, verbatim, in two files
    ({'plugins/module_utils/a.py': WALK.format(name='one'), 'plugins/module_utils/b.py': WALK.format(name='two')},
     [(('plugins/module_utils/a.py', 1), ('plugins/module_utils/b.py', 1), 12)]),
    # the same shape with other identifiers, and lines away from each other in one file
    ({'plugins/modules/m.py': WALK.format(name='one') + '\n\nx = 1\n\n' + WALK_RENAMED},
     [(('plugins/modules/m.py', 1), ('plugins/modules/m.py', 17), 12)]),
    # copied YAML with logic in its expressions, other variables
    ({'roles/a/tasks/main.yml': LOGIC_TASK.format(what='a', p='a'),
      'roles/b/tasks/main.yml': '- name: First\n  ansible.builtin.debug:\n    msg: hi\n\n'
                                + LOGIC_TASK.format(what='b', p='other_role')},
     [(('roles/a/tasks/main.yml', 1), ('roles/b/tasks/main.yml', 5), 9)]),
    # shorter than six lines: not reported
    ({'plugins/a.py': '\n'.join(WALK.format(name='one').splitlines()[:5]) + '\n',
      'plugins/b.py': '\n'.join(WALK.format(name='one').splitlines()[:5]) + '\n'}, []),
    # similar YAML without logic: file tasks of the same keys
    ({'roles/a/tasks/main.yml': ''.join(FILE_TASK.format(what=w, var='a_' + w) for w in 'xyz'),
      'roles/b/tasks/main.yml': ''.join(FILE_TASK.format(what=w, var='b_' + w) for w in 'uvw')}, []),
    # a list of one shape: six assignments of the same form
    ({'plugins/a.py': ''.join('v%d = params.get("k%d")\n' % (i, i) for i in range(8)),
      'plugins/b.py': ''.join('w%d = other.get("j%d")\n' % (i, i) for i in range(8))}, []),
    # boilerplate: license headers, imports, the documentation strings of two modules
    ({'plugins/modules/a.py': HEADER + DOCS.format(name='a'), 'plugins/modules/b.py': HEADER + DOCS.format(name='b')}, []),
    # argument specs and role metadata are not read
    ({'roles/a/meta/argument_specs.yml': LOGIC_TASK.format(what='a', p='a'),
      'roles/b/meta/argument_specs.yml': LOGIC_TASK.format(what='b', p='b')}, []),
], ids=['verbatim', 'renamed-same-file', 'yaml-logic', 'short', 'yaml-file-tasks', 'one-shape-list', 'boilerplate',
        'meta'])
def test_duplicate_blocks(tmp_path, files, expected):
    assert metrics.duplicate_blocks(build(tmp_path, files)) == expected


def test_duplicate_blocks_skip_comments_and_blank_lines(tmp_path):
    commented = WALK.format(name='two').replace('        try:\n', '\n        # why this is safe\n        try:\n')
    root = build(tmp_path, {'plugins/a.py': WALK.format(name='one'), 'plugins/b.py': commented})
    assert metrics.duplicate_blocks(root) == [(('plugins/a.py', 1), ('plugins/b.py', 1), 12)]


def test_python_normalisation_keeps_keywords_and_drops_imports():
    lines = metrics.normalise_python('import os\nfrom x import (\n    y,\n)\nif a is None:\n    return "s" + 1\n')
    assert lines == [(5, 'if N is None :'), (6, 'return S + 0')]


def test_yaml_normalisation_reads_when_lists_as_expressions():
    lines = metrics.normalise_yaml('- name: X\n  when:\n    - a | bool\n    - not b\n  register: r\n')
    assert [text for dummy, text in lines] == ['- name : S', 'when :', '- N | N', '- not N', 'register : S']


TREE = {
    'roles/hf_offline_cache/tasks/main.yml': 'a: "{{ x }}"\n' * 4,
    'roles/torch_cpu/tasks/main.yml': 'b: 1\n',
    'playbooks/site.yml': 'c: "{{ __torch_cpu_x }}"\n',
}
CURRENT = {'task_lines': 4, 'template_markers': 4, 'private_reads': 1, 'duplicate_blocks': 0, 'long_python_files': 0}


@pytest.mark.parametrize('change, rc, message', [
    ({}, 0, None),
    ({'task_lines': 3}, 1, 'task_lines regressed: 4 > its limit 3 (target <= 300)'),
    ({'template_markers': 0}, 1, 'template_markers regressed: 4 > its limit 0 (target <= 200)'),
    ({'private_reads': 0}, 1, 'private_reads regressed: 1 > its limit 0 (target <= 0)'),
    ({'task_lines': 100, 'private_reads': 5}, 0, None),
], ids=['equal', 'task-lines', 'markers', 'private-reads', 'below'])
def test_ratchet(tmp_path, change, rc, message):
    root = build(tmp_path, TREE)
    (root / 'limits.json').write_text(json.dumps(dict(CURRENT, **change)))
    result = run(root)
    assert result.returncode == rc, result.stdout + result.stderr
    assert 'private_reads          1   limit' in result.stdout
    assert 'playbooks/site.yml:1: __torch_cpu_x (private to role torch_cpu)' in result.stdout
    if message:
        assert message in result.stderr
    else:
        assert result.stderr == ''


def test_update_lowers_and_never_raises(tmp_path):
    root = build(tmp_path, TREE)
    limits = root / 'limits.json'
    limits.write_text(json.dumps(dict(CURRENT, task_lines=10, template_markers=2, private_reads=1)))
    result = run(root, '--update')
    assert result.returncode == 1   # template_markers stays over its limit
    assert 'template_markers is 4, over its limit 2: the limit stays' in result.stdout
    assert json.loads(limits.read_text()) == dict(CURRENT, task_lines=4, template_markers=2)
    assert run(root).returncode == 1


def test_update_records_a_missing_limit_and_a_missing_one_fails_the_check(tmp_path):
    root = build(tmp_path, TREE)
    result = run(root)
    assert result.returncode == 1 and 'task_lines has no recorded limit' in result.stderr
    assert run(root, '--update').returncode == 0
    assert json.loads((root / 'limits.json').read_text()) == CURRENT
    assert run(root).returncode == 0


def test_the_committed_limits_hold_every_number():
    limits = json.loads((SCRIPT.parent / 'structure_limits.json').read_text())
    assert sorted(limits) == sorted(metrics.TARGETS)
