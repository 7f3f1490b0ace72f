"""Route each case to its runner: @pytest.mark.runner("ci-gates") deselects the case on the other hosts."""

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "runner(name): the case runs on that Molecule host only")


def pytest_collection_modifyitems(config, items):
    keep, drop, seen, wanted = [], [], set(), set()
    for item in items:
        marker = item.get_closest_marker("runner")
        callspec = getattr(item, "callspec", None)
        host = callspec.params.get("_testinfra_host") if callspec else None
        name = host.backend.get_hostname() if host is not None else None
        seen.add(name)
        if marker is not None:
            wanted.add(marker.args[0])
            if name != marker.args[0]:
                drop.append(item)
                continue
        keep.append(item)
    unknown = wanted - seen
    if unknown:
        raise pytest.UsageError("runner marks name hosts that are not in the inventory: %s" % ", ".join(sorted(unknown)))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
