# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base of the errors that carry a message for the operator and a kind for the module's result (MirrorError
here, _hf_specs.HfCacheError, _rollout.RolloutError, the release, venv, report and file errors), and how a module
names the role variable an error is about.

Private to the collection. Standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class OperatorError(Exception):
    """MSG says what is wrong and how to fix it; KIND names the problem in the result; DETAILS are extra facts."""

    def __init__(self, msg, kind='error', **details):
        super(OperatorError, self).__init__(msg)
        self.msg = msg
        self.kind = kind
        self.details = details


class MirrorError(OperatorError):
    """A problem with the wheel mirror or the inputs that name what is wanted from it."""


def variable_prefix(value):
    """What goes before an option name to name the role variable in a message: the option variable_prefix is the
    role's name (torch_cpu), and the trailing underscore is added here; one already given is not doubled, so
    torch_cpu and torch_cpu_ both give torch_cpu_. Empty: the module's own option names."""
    value = (value or '').rstrip('_')
    return value + '_' if value else ''
