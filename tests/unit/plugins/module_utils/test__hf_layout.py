# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hf_layout: refs, staging leftovers, and what root reads and writes in the cache layout."""

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

from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_layout as hf_layout
from ansible_collections.codex.offline_ml.plugins.module_utils import _hf_specs as hf_specs

from conftest import load_fixture_module

layout = load_fixture_module('tiny_bert/hf_cache_layout.py', 'codex_hf_cache_layout')



def test_local_commit_and_refs(tmp_path):
    layout.make_cache(tmp_path, refs=())
    (by_commit,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID, 'revision': layout.COMMIT}])
    (by_branch,) = hf_specs.normalize_repos([{'repo_id': layout.REPO_ID}])
    assert hf_layout.local_commit(str(tmp_path), by_commit) == layout.COMMIT
    assert hf_layout.local_commit(str(tmp_path), by_branch) is None
    assert hf_layout.write_refs(str(tmp_path), by_commit, layout.COMMIT) == ['main']
    assert hf_layout.write_refs(str(tmp_path), by_commit, layout.COMMIT) == []
    assert hf_layout.local_commit(str(tmp_path), by_branch) == layout.COMMIT


def test_clean_staging(tmp_path):
    (tmp_path / (hf_layout.STAGING_PREFIX + 'x')).mkdir()
    assert hf_layout.clean_staging(str(tmp_path)) == [str(tmp_path / (hf_layout.STAGING_PREFIX + 'x'))]
    assert hf_layout.clean_staging(str(tmp_path)) == []
