# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Mirror URLs and their secrets: whether a URL carries credentials, redaction, scrubbing of free text, and the
one netrc writer through which credentials reach pip and uv (never a command line).

Private to the collection. Standard library only, so it also runs on a bare target Python.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from urllib.parse import unquote, urlsplit

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError

# The userinfo runs to the LAST "@" of the authority (an unencoded "@" in a password must not leak its tail).
_URL_USERINFO_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s]+)@")
# Passwords that only fill the slot when the secret is the user name (GitHub, Bitbucket, Azure DevOps tokens).
DUMMY_PASSWORDS = frozenset(["", "x-oauth-basic", "x-access-token", "x", "token", "oauth2", "bearer"])
# Secrets shorter than this are masked only where they sit in a URL's userinfo, never as free-text literals:
# replacing every "a" in installer output would corrupt it without protecting anything.
MIN_LITERAL_SECRET = 4
# netrc splits on whitespace, and the parsers of pip (Python's netrc), uv and curl disagree on quotes, backslash
# escapes and '#' comments: a value holding any of them, or a control character, could be read as another value.
_NETRC_UNSAFE = frozenset('"\'\\#')


def url_has_credentials(url):
    """Whether URL carries a userinfo (user:password@, token@, even an empty one before an '@')."""
    return bool(url) and "@" in urlsplit(url.strip()).netloc


def _userinfo_parts(userinfo):
    """'user:pass' -> ('user', 'pass'); 'token' -> ('token', None)."""
    if ":" in userinfo:
        user, password = userinfo.split(":", 1)
        return user, password
    return userinfo, None


def _user_is_public(user, password):
    """Whether the user name may be shown: only beside a real password (user:password). A token alone, a token
    with an empty or dummy password (TOKEN:x-oauth-basic) makes the user name the secret."""
    return bool(user) and password is not None and unquote(password).lower() not in DUMMY_PASSWORDS


def redact_url(url):
    """Hide the secret of a URL's userinfo, whatever its form and length:
    https://user:password@h -> https://user:***@h; https://TOKEN@h, https://TOKEN:x-oauth-basic@h -> https://***@h."""
    if not url:
        return url

    def _sub(match):
        user, password = _userinfo_parts(match.group("userinfo"))
        if _user_is_public(user, password):
            return "%s%s:***@" % (match.group("scheme"), user)
        return "%s***@" % match.group("scheme")

    return _URL_USERINFO_RE.sub(_sub, url)


def scrub(text, secrets=()):
    """Remove credentials from free text (installer output, exception messages): every URL userinfo is redacted
    (any length), then the literal secrets of MIN_LITERAL_SECRET characters or more."""
    if not text:
        return text
    text = _URL_USERINFO_RE.sub(lambda m: redact_url(m.group(0)), text)
    for secret in sorted(set(s for s in secrets if s and len(s) >= MIN_LITERAL_SECRET), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def url_credentials(url):
    """(user, password) of a URL, unquoted, or None without userinfo. A token alone gives (token, '')."""
    if not url:
        return None
    match = _URL_USERINFO_RE.match(url.strip())
    if not match:
        return None
    user, password = _userinfo_parts(match.group("userinfo"))
    return unquote(user), unquote(password or "")


def url_secrets(url):
    """The literal secret parts of a URL (quoted and unquoted): the password, or the user name when it is the
    token (alone or with an empty/dummy password), and the whole userinfo. Every length is returned; callers that
    mask free text (scrub, no_log_values) skip the short ones, which redact_url still hides inside URLs."""
    if not url:
        return []
    match = _URL_USERINFO_RE.match(url.strip())
    if not match:
        return []
    userinfo = match.group("userinfo")
    user, password = _userinfo_parts(userinfo)
    out = []
    if _user_is_public(user, password):
        out.extend([password, unquote(password)])
    else:
        out.extend([user, unquote(user)])
        if password:
            out.extend([userinfo, unquote(userinfo)])
    seen = set()
    return [s for s in out if s and not (s in seen or seen.add(s))]


def long_secrets(url):
    """url_secrets safe to mask as literals anywhere (ansible's no_log_values, scrub)."""
    return [s for s in url_secrets(url) if len(s) >= MIN_LITERAL_SECRET]


def hide_mirror_url(module):
    """The module's params with the real mirror_url; the module itself keeps only the redacted one.

    no_log keeps the URL out of the target's log. The result (invocation included) holds only the redacted URL,
    so errors still name the mirror (user:***@host or ***@host); long secrets are masked anywhere as well.
    """
    mirror_url = module.params["mirror_url"]
    module.no_log_values.discard(mirror_url)
    module.no_log_values.update(long_secrets(mirror_url))
    module.params["mirror_url"] = redact_url(mirror_url)
    return dict(module.params, mirror_url=mirror_url)


def strip_userinfo(url):
    """The URL without its userinfo (what may go on a command line or into a world-readable file)."""
    if not url:
        return url
    return _URL_USERINFO_RE.sub(lambda m: m.group("scheme"), url, count=1)


def _netrc_safe(value):
    return not any(c in _NETRC_UNSAFE or c.isspace() or not c.isprintable() for c in value)


def netrc_text(urls, variable="mirror_url"):
    """The netrc entries for the credentials of URLS, in order (a URL without credentials or host gives none), or
    None when there are none. A token alone (https://TOKEN@host) becomes login TOKEN with an empty password, as
    pip and uv send it from the URL. A user or password netrc cannot carry raises MirrorError naming VARIABLE and
    the redacted URL, never the secret."""
    entries = []
    for url in urls:
        creds = url_credentials(url)
        host = urlsplit(url.strip()).hostname if creds else None
        if not host:
            continue
        if not all(_netrc_safe(value) for value in creds):
            raise MirrorError("%s %s: the credentials hold a space, a quote, a backslash, a '#' or a control "
                              "character, which a netrc file cannot carry; percent-encoding does not help either: "
                              "use a token without them" % (variable, redact_url(url)), kind="invalid_credentials",
                              url=redact_url(url))
        entries.append('machine %s\nlogin %s\npassword "%s"\n' % (host, creds[0], creds[1]))
    return "".join(entries) or None


def write_netrc(urls, directory, variable="mirror_url"):
    """Write netrc_text(URLS) to DIRECTORY/netrc: created, never through a link and never over an existing file,
    0600 (the caller's directory is private too). Returns its path, or None when no URL carries credentials."""
    text = netrc_text(urls, variable)
    if not text:
        return None
    path = os.path.join(directory, "netrc")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path
