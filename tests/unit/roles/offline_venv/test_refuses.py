# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The internal role offline_venv applied on its own refuses, naming the public roles, before any other task (as
prometheus-community's _common does): its main entry point is one fail task."""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys
from pathlib import Path

PLAY = """---
- name: Apply the internal role directly
  hosts: localhost
  gather_facts: false
  roles:
    - role: codex.offline_ml.offline_venv
      offline_venv_settings: {path: /nonexistent/codex-venv, packages: ["six==1.17.0"]}
"""


def test_applied_directly_it_refuses(tmp_path, collections_root):
    play = tmp_path / 'play.yml'
    play.write_text(PLAY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    proc = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                           '-e', 'ansible_python_interpreter=%s' % sys.executable, str(play)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert 'codex.offline_ml.offline_venv is internal to the collection: apply codex.offline_ml.torch_cpu' in proc.stdout
    # the argument spec's validation, then the refusal: nothing else ran
    assert proc.stdout.count('\nTASK [') == 2 and 'changed=0' in proc.stdout and 'failed=1' in proc.stdout
    assert not os.path.exists('/nonexistent/codex-venv')
