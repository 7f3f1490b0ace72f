# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a wheel in the mirror declares it needs (Requires-Dist), checked against the other pins before any change.

A torchvision or torchaudio wheel pins the torch it was built for (``Requires-Dist: torch==2.13.0``); a venv that
pairs it with another torch installs and then fails at import. The check reads the METADATA of the wheel the
mirror would serve (the file itself: a wheelhouse path or an HTTP GET of the mirror's URL for it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import re
import zipfile
from email.parser import Parser

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_http import fetch
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import redact_url
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import normalize_name
from ansible_collections.codex.offline_ml.plugins.module_utils._torch_checks import specifier_allows

MAX_WHEEL_BYTES = 512 * 1024 * 1024
_REQUIREMENT = re.compile(r'^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*\(?\s*([^;)]*?)\s*\)?\s*(?:;\s*(.*))?$')


def metadata_requires(data):
    """Requires-Dist lines of a wheel's bytes (its *.dist-info/METADATA)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist()
                     if n.count('/') == 1 and n.endswith('.dist-info/METADATA')]
            if not names:
                raise MirrorError('the wheel has no .dist-info/METADATA', kind='bad_wheel')
            text = archive.read(names[0]).decode('utf-8', 'replace')
    except zipfile.BadZipFile as exc:
        raise MirrorError('the wheel is not a zip archive: %s' % exc, kind='bad_wheel')
    return list(Parser().parsestr(text, headersonly=True).get_all('Requires-Dist') or [])


def read_wheel(fileinfo, timeout=60, ca_bundle=None, trusted_host=None, auth_from=None):
    """The bytes of a wheel of a listing (list_mirror): a local file or the mirror's URL."""
    url = fileinfo['url']
    if not re.match(r'^https?://', url):
        with open(url, 'rb') as handle:
            return handle.read(MAX_WHEEL_BYTES + 1)
    status, data = fetch(url, timeout, ca_bundle, trusted_host, auth_from=auth_from, accept='*/*')
    if status != 200:
        raise MirrorError('download of %s failed: HTTP %s' % (redact_url(url), status), kind='unreachable')
    return data


def parse_requirement(line):
    """'torch (==2.13.0)' -> ('torch', '==2.13.0'); None for a requirement of an extra or an unreadable line."""
    match = _REQUIREMENT.match(line or '')
    if not match or (match.group(3) and 'extra' in match.group(3)):
        return None
    return normalize_name(match.group(1)), match.group(2).replace(' ', '')


def requirement_conflicts(name, version, requires, wanted):
    """Problems of NAME==VERSION whose Requires-Dist names another version of a WANTED ({name: version}) pin."""
    problems = []
    for line in requires:
        parsed = parse_requirement(line)
        if not parsed or parsed[0] not in wanted or parsed[0] == name or not parsed[1]:
            continue
        other, spec = parsed
        if specifier_allows(spec, wanted[other]) is False:
            problems.append('%s==%s requires %s%s, but %s==%s is pinned: pin the %s built for %s %s (from the '
                            'same index as %s), or pin the %s it requires'
                            % (name, version, other, spec, other, wanted[other], name, other, wanted[other],
                               other, other))
    return problems
