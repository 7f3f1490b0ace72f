# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet audit report on disk: one folder per run, <dest>/<UTC stamp>/, and a ``latest`` symlink; the start
of a module that writes a report under its option dest (:func:`report_time`).

Private to the collection; runs on the controller (modules ``fleet_report`` and ``rollout_summary``). Standard
library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.codex.offline_ml.plugins.module_utils import _durable
from ansible_collections.codex.offline_ml.plugins.module_utils._report_common import ReportError
from ansible_collections.codex.offline_ml.plugins.module_utils._report_render import (
    render_html,
    render_json,
    render_junit,
)

_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def stamp(now=None):
    return time.strftime(_STAMP_FORMAT, time.gmtime(now if now is not None else time.time()))


def report_time(module, setting):
    """(now, its UTC time as YYYY-MM-DDTHH:MM:SSZ): the time of the report MODULE writes under its option dest,
    once MODULE is failed unless dest is an absolute path (SETTING: the variable that sets dest, for the message)."""
    if not os.path.isabs(module.params["dest"]):
        module.fail_json(msg="dest must be an absolute path (%s), got %r" % (setting, module.params["dest"]))
    now = time.time()
    return now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def write_report(doc, dest, now=None):
    """Write DEST/<UTC stamp>/{fleet.json,fleet.html,junit.xml} and point DEST/latest at it. Returns the paths."""
    if not os.path.isabs(dest):
        raise ReportError("audit_report_dir must be an absolute path, got %r" % (dest,))
    os.makedirs(dest, exist_ok=True)
    base = stamp(now)
    folder = os.path.join(dest, base)
    n = 1
    while True:
        try:
            os.mkdir(folder)
            break
        except OSError:
            if not os.path.isdir(folder):
                raise
            folder = os.path.join(dest, "%s-%d" % (base, n))
            n += 1
    files = {"json": os.path.join(folder, "fleet.json"), "html": os.path.join(folder, "fleet.html"),
             "junit": os.path.join(folder, "junit.xml")}
    for key, render in (("json", render_json), ("html", render_html), ("junit", render_junit)):
        _durable.write_file(files[key], render(doc).encode("utf-8"))
    latest = os.path.join(dest, "latest")
    tmp_link = os.path.join(dest, ".latest.tmp")
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(os.path.basename(folder), tmp_link)
    _durable.rename(tmp_link, latest)
    return {"dir": folder, "latest": latest, "files": files}
