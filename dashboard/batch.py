"""The batch being explored: one frozen, hashable value (sampler, parameters, seed, n) that the
Generator sets and every page overlays. This module is its only owner: it keeps the value in
the session, remembers each sampler's last parameters, and asks the caches for the batch and
its place on the map (the value itself is the cache key: no JSON round trips)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from core import api
from dashboard import cached, state

_KEY, _MEMORY = "batch", "batch_memory"


@dataclass(frozen=True)
class BatchSpec:
    sampler: str = "box"
    params: tuple[tuple[str, Any], ...] = (("fact", 1.0),)     # sorted (name, value) pairs
    seed: int = 0
    n: int = 21

    @classmethod
    def of(cls, sampler: str, params: dict, seed: int, n: int) -> "BatchSpec":
        return cls(sampler, tuple(sorted(params.items())), int(seed), int(n))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    def label(self) -> str:
        ps = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params)
        return f"{self.sampler}({ps}) seed {self.seed}, {self.n} vectors"


def spec() -> BatchSpec:
    """The session's batch (the default box batch until the Generator sets one)."""
    return st.session_state.get(_KEY) or BatchSpec()


def set_spec(new: BatchSpec) -> None:
    st.session_state[_KEY] = new
    st.session_state.setdefault(_MEMORY, {})[new.sampler] = new.params


def remembered(sampler: str) -> dict[str, Any]:
    """The parameters this session last used with ``sampler`` (empty if never)."""
    return dict(st.session_state.get(_MEMORY, {}).get(sampler, ()))


def label() -> str:
    return spec().label()


def current(rid: str) -> api.Batch:
    """The batch the Generator page shows, computed (or taken from the cache) for any page."""
    return cached.batch(rid, state.root(), spec())


def placement(rid: str) -> np.ndarray:
    """Where the current batch lands on the run's 2-D map [n, 2]."""
    return cached.placed(rid, state.root(), api.umap_ready(api.RunPaths.of(rid)), spec())
