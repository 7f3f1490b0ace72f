# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_safefs: the permission pass and the descriptor-relative primitives."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import stat
import socket
import tarfile
import threading

from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_safefs as hf_safefs

from conftest import load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')



def test_share_tree(tmp_path):
    base = layout.make_cache(tmp_path / 'hub')
    os.chmod(str(base / 'refs' / 'main'), 0o646)
    gid = os.getgid()
    changed = hf_safefs.share_tree([str(tmp_path / 'hub')], gid, check_mode=True)
    assert changed > 0
    assert oct(os.stat(str(base / 'refs' / 'main')).st_mode & 0o7777) == '0o646'
    assert hf_safefs.share_tree([str(tmp_path / 'hub')], gid) == changed
    assert hf_safefs.share_tree([str(tmp_path / 'hub')], gid) == 0
    assert os.stat(str(base / 'refs' / 'main')).st_mode & 0o7777 == 0o664
    blobs = os.stat(str(base / 'blobs')).st_mode
    assert blobs & stat.S_ISGID and blobs & 0o070 == 0o070 and not blobs & 0o002
    for root, dirs, files in os.walk(str(tmp_path / 'hub')):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            if not os.path.islink(os.path.join(root, name)):
                assert not st.st_mode & 0o002
