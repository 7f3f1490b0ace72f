"""The seed's idiom: skipped (not an error) where torch is missing or unusable."""

import pytest

torch = pytest.importorskip("torch")

from demo_sample import tensors  # noqa: E402


def test_total():
    assert tensors.total([1, 2, 3.5]) == 6.5
