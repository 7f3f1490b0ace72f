"""ci_gates: the real gate run on the hosts, one case per test.

Sample project (tests/fixtures/gate_project): 40 statements; 35 covered when the torch tests run (87.5 %),
31 when they are skipped (77.5 %); 9 tests, 4 of them need torch (importorskip at module level, importorskip
inside a test, the marker, the fixture). ci-gates: the real torch (torch_cpu), the project copied four times,
each importing a test venv with the real torch, a stub, a namespace leftover, a real torch whose import raises
OSError; no hf_offline_cache. ci-gates-stub: the venv the tests import holds a stub torch, hf_offline_cache's
exports present, a project with its own noxfile. torch is not required on either (the default). The floor
cases that need a full run are on ci-gates-stub, where a run takes a second (no real torch to import).
"""

import hashlib
import json
import os
import re
import shlex
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "..", "_shared", "testinfra"))

import torch_checks as tc  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
GATE = "/usr/local/bin/codex-gate"
GATE_VENV = "/opt/codex/gates"
LIB = "/opt/codex/gates-lib"
PROJECT = "/srv/gate_project"
EMPTY = "/srv/gate_empty"
OWN = "/srv/own_project"
SHAPES = {"stub": "torch is stub: from torch.utils.data import Dataset failed",
          "namespace": "torch is broken: torch at /opt/test-venvs/namespace/lib/python3.11/site-packages/torch is a "
                       "directory without __init__.py (leftovers of an uninstall?)",
          "oserror": "torch is broken: import torch failed: OSError: /opt/test-venvs/oserror/lib/python3.11/"
                     "site-packages/torch/lib/libtorch_global_deps.so: cannot open shared object file"}
GATE_VARIABLES = ("COVERAGE_MIN", "COV_FAIL_UNDER", "CODEX_REQUIRE_TORCH", "CODEX_TORCH_CHECK_TIMEOUT")


def run(host, command, cwd="/", **env):
    """COMMAND with the gate variables cleared, then ENV set; returns (rc, stdout + stderr)."""
    unset = " ".join("-u %s" % name for name in GATE_VARIABLES)
    assigned = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in sorted(env.items()))
    result = tc.fast(host).run("cd %s && env %s %s %s" % (shlex.quote(cwd), unset, assigned, command))
    return result.rc, result.stdout + result.stderr


def gate(host, project=PROJECT, **env):
    return run(host, "%s %s" % (GATE, project), **env)


def nox(host, project=PROJECT, **env):
    return run(host, "%s/bin/nox -s tests" % GATE_VENV, cwd=project, **env)


# ------------------------------------------------------------------------------------------- the role's work
def test_gate_venv_holds_exactly_the_lock(host):
    out = tc.fast(host).check_output(
        "%s/bin/python -I -c \"from importlib import metadata; "
        "print(' '.join(sorted(d.metadata['Name'].lower().replace('_', '-') for d in metadata.distributions())))\""
        % GATE_VENV)
    names = set(out.split()) - {"pip", "setuptools"}  # -I: the guard's .pth adds nothing in isolated runs
    lock = open(os.path.join(REPO, "build", "mirror", "locks", "ci_gates.txt")).read()
    locked = {line.split("==")[0].lower().replace("_", "-") for line in lock.splitlines()
              if "==" in line and not line.startswith("#")}
    assert names == locked
    assert "torch" not in names


def test_gate_venv_is_a_release_symlink(host):
    venv = tc.fast(host).file(GATE_VENV)
    assert venv.is_symlink
    assert venv.linked_to.startswith("/opt/codex/.gates.releases/")


def test_diagnostic_is_the_module_utils_copy(host):
    wanted = hashlib.sha256(open(os.path.join(REPO, "plugins", "module_utils", "_torch_checks.py"), "rb").read())
    assert tc.fast(host).file(LIB + "/torch_checks.py").sha256sum == wanted.hexdigest()
    for name, where in (("codex_gate.py", LIB), ("codex_torch_guard.py", LIB),
                        ("codex_torch_guard-1.0.0.dist-info/entry_points.txt", LIB + "/pytest-plugins")):
        wanted = hashlib.sha256(open(os.path.join(REPO, "roles", "ci_gates", "files", "lib", name), "rb").read())
        assert tc.fast(host).file("%s/%s" % (where, name)).sha256sum == wanted.hexdigest()


