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

import torch_host as tc  # noqa: E402

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


def expect(result, rc, present=(), absent=()):
    """(rc, output) of run/gate/nox: the exit code, the texts the output holds and those it must not hold."""
    code, out = result
    assert code == rc, out
    for text in present:
        assert text in out, (text, out)
    for text in absent:
        assert text not in out, (text, out)
    return out


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
    expect(run(host, "%s/bin/nox --list" % GATE_VENV, cwd=PROJECT), 0, ["* tests -> pytest with coverage"])


def test_plain_pytest_of_the_gate_venv_loads_the_guard_by_its_entry_point(host):
    expect(run(host, "%s/bin/python -c \"from importlib.metadata import entry_points; "
                     "print(sorted(e.name for e in entry_points(group='pytest11')))\"" % GATE_VENV),
           0, ["codex_torch_guard"])
    # no -p flag, no conftest: the header line comes from the guard
    # (python -m pytest puts the project directory on sys.path, as the gate does)
    expect(run(host, "%s/bin/python -m pytest --co -p no:cacheprovider tests/test_stats.py" % GATE_VENV, cwd=PROJECT),
           0, ["codex torch guard: when torch is not usable, import torch raises ModuleNotFoundError"])


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
    out = expect(run(host, "cat %s/.codex-gate-result.json" % PROJECT), 0)
    assert json.loads(out)["result"] in ("passed", "failed")


# ------------------------------------------------------------------------ ci-gates: torch required and ok
@pytest.mark.runner("ci-gates")
def test_passes_at_the_default_floor(host):
    expect(gate(host), 0, [
        # no hf_offline_cache on this runner: the gate exports the seven variables itself, with its values
        "offline exports from ci_gates (no /etc/profile.d/hf-offline.sh): HF_HOME=/srv/huggingface "
        "HF_HUB_CACHE=/srv/huggingface/hub TRANSFORMERS_CACHE=/srv/huggingface/hub "
        "HF_DATASETS_CACHE=/srv/huggingface/datasets HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "
        "HF_DATASETS_OFFLINE=1",
        "torch diagnostic: torch ok: torch 2.13.0+cpu",
        "coverage floor 85% from the default ci_gates_coverage_default (COVERAGE_MIN is unset; "
        "COV_FAIL_UNDER is unset)",
        "9 passed",
        "codex torch guard: torch 2.13.0+cpu is usable",
        "total coverage 87.5000% (35 of 40 statements and branches) meets the coverage floor 85%",
        "codex-gate: PASSED: /srv/gate_project (project gate_project)"])
    # offline: no venv was created
    assert not tc.fast(host).file(PROJECT + "/.nox").exists


def case(name, runner, command, env, rc, present=(), absent=()):
    """One row of GATE_CASES: NAME, the host it runs on, gate or nox with ENV (project= picks the project)."""
    return pytest.param(command, env, rc, present, absent, id=name, marks=pytest.mark.runner(runner))


STUB = "ci-gates-stub"
BELOW_77_5 = "is below the coverage floor 77.5001% from COVERAGE_MIN; the report above rounds it to 78%, " \
             "the gate compares the exact value"
