# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a login shell on an audited host sees: the read step of playbooks/audit.yml.

Standard library only and no Ansible imports: playbooks/audit.yml sends this file's source to the host's Python
through a login shell (``bash -lc 'exec "$0" -I -c "$1" "$2"' PYTHON SOURCE ARGS``), so that the environment read
here is the one ``/etc/profile`` and ``/etc/profile.d/*.sh`` export. One call per host serves every role's audit
entry point (roles/*/tasks/audit.yml): each names what it needs, the playbook joins the requests.

ARGS is one JSON object of paths and names only (never a secret):

* ``env``: names of the environment variables whose values to report;
* ``read``: files whose first 64 KiB to return (``null`` when they cannot be read);
* ``stat``: paths to report ``exists``, ``isreg`` and ``executable`` for;
* ``results``: gate result files (``PROJECT/.codex-gate-result.json``), written by the CI user, so read without
  following a symlink, a regular file of at most 4 KiB, and only :data:`RESULT_KEYS` of their JSON come back.

Prints one JSON object ``{"env", "read", "stat", "results"}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat as st
import sys

READ_LIMIT = 65536
RESULT_LIMIT = 4096
RESULT_KEYS = ("result", "finished", "total", "floor", "floor_source", "message")


def read_head(path):
    """The first READ_LIMIT bytes of a file as text, or None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(READ_LIMIT).decode("utf-8", "replace")
    except OSError:
        return None


def stat_path(path):
    return {"exists": os.path.exists(path), "isreg": os.path.isfile(path), "executable": os.access(path, os.X_OK)}


def read_result(path):
    """A gate result file's allowed keys (values as strings of at most 300 characters); None when missing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            if not st.S_ISREG(os.fstat(fd).st_mode):
                raise ValueError("not a regular file")
            data = json.loads(os.read(fd, RESULT_LIMIT + 1)[:RESULT_LIMIT].decode("utf-8"))
        finally:
            os.close(fd)
        return dict((k, str(data.get(k))[:300]) for k in RESULT_KEYS
                    if isinstance(data, dict) and data.get(k) is not None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"error": type(exc).__name__}


def collect(args, environ=None):
    environ = os.environ if environ is None else environ
    return {
        "env": dict((k, environ.get(k)) for k in args.get("env", [])),
        "read": dict((path, read_head(path)) for path in args.get("read", [])),
        "stat": dict((path, stat_path(path)) for path in args.get("stat", [])),
        "results": dict((path, read_result(path)) for path in args.get("results", [])),
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    sys.stdout.write(json.dumps(collect(json.loads(argv[0]))) + "\n")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