def test_managed_files(host):
    command = tc.fast(host).file(GATE)
    assert command.mode == 0o755
    assert "Ansible managed" in command.content_string
    for project in (PROJECT, EMPTY) if host.backend.get_hostname() == "ci-gates" else (PROJECT,):
        noxfile = tc.fast(host).file(project + "/noxfile.py").content_string
        assert "Ansible managed" in noxfile
        assert "codex.offline_ml.ci_gates" in noxfile
        assert "    gate(session)" in noxfile


def test_nox_lists_the_tests_session(host):
    rc, out = run(host, "%s/bin/nox --list" % GATE_VENV, cwd=PROJECT)
    assert rc == 0, out
    assert "* tests -> pytest with coverage" in out


def test_plain_pytest_of_the_gate_venv_loads_the_guard_by_its_entry_point(host):
    rc, out = run(host, "%s/bin/python -c \"from importlib.metadata import entry_points; "
                        "print(sorted(e.name for e in entry_points(group='pytest11')))\"" % GATE_VENV)
    assert rc == 0, out
    assert "codex_torch_guard" in out
    # no -p flag, no conftest: the header line comes from the guard
    # (python -m pytest puts the project directory on sys.path, as the gate does)
    rc, out = run(host, "%s/bin/python -m pytest --co -p no:cacheprovider tests/test_stats.py" % GATE_VENV, cwd=PROJECT)
    assert rc == 0, out
    assert "codex torch guard: when torch is not usable, import torch raises ModuleNotFoundError" in out


def test_the_seeds_nox_command_in_a_login_shell(host):
    """`COVERAGE_MIN=60 nox -s tests` as typed, in bash -lc, inside a gated project."""
    result = tc.login(host, "cd %s && COVERAGE_MIN=60 nox -s tests" % PROJECT)
    assert result.rc == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "coverage floor 60% from COVERAGE_MIN" in out
    assert "Session tests was successful" in out
    assert not tc.fast(host).file(PROJECT + "/.nox").exists
    assert tc.login(host, "command -v nox").stdout.strip() == "/usr/local/bin/nox"
    # system Python tools keep the system interpreter
    assert tc.login(host, "python3 -c 'import sys; print(sys.prefix)'").stdout.strip() == "/usr"


def test_last_result_is_recorded_in_the_project(host):
    rc, out = run(host, "cat %s/.codex-gate-result.json" % PROJECT)
    assert rc == 0, out
    assert json.loads(out)["result"] in ("passed", "failed")


# ------------------------------------------------------------------------ ci-gates: torch required and ok
@pytest.mark.runner("ci-gates")
def test_passes_at_the_default_floor(host):
    rc, out = gate(host)
    assert rc == 0, out
    # no hf_offline_cache on this runner: the gate exports the seven variables itself, with its values
    assert "offline exports from ci_gates (no /etc/profile.d/hf-offline.sh): HF_HOME=/srv/huggingface " \
           "HF_HUB_CACHE=/srv/huggingface/hub TRANSFORMERS_CACHE=/srv/huggingface/hub " \
           "HF_DATASETS_CACHE=/srv/huggingface/datasets HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 " \
           "HF_DATASETS_OFFLINE=1" in out
    assert "torch diagnostic: torch ok: torch 2.13.0+cpu" in out
    assert "coverage floor 85% from the default ci_gates_coverage_default (COVERAGE_MIN is unset; " \
           "COV_FAIL_UNDER is unset)" in out
    assert "9 passed" in out
    assert "codex torch guard: torch 2.13.0+cpu is usable" in out
    assert "total coverage 87.5000% (35 of 40 statements and branches) meets the coverage floor 85%" in out
    assert "codex-gate: PASSED: /srv/gate_project (project gate_project)" in out
    # offline: no venv was created
    assert not tc.fast(host).file(PROJECT + "/.nox").exists


