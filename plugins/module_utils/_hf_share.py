# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A shared Hugging Face cache's layout in one pass: its group, its top directories, their default ACLs and the
permission pass under them (the module hf_cache_share).

One module call does the group, the directories and the share because a converged host's re-run pays a round
trip per call (docs/benchmarks.md, "Fewer tasks"). The directories are made and fixed through descriptors
(_hf_safefs): the cache's home is group-writable, so a member could plant a symlink where root is about to make
``hub``; root refuses it instead of following it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import stat

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import variable_prefix
from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError, resolve_gid

DIR_MODE = 0o2775  # root:group, setgid (new entries keep the group), group-writable, not world-writable


def fallback_hint(prefix):
    return ('without ACLs, files a member creates with umask 022 are not writable by the other members: set '
            '%slogin_umask: "0002" (login shells of the group\'s members get umask 0002; services need UMask=0002 in '
            'their unit) or put the cache on a file system with POSIX ACLs (ext4, xfs, btrfs, tmpfs)' % prefix)


def ensure_group(run_command, group, check_mode):
    """Create GROUP as a system group when it does not exist; True when it was (would be) created.

    RUN_COMMAND is AnsibleModule.run_command (the one boundary to the host's account tools).
    """
    try:
        grp.getgrnam(group) if not group.isdigit() else grp.getgrgid(int(group))
        return False
    except KeyError:
        pass
    if group.isdigit():
        raise HfCacheError('group %s does not exist on this host, and a group given by number is not created: '
                           'give its name' % group, kind='invalid')
    if check_mode:
        return True
    rc, _out, err = run_command(['groupadd', '--system', group])
    if rc != 0:
        raise HfCacheError('cannot create the group %r: groupadd said: %s' % (group, (err or '').strip()),
                           kind='os_error')
    return True


def ensure_dirs(paths, gid, check_mode):
    """Each of PATHS (shortest first) a directory owned by root:GID with mode 2775; its missing parents outside
    the list are made like ``mkdir -p`` (root's own part of the file system). GID None (check mode, the group is
    not created yet) counts every directory as one to fix. Returns the number of directories made or fixed."""
    fixed = 0
    done = []
    for path in sorted(set(os.path.normpath(p) for p in paths), key=lambda p: (p.count('/'), p)):
        parent, name = os.path.split(path)
        parent_fd = _open_parent(parent, done, check_mode)
        done.append(path)
        if parent_fd is None:  # check mode: nothing above it is there yet
            fixed += 1
            continue
        made = False
        try:
            if _hf_safefs.lstat_at(parent_fd, name) is None:
                made = True
                if check_mode:
                    fixed += 1
                    continue
                os.mkdir(name, DIR_MODE, dir_fd=parent_fd)
            fd = _hf_safefs.open_dir(parent_fd, name, where=parent)
        finally:
            os.close(parent_fd)
        try:
            st = os.fstat(fd)
            wrong = gid is None or (st.st_uid, st.st_gid) != (0, gid) or stat.S_IMODE(st.st_mode) != DIR_MODE
            if wrong and not check_mode:
                os.fchown(fd, 0, gid)
                os.fchmod(fd, DIR_MODE)  # after the chown, which clears setgid
            fixed += 1 if (made or wrong) else 0
        finally:
            os.close(fd)
    return fixed


def _open_parent(parent, done, check_mode):
    """A descriptor of PARENT, or None (check mode, not there yet). Below a directory of the list (which members
    can write) it is walked down to without following links, from the highest such directory (whose own parent is
    root's); elsewhere it is root's and made like mkdir -p."""
    above = [d for d in done if parent == d or parent.startswith(d + '/')]
    if above:
        top = min(above, key=len)
        top_fd = _hf_safefs.open_root_plain(top)
        if top_fd is None:
            return None
        try:
            return _hf_safefs.open_dir(top_fd, os.path.relpath(parent, top) if parent != top else '',
                                       create=not check_mode, where=top)
        finally:
            os.close(top_fd)
    if not os.path.isdir(parent) and not check_mode:
        os.makedirs(parent, 0o755)
    return _hf_safefs.open_root_plain(parent)


def share(params, check_mode, run_command, warn):
    """hf_cache_share's work: (result dict). Raises HfCacheError, _hf_safefs.UnsafePath or OSError."""
    paths = params['paths']
    bad = [p for p in paths if not os.path.isabs(p)]
    if bad:
        raise HfCacheError('paths must be absolute, got %s' % ', '.join(bad), kind='invalid')
    group = params['group']
    if not group:  # resolve_gid reads no group as "leave the group alone": here one is required
        raise HfCacheError('group %r does not exist on this host' % group, kind='invalid')
    prefix = variable_prefix(params['variable_prefix'])
    result = dict(changed=False, group_created=False, directories_fixed=0, acl='off', acl_changed=0,
                  permissions_fixed=0)
    if params['create']:
        result['group_created'] = ensure_group(run_command, group, check_mode)
    gid = resolve_gid(group, check_mode)
    if params['create']:
        result['directories_fixed'] = ensure_dirs(paths, gid, check_mode)
    if params['acl'] != 'off':
        state, changed = _hf_safefs.acl_tree(paths, check_mode=check_mode)
        result['acl'], result['acl_changed'] = state, changed
        if state == 'unsupported':
            msg = 'the file system of %s stores no POSIX ACLs: %s' % (paths[0], fallback_hint(prefix))
            if params['acl'] == 'required':
                raise HfCacheError('%sacl is required but %s' % (prefix, msg), kind='no_acl')
            warn(msg)
    result['permissions_fixed'] = _hf_safefs.share_tree(paths, gid, check_mode=check_mode)
    result['changed'] = bool(result['group_created'] or result['directories_fixed'] or result['acl_changed']
                             or result['permissions_fixed'])
    return result
