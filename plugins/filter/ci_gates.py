# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ci_gates role's audit filter (docs: <name>.yml beside this file): the loop that pairs what the audit
collected with what the role planned, in Python rather than Jinja."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def with_last_results(projects, seen):
    """Each gated project of PROJECTS ({project, name, file}) with `last`: what SEEN (file -> the parsed result the
    audit's login-shell read found) holds for its file, or None when the gate has not run there yet."""
    seen = seen or {}
    return [dict(project, last=seen.get(project['file'])) for project in projects]


class FilterModule(object):
    def filters(self):
        return {'with_last_results': with_last_results}