@pytest.mark.runner("ci-gates")
def test_fails_when_coverage_min_is_above_the_total(host):
    rc, out = gate(host, COVERAGE_MIN="88")
    assert rc == 1, out
    assert "9 passed" in out
    assert "FAILED: total coverage 87.5000% (35 of 40 statements and branches) is below the coverage floor 88% " \
           "from COVERAGE_MIN; the report above rounds it to 88%, the gate compares the exact value" in out


@pytest.mark.runner("ci-gates")
def test_non_numeric_floor_is_rejected_with_the_variable_name(host):
    rc, out = gate(host, COVERAGE_MIN="eighty")
    assert rc == 2, out
    assert "COVERAGE_MIN='eighty' is not a number from 0 to 100" in out
    assert "nox -s tests" not in out  # rejected before anything ran


@pytest.mark.runner("ci-gates")
def test_empty_coverage_min_counts_as_unset(host):
    rc, out = gate(host, COVERAGE_MIN="", COV_FAIL_UNDER="85%")
    assert rc == 2, out
    assert "COV_FAIL_UNDER='85%' is not a number from 0 to 100" in out


@pytest.mark.runner("ci-gates")
def test_out_of_range_floor_is_rejected(host):
    rc, out = gate(host, COVERAGE_MIN="100.5")
    assert rc == 2, out
    assert "COVERAGE_MIN='100.5' is out of range: a coverage floor is a number from 0 to 100" in out


@pytest.mark.runner("ci-gates")
def test_no_collected_tests_fails(host):
    rc, out = gate(host, project=EMPTY)
    assert rc == 1, out
    assert "no tests ran" in out
    assert "FAILED: pytest collected no tests (exit 5) from tests" in out


@pytest.mark.runner("ci-gates")
def test_invalid_require_torch_value_is_rejected(host):
    rc, out = gate(host, CODEX_REQUIRE_TORCH="maybe")
    assert rc == 2, out
    assert "CODEX_REQUIRE_TORCH='maybe' is not a yes/no value" in out


@pytest.mark.runner("ci-gates")
def test_a_directory_without_the_gate_is_refused(host):
    rc, out = gate(host, project="/srv")
    assert rc == 2, out
    assert "ERROR: /srv is not a gated project (ci_gates_projects lists: /srv/gate_project, " in out


@pytest.mark.runner("ci-gates")
@pytest.mark.parametrize("bad", ["85%", "-1", "nan"])
def test_bad_floors_exit_2_naming_the_variable(host, bad):
    rc, out = gate(host, COVERAGE_MIN=bad)
    assert rc == 2, out
    assert "COVERAGE_MIN=%r is not a number from 0 to 100" % bad in out


@pytest.mark.runner("ci-gates")
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_an_unusable_torch_in_the_test_venv_skips_the_importorskip_tests(host, shape):
    rc, out = gate(host, project="/srv/gate_%s" % shape, COVERAGE_MIN="70")
    assert rc == 0, out
    assert "5 passed, 4 skipped" in out
    assert "the tests of gate_%s import the packages of /opt/test-venvs/%s: the pytest guard diagnoses" % (
        shape, shape) in out
    # module level and inside a test: importorskip skipped with the diagnostic's reason
    assert out.count("could not import 'torch': codex torch guard: %s" % SHAPES[shape]) == 2, out
    assert "SKIPPED [1] tests/test_tensors.py:7: could not import 'torch'" in out
    assert "SKIPPED [1] tests/test_inside.py:13: could not import 'torch'" in out
    assert "codex torch guard: 4 test(s) or module(s) skipped: %s" % SHAPES[shape] in out
    assert "total coverage 77.5000% (31 of 40 statements and branches) meets the coverage floor 70%" in out


