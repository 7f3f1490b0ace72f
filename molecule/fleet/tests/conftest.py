"""Fixtures of the fleet scenario's verify.

Order matters once: the drift case (test_drift.py) changes a host, so its tests run after every other test
(pytest_collection_modifyitems below), whatever order pytest collected the files in.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fleet_helpers as fh  # noqa: E402  pylint: disable=wrong-import-position

LAST = "test_drift.py"


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: os.path.basename(str(item.fspath)) == LAST)


@pytest.fixture(scope="session")
def clean_audit():
    """playbooks/audit.yml over the converged fleet, with a snapshot of every host before and after."""
    before = dict((h, fh.snapshot(h)) for h in fh.EVERY)
    audit = fh.Audit()
    audit.snapshots = (before, dict((h, fh.snapshot(h)) for h in fh.EVERY))
    assert audit.doc is not None, "the audit wrote no fleet.json: %r" % (audit.result,)
    return audit
