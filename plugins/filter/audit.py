# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters of the roles' audit entry points (docs: <name>.yml beside this file): the loops that pair what the
audit collected with what the role planned, in Python rather than Jinja."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def with_last_results(projects, seen):
    """Each gated project of PROJECTS ({project, name, file}) with `last`: what SEEN (file -> the parsed result the
    audit's login-shell read found) holds for its file, or None when the gate has not run there yet."""
    seen = seen or {}
    return [dict(project, last=seen.get(project['file'])) for project in projects]


def hf_user_caches(scans, python, user_hub):
    """The per_user layout's caches for the audit record: each user's scan (the looped hf_cache_facts results, run
    as that user) as {user, python, cache_dir, facts, error}."""
    out = []
    for scan in scans:
        facts = (scan.get('ansible_facts') or {}).get('hf_cache') if 'ansible_facts' in scan else None
        out.append({'user': scan['item'], 'python': python, 'cache_dir': '~%s/%s' % (scan['item'], user_hub),
                    'facts': facts,
                    'error': None if 'ansible_facts' in scan else scan.get('msg') or 'not collected'})
    return out


class FilterModule(object):
    def filters(self):
        return {'with_last_results': with_last_results, 'hf_user_caches': hf_user_caches}
