# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wheel mirror knowledge shared by the modules: pins, locks, wheel tags, listings, redaction.

Private to the collection. Standard library only, so it also runs on a bare target Python.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

from urllib.error import HTTPError, URLError
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError

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

_PIN_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)\s*$")
_HASH_RE = re.compile(r"--hash[= ]sha256:([0-9a-fA-F]{64})")
# The userinfo runs to the LAST "@" of the authority (an unencoded "@" in a password must not leak its tail).
_URL_USERINFO_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s]+)@")
# Passwords that only fill the slot when the secret is the user name (GitHub, Bitbucket, Azure DevOps tokens).
DUMMY_PASSWORDS = frozenset(["", "x-oauth-basic", "x-access-token", "x", "token", "oauth2", "bearer"])
# Secrets shorter than this are masked only where they sit in a URL's userinfo, never as free-text literals:
# replacing every "a" in installer output would corrupt it without protecting anything.
MIN_LITERAL_SECRET = 4


class MirrorError(OperatorError):
    """A problem with the mirror or the inputs, with a message meant for the operator."""


# --------------------------------------------------------------------------- names, pins, locks
def normalize_name(name):
    """PEP 503 normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pin(text):
    """'Name==1.0' -> ('name', '1.0'); anything that is not an exact pin raises MirrorError."""
    match = _PIN_RE.match(text or "")
    if not match:
        raise MirrorError(
            "%r is not an exact pin: write it as name==version (for example torch==2.13.0+cpu)" % (text,),
            kind="invalid_pin",
        )
    return normalize_name(match.group(1)), match.group(2)


def parse_lock(text):
    """Parse a hash-pinned requirements file into {name: {'version', 'hashes', 'line'}}."""
    entries = {}
    logical = []
    buf = ""
    for raw in (text or "").splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            logical.append(buf.strip())
        buf = ""
    if buf.strip():
        logical.append(buf.strip())
    for line in logical:
        if line.startswith("-"):
            raise MirrorError("lock line %r: options are not allowed in a lock, only pins with hashes" % line,
                              kind="invalid_lock")
        spec = line.split("--hash", 1)[0].strip()
        spec = spec.split(";", 1)[0].strip()
        name, version = parse_pin(spec)
        hashes = [h.lower() for h in _HASH_RE.findall(line)]
        if not hashes:
            raise MirrorError("lock entry %s==%s has no --hash=sha256:...; a lock must pin every hash" % (name, version),
                              kind="invalid_lock")
        entries[name] = {"version": version, "hashes": hashes}
    if not entries:
        raise MirrorError("the lock is empty", kind="invalid_lock")
    return entries


def render_lock(entries, header=None):
    """Render {name: {'version', 'hashes'}} as a deterministic hash-pinned requirements file."""
    out = []
    if header:
        out.extend("# " + h for h in header)
    for name in sorted(entries):
        entry = entries[name]
        parts = ["%s==%s" % (name, entry["version"])]
        parts.extend("    --hash=sha256:%s" % h for h in sorted(entry["hashes"]))
        out.append(" \\\n".join(parts))
    return "\n".join(out) + "\n"


def wanted_set(requirements, lock_text):
    """What a venv must contain: the lock when there is one, else the pins. Checks they agree."""
    pins = {}
    for req in requirements or []:
        name, version = parse_pin(req)
        pins[name] = version
    if lock_text:
        lock = parse_lock(lock_text)
        for name, version in sorted(pins.items()):
            if name not in lock:
                raise MirrorError("%s==%s is requested but the lock does not pin %s; re-run "
                                  "playbooks/stage_wheels.yml with it in the set" % (name, version, name),
                                  kind="lock_mismatch", package=name)
            if lock[name]["version"] != version:
                raise MirrorError("%s==%s is requested but the lock pins %s==%s; make them agree "
                                  "(re-stage, or change the pin)" % (name, version, name, lock[name]["version"]),
                                  kind="lock_mismatch", package=name)
        return dict((n, e["version"]) for n, e in lock.items()), lock
    return pins, None


# --------------------------------------------------------------------------- wheel tags
def parse_wheel_filename(filename):
    """'torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl' -> dict or None."""
    base = unquote(os.path.basename(filename))
    if not base.endswith(".whl"):
        return None
    parts = base[:-4].split("-")
    if len(parts) not in (5, 6):
        return None
    name, version = parts[0], parts[1]
    pyt, abit, platt = parts[-3], parts[-2], parts[-1]
    tags = set()
    for p in pyt.split("."):
        for a in abit.split("."):
            for pl in platt.split("."):
                tags.add((p, a, pl))
    return {"filename": base, "name": normalize_name(name), "version": version, "tags": tags}


_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def supported_tags(major, minor, machine, glibc=None, abiflags=""):
    """The tags a CPython X.Y on linux/<machine> with glibc accepts (the common subset of packaging.tags)."""
    cp = "cp%d%d" % (major, minor)
    platforms = []
    if glibc:
        gmaj, gmin = glibc
        for m in range(gmin, -1, -1):
            platforms.append("manylinux_%d_%d_%s" % (gmaj, m, machine))
        for legacy, (lmaj, lmin) in _LEGACY_MANYLINUX.items():
            if (lmaj, lmin) <= (gmaj, gmin):
                platforms.append("%s_%s" % (legacy, machine))
    platforms.append("linux_%s" % machine)
    tags = set()
    for plat in platforms + ["any"]:
        if plat != "any":
            tags.add((cp, cp + abiflags, plat))
            for m in range(minor, 1, -1):
                tags.add(("cp%d%d" % (major, m), "abi3", plat))
            tags.add((cp, "none", plat))
        for m in range(minor, -1, -1):
            tags.add(("py%d%d" % (major, m), "none", plat))
        tags.add(("py%d" % major, "none", plat))
        tags.add((cp, "none", plat))
    return tags


_PROBE = (
    "import json, os, platform, sys\n"
    "g = None\n"
    "try:\n"
    "    v = os.confstr('CS_GNU_LIBC_VERSION') or ''\n"
    "    if v.startswith('glibc '):\n"
    "        g = [int(x) for x in v.split()[1].split('.')[:2]]\n"
    "except (ValueError, OSError, AttributeError):\n"
    "    pass\n"
    "print(json.dumps({'major': sys.version_info[0], 'minor': sys.version_info[1],\n"
    "    'machine': platform.machine(), 'glibc': g, 'abiflags': getattr(sys, 'abiflags', ''),\n"
    "    'implementation': sys.implementation.name, 'version': platform.python_version()}))\n"
)


def probe_interpreter(python, timeout=30):
    """Ask an interpreter for what decides wheel compatibility."""
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise MirrorError("python interpreter %s does not exist or is not executable" % python,
                          kind="no_python")
    try:
        proc = subprocess.run([python, "-I", "-c", _PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MirrorError("python interpreter %s did not answer within %ss" % (python, timeout), kind="no_python")
    except OSError as exc:
        raise MirrorError("python interpreter %s cannot be run: %s" % (python, exc), kind="no_python")
    if proc.returncode != 0:
        raise MirrorError("python interpreter %s failed to start: %s" % (python, proc.stderr.decode("utf-8", "replace")),
                          kind="no_python")
    try:
        info = json.loads(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise MirrorError("python interpreter %s printed no tag information: %r" % (python, proc.stdout[-300:]),
                          kind="no_python")
    info["python_tag"] = "cp%d%d" % (info["major"], info["minor"])
    info["platform_tag"] = ("manylinux_%d_%d_%s" % (info["glibc"][0], info["glibc"][1], info["machine"])
                            if info.get("glibc") else "linux_%s" % info["machine"])
    return info


def expand_platforms(platforms):
    """manylinux_2_28_x86_64 -> itself and every older manylinux tag it accepts (pip does not expand them)."""
    out = []
    for plat in platforms:
        match = re.match(r"^manylinux_(\d+)_(\d+)_(\w+)$", plat)
        if not match:
            out.append(plat)
            continue
        gmaj, gmin, machine = int(match.group(1)), int(match.group(2)), match.group(3)
        out.extend("manylinux_%d_%d_%s" % (gmaj, m, machine) for m in range(gmin, 4, -1))
        out.extend("%s_%s" % (legacy, machine) for legacy, ver in sorted(_LEGACY_MANYLINUX.items())
                   if ver <= (gmaj, gmin))
    seen = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def tags_for(info):
    glibc = tuple(info["glibc"]) if info.get("glibc") else None
    return supported_tags(info["major"], info["minor"], info["machine"], glibc, info.get("abiflags", ""))


# --------------------------------------------------------------------------- redaction
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


# --------------------------------------------------------------------------- listings
class _Anchors(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            for key, value in attrs:
                if key == "href" and value:
                    self.hrefs.append(value)


def _strip_userinfo(url):
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += ":%d" % parts.port
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), parts


def _host_matches(parts, trusted_host):
    if not trusted_host:
        return False
    return trusted_host in (parts.hostname, "%s:%s" % (parts.hostname, parts.port))


def fetch(url, timeout=15, ca_bundle=None, trusted_host=None, auth_from=None, accept="text/html"):
    """GET a URL with ansible's open_url; credentials come from its userinfo (or from AUTH_FROM, the mirror URL,
    when the file lives on the same host). Returns (status, bytes). Connection problems raise MirrorError with
    the URL redacted."""
    clean, parts = _strip_userinfo(url)
    user, password = parts.username, parts.password
    if user is None and auth_from:
        mparts = urlsplit(auth_from)
        if mparts.hostname == parts.hostname and mparts.username is not None:
            user, password = mparts.username, mparts.password
    try:
        resp = open_url(clean, headers={"Accept": accept}, timeout=timeout, http_agent="codex.offline_ml",
                        validate_certs=not _host_matches(parts, trusted_host), ca_path=ca_bundle or None,
                        url_username=unquote(user) if user is not None else None,
                        url_password=unquote(password or "") if user is not None else None,
                        force_basic_auth=user is not None, use_proxy=False)
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


def listing_from_names(filenames, names):
    """A listing like list_mirror's, from bare wheel file names (a wheelhouse still on the controller)."""
    found = dict((n, []) for n in names)
    for entry in filenames:
        info = parse_wheel_filename(entry)
        if info and info["name"] in found:
            info["url"] = entry
            info["sha256"] = None
            found[info["name"]].append(info)
    return found