# One run of the gate (codex-gate PROJECT) or of `nox -s tests` in the project per row: the exit code, the texts
# the output holds, the texts it must not hold.
GATE_CASES = [
    # ci-gates: the real torch, 87.5 % coverage
    case("fails_when_coverage_min_is_above_the_total", "ci-gates", gate, {"COVERAGE_MIN": "88"}, 1, [
        "9 passed",
        "FAILED: total coverage 87.5000% (35 of 40 statements and branches) is below the coverage floor 88% "
        "from COVERAGE_MIN; the report above rounds it to 88%, the gate compares the exact value"]),
    case("non_numeric_floor_is_rejected_with_the_variable_name", "ci-gates", gate, {"COVERAGE_MIN": "eighty"}, 2,
         ["COVERAGE_MIN='eighty' is not a number from 0 to 100"],
         ["nox -s tests"]),  # rejected before anything ran
    case("empty_coverage_min_counts_as_unset", "ci-gates", gate, {"COVERAGE_MIN": "", "COV_FAIL_UNDER": "85%"}, 2,
         ["COV_FAIL_UNDER='85%' is not a number from 0 to 100"]),
    case("out_of_range_floor_is_rejected", "ci-gates", gate, {"COVERAGE_MIN": "100.5"}, 2,
         ["COVERAGE_MIN='100.5' is out of range: a coverage floor is a number from 0 to 100"]),
    case("no_collected_tests_fails", "ci-gates", gate, {"project": EMPTY}, 1,
         ["no tests ran", "FAILED: pytest collected no tests (exit 5) from tests"]),
    case("invalid_require_torch_value_is_rejected", "ci-gates", gate, {"CODEX_REQUIRE_TORCH": "maybe"}, 2,
         ["CODEX_REQUIRE_TORCH='maybe' is not a yes/no value"]),
    case("a_directory_without_the_gate_is_refused", "ci-gates", gate, {"project": "/srv"}, 2,
         ["ERROR: /srv is not a gated project (ci_gates_projects lists: /srv/gate_project, "]),
] + [
    case("bad_floors_exit_2_naming_the_variable-%s" % bad, "ci-gates", gate, {"COVERAGE_MIN": bad}, 2,
         ["COVERAGE_MIN=%r is not a number from 0 to 100" % bad]) for bad in ["85%", "-1", "nan"]
] + [
    # ci-gates-stub: a stub torch, 77.5 % coverage (the torch tests skipped)
    case("skipped_torch_tests_cost_coverage_at_the_default_floor", STUB, gate, {}, 1,
         ["is below the coverage floor 85% from the default ci_gates_coverage_default"]),
    case("require_torch_makes_the_gate_fail_on_the_diagnostic", STUB, gate,
         {"CODEX_REQUIRE_TORCH": "1", "COVERAGE_MIN": "70"}, 3,
         ["torch diagnostic unhealthy (exit 3: 2 missing, 3 stub, 4 broken) and torch is required: torch stub"],
         ["nox -s tests in"]),
    case("require_torch_turns_the_skips_into_failures", STUB, nox, {"CODEX_REQUIRE_TORCH": "1", "COVERAGE_MIN": "70"},
         1, ["4 failed, 5 passed",
             "torch is required (CODEX_REQUIRE_TORCH=1 or ci_gates_torch_required) but torch is stub",
             "FAILED: tests failed (pytest exit 1)"]),
    case("floor_equal_to_the_total_passes", STUB, gate, {"COVERAGE_MIN": "77.5"}, 0,
         ["total coverage 77.5000% (31 of 40 statements and branches) meets the coverage floor 77.5% "
          "from COVERAGE_MIN"]),
    case("a_hair_above_the_total_fails", STUB, gate, {"COVERAGE_MIN": "77.5001"}, 1, [BELOW_77_5]),
    case("cov_fail_under_is_honoured_when_coverage_min_is_unset-fails", STUB, gate, {"COV_FAIL_UNDER": "78"}, 1,
         ["FAILED: total coverage 77.5000% (31 of 40 statements and branches) is below the coverage floor 78% "
          "from COV_FAIL_UNDER (COVERAGE_MIN is unset)"]),
    case("cov_fail_under_is_honoured_when_coverage_min_is_unset-passes", STUB, gate, {"COV_FAIL_UNDER": "77"}, 0,
         ["meets the coverage floor 77% from COV_FAIL_UNDER (COVERAGE_MIN is unset)"]),
    case("coverage_min_wins_when_both_are_set-passes", STUB, gate, {"COVERAGE_MIN": "70", "COV_FAIL_UNDER": "99"}, 0,
         ["meets the coverage floor 70% from COVERAGE_MIN (COV_FAIL_UNDER=99 is ignored: COVERAGE_MIN wins)"]),
    case("coverage_min_wins_when_both_are_set-fails", STUB, gate, {"COVERAGE_MIN": "99", "COV_FAIL_UNDER": "70"}, 1,
         ["is below the coverage floor 99% from COVERAGE_MIN (COV_FAIL_UNDER=70 is ignored: COVERAGE_MIN wins)"]),
    # ci-gates-stub: a project's own noxfile, its own tests session
    case("own_noxfile_passes_through_its_own_tests_session-nox", STUB, nox, {"project": OWN, "COVERAGE_MIN": "70"},
         0, ["total coverage 77.5000% (31 of 40 statements and branches) meets the coverage floor 70% "
             "from COVERAGE_MIN",
             "Session tests was successful"]),
    case("own_noxfile_passes_through_its_own_tests_session-gate", STUB, gate, {"project": OWN, "COVERAGE_MIN": "70"},
         0, ["codex-gate: PASSED: /srv/own_project (project own-project)"]),
    case("own_noxfile_fails_below_the_floor", STUB, nox, {"project": OWN, "COVERAGE_MIN": "80"}, 1, [
        "FAILED: total coverage 77.5000% (31 of 40 statements and branches) is below the coverage floor 80% "
        "from COVERAGE_MIN",
        "Session tests failed"]),
]


