# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""managed_files on a real temporary tree: what it writes, what a second run does, check and diff mode, and
the inputs it refuses before touching anything."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.codex.offline_ml.plugins.modules import managed_files


def mode_of(path):
    return "%04o" % stat.S_IMODE(os.stat(str(path)).st_mode)


def tree(root):
    """Every path under ROOT with its mode and content (files), to compare before and after."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            content = open(path, "rb").read() if os.path.isfile(path) else None
            out[os.path.relpath(path, str(root))] = (mode_of(path), content)
    return out


def spec(root):
    return dict(
        directories=[dict(path=str(root / "lib"), mode="0755", owner="root", group="root"),
                     dict(path=str(root / "lib" / "pkg"), mode="0750")],
        files=[dict(path=str(root / "lib" / "pkg" / "__init__.py"), content="", mode="0644", owner="root"),
               dict(path=str(root / "lib" / "run.sh"), content="#!/bin/sh\necho hi\n", mode="0755")],
    )


def test_creates_directories_then_files_with_their_modes(run_module, tmp_path):
    failed, result = run_module(managed_files, **spec(tmp_path))
    assert not failed, result
    assert result["changed"] is True
    assert result["changed_paths"] == [str(tmp_path / "lib"), str(tmp_path / "lib" / "pkg"),
                                       str(tmp_path / "lib" / "pkg" / "__init__.py"), str(tmp_path / "lib" / "run.sh")]
    assert mode_of(tmp_path / "lib") == "0755"
    assert mode_of(tmp_path / "lib" / "pkg") == "0750"
    assert (tmp_path / "lib" / "run.sh").read_text() == "#!/bin/sh\necho hi\n"
    assert mode_of(tmp_path / "lib" / "run.sh") == "0755"
    assert (tmp_path / "lib" / "pkg" / "__init__.py").read_bytes() == b""


def test_second_run_changes_nothing(run_module, tmp_path):
    run_module(managed_files, **spec(tmp_path))
    before = tree(tmp_path)
    failed, result = run_module(managed_files, **spec(tmp_path))
    assert not failed
    assert result["changed"] is False
    assert result["changed_paths"] == []
    assert tree(tmp_path) == before


def test_new_content_is_written_whole_and_nothing_is_left_beside_it(run_module, tmp_path):
    run_module(managed_files, **spec(tmp_path))
    args = spec(tmp_path)
    args["files"][1]["content"] = "#!/bin/sh\necho bye\n"
    failed, result = run_module(managed_files, _ansible_diff=True, **args)
    assert not failed
    assert result["changed_paths"] == [str(tmp_path / "lib" / "run.sh")]
    assert (tmp_path / "lib" / "run.sh").read_text() == "#!/bin/sh\necho bye\n"
    assert sorted(os.listdir(str(tmp_path / "lib"))) == ["pkg", "run.sh"]
    content_diff = [d for d in result["diff"] if "before_header" in d]
    assert content_diff == [{"before_header": str(tmp_path / "lib" / "run.sh"),
                             "after_header": str(tmp_path / "lib" / "run.sh"),
                             "before": "#!/bin/sh\necho hi\n", "after": "#!/bin/sh\necho bye\n"}]


def test_a_mode_that_drifted_is_put_back(run_module, tmp_path):
    run_module(managed_files, **spec(tmp_path))
    os.chmod(str(tmp_path / "lib" / "run.sh"), 0o777)
    os.chmod(str(tmp_path / "lib" / "pkg"), 0o700)
    failed, result = run_module(managed_files, _ansible_diff=True, **spec(tmp_path))
    assert not failed
    assert result["changed_paths"] == [str(tmp_path / "lib" / "pkg"), str(tmp_path / "lib" / "run.sh")]
    assert mode_of(tmp_path / "lib" / "run.sh") == "0755"
    assert mode_of(tmp_path / "lib" / "pkg") == "0750"
    assert {"path": str(tmp_path / "lib" / "run.sh"), "mode": "0777"} in [d["before"] for d in result["diff"]]


def test_check_mode_reports_and_writes_nothing(run_module, tmp_path):
    failed, result = run_module(managed_files, _ansible_check_mode=True, _ansible_diff=True, **spec(tmp_path))
    assert not failed, result
    assert result["changed"] is True
    assert len(result["changed_paths"]) == 4
    assert tree(tmp_path) == {}
    run_module(managed_files, **spec(tmp_path))
    before = tree(tmp_path)
    args = spec(tmp_path)
    args["files"][0]["content"] = "x = 1\n"
    args["files"][1]["mode"] = "0700"
    failed, result = run_module(managed_files, _ansible_check_mode=True, _ansible_diff=True, **args)
    assert not failed
    assert result["changed_paths"] == [str(tmp_path / "lib" / "pkg" / "__init__.py"), str(tmp_path / "lib" / "run.sh")]
    assert tree(tmp_path) == before


def test_check_mode_on_a_converged_tree_reports_nothing(run_module, tmp_path):
    run_module(managed_files, **spec(tmp_path))
    failed, result = run_module(managed_files, _ansible_check_mode=True, **spec(tmp_path))
    assert not failed
    assert result["changed"] is False


@pytest.mark.parametrize("mutate, message", [
    (lambda a, r: a["files"][0].update(path="lib/x.py"), "files[0] (lib/x.py): the path must be absolute"),
    (lambda a, r: a["directories"][0].update(mode="rwx"), "mode 'rwx' is not an octal mode"),
    (lambda a, r: a["files"][1].update(mode="0999"), "mode '0999' is not an octal mode"),
    (lambda a, r: a["files"].append(dict(a["files"][1])), "files[2] (%s): the path is listed twice"),
    (lambda a, r: a["directories"].pop(1), "cannot write %s/lib/pkg/__init__.py: its directory %s/lib/pkg does not exist"),
])
def test_bad_input_fails_naming_it_and_changes_nothing(run_module, tmp_path, mutate, message):
    args = spec(tmp_path)
    mutate(args, tmp_path)
    failed, result = run_module(managed_files, **args)
    assert failed
    expected = message.replace("%s", str(tmp_path)) if message.count("%s") == 2 else (
        message % args["files"][1]["path"] if "%s" in message else message)
    assert expected in result["msg"]
    assert tree(tmp_path) == {}


def test_a_directory_listed_twice_alike_counts_once(run_module, tmp_path):
    args = spec(tmp_path)
    args["directories"].append(dict(args["directories"][0]))
    failed, result = run_module(managed_files, **args)
    assert not failed, result
    assert result["changed_paths"].count(str(tmp_path / "lib")) == 1
    args["directories"][-1]["mode"] = "0700"
    failed, result = run_module(managed_files, **args)
    assert failed
    assert "directories[2] (%s): the path is listed twice" % (tmp_path / "lib") in result["msg"]


def test_missing_parents_of_a_directory_are_created(run_module, tmp_path):
    failed, result = run_module(managed_files, directories=[dict(path=str(tmp_path / "a" / "b" / "c"), mode="0700")])
    assert not failed, result
    assert mode_of(tmp_path / "a" / "b") == "%04o" % (0o755 & ~current_umask())
    assert mode_of(tmp_path / "a" / "b" / "c") == "0700"


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_refuses_to_replace_a_directory_or_a_symlink(run_module, tmp_path):
    args = spec(tmp_path)
    (tmp_path / "lib" / "run.sh").mkdir(parents=True)
    failed, result = run_module(managed_files, **args)
    assert failed
    assert "%s exists and is not a regular file" % (tmp_path / "lib" / "run.sh") in result["msg"]
    (tmp_path / "lib" / "run.sh").rmdir()
    (tmp_path / "target").write_text("keep\n")
    (tmp_path / "lib" / "run.sh").symlink_to(tmp_path / "target")
    failed, result = run_module(managed_files, **args)
    assert failed
    assert (tmp_path / "target").read_text() == "keep\n"
