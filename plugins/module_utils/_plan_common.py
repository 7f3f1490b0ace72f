# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the roles' plans (module_utils/_plan_<role>.py, run by the role_plan action on the controller) share: the
error they raise, the rules on paths, exported values and pins, and where each role's planner is.

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os
import re

from ansible_collections.codex.offline_ml.plugins.module_utils._errors import OperatorError
from ansible_collections.codex.offline_ml.plugins.module_utils._wheels import PIN_RE, normalize_name

ROLES = ('hf_offline_cache', 'offline_venv', 'torch_cpu', 'ci_gates', 'offline_mirror')

# Values a profile script, an environment file and a facts file may hold unquoted under sh, bash and systemd.
SAFE_VALUE_RE = re.compile(r'^[A-Za-z0-9_./:@%+,=~-]*$')
ENV_NAME_RE = re.compile(r'^[A-Z_][A-Z0-9_]*$')
SAFE_CHARS = '_ . / : @ % + , = ~ -'


class PlanError(OperatorError):
    """A role input that is wrong before any host is looked at; the message names the variable and the fix."""

    def __init__(self, msg):
        super(PlanError, self).__init__(msg, kind='invalid_input')


# The torch diagnostic, the very file the torch_diagnostic module runs: installed on the hosts by torch_cpu (as
# codex_ml/utils/torch_checks.py) and ci_gates (beside the gate's helpers).
TORCH_CHECKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_torch_checks.py')


def root_reason(venv, command):
    """Why a public role needs root, for the role_plan action's root check."""
    return 'it builds %s and installs %s, both owned by root' % (venv, command)


def read_text(path):
    with open(path) as handle:
        return handle.read()


def planner(role):
    """The module that plans ROLE, or None for an unknown role."""
    if role not in ROLES:
        return None
    return importlib.import_module('ansible_collections.codex.offline_ml.plugins.module_utils._plan_' + role)


def require(condition, msg):
    if not condition:
        raise PlanError(msg)


def absolute(name, value, example):
    require(isinstance(value, str) and value.startswith('/'),
            "%s must be an absolute path on the host (for example %s), got '%s'" % (name, example, value))


def not_pins(pins):
    """The entries of PINS that are not exact name==version pins."""
    return [pin for pin in pins if not PIN_RE.match(str(pin)) or str(pin) != str(pin).strip()]


def pin_names(pins):
    """Normalised distribution names of exact PINS."""
    return [normalize_name(PIN_RE.match(str(pin)).group(1)) for pin in pins]


def netloc_has_userinfo(url):
    """Whether URL (with or without a scheme) names a user or token before its host."""
    rest = url.split('://', 1)[1] if re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://', url) else url
    return '@' in re.split(r'[/?#]', rest, maxsplit=1)[0]


def redact_userinfo(url):
    """URL with whatever comes before its host's '@' replaced by ***."""
    match = re.match(r'^([A-Za-z][A-Za-z0-9+.-]*://)?[^/?#]*@', url)
    return ((match.group(1) or '') + '***@' + url[match.end():]) if match else url


def strip_slashes(path):
    return re.sub('/+$', '', path)
