"""Public entry point: ``sample(name, stats, n, *, seed, **params)`` (lives in core.sampling.registry)."""
from core.sampling.registry import SAMPLERS, sample

__all__ = ["SAMPLERS", "sample"]