@pytest.mark.runner("ci-gates")
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_require_torch_turns_each_shape_into_failures(host, shape):
    rc, out = run(host, "%s/bin/nox -s tests" % GATE_VENV, cwd="/srv/gate_%s" % shape,
                  CODEX_REQUIRE_TORCH="1", COVERAGE_MIN="70")
    assert rc == 1, out
    assert "4 failed, 5 passed" in out
    assert "FAILED tests/test_tensors.py::torch_required" in out
    assert "FAILED tests/test_inside.py::test_total" in out
    assert "codex torch guard: 4 test(s) failed: torch is required (CODEX_REQUIRE_TORCH=1 or " \
           "ci_gates_torch_required) but %s" % SHAPES[shape] in out


@pytest.mark.runner("ci-gates")
def test_the_real_torch_passes_the_same_tests(host):
    rc, out = gate(host, project=PROJECT)
    assert rc == 0, out
    assert re.search(r"=+ 9 passed in ", out), out
    assert "codex torch guard: torch 2.13.0+cpu is usable" in out


@pytest.mark.runner("ci-gates")
def test_the_seeds_diagnostic_command_in_a_login_shell(host):
    """`python -m codex_ml.utils.torch_checks` as typed, in bash -lc: JSON for a script, one line on a tty."""
    result = tc.login(host, "python -m codex_ml.utils.torch_checks")
    assert result.rc == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "ok"
    result = tc.login(host, "python -m codex_ml.utils.torch_checks --format human")
    assert result.rc == 0
    assert result.stdout.startswith("torch ok: torch 2.13.0+cpu at /opt/codex/")
    assert tc.login(host, "command -v python").stdout.strip() == "/usr/local/bin/python"


# ------------------------------------------------------- ci-gates-stub: torch not required, a stub present
@pytest.mark.runner("ci-gates-stub")
def test_stub_torch_tests_are_skipped_with_the_reason(host):
    rc, out = gate(host, COVERAGE_MIN="70")
    assert rc == 0, out
    # hf_offline_cache's file (here prepare's stand-in, which sets four of the seven) is sourced as it is
    assert "offline exports from /etc/profile.d/hf-offline.sh: HF_HOME=/root/.cache/huggingface HF_HUB_CACHE=unset " \
           "TRANSFORMERS_CACHE=unset HF_DATASETS_CACHE=unset HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 " \
           "HF_DATASETS_OFFLINE=1" in out
    assert "torch diagnostic (exit 3, torch not required: tests that need torch are skipped): torch stub" in out
    assert "5 passed, 4 skipped" in out
    assert "SKIPPED [2]" in out
    assert "torch is stub: from torch.utils.data import Dataset failed" in out
    assert "(set CODEX_REQUIRE_TORCH=1 to fail instead of skipping)" in out
    assert "total coverage 77.5000% (31 of 40 statements and branches) meets the coverage floor 70%" in out


@pytest.mark.runner("ci-gates-stub")
def test_skipped_torch_tests_cost_coverage_at_the_default_floor(host):
    rc, out = gate(host)
    assert rc == 1, out
    assert "is below the coverage floor 85% from the default ci_gates_coverage_default" in out


@pytest.mark.runner("ci-gates-stub")
def test_require_torch_makes_the_gate_fail_on_the_diagnostic(host):
    rc, out = gate(host, CODEX_REQUIRE_TORCH="1", COVERAGE_MIN="70")
    assert rc == 3, out
    assert "torch diagnostic unhealthy (exit 3: 2 missing, 3 stub, 4 broken) and torch is required: torch stub" in out
    assert "nox -s tests in" not in out


@pytest.mark.runner("ci-gates-stub")
def test_require_torch_turns_the_skips_into_failures(host):
    rc, out = nox(host, CODEX_REQUIRE_TORCH="1", COVERAGE_MIN="70")
    assert rc == 1, out
    assert "4 failed, 5 passed" in out
    assert "torch is required (CODEX_REQUIRE_TORCH=1 or ci_gates_torch_required) but torch is stub" in out
    assert "FAILED: tests failed (pytest exit 1)" in out


