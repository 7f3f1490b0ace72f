# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An HTTPS reverse proxy in front of the test Hub mirror (olah): the private-CA mirror of the TLS tests.

    python tls_proxy.py PORT UPSTREAM CERT KEY RECORD

Binds 127.0.0.1:PORT with the server certificate CERT (key KEY, both PEM); GET and HEAD are forwarded to UPSTREAM
(http://127.0.0.1:N) with their headers, redirects are not followed but passed back with the upstream's URL
rewritten to this proxy's. Every request is appended to RECORD (created 0600) as one JSON line
{method, path, user_agent, authorization}: the test compares the Authorization header there and never prints it.
Standard library only.
"""

from __future__ import absolute_import, division, print_function

import http.client
import json
import os
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = ("connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "content-length")


def main():
    port, upstream, cert, key, record = sys.argv[1:6]
    port = int(port)
    upstream = upstream.rstrip("/")
    target = urllib.parse.urlsplit(upstream)
    public = "https://127.0.0.1:%d" % port
    lock = threading.Lock()
    fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self, method):
            with lock:
                os.write(fd, (json.dumps({"method": method, "path": self.path,
                                          "user_agent": self.headers.get("User-Agent", ""),
                                          "authorization": self.headers.get("Authorization")}) + "\n").encode())
            headers = dict((k, v) for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP and k.lower() != "host")
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            try:
                conn.request(method, self.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                self.send_response(resp.status)
                for name, value in resp.getheaders():
                    if name.lower() in HOP_BY_HOP:
                        continue
                    if name.lower() == "location" and value.startswith(upstream):
                        value = public + value[len(upstream):]
                    self.send_header(name, value)
                length = resp.getheader("Content-Length") if method == "HEAD" else None
                self.send_header("Content-Length", length if length is not None else str(len(body)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)
            finally:
                conn.close()

        def do_GET(self):  # noqa: N802
            self._forward("GET")

        def do_HEAD(self):  # noqa: N802
            self._forward("HEAD")

        def log_message(self, fmt, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