@pytest.mark.parametrize("command,env,rc,present,absent", GATE_CASES)
def test_gate_case(host, command, env, rc, present, absent):
    expect(command(host, **env), rc, present, absent)


@pytest.mark.runner("ci-gates")
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_an_unusable_torch_in_the_test_venv_skips_the_importorskip_tests(host, shape):
    out = expect(gate(host, project="/srv/gate_%s" % shape, COVERAGE_MIN="70"), 0, [
        "5 passed, 4 skipped",
        "the tests of gate_%s import the packages of /opt/test-venvs/%s: the pytest guard diagnoses" % (shape, shape),
        "SKIPPED [1] tests/test_tensors.py:7: could not import 'torch'",
        "SKIPPED [1] tests/test_inside.py:13: could not import 'torch'",
        "codex torch guard: 4 test(s) or module(s) skipped: %s" % SHAPES[shape],
        "total coverage 77.5000% (31 of 40 statements and branches) meets the coverage floor 70%"])
    # module level and inside a test: importorskip skipped with the diagnostic's reason
    assert out.count("could not import 'torch': codex torch guard: %s" % SHAPES[shape]) == 2, out


@pytest.mark.runner("ci-gates")
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_require_torch_turns_each_shape_into_failures(host, shape):
    expect(nox(host, project="/srv/gate_%s" % shape, CODEX_REQUIRE_TORCH="1", COVERAGE_MIN="70"), 1, [
        "4 failed, 5 passed",
        "FAILED tests/test_tensors.py::torch_required",
        "FAILED tests/test_inside.py::test_total",
        "codex torch guard: 4 test(s) failed: torch is required (CODEX_REQUIRE_TORCH=1 or "
        "ci_gates_torch_required) but %s" % SHAPES[shape]])


@pytest.mark.runner("ci-gates")
def test_the_real_torch_passes_the_same_tests(host):
    out = expect(gate(host, project=PROJECT), 0, ["codex torch guard: torch 2.13.0+cpu is usable"])
    assert re.search(r"=+ 9 passed in ", out), out


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
    expect(gate(host, COVERAGE_MIN="70"), 0, [
        # hf_offline_cache's file (here prepare's stand-in, which sets four of the seven) is sourced as it is
        "offline exports from /etc/profile.d/hf-offline.sh: HF_HOME=/root/.cache/huggingface HF_HUB_CACHE=unset "
        "TRANSFORMERS_CACHE=unset HF_DATASETS_CACHE=unset HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "
        "HF_DATASETS_OFFLINE=1",
        "torch diagnostic (exit 3, torch not required: tests that need torch are skipped): torch stub",
        "5 passed, 4 skipped",
        "SKIPPED [2]",
        "torch is stub: from torch.utils.data import Dataset failed",
        "(set CODEX_REQUIRE_TORCH=1 to fail instead of skipping)",
        "total coverage 77.5000% (31 of 40 statements and branches) meets the coverage floor 70%"])


@pytest.mark.runner("ci-gates-stub")
def test_the_seed_command_runs_offline(host):
    expect(nox(host, COVERAGE_MIN="60"), 0, ["coverage floor 60% from COVERAGE_MIN", "Session tests was successful"])
    assert not tc.fast(host).file(PROJECT + "/.nox").exists


@pytest.mark.runner("ci-gates-stub")
def test_the_role_left_the_projects_own_noxfile_alone(host):
    wanted = hashlib.sha256(open(os.path.join(REPO, "tests", "fixtures", "own_noxfile", "noxfile.py"), "rb").read())
    assert tc.fast(host).file(OWN + "/noxfile.py").sha256sum == wanted.hexdigest()
    expect(run(host, "%s/bin/nox --list" % GATE_VENV, cwd=OWN), 0, ["* lint ->", "- docs ->", "* tests ->"])
