# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base of the errors that carry a message for the operator and a kind for the module's result
(_mirror.MirrorError, _hf_specs.HfCacheError).

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
