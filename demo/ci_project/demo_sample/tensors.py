"""Needs torch: covered only where torch is usable."""


def total(values):
    import torch

    return float(torch.tensor(values, dtype=torch.float64).sum())
