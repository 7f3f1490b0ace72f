# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Is the mirror host serving its release? Asked over HTTP as a node asks it, from what the store's served manifest
says: the index page of one staged package lists its wheel, one Hugging Face bundle manifest is served as it lies
in the release, and one wheel downloaded through the index has the manifest's sha256. And before anything starts:
is the port free, or held by the mirror's own service?

Private to the collection. Standard library only (ansible's open_url for TLS with a CA file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import socket
import time

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils._release_verify import MANIFEST
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import normalize_name, parse_wheel_filename


class MirrorHealthError(OperatorError):
    """The served address does not answer as the release says it should; the message names the check."""


def bound_by_unit(unit_text, address, port):
    """Whether the unit's ExecStart binds ADDRESS:PORT (gunicorn's --bind)."""
    bind = ("[%s]:%d" if ":" in address else "%s:%d") % (address, port)
    for line in unit_text.splitlines():
        if line.startswith("ExecStart=") and " --bind %s " % bind in line + " ":
            return True
    return False


def port_problem(address, port, held_by_service):
    """Why ADDRESS:PORT cannot be the mirror's (None when it is free or HELD_BY_SERVICE: the mirror's active unit
    binds it already)."""
    if held_by_service:
        return None
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return ("offline_mirror_port %d on %s is in use by another program (ss -ltnp 'sport = :%d' names it): "
                    "stop it or choose another offline_mirror_port" % (port, address, port))
        if exc.errno == errno.EADDRNOTAVAIL:
            return ("offline_mirror_address %s is not an address of this host: bind one of its addresses, or "
                    "0.0.0.0" % address)
        return "offline_mirror_port %d on %s cannot be bound: %s" % (port, address, exc.strerror)
    finally:
        sock.close()
    return None


def _served(root):
    with open(os.path.join(root, "current", MANIFEST), "rb") as handle:
        data = handle.read()
    return json.loads(data.decode("utf-8")), hashlib.sha256(data).hexdigest()


def _fetch(get, url, what):
    try:
        status, body = get(url)
    except Exception as exc:  # the network's errors are many; each is this check's failure
        raise MirrorHealthError("%s: %s cannot be fetched (%s)" % (what, url, exc), kind="unhealthy", check=what)
    if status != 200:
        raise MirrorHealthError("%s: %s answered HTTP %s" % (what, url, status), kind="unhealthy", check=what)
    return body


def check(root, url, get, attempts=10, delay=1.0, sleep=time.sleep):
    """The served release's health at URL: {'release', 'manifest_sha256', 'checks': [...]}; MirrorHealthError names
    the first check that fails. GET(url) -> (status, bytes). A service just (re)started gets ATTEMPTS tries."""
    manifest, manifest_sha = _served(root)
    wheels = [f for f in manifest["files"] if f["path"].startswith("wheels/") and f["path"].endswith(".whl")]
    bundles = [f for f in manifest["files"] if f["path"].startswith("hf/") and f["path"].endswith(".manifest.json")]
    if not wheels:
        raise MirrorHealthError("the served release %s holds no wheel" % manifest["release"], kind="unhealthy",
                                check="index")
    wheel = min(wheels, key=lambda f: f["size"])
    filename = wheel["path"].split("/", 1)[1]
    project = normalize_name(parse_wheel_filename(filename)["name"])
    base = url.rstrip("/")
    checks = []
    for attempt in range(attempts):
        try:
            page = _fetch(get, "%s/simple/%s/" % (base, project), "index")
            break
        except MirrorHealthError:
            if attempt == attempts - 1:
                raise
            sleep(delay)
    if filename.encode("utf-8") not in page:
        raise MirrorHealthError("index: %s/simple/%s/ does not list %s" % (base, project, filename),
                                kind="unhealthy", check="index")
    checks.append("index lists %s" % filename)
    for bundle in bundles[:1]:
        body = _fetch(get, "%s/release/%s" % (base, bundle["path"]), "bundle manifest")
        if hashlib.sha256(body).hexdigest() != bundle["sha256"]:
            raise MirrorHealthError("bundle manifest: %s/release/%s is not the release's file (sha256 %s; the manifest "
                                    "says %s)" % (base, bundle["path"], hashlib.sha256(body).hexdigest(),
                                                  bundle["sha256"]), kind="unhealthy", check="bundle manifest")
        checks.append("bundle manifest %s" % bundle["path"])
    body = _fetch(get, "%s/packages/%s" % (base, filename), "file sha256")
    digest = hashlib.sha256(body).hexdigest()
    if digest != wheel["sha256"]:
        raise MirrorHealthError("file sha256: %s/packages/%s has sha256 %s; the signed manifest says %s" % (
            base, filename, digest, wheel["sha256"]), kind="unhealthy", check="file sha256")
    checks.append("%s sha256 %s" % (filename, digest))
    return {"release": manifest["release"], "manifest_sha256": manifest_sha, "checks": checks}


__all__ = ["MirrorHealthError", "bound_by_unit", "check", "port_problem"]
