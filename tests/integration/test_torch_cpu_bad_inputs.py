# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every bad input of torch_cpu / torch_diagnostic, on a real container with real mirrors.

Each case runs ansible-playbook against the session's container and asserts three things: the play
failed, the output names what to fix (the variable, the URL, the package, the Python tag), and the host
snapshot (/opt/codex, /etc/pip.conf, /etc/ansible/facts.d, the host command, /var/cache/codex) is the same
afterwards. Cases that start from a healthy venv also check it still works.

The tests run in file order, to converge as rarely as possible: first the cases on a pristine host, then the
ones over the healthy venv the module fixture converges once (index mode, lock torch_cpu.txt), last the ones
that must change the host (killed install, stub repair). Numbers in the section titles follow issue 2's list.
Needs the test mirrors: `make integration`, or molecule/_shared/with_mirrors.sh .venv/bin/pytest tests/integration.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import zipfile

import pytest

import integration_helpers as h

SECRET = "S3cretT0ken-xyz"


def _failed_with(result, *needles):
    assert result.rc != 0, "the play should have failed:\n%r" % (result,)
    missing = [n for n in needles if n not in result.out]
    assert not missing, "missing %r in the output:\n%r" % (missing, result)
    # What the operator saw (shown by -rA): the message of each failure.
    print("\n".join(h.failure_messages(result.out)))


def _succeeded(result):
    assert result.rc == 0, "the play should have passed: %s\n%r" % (h.failure_messages(result.out), result)


def _still_healthy(host, release):
    assert host.venv_target() == release, "the live venv moved"
    check = host.torch_healthy()
    assert check.rc == 0, check
    assert host.release_dirs() == [os.path.basename(release)], "a stale release is left behind"


# --------------------------------------------------------------------------- 5. invalid variable values
INVALID = [
    pytest.param({"torch_cpu_installer": "conda"},
                 ["value of torch_cpu_installer must be one of: uv, pip, got: conda"], id="installer_conda"),
    pytest.param({"torch_cpu_mirror_mode": "ftp"},
                 ["value of torch_cpu_mirror_mode must be one of: index, find_links, wheelhouse, got: ftp"],
                 id="mirror_mode_ftp"),
    pytest.param({"torch_cpu_venv": "relative/path"},
                 ["torch_cpu_venv (relative/path) and torch_cpu_python (/usr/bin/python3) must be absolute paths"],
                 id="venv_relative"),
    pytest.param({"torch_cpu_packages": ["torch>=2"]},
                 ["torch_cpu_packages / torch_cpu_extra_packages must hold exact pins", "not pins: torch>=2"],
                 id="packages_not_pinned"),
    pytest.param({"torch_cpu_lock_file": "/nonexistent.txt"},
                 ["torch_cpu_lock_file=/nonexistent.txt is not a file on the controller"], id="lock_missing"),
    pytest.param({"torch_cpu_mirror_url": "not-a-url"},
                 ["torch_cpu_mirror_mode is index: torch_cpu_mirror_url must be an http:// or https:// URL"],
                 id="mirror_url_not_a_url"),
]


@pytest.mark.parametrize("bad, needles", INVALID)
def test_invalid_variable_value_fails_early_naming_the_variable(pristine, bad, needles):
    """A wrong value of a role variable (argument_specs or the preflight asserts) stops the play before any task
    changes the host, and the message names the variable and what it must be."""
    before = pristine.snapshot()
    result = h.run_play(pristine, "torch_cpu.yml", h.good_vars(**bad))
    _failed_with(result, *needles)
    h.assert_unchanged(before, pristine.snapshot())


# --------------------------------------------------------------------------- 6. torch_diagnostic python
def test_diagnostic_module_with_nonexistent_python_names_the_path(pristine):
    """torch_diagnostic with python=/nope/bin/python fails (not a status of 'missing') and names the path."""
    before = pristine.snapshot()
    result = h.run_play(pristine, "torch_diagnostic.yml", {"diagnostic_python": "/nope/bin/python"})
    _failed_with(result, "Cannot run the torch diagnostic: Python interpreter '/nope/bin/python' does not exist")
    h.assert_unchanged(before, pristine.snapshot())


