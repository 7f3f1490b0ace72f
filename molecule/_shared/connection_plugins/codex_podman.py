# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Test-harness connection plugin (not part of the collection): containers.podman.podman with pipelining.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    name: codex_podman
    short_description: Run tasks in an existing podman container, pipelined
    description:
      - The test hosts of this repository (Molecule, make demo, the benchmarks) are podman containers. The
        C(containers.podman.podman) connection runs six podman commands per module (mount, a temporary
        directory, copy, chmod, run, remove) because its C(podman exec) gets no standard input, so it cannot
        pipeline.
      - This plugin is that connection with C(podman exec -i) when there is input, so Ansible pipelines a module
        over one C(podman exec), the way a real fleet's SSH connection with pipelining does. The container's
        file system is mounted only when a file is copied (template, copy, fetch).
      - Enabled with C(ANSIBLE_CONNECTION_PLUGINS=molecule/_shared/connection_plugins) (the Makefile exports it)
        and C(ansible_connection=codex_podman).
    options:
      remote_addr:
        description: The name or ID of the container.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User inside the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments to the podman command line.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
      pipelining:
        description: Pipeline modules over C(podman exec -i) (standard Ansible pipelining setting).
        type: bool
        default: false
        ini:
          - section: defaults
            key: pipelining
          - section: connection
            key: pipelining
        env:
          - name: ANSIBLE_PIPELINING
        vars:
          - name: ansible_pipelining
"""

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


class Connection(PodmanConnection):
    transport = "codex_podman"
    has_pipelining = True

    def __init__(self, *args, **kwargs):
        super(Connection, self).__init__(*args, **kwargs)
        self._mount_tried = False

    def _connect(self):
        # No `podman mount` up front: a pipelined module needs no file on the container's disk.
        ConnectionBase._connect(self)  # pylint: disable=protected-access
        self._connected = True
        return self

    def _ensure_mount(self):
        if not self._mount_tried:
            self._mount_tried = True
            PodmanConnection._connect(self)  # pylint: disable=protected-access

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        exec_args = ["exec"]
        if in_data is not None:
            exec_args.append("--interactive")
        if self.user:
            exec_args.extend(("--user", self.user))
        return self._podman(exec_args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    def put_file(self, in_path, out_path):
        self._ensure_mount()
        super(Connection, self).put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._ensure_mount()
        super(Connection, self).fetch_file(in_path, out_path)

    def close(self):
        super(Connection, self).close()
        self._mount_tried = False
        self._mount_point = None
