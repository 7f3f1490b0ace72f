# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_share: the group, the directories and the share in one pass, on real directories (as root, which the
module is). The host's account tool (groupadd, through AnsibleModule.run_command) is the one boundary faked."""

from __future__ import absolute_import, division, print_function

import grp
import os
import stat

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_share
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_safefs import UnsafePath
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the module runs as root: it gives directories to root')

# A group other than root's, so that "given the group" is visible.
GROUP = next(g for g in grp.getgrall() if g.gr_gid not in (0, os.getgid()))
MISSING = 'codex-no-such-group'


def state(path):
    st = os.lstat(str(path))
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def params(paths, **more):
    out = dict(paths=[str(p) for p in paths], group=GROUP.gr_name, create=True, acl='off', variable_prefix='p')
    out.update(more)
    return out


class Commands(object):
    """run_command's stand-in: records each argv, answers RC."""

    def __init__(self, rc=0, err=''):
        self.rc, self.err, self.calls = rc, err, []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.rc, '', self.err


def share(paths, check_mode=False, **more):
    return _hf_share.share(params(paths, **more), check_mode, Commands(), lambda text: None)


def test_makes_the_layout_then_changes_nothing(tmp_path):
    home = tmp_path / 'srv' / 'hf'
    paths = [home, home / 'hub', home / 'datasets']
    result = share(paths, check_mode=True)
    assert result['changed'] and result['directories_fixed'] == 3 and not (tmp_path / 'srv').exists()
    result = share(paths)
    assert result['directories_fixed'] == 3 and not result['group_created']
    for path in paths:
        assert state(path) == (0, GROUP.gr_gid, 0o2775), path
    assert stat.S_IMODE(os.stat(str(tmp_path / 'srv')).st_mode) & 0o022 == 0  # a parent outside the list: mkdir -p
    again = share(paths)
    assert not again['changed'] and again['directories_fixed'] == 0 and again['permissions_fixed'] == 0


def test_fixes_owner_group_and_mode_of_an_existing_directory(tmp_path):
    home = tmp_path / 'hf'
    home.mkdir(mode=0o777)
    os.chmod(str(home), 0o777)
    os.chown(str(home), 1, 0)
    assert share([home])['directories_fixed'] == 1
    assert state(home) == (0, GROUP.gr_gid, 0o2775)


def test_without_create_missing_paths_are_skipped(tmp_path):
    result = share([tmp_path / 'absent'], create=False)
    assert not result['changed'] and not (tmp_path / 'absent').exists()


@pytest.mark.parametrize('plant', ['hub', 'x'])
def test_a_planted_symlink_below_a_listed_directory_is_refused(tmp_path, plant):
    # The home is group-writable: a member can put a symlink where root is about to make (or walk to) hub.
    home, target = tmp_path / 'hf', tmp_path / 'target'
    target.mkdir()
    home.mkdir()
    os.symlink(str(target), str(home / plant))
    hub = home / 'hub' if plant == 'hub' else home / 'x' / 'hub'
    with pytest.raises(UnsafePath) as info:
        share([home, hub])
    assert str(home / plant) in info.value.msg
    assert os.listdir(str(target)) == [] and state(target)[1:] != (GROUP.gr_gid, 0o2775)


def test_creates_a_missing_group_once():
    commands = Commands()
    assert _hf_share.ensure_group(commands, MISSING, check_mode=True) is True and commands.calls == []
    assert _hf_share.ensure_group(commands, MISSING, check_mode=False) is True
    assert commands.calls == [['groupadd', '--system', MISSING]]
    assert _hf_share.ensure_group(commands, GROUP.gr_name, check_mode=False) is False
    assert _hf_share.ensure_group(commands, str(GROUP.gr_gid), check_mode=False) is False
    assert len(commands.calls) == 1


def test_check_mode_with_the_group_still_missing_writes_nothing(tmp_path):
    home = tmp_path / 'hf'
    home.mkdir()
    before = state(home)
    result = share([home, home / 'hub'], check_mode=True, group=MISSING)
    assert result['group_created'] and result['directories_fixed'] == 2 and result['changed']
    assert state(home) == before and not (home / 'hub').exists()


@pytest.mark.parametrize('group, rc, needle', [
    ('987654', 0, 'group 987654 does not exist on this host, and a group given by number is not created'),
    (MISSING, 9, "cannot create the group 'codex-no-such-group': groupadd said: groupadd: bad name"),
])
def test_a_group_that_cannot_be_made_is_named(group, rc, needle):
    with pytest.raises(HfCacheError) as info:
        _hf_share.ensure_group(Commands(rc=rc, err='groupadd: bad name\n'), group, check_mode=False)
    assert needle in info.value.msg


def test_a_listed_directory_swapped_for_a_symlink_midway_is_not_a_way_in(tmp_path, monkeypatch):
    # hub is listed and lies in the group-writable home: right after root fixed it, a member swaps it for a symlink.
    # The path listed below it is walked to from the home (the highest listed directory), so the swap is refused
    # rather than followed into the target.
    home, target = tmp_path / 'hf', tmp_path / 'target'
    target.mkdir()
    real_fchmod = os.fchmod

    def fchmod_then_swap(fd, mode):
        real_fchmod(fd, mode)
        if os.readlink('/proc/self/fd/%d' % fd) == str(home / 'hub'):
            os.rename(str(home / 'hub'), str(home / 'hub.old'))
            os.symlink(str(target), str(home / 'hub'))
    monkeypatch.setattr(os, 'fchmod', fchmod_then_swap)
    with pytest.raises(UnsafePath) as info:
        _hf_share.ensure_dirs([str(home), str(home / 'hub'), str(home / 'hub' / 'deep')], GROUP.gr_gid, False)
    assert str(home / 'hub') in info.value.msg and os.listdir(str(target)) == []