# --------------------------------------------------------------------------- 4b. bad wheel at install time
def _tamper(path):
    """Same name, different bytes: the original zip plus one more member."""
    with zipfile.ZipFile(str(path), "a") as zf:
        zf.writestr("codex_tampered.txt", "not what was staged\n")


def _truncate(path, source):
    """Same name, only the first half of the real wheel, at most 20 MB (an interrupted copy)."""
    with open(str(source), "rb") as src:
        path.write_bytes(src.read(min(20 * 1024 * 1024, os.path.getsize(str(source)) // 2)))


def _replace_tampered(path, source):
    path.write_bytes(source.read_bytes())
    _tamper(path)


# The package, not its file: the committed lock decides the file and the version ({pin} is name==version).
INSTALL_TIME = [
    # On a new host first: nothing of the failed run may stay (no /opt/codex at all).
    pytest.param("pristine", "filelock", _replace_tampered,
                 ["Hash mismatch for `{pin}`"], id="tampered_filelock_new_host"),
    # Over a healthy venv the new release takes torch and the rest of its closure from the live release: the
    # wheel it must fetch is the one the lock adds.
    pytest.param("healthy", "six", _truncate,
                 ["Failed to download `{pin}`", "Failed to extract archive: six-"],
                 id="truncated_six_over_healthy_venv"),
]


@pytest.mark.parametrize("start, package, spoil, needles", INSTALL_TIME)
def test_bad_wheel_fails_install_and_leaves_host_as_it_was(request, tmp_path, start, package, spoil, needles):
    """A flat directory publishes no hashes for the preflight to compare, so a bad wheel is caught by the installer
    while the new release is built: a tampered one by uv's --require-hashes against the lock, a truncated one as an
    unreadable zip. On a new host nothing of the run stays (no /opt/codex); over a healthy venv (the lock with six
    forces a new release) the failed release is removed and the live venv is untouched and still healthy."""
    host = request.getfixturevalue(start)
    release = host.venv_target()
    name, version = h.locked_wheel("torch_cpu_extra.txt", package)
    needles = [n.format(pin="%s==%s" % (package, version)) for n in needles]
    mirror = h.link_wheels(tmp_path / "wheels", exclude=[name])
    spoil(mirror / name, h.MIRROR_DIR / "wheels" / name)
    before = host.snapshot()
    with h.find_links_server(mirror) as url:
        result = h.run_play(host, "torch_cpu.yml", {
            "torch_cpu_mirror_mode": "find_links", "torch_cpu_mirror_url": url,
            "torch_cpu_lock_file": str(h.LOCKS / "torch_cpu_extra.txt")})
    _failed_with(result, "building /opt/codex/venv from mirror %s: uv pip sync failed (exit" % url, *needles)
    h.assert_unchanged(before, host.snapshot())
    if start == "healthy":
        _still_healthy(host, release)
    else:
        assert before == {path: ("absent",) for path in h.SNAPSHOT_PATHS}


def test_a_new_release_over_a_healthy_venv_takes_torch_from_the_live_release(healthy, tmp_path):
    """The mirror's torch wheel is truncated, yet a lock that adds six over the healthy venv converges: the new
    release copies torch and the rest of the closure from the live release (checked against its record) and
    fetches six alone. The previous release stays for a rollback, byte for byte what it was."""
    release = healthy.venv_target()
    name, _version = h.locked_wheel("torch_cpu_extra.txt", "torch")
    mirror = h.link_wheels(tmp_path / "wheels", exclude=[name])
    _truncate(mirror / name, h.MIRROR_DIR / "wheels" / name)
    kept = healthy.exec("sh", "-c", "cd %s && find . -type f -exec sha256sum {} + | sort | sha256sum" % release).out
    with h.find_links_server(mirror) as url:
        result = h.run_play(healthy, "torch_cpu.yml", {
            "torch_cpu_mirror_mode": "find_links", "torch_cpu_mirror_url": url,
            "torch_cpu_lock_file": str(h.LOCKS / "torch_cpu_extra.txt")})
    _succeeded(result)
    healthy.state = "changed"
    new = healthy.venv_target()
    assert new != release
    assert healthy.torch_healthy().rc == 0
    assert healthy.exec(h.VENV + "/bin/python", "-c", "import six").rc == 0
    assert healthy.release_dirs() == sorted([os.path.basename(new), os.path.basename(release)])
    assert healthy.exec("sh", "-c", "cd %s && find . -type f -exec sha256sum {} + | sort | sha256sum"
                        % release).out == kept
    # no file of the new release is a hard link (of the old one, or of uv's cache)
    assert healthy.exec("sh", "-c", "find %s -type f -links +1" % new).out.split() == []


# --------------------------------------------------------------------------- 1. mirror unreachable
@pytest.fixture()
def stopped_mirror(tmp_path):
    """The URL of an index of the staged wheels that ran on its own port and is stopped again (issue 13: a lab
    whose mirror is down for maintenance)."""
    with h.index_server(h.link_wheels(tmp_path / "wheels")) as url:
        pass
    return url


def test_rerun_with_the_mirror_stopped_is_ok_and_changes_nothing(healthy, stopped_mirror):
    """The live release's marker matches the lock and torch is healthy: the re-run sends no request to the wheel
    index (it is stopped, any request would fail the preflight), reports ok with changed=0 and leaves the host as
    it was."""
    release = healthy.venv_target()
    before = healthy.snapshot()
    result = h.run_play(healthy, "torch_cpu.yml", h.good_vars(torch_cpu_mirror_url=stopped_mirror))
    _succeeded(result)
    assert "changed=0" in result.out and "failed=0" in result.out, result
    h.assert_unchanged(before, healthy.snapshot())
    _still_healthy(healthy, release)


def test_pin_change_with_the_mirror_stopped_fails_in_preflight_naming_the_mirror(healthy, stopped_mirror):
    """A pin change (the lock with six) needs the mirror: with it stopped the preflight fails naming
    torch_cpu_mirror_url and the URL; the healthy venv stays as it was."""
    release = healthy.venv_target()
    before = healthy.snapshot()
    result = h.run_play(healthy, "torch_cpu.yml",
                        h.good_vars(lock="torch_cpu_extra.txt", torch_cpu_mirror_url=stopped_mirror))
    _failed_with(result, "mirror %s is unreachable: [Errno 111] Connection refused" % stopped_mirror,
                 "Fix: check torch_cpu_mirror_url / torch_cpu_mirror_mode")
    assert "Check the mirror holds a wheel for this host for every pin" in result.out, "not in the preflight"
    h.assert_unchanged(before, healthy.snapshot())
    _still_healthy(healthy, release)


# --------------------------------------------------------------------------- 2. package missing
def test_package_missing_from_mirror_names_package_and_url(healthy):
    """A pin the index does not hold fails the preflight naming the package and the mirror URL."""
    release = healthy.venv_target()
    before = healthy.snapshot()
    url = os.environ["CODEX_INDEX_URL"]
    result = h.run_play(healthy, "torch_cpu.yml",
                        h.good_vars(lock=None, torch_cpu_extra_packages=["doesnotexist==1.0"]))
    _failed_with(result, "not in mirror %s: doesnotexist==1.0 (mirror has: no versions)" % url,
                 "or fix the pin in torch_cpu_packages")
    h.assert_unchanged(before, healthy.snapshot())
    _still_healthy(healthy, release)


# --------------------------------------------------------------------------- 3. no wheel for this Python
def _fake_wheel(path):
    with zipfile.ZipFile(str(path), "w") as zf:
        zf.writestr("codexfit/__init__.py", "")
        zf.writestr("codexfit-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: codexfit\nVersion: 1.0\n")
        zf.writestr("codexfit-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
                    "Tag: cp399-cp399-manylinux_2_17_x86_64\n")
        zf.writestr("codexfit-1.0.dist-info/RECORD", "")


def test_no_wheel_for_the_host_python_names_python_tag_and_package(healthy, tmp_path):
    """The mirror holds the package only for another Python (cp399): the preflight fails naming the host's
    Python tag cp311, the package and the URL, before anything is downloaded."""
    release = healthy.venv_target()
    mirror = h.link_wheels(tmp_path / "wheels")
    wheel = "codexfit-1.0-cp399-cp399-manylinux_2_17_x86_64.whl"
    _fake_wheel(mirror / wheel)
    before = healthy.snapshot()
    with h.find_links_server(mirror) as url:
        result = h.run_play(healthy, "torch_cpu.yml", {
            "torch_cpu_mirror_mode": "find_links", "torch_cpu_mirror_url": url,
            "torch_cpu_extra_packages": ["codexfit==1.0"]})
    _failed_with(result, "no wheel in mirror %s fits this host (Python tag cp311" % url,
                 "codexfit==1.0 (mirror has only %s)" % wheel)
    h.assert_unchanged(before, healthy.snapshot())
    _still_healthy(healthy, release)


# --------------------------------------------------------------------------- 4. hash mismatch
def test_hash_mismatch_in_index_fails_preflight_naming_the_file(healthy, tmp_path):
    """A wheel in the index replaced by another file of the same name: the index's sha256 fragment differs from
    the REAL lock, the preflight names the file and the lock, nothing is installed. (A pin change, the lock with
    six: over a venv that already matches its lock the re-run does not ask the mirror at all.)"""
    release = healthy.venv_target()
    name = h.locked_wheel("torch_cpu_extra.txt", "filelock")[0]
    mirror = h.link_wheels(tmp_path / "wheels", exclude=[name])
    (mirror / name).write_bytes((h.MIRROR_DIR / "wheels" / name).read_bytes())
    _tamper(mirror / name)
    before = healthy.snapshot()
    with h.index_server(mirror) as url:
        result = h.run_play(healthy, "torch_cpu.yml", h.good_vars(lock="torch_cpu_extra.txt", torch_cpu_mirror_url=url))
    _failed_with(result, "hash mismatch in mirror %s: %s (mirror sha256" % (url, name),
                 "lock expects %s" % h.lock_hash("torch_cpu_extra.txt", "filelock"),
                 "Fix: the mirror's file differs from torch_cpu_lock_file")
    h.assert_unchanged(before, healthy.snapshot())
    _still_healthy(healthy, release)


# --------------------------------------------------------------------------- 8. credentials in the URL
def test_credentials_in_mirror_url_never_show_up(healthy):
    """A mirror URL with a token: the converge (-vvv, /etc/pip.conf on) succeeds without printing the token and
    writes /etc/pip.conf 0644 without them and root's own pip config 0600 with them; a failing run with the same
    credentials prints the URL redacted (user:***@)."""
    release = healthy.venv_target()
    index = os.environ["CODEX_INDEX_URL"].split("://", 1)[1]
    url = "http://codexuser:%s@%s" % (SECRET, index)
    try:
        result = h.run_play(healthy, "torch_cpu.yml",
                            h.good_vars(torch_cpu_mirror_url=url, torch_cpu_pip_conf=True), verbosity=3)
        _succeeded(result)
        assert SECRET not in result.out, "the token leaked into the output"
        conf = healthy.exec("stat", "-c", "%a %U:%G", "/etc/pip.conf", "/root/.config/pip/pip.conf")
        assert conf.out.split() == ["644", "root:root", "600", "root:root"], conf
        assert SECRET not in healthy.exec("cat", "/etc/pip.conf").out, "/etc/pip.conf must not carry the credentials"
        assert SECRET in healthy.exec("cat", "/root/.config/pip/pip.conf").out, "root's pip config carries them"
        _still_healthy(healthy, release)

        before = healthy.snapshot()
        port = h.free_port()
        bad = "http://codexuser:%s@127.0.0.1:%d/simple/" % (SECRET, port)
        # a pin change (the lock with six): the preflight must ask the mirror
        result = h.run_play(healthy, "torch_cpu.yml",
                            h.good_vars(lock="torch_cpu_extra.txt", torch_cpu_mirror_url=bad, torch_cpu_pip_conf=True),
                            verbosity=3)
        _failed_with(result, "mirror http://codexuser:***@127.0.0.1:%d/simple/ is unreachable" % port,
                     "Fix: check torch_cpu_mirror_url")
        assert SECRET not in result.out, "the token leaked into the output"
        h.assert_unchanged(before, healthy.snapshot())
        _still_healthy(healthy, release)
    finally:
        healthy.exec("rm", "-f", "/etc/pip.conf", "/root/.config/pip/pip.conf")


# --------------------------------------------------------------------------- 7. install killed midway
def test_install_killed_midway_keeps_old_venv_and_next_converge_heals(healthy):
    """SIGKILL of the build (the installer if it runs by then, else the module copying the live release's files into
    the new one), the module and ansible-playbook while a new release is being built: the live
    venv still points at the old release and works (host command exit 0, no six); the next converge removes the
    unfinished release and installs the new lock."""
    release = healthy.venv_target()
    extra = h.good_vars(lock="torch_cpu_extra.txt")
    with h.background_play(healthy, "torch_cpu.yml", extra) as play:
        killer = healthy.python(h.KILL_INSTALL_CODE, h.RELEASES, h.VENV, "1.0", "300", timeout=330)
        assert killer.rc == 0, killer
        h.kill_group(play)
    healthy.state = "killed"
    killed = json.loads(killer.out.strip().splitlines()[-1])
    print("killed mid-install: %s" % json.dumps(killed, indent=1))
    assert killed["files"] > 0, killed
    assert any("AnsiballZ_offline_venv" in c for c in killed["killed"]), killed

    assert healthy.venv_target() == release
    assert killed["release"] in healthy.release_dirs(), "the unfinished release should still be there"
    left = healthy.exec("sh", "-c", "ls -d /tmp/codex-venv-* 2>/dev/null").out.split()
    assert left, "the killed build should have left its work directory (the case the next build cleans up)"
    check = healthy.exec(h.COMMAND)
    assert check.rc == 0, check
    assert json.loads(check.out)["status"] == "ok"
    assert healthy.exec(h.VENV + "/bin/python", "-c", "import six").rc != 0

    result = h.run_play(healthy, "torch_cpu.yml", extra)
    _succeeded(result)
    new = healthy.venv_target()
    assert new != release
    # the unfinished release is gone; the previous one is kept (torch_cpu_keep_releases: 1)
    assert healthy.release_dirs() == sorted([os.path.basename(new), os.path.basename(release)])
    assert healthy.exec(h.VENV + "/bin/python", "-c", "import six").rc == 0
    check = healthy.exec(h.COMMAND)
    assert check.rc == 0, check
    # the killed build's work directory (0700, with the lock copy and any netrc) is gone too
    assert healthy.exec("sh", "-c", "ls -d /tmp/codex-venv-* 2>/dev/null").out.split() == []


# --------------------------------------------------------------------------- 9. repair that cannot succeed
def test_repair_from_a_mirror_with_only_the_stub_fails_and_keeps_the_stub_venv(pristine):
    """The host has a stub torch and the only mirror offers the same stub: the role rebuilds, the new venv fails
    the diagnostic (no Dataset), the role fails with the problems and the stub venv is left as it was."""
    stub = os.environ["CODEX_STUB_INDEX_URL"]
    made = pristine.exec("sh", "-c", "/usr/bin/python3 -m venv /opt/codex/venv && /opt/codex/venv/bin/pip install -q "
                         "--isolated --no-cache-dir --disable-pip-version-check --index-url %s torch==2.13.0+cpu"
                         % stub)
    pristine.state = "stub"
    assert made.rc == 0, made
    before = pristine.snapshot()
    result = h.run_play(pristine, "torch_cpu.yml", {
        "torch_cpu_mirror_mode": "index", "torch_cpu_mirror_url": stub, "torch_cpu_installer": "pip"})
    _failed_with(result, "building /opt/codex/venv from mirror %s: the new venv failed its health check (exit 3)" % stub,
                 '"status": "stub"', "from torch.utils.data import Dataset failed")
    h.assert_unchanged(before, pristine.snapshot())
    assert pristine.release_dirs() == []
