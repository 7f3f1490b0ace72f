# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad inputs of ci_gates (issue 10), on a real container with the real mirror and the real gate.

* a gated project path that does not exist: preflight fails naming it, the host is unchanged;
* a project's own noxfile that does not call the gate: verify fails naming the project and the lines to add;
  the file is neither changed nor executed (its top level would leave a mark);
* a noxfile that is a symlink to a root-only file: not followed, named, the target untouched;
* COVERAGE_MIN=85%, -1, nan and CODEX_REQUIRE_TORCH=maybe: the gate exits 2 naming the variable.
Needs the test mirrors: molecule/_shared/with_mirrors.sh .venv/bin/pytest tests/integration/test_ci_gates_bad_inputs.py
"""

from __future__ import absolute_import, division, print_function

import json
import os
import shlex

import pytest

import integration_helpers as h

ROOT = "/srv/it-gates"
GATE_PATHS = ("/opt/codex", "/usr/local/bin/codex-gate", "/usr/local/bin/nox", ROOT)
MARK = "/tmp/it-gates-noxfile-was-executed"

NOT_CALLING = '''import nox
open(%r, "w").write("executed")


@nox.session
def lint(session):
    session.run("true", external=True)


@nox.session
def docs(session):
    session.log("docs")


@nox.session
def tests(session):
    session.run("pytest")
''' % MARK

CALLING = '''import nox
from codex_gate import gate


@nox.session(venv_backend="none")
def tests(session):
    gate(session)
'''

SAMPLE = {"pkg/__init__.py": "def one():\n    return 1\n",
          "tests/test_one.py": "from pkg import one\n\n\ndef test_one():\n    assert one() == 1\n"}


def gate_vars(*projects):
    return {"ci_gates_mirror_mode": "index", "ci_gates_mirror_url": os.environ["CODEX_INDEX_URL"],
            "ci_gates_lock_file": str(h.LOCKS / "ci_gates.txt"), "ci_gates_test_venv": "",
            "ci_gates_projects": list(projects)}


def snapshot(box):
    res = box.python(h._SNAPSHOT_CODE, *GATE_PATHS)
    assert res.rc == 0, res
    return dict((entry[0], tuple(entry[1:])) for entry in json.loads(res.out))


def write(box, path, text):
    res = box.python("import os, sys\nos.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)\n"
                     "open(sys.argv[1], 'w').write(sys.argv[2])", path, text)
    assert res.rc == 0, res


def project(box, name, noxfile=None):
    path = "%s/%s" % (ROOT, name)
    for rel, text in SAMPLE.items():
        write(box, "%s/%s" % (path, rel), text)
    if noxfile is not None:
        write(box, path + "/noxfile.py", noxfile)
    return path


def failed_with(result, *needles):
    assert result.rc != 0, "the play should have failed:\n%r" % (result,)
    missing = [n for n in needles if n not in result.out]
    assert not missing, "missing %r in the output:\n%r" % (missing, result)
    print("\n".join(h.failure_messages(result.out)))


@pytest.fixture
def box(container):
    res = container.exec("rm", "-rf", MARK, *GATE_PATHS)
    assert res.rc == 0, res
    container.state = "gates"
    return container


def test_a_missing_project_fails_preflight_naming_it(box):
    before = snapshot(box)
    result = h.run_play(box, "ci_gates.yml", gate_vars({"path": ROOT + "/nope", "source": ["pkg"]}))
    failed_with(result, "ci_gates_projects lists a path that is not a directory on",
                "%s/nope does not exist" % ROOT, "Check out each project there first")
    assert snapshot(box) == before


def test_an_own_noxfile_without_the_gate_fails_verify_naming_the_project_and_the_lines(box):
    path = project(box, "own", NOT_CALLING)
    before = box.exec("sha256sum", path + "/noxfile.py").out
    result = h.run_play(box, "ci_gates.yml", gate_vars({"path": path, "source": ["pkg"]}))
    failed_with(result, "project %s: %s/noxfile.py does not import gate from codex_gate" % (path, path),
                "add these lines to it", "from codex_gate import gate", "def tests(session):", "gate(session)")
    assert box.exec("sha256sum", path + "/noxfile.py").out == before, "the project's own noxfile was changed"
    assert box.exec("test", "-e", MARK).rc != 0, "root executed the project's noxfile"


def test_a_symlinked_noxfile_is_not_followed(box):
    path = project(box, "linked")
    assert box.exec("ln", "-s", "/etc/shadow", path + "/noxfile.py").rc == 0
    before = box.exec("stat", "-c", "%a %U %s", "/etc/shadow").out
    result = h.run_play(box, "ci_gates.yml", gate_vars({"path": path, "source": ["pkg"]}))
    failed_with(result, "project %s: %s/noxfile.py is a symlink" % (path, path))
    assert box.exec("stat", "-c", "%a %U %s", "/etc/shadow").out == before


@pytest.mark.parametrize("env, needle", [
    ({"COVERAGE_MIN": "85%"}, "COVERAGE_MIN='85%' is not a number from 0 to 100"),
    ({"COVERAGE_MIN": "-1"}, "COVERAGE_MIN='-1' is not a number from 0 to 100"),
    ({"COVERAGE_MIN": "nan"}, "COVERAGE_MIN='nan' is not a number from 0 to 100"),
    ({"CODEX_REQUIRE_TORCH": "maybe"}, "CODEX_REQUIRE_TORCH='maybe' is not a yes/no value"),
], ids=["percent-sign", "negative", "nan", "require-maybe"])
def test_bad_gate_variables_exit_2_naming_them(container, env, needle):
    if container.state != "gates-converged":
        container.exec("rm", "-rf", MARK, *GATE_PATHS)
        path = project(container, "good", CALLING)
        result = h.run_play(container, "ci_gates.yml", gate_vars({"path": path, "source": ["pkg"]}))
        assert result.rc == 0, "%s\n%r" % (h.failure_messages(result.out), result)
        container.state = "gates-converged"
        # the good project passes through its own noxfile, as typed in a login shell
        ok = container.exec("bash", "-lc", "cd %s/good && COVERAGE_MIN=60 nox -s tests" % ROOT)
        assert ok.rc == 0, ok
        assert "meets the coverage floor 60% from COVERAGE_MIN" in ok.out + ok.err
    assigned = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in env.items())
    res = container.exec("bash", "-lc", "%s /usr/local/bin/codex-gate %s/good" % (assigned, ROOT))
    assert res.rc == 2, res
    assert needle in res.out + res.err
    assert "nox -s tests in" not in res.out
