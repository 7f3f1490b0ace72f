# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading a wheel mirror: the options that say where it is, HTTP requests with the credentials of its URL, and the
wheel files an index, a find-links page or a wheelhouse directory offers.

Private to the collection. Standard library and ansible's open_url only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from concurrent.futures import ThreadPoolExecutor

from urllib.error import HTTPError, URLError
from urllib.parse import quote, unquote, urljoin, urlsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror_urls import redact_url, scrub, strip_userinfo, url_secrets
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import parse_wheel_filename

try:
    from html.parser import HTMLParser
except ImportError:  # pragma: no cover
    HTMLParser = object

MIRROR_MODES = ("index", "find_links", "wheelhouse")

# The options of offline_venv and wheel_mirror_info that say what is wanted and where the mirror is
# (doc fragment codex.offline_ml.wheel_mirror), and the requirement both put on the URL.
MIRROR_ARGUMENT_SPEC = dict(
    python=dict(type="path", default="/usr/bin/python3"),
    requirements=dict(type="list", elements="str", default=[]),
    lock=dict(type="str"),
    mirror_mode=dict(type="str", choices=list(MIRROR_MODES), default="index"),
    mirror_url=dict(type="str", no_log=True),
    wheelhouse=dict(type="path"),
    trusted_host=dict(type="str"),
    ca_bundle=dict(type="path"),
)


def mirror_spec(*names):
    """The specs of MIRROR_ARGUMENT_SPEC's options NAMES, in that order (a module keeps its options' order, which
    decides the order of validation and so which error it reports first)."""
    return dict((name, MIRROR_ARGUMENT_SPEC[name]) for name in names)


MIRROR_URL_REQUIRED_IF = [("mirror_mode", "index", ["mirror_url"]), ("mirror_mode", "find_links", ["mirror_url"])]


class _Anchors(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            for key, value in attrs:
                if key == "href" and value:
                    self.hrefs.append(value)


def _host_matches(parts, trusted_host):
    if not trusted_host:
        return False
    return trusted_host in (parts.hostname, "%s:%s" % (parts.hostname, parts.port))


def open_with_userinfo(url, auth_from=None, **kwargs):
    """ansible's open_url on URL without its userinfo, which is sent as basic auth instead (or that of AUTH_FROM,
    the mirror URL, when URL lives on the same host and has none), without a proxy."""
    parts = urlsplit(url)
    user, password = parts.username, parts.password
    if user is None and auth_from:
        mparts = urlsplit(auth_from)
        if mparts.hostname == parts.hostname and mparts.username is not None:
            user, password = mparts.username, mparts.password
    return open_url(strip_userinfo(url), http_agent="codex.offline_ml", use_proxy=False,
                    url_username=unquote(user) if user is not None else None,
                    url_password=unquote(password or "") if user is not None else None,
                    force_basic_auth=user is not None, **kwargs)


def fetch(url, timeout=15, ca_bundle=None, trusted_host=None, auth_from=None, accept="text/html"):
    """GET a URL (open_with_userinfo). Returns (status, bytes). Connection problems raise MirrorError with the URL
    redacted."""
    try:
        resp = open_with_userinfo(url, auth_from, headers={"Accept": accept}, timeout=timeout,
                                  validate_certs=not _host_matches(urlsplit(url), trusted_host), ca_path=ca_bundle or None)
        return resp.getcode(), resp.read()
    except HTTPError as exc:
        return exc.code, b""
    except (URLError, UrlsConnectionError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        secrets = url_secrets(url) + url_secrets(auth_from)
        raise MirrorError("mirror %s is unreachable: %s" % (redact_url(url), scrub(str(reason), secrets)),
                          kind="unreachable", url=redact_url(url))


def http_get(url, timeout=15, ca_bundle=None, trusted_host=None):
    """GET a page of the mirror: (status, text)."""
    status, body = fetch(url, timeout, ca_bundle, trusted_host)
    return status, body.decode("utf-8", "replace")


def anchor_files(base_url, html):
    """Every link of an index or directory page: [(file name, absolute URL, sha256 of the fragment or None)]."""
    parser = _Anchors()
    parser.feed(html)
    found = []
    for href in parser.hrefs:
        target, _sep, fragment = href.partition("#")
        digest = fragment[len("sha256="):].lower() if fragment.startswith("sha256=") else None
        found.append((unquote(target.rsplit("/", 1)[-1]), urljoin(base_url, target), digest))
    return found


def _files_from_html(base_url, html):
    files = []
    for filename, url, digest in anchor_files(base_url, html):
        info = parse_wheel_filename(filename)
        if info:
            info["url"] = url
            info["sha256"] = digest
            files.append(info)
    return files


def list_mirror(mode, url=None, wheelhouse=None, names=(), timeout=15, ca_bundle=None, trusted_host=None):
    """Wheel files the mirror offers for the given normalised names: {name: [fileinfo, ...]}."""
    found = dict((n, []) for n in names)
    if mode == "find_links" and url and url.startswith("/"):
        # a wheel directory on the host itself (a mirror host's own release): listed like a wheelhouse
        mode, wheelhouse = "wheelhouse", url
    if mode == "wheelhouse":
        if not wheelhouse or not os.path.isdir(wheelhouse):
            raise MirrorError("wheelhouse directory %s does not exist on the host" % wheelhouse, kind="unreachable",
                              url=wheelhouse)
        for entry in sorted(os.listdir(wheelhouse)):
            info = parse_wheel_filename(entry)
            if info and info["name"] in found:
                info["url"] = os.path.join(wheelhouse, entry)
                info["sha256"] = None
                found[info["name"]].append(info)
        return found
    if not url:
        raise MirrorError("no mirror URL given for mirror mode %s" % mode, kind="invalid")
    if mode == "find_links":
        status, html = http_get(url, timeout, ca_bundle, trusted_host)
        if status != 200:
            raise MirrorError("mirror %s answered HTTP %s" % (redact_url(url), status), kind="unreachable",
                              url=redact_url(url))
        for info in _files_from_html(url, html):
            if info["name"] in found:
                found[info["name"]].append(info)
        return found
    if mode == "index":
        base = url if url.endswith("/") else url + "/"
        status, _html = http_get(base, timeout, ca_bundle, trusted_host)
        if status >= 500 or status in (401, 403):
            raise MirrorError("mirror %s answered HTTP %s" % (redact_url(base), status), kind="unreachable",
                              url=redact_url(base))

        def _page(name):
            page = urljoin(base, quote(name) + "/")
            return name, page, http_get(page, timeout, ca_bundle, trusted_host)

        # One page per distribution (a torch + transformers lock has about 30): fetched concurrently, read in order.
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
            pages = list(pool.map(_page, names))
        for name, page, (status, html) in pages:
            if status == 404:
                continue
            if status != 200:
                raise MirrorError("mirror %s answered HTTP %s" % (redact_url(page), status), kind="unreachable",
                                  url=redact_url(page))
            found[name].extend(f for f in _files_from_html(page, html) if f["name"] == name)
        return found
    raise MirrorError("unknown mirror mode %r; use one of %s" % (mode, ", ".join(MIRROR_MODES)), kind="invalid")
