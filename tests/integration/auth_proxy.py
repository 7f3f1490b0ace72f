# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A basic-auth reverse proxy in front of a test index: the credentialed mirror of the secret tests.

    python auth_proxy.py PORT UPSTREAM USER_FILE

Binds 127.0.0.1:PORT; GET/HEAD with "Authorization: Basic base64(USER:PASSWORD)" is forwarded to UPSTREAM
(http://127.0.0.1:N); anything else gets 401 with a WWW-Authenticate challenge. The expected credentials are read
from USER_FILE (line 1 user, line 2 password) so that they are not on this process's command line either. Every
request is logged to stderr as "METHOD PATH STATUS". Standard library only.
"""

from __future__ import absolute_import, division, print_function

import base64
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    port, upstream, user_file = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
    with open(user_file) as fh:
        lines = fh.read().split("\n")
    expected = "Basic " + base64.b64encode(("%s:%s" % (lines[0], lines[1])).encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self, head):
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="codex-test"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            req = urllib.request.Request(upstream + self.path, method="HEAD" if head else "GET",
                                         headers={"Accept": self.headers.get("Accept", "*/*")})
            try:
                resp = urllib.request.urlopen(req, timeout=60)
                status, body, headers = resp.status, resp.read(), resp.headers
            except urllib.error.HTTPError as exc:
                status, body, headers = exc.code, exc.read(), exc.headers
            self.send_response(status)
            for key in ("Content-Type", "Location", "ETag", "Last-Modified"):
                if headers.get(key):
                    self.send_header(key, headers[key])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            self._forward(False)

        def do_HEAD(self):  # noqa: N802
            self._forward(True)

        def log_message(self, fmt, *args):
            sys.stderr.write("%s\n" % (fmt % args))

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
