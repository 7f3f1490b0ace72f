# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTP boundary of the unit tests of what asks a mirror host: a real static site on 127.0.0.1 (a directory laid
out as the mirror serves it) and the GET those module_utils take, as the modules pass it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import functools
import http.server
import threading
import urllib.error
import urllib.request


@contextlib.contextmanager
def static_site(directory):
    """DIRECTORY served on 127.0.0.1 (a free port) while the block runs; yields its base URL, no trailing slash."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d' % server.server_port
    finally:
        server.shutdown()
        server.server_close()


def get(url):
    """(status, body) of a GET of URL; an HTTP error is its status and no body."""
    try:
        response = urllib.request.urlopen(url, timeout=10)
        return response.getcode(), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b''
