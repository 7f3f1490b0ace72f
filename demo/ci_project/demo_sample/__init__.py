"""demo-sample: the project the demo's CI runner gates."""

__version__ = "1.0.0"