@pytest.mark.runner("ci-gates-stub")
def test_the_seed_command_runs_offline(host):
    rc, out = nox(host, COVERAGE_MIN="60")
    assert rc == 0, out
    assert "coverage floor 60% from COVERAGE_MIN" in out
    assert "Session tests was successful" in out
    assert not tc.fast(host).file(PROJECT + "/.nox").exists


@pytest.mark.runner("ci-gates-stub")
def test_floor_equal_to_the_total_passes_and_a_hair_above_fails(host):
    rc, out = gate(host, COVERAGE_MIN="77.5")
    assert rc == 0, out
    assert "total coverage 77.5000% (31 of 40 statements and branches) meets the coverage floor 77.5% " \
           "from COVERAGE_MIN" in out
    rc, out = gate(host, COVERAGE_MIN="77.5001")
    assert rc == 1, out
    assert "is below the coverage floor 77.5001% from COVERAGE_MIN; the report above rounds it to 78%, " \
           "the gate compares the exact value" in out


@pytest.mark.runner("ci-gates-stub")
def test_cov_fail_under_is_honoured_when_coverage_min_is_unset(host):
    rc, out = gate(host, COV_FAIL_UNDER="78")
    assert rc == 1, out
    assert "FAILED: total coverage 77.5000% (31 of 40 statements and branches) is below the coverage floor 78% " \
           "from COV_FAIL_UNDER (COVERAGE_MIN is unset)" in out
    rc, out = gate(host, COV_FAIL_UNDER="77")
    assert rc == 0, out
    assert "meets the coverage floor 77% from COV_FAIL_UNDER (COVERAGE_MIN is unset)" in out


@pytest.mark.runner("ci-gates-stub")
def test_coverage_min_wins_when_both_are_set(host):
    rc, out = gate(host, COVERAGE_MIN="70", COV_FAIL_UNDER="99")
    assert rc == 0, out
    assert "meets the coverage floor 70% from COVERAGE_MIN (COV_FAIL_UNDER=99 is ignored: COVERAGE_MIN wins)" in out
    rc, out = gate(host, COVERAGE_MIN="99", COV_FAIL_UNDER="70")
    assert rc == 1, out
    assert "is below the coverage floor 99% from COVERAGE_MIN (COV_FAIL_UNDER=70 is ignored: COVERAGE_MIN wins)" in out


# ---------------------------------------------------------------- ci-gates-stub: a project's own noxfile
@pytest.mark.runner("ci-gates-stub")
def test_the_role_left_the_projects_own_noxfile_alone(host):
    wanted = hashlib.sha256(open(os.path.join(REPO, "tests", "fixtures", "own_noxfile", "noxfile.py"), "rb").read())
    assert tc.fast(host).file(OWN + "/noxfile.py").sha256sum == wanted.hexdigest()
    rc, out = run(host, "%s/bin/nox --list" % GATE_VENV, cwd=OWN)
    assert rc == 0, out
    assert "* lint ->" in out and "- docs ->" in out and "* tests ->" in out


@pytest.mark.runner("ci-gates-stub")
def test_own_noxfile_passes_through_its_own_tests_session(host):
    rc, out = nox(host, project=OWN, COVERAGE_MIN="70")
    assert rc == 0, out
    assert "total coverage 77.5000% (31 of 40 statements and branches) meets the coverage floor 70% " \
           "from COVERAGE_MIN" in out
    assert "Session tests was successful" in out
    rc, out = gate(host, project=OWN, COVERAGE_MIN="70")
    assert rc == 0, out
    assert "codex-gate: PASSED: /srv/own_project (project own-project)" in out


@pytest.mark.runner("ci-gates-stub")
def test_own_noxfile_fails_below_the_floor(host):
    rc, out = nox(host, project=OWN, COVERAGE_MIN="80")
    assert rc == 1, out
    assert "FAILED: total coverage 77.5000% (31 of 40 statements and branches) is below the coverage floor 80% " \
           "from COVERAGE_MIN" in out
    assert "Session tests failed" in out
