# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Hub mirror probe (stdlib HTTP), asked before anything is written: is the mirror reachable, is the repo
there, is the revision there? Each answer becomes a message that names what to fix.

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import socket
import ssl

try:
    from urllib.error import HTTPError, URLError
    from urllib.parse import quote, urlsplit
    from urllib.request import HTTPSHandler, Request, build_opener
except ImportError:  # pragma: no cover - Python 2 is not supported on targets
    HTTPError = URLError = Exception
    quote = urlsplit = Request = build_opener = HTTPSHandler = None

from ansible_collections.codex.offline_ml.plugins.module_utils._hf_specs import HfCacheError, is_commit, label
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import redact_url, url_has_credentials


def _ssl_context(ca_bundle):
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()


def _get(url, token=None, timeout=10, ca_bundle=None):
    """(status, headers, body) of a GET; connection problems raise OSError/URLError."""
    headers = {'User-Agent': 'codex.offline_ml', 'Accept': 'application/json'}
    if token:
        headers['Authorization'] = 'Bearer %s' % token
    context = _ssl_context(ca_bundle) if url.startswith('https:') else None
    try:
        # A plain urllib opener with the TLS context of the mirror (no ansible open_url: no proxy surprises).
        opener = build_opener(HTTPSHandler(context=context)) if context else build_opener()
        response = opener.open(Request(url, headers=headers), timeout=timeout)
        return response.getcode(), response.headers, response.read()
    except HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def ca_variable(prefix=''):
    """The name the operator sets the CA bundle with: the role's hf_offline_cache_endpoint_ca_bundle, or the
    module option ca_bundle."""
    return '%sendpoint_ca_bundle' % prefix if prefix else 'ca_bundle'


def is_tls_failure(text):
    text = str(text or '')
    return 'CERTIFICATE_VERIFY_FAILED' in text or 'certificate verify failed' in text or 'SSLError' in text \
        or 'SSLCertVerificationError' in text


def tls_reason(text):
    """The certificate verification reason of an error text (one line, without a traceback)."""
    found = re.search(r'certificate verify failed[^(\n]*', str(text or ''))
    if found:
        return found.group(0).strip()
    return 'CERTIFICATE_VERIFY_FAILED' if 'CERTIFICATE_VERIFY_FAILED' in str(text) else 'TLS handshake failed'


def tls_message(endpoint, reason, ca_bundle, prefix=''):
    variable = ca_variable(prefix)
    if ca_bundle:
        return ('the TLS certificate of the Hub mirror %s does not verify against %s=%s (%s): give the CA bundle '
                '(PEM) that signed the mirror\'s certificate' % (endpoint, variable, ca_bundle, reason))
    return ('the TLS certificate of the Hub mirror %s does not verify against the system CAs (%s): set %s to the '
            'path on the host of the CA bundle (PEM) that signed it' % (endpoint, reason, variable))


def credentials_message(endpoint, prefix=''):
    return ('%sendpoint must not carry credentials (got %s): the URL is exported as HF_ENDPOINT in files every user '
            'reads and kept in the facts. Give the URL without user:password@ or token@ and put the secret in '
            '%stoken, which only the download gets' % (prefix, redact_url(endpoint), prefix))


def check_endpoint(endpoint, prefix=''):
    """Reject endpoints that are not http(s) URLs or that carry credentials (they would end up in HF_ENDPOINT)."""
    parts = urlsplit(endpoint or '')
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise HfCacheError('%sendpoint %r is not an http:// or https:// URL of a Hub mirror' % (prefix, endpoint),
                           kind='invalid')
    if url_has_credentials(endpoint):
        raise HfCacheError(credentials_message(endpoint, prefix), kind='invalid')
    return endpoint.rstrip('/')


def _error_code(headers, body):
    code = headers.get('x-error-code') if headers is not None else None
    if code:
        return code
    try:
        return json.loads(body.decode('utf-8')).get('error')
    except Exception:  # pylint: disable=broad-except
        return None