def _version_key(version):
    """PEP 440-ish normalisation without `packaging`: case, a leading v, trailing .0 of the release."""
    v = version.strip().lower()
    if v.startswith("v"):
        v = v[1:]
    local = ""
    if "+" in v:
        v, local = v.split("+", 1)
    head = re.match(r"^[0-9]+(\.[0-9]+)*", v)
    release, rest = (head.group(0), v[head.end():]) if head else ("", v)
    parts = [int(p) for p in release.split(".")] if release else []
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return (tuple(parts), rest, local.replace("-", ".").replace("_", "."))


def same_version(a, b):
    """1.17 == 1.17.0, 2.13.0+CPU == 2.13.0+cpu; 2.13.0+cpu != 2.13.0."""
    return _version_key(a) == _version_key(b)


def _same_version(a, b):
    return same_version(unquote(a), unquote(b))


def check_availability(wanted, listing, tags, info, url_label, lock=None):
    """Every wanted name==version has a wheel that fits the interpreter (and, with a lock, the hash).

    Returns {name: filename}; raises MirrorError naming the first problem set (all problems listed).
    """
    chosen = {}
    missing, unfit, mismatched, other_lock = [], [], [], []
    for name in sorted(wanted):
        version = wanted[name]
        files = [f for f in listing.get(name, []) if _same_version(f["version"], version)]
        if not files:
            others = sorted(set(unquote(f["version"]) for f in listing.get(name, [])))
            missing.append("%s==%s (mirror has: %s)" % (name, version, ", ".join(others) if others else "no versions"))
            continue
        fit = [f for f in files if f["tags"] & tags]
        if not fit:
            unfit.append("%s==%s (mirror has only %s)" % (name, version, ", ".join(sorted(f["filename"] for f in files))))
            continue
        if lock and name in lock:
            hashed = [f for f in fit if f.get("sha256")]
            if hashed and not [f for f in hashed if f["sha256"] in lock[name]["hashes"]]:
                locked = [f for f in files if f.get("sha256") in lock[name]["hashes"]]
                if locked:
                    # The lock's wheel is in the mirror, it just does not fit this host: a lock staged for another
                    # Python or platform (a cp311 lock on a Debian 13 host), not a tampered mirror.
                    other_lock.append("%s==%s (the lock's %s does not fit this host; the mirror's %s is not in the lock)"
                                      % (name, version, locked[0]["filename"], hashed[0]["filename"]))
                    continue
                mismatched.append("%s (mirror sha256 %s, lock expects %s)" % (
                    hashed[0]["filename"], hashed[0]["sha256"], " or ".join(lock[name]["hashes"])))
                continue
        chosen[name] = sorted(f["filename"] for f in fit)[0]
    problems = []
    if missing:
        problems.append("not in mirror %s: %s" % (url_label, "; ".join(missing)))
    if unfit:
        problems.append("no wheel in mirror %s fits this host (Python tag %s, platform %s): %s" % (
            url_label, info["python_tag"], info["platform_tag"], "; ".join(unfit)))
    if other_lock:
        problems.append("the lock was staged for another Python or platform than this host's (Python tag %s, "
                        "platform %s): %s" % (info["python_tag"], info["platform_tag"], "; ".join(other_lock)))
    if mismatched:
        problems.append("hash mismatch in mirror %s: %s" % (url_label, "; ".join(mismatched)))
    if problems:
        kind = ("missing_package" if missing else "no_compatible_wheel" if unfit else
                "lock_for_other_python" if other_lock else "hash_mismatch")
        raise MirrorError(". ".join(problems), kind=kind, missing=missing, unfit=unfit, mismatched=mismatched,
                          other_lock=other_lock)
    return chosen
