# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""gate_projects on a real tree: states, the gate call, read-only in check mode, relative paths refused."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.codex.offline_ml.plugins.modules import gate_projects

OWN = ('import nox\nfrom codex_gate import gate\n\n@nox.session\ndef lint(s):\n    s.run("x")\n\n'
       '@nox.session(venv_backend="none")\ndef tests(s):\n    gate(s)\n')


def test_states_and_the_lines(tmp_path, run_module):
    (tmp_path / 'own').mkdir()
    (tmp_path / 'own' / 'noxfile.py').write_text(OWN)
    (tmp_path / 'bad').mkdir()
    (tmp_path / 'bad' / 'noxfile.py').write_text('import nox\n\n@nox.session\ndef tests(s):\n    s.run("pytest")\n')
    (tmp_path / 'new').mkdir()
    paths = [str(tmp_path / n) for n in ('own', 'bad', 'new', 'gone')]
    failed, result = run_module(gate_projects, paths=paths, _ansible_check_mode=True)
    assert not failed and not result['changed']
    own, bad, new, gone = result['projects']
    assert (own['state'], own['calls_gate'], own['sessions']) == ('own', True, ['lint', 'tests'])
    assert (bad['state'], bad['calls_gate']) == ('own', False)
    assert bad['problems'] == ['%s does not import gate from codex_gate' % bad['noxfile']]
    assert (new['state'], new['exists'], new['problems']) == ('absent', True, [])
    assert (gone['exists'], gone['problems']) == (False, ['%s does not exist' % paths[3]])
    assert 'from codex_gate import gate' in result['lines_to_add']
    assert sorted(p.name for p in (tmp_path / 'new').iterdir()) == []


def test_relative_paths_are_refused(run_module):
    failed, result = run_module(gate_projects, paths=['srv/p'])
    assert failed
    assert result['msg'] == 'paths must be absolute: srv/p'