def probe_mirror(endpoint, specs, token=None, timeout=10, ca_bundle=None, prefix=''):
    """Ask the Hub mirror for every spec's revision; returns {index: commit}.

    Raises HfCacheError with kind ``unreachable`` (nothing answers), ``repo_not_found`` or
    ``revision_not_found``. Hub-compatible mirrors answer a missing repo or branch with 401 RepoNotFound
    (olah, the Hub itself for anonymous callers), so a failed revision lookup is followed by a refs
    lookup that tells the two apart.
    """
    endpoint = check_endpoint(endpoint, prefix)
    commits = {}
    for index, spec in enumerate(specs):
        api = '%s/api/%ss/%s' % (endpoint, spec['repo_type'], spec['repo_id'])
        url = '%s/revision/%s' % (api, quote(spec['revision'], safe=''))
        try:
            status, headers, body = _get(url, token, timeout, ca_bundle)
        except (URLError, OSError, socket.timeout, ssl.SSLError) as exc:
            reason = getattr(exc, 'reason', exc)
            if isinstance(reason, ssl.SSLError) or is_tls_failure(reason):
                raise HfCacheError(tls_message(endpoint, getattr(reason, 'verify_message', None) or
                                               tls_reason(reason), ca_bundle, prefix), kind='tls')
            raise HfCacheError('the Hub mirror %s cannot be reached (%s): check %sendpoint and that the mirror '
                               'is up and reachable from this host' % (endpoint, reason, prefix), kind='unreachable')
        if status == 200:
            try:
                commit = json.loads(body.decode('utf-8')).get('sha')
            except ValueError:
                commit = None
            if not commit or not is_commit(commit):
                raise HfCacheError('the Hub mirror %s answered %s without a commit sha: is it a Hub-compatible '
                                   'mirror (HF_ENDPOINT)?' % (endpoint, url), kind='bad_mirror')
            if is_commit(spec['revision']) and commit != spec['revision']:
                raise HfCacheError('revision %s of %s is not on the Hub mirror %s (it answered commit %s)'
                                   % (spec['revision'], label(spec), endpoint, commit), kind='revision_not_found')
            commits[index] = commit
            continue
        code = _error_code(headers, body)
        refs = _refs_of(api, token, timeout, ca_bundle)
        auth_hint = (' or the token is not allowed to read it' if token else
                     ' (a private repo needs %stoken)' % prefix)
        if refs is None and status >= 500:
            raise HfCacheError('the Hub mirror %s failed (HTTP %s%s) for %s' % (
                endpoint, status, ' ' + code if code else '', label(spec)), kind='mirror_error')
        if refs is None:
            raise HfCacheError('repo %s (%s) is not on the Hub mirror %s: it answered HTTP %s%s; check repo_id and '
                               'repo_type in %srepos%s' % (
                                   spec['repo_id'], spec['repo_type'], endpoint, status,
                                   ' ' + code if code else '', prefix, auth_hint), kind='repo_not_found')
        raise HfCacheError('revision %s of repo %s (%s) is not on the Hub mirror %s (HTTP %s%s); the mirror has '
                           'branches: %s; tags: %s' % (
                               spec['revision'], spec['repo_id'], spec['repo_type'], endpoint, status,
                               ' ' + code if code else '', ', '.join(refs['branches']) or 'none',
                               ', '.join(refs['tags']) or 'none'), kind='revision_not_found')
    return commits


def _refs_of(api, token, timeout, ca_bundle):
    try:
        status, _headers, body = _get(api + '/refs', token, timeout, ca_bundle)
    except (URLError, OSError, socket.timeout, ssl.SSLError):
        return None
    if status != 200:
        return None
    try:
        data = json.loads(body.decode('utf-8'))
    except ValueError:
        return None
    return {'branches': sorted(b.get('name', '?') for b in data.get('branches') or []),
            'tags': sorted(t.get('name', '?') for t in data.get('tags') or [])}
