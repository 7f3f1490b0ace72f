# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_gate_noxfile: a project's noxfile is judged by its syntax tree, read safely, never executed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import textwrap

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _gate_noxfile as gn

OWN = '''
import nox
from codex_gate import gate


@nox.session
def lint(session):
    session.run("flake8")


@nox.session(venv_backend="none")
def tests(session):
    gate(session)


@nox.session
def docs(session):
    session.run("sphinx-build", "docs", "build")
'''

CASES = [
    # (id, source, calls_gate, problem fragment)
    ('readme-lines', OWN, True, None),
    ('module-import', 'import nox\nimport codex_gate\n\n@nox.session\ndef tests(s):\n    codex_gate.gate(s)\n',
     True, None),
    ('aliases', 'from nox import session as sess\nfrom codex_gate import gate as g\n\n'
                '@sess(name="tests")\ndef run_them(s):\n    if True:\n        g(s, source=["pkg"])\n', True, None),
    ('no-call', 'import nox\nfrom codex_gate import gate\n\n@nox.session\ndef tests(s):\n    s.run("pytest")\n',
     False, 'the tests session of noxfile.py (line 5) does not call gate(session)'),
    ('no-import', 'import nox\n\n@nox.session\ndef tests(s):\n    gate(s)\n',
     False, 'noxfile.py does not import gate from codex_gate'),
    ('no-tests', 'import nox\nfrom codex_gate import gate\n\n@nox.session\ndef lint(s):\n    gate(s)\n',
     False, 'noxfile.py has no nox session named tests'),
    ('undecorated', 'from codex_gate import gate\n\ndef tests(s):\n    gate(s)\n',
     False, 'has no nox session named tests'),
    ('gate-elsewhere', 'import nox\nfrom codex_gate import gate\n\n@nox.session\ndef tests(s):\n    s.run("x")\n\n'
                       '@nox.session\ndef other(s):\n    gate(s)\n', False, 'does not call gate(session)'),
    ('syntax-error', 'import nox\ndef tests(:\n', False, 'does not parse as Python (line 2)'),
]


@pytest.mark.parametrize('source,calls,problem', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_inspect_source(source, calls, problem):
    facts = gn.inspect_source(source)
    assert facts['calls_gate'] is calls
    if problem is None:
        assert facts['problems'] == []
    else:
        assert len(facts['problems']) == 1 and problem in facts['problems'][0], facts['problems']


def test_sessions_and_line():
    facts = gn.inspect_source(OWN)
    assert facts['sessions'] == ['lint', 'tests', 'docs']
    assert facts['gate_line'] == 13
    assert facts['managed'] is False


def test_parsing_never_executes(tmp_path):
    flag = tmp_path / 'ran'
    source = 'open(%r, "w").write("x")\n' % str(flag) + OWN
    assert gn.inspect_source(source)['calls_gate']
    assert not flag.exists()


def test_the_lines_to_add_are_accepted():
    assert gn.inspect_source('import nox\n' + gn.LINES_TO_ADD)['calls_gate']


def test_the_generated_noxfile_calls_the_gate():
    template = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'ci_gates', 'templates',
                            'PROJECT', 'noxfile.py.j2')
    text = open(template).read()
    facts = gn.inspect_source(text.replace('{{', '"').replace('}}', '"').replace('{%', '#').replace('%}', ''))
    assert facts['calls_gate'], facts
    assert gn.MARKER in text


def project(tmp_path, source=None):
    if source is not None:
        (tmp_path / 'noxfile.py').write_text(textwrap.dedent(source))
    return str(tmp_path)


def test_project_states(tmp_path):
    assert gn.inspect_project(project(tmp_path))['state'] == 'absent'
    result = gn.inspect_project(project(tmp_path, OWN))
    assert (result['state'], result['calls_gate'], result['exists']) == ('own', True, True)
    result = gn.inspect_project(project(tmp_path, '#\n# Ansible managed\n%s/srv/p.\n%s' % (gn.MANAGED_LINE, OWN)))
    assert result['state'] == 'managed'


def test_a_file_that_only_mentions_the_role_is_the_projects_own(tmp_path):
    text = '"""This noxfile gets the %s gate."""\n# %s\n%s' % (gn.MARKER, gn.MARKER, OWN)
    assert gn.inspect_project(project(tmp_path, text))['state'] == 'own'


def test_the_template_carries_the_managed_line():
    template = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'ci_gates', 'templates',
                            'PROJECT', 'noxfile.py.j2')
    assert any(line.startswith(gn.MANAGED_LINE) for line in open(template).read().splitlines())


def test_missing_project(tmp_path):
    result = gn.inspect_project(str(tmp_path / 'nope'))
    assert not result['exists']
    assert result['problems'] == ['%s does not exist' % (tmp_path / 'nope')]


def test_a_symlinked_noxfile_is_not_followed(tmp_path):
    secret = tmp_path / 'secret'
    secret.write_text('root only')
    (tmp_path / 'p').mkdir()
    os.symlink(str(secret), str(tmp_path / 'p' / 'noxfile.py'))
    result = gn.inspect_project(str(tmp_path / 'p'))
    assert result['state'] == 'own' and not result['calls_gate']
    assert 'is a symlink' in result['problems'][0]


def test_a_fifo_does_not_block(tmp_path):
    os.mkfifo(str(tmp_path / 'noxfile.py'))
    result = gn.inspect_project(str(tmp_path))
    assert 'is not a regular file' in result['problems'][0]


def test_a_huge_file_is_refused(tmp_path):
    (tmp_path / 'noxfile.py').write_text('#' * 100)
    with pytest.raises(gn.NoxfileError, match='larger than 10 bytes'):
        gn.read_noxfile(str(tmp_path / 'noxfile.py'), max_bytes=10)
