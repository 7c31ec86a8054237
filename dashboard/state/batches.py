"""The batch being explored: one frozen, hashable value (sampler, parameters, seed, n) that the
Generator sets and every page overlays. This module is its only owner: it keeps the value in
the session, remembers each sampler's last parameters, and caches the batch, its place on
the map, its live check and the sampler's cloud (the value itself is the cache key: no JSON
round trips)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from core import api
from dashboard.state import maps, session
from dashboard.state.resources import live_judge, run_sampler

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
    return batch(rid, session.root(), spec())


def placement(rid: str) -> np.ndarray:
    """Where the current batch lands on the run's 2-D map [n, 2]."""
    return placed(rid, session.root(), api.umap_ready(api.RunPaths.of(rid)), spec())


# -- the caches: keyed by the frozen spec itself -------------------------------------------------
N_CLOUD = 2000   # points per sampler when a distribution (not a face grid) is drawn


@st.cache_data(max_entries=64, show_spinner=False)
def batch(run_id: str, root: str, spec: BatchSpec) -> api.Batch:
    """The batch of ``spec``: vectors, decoded faces, diagnostics."""
    return run_sampler(run_id, root).batch(spec.sampler, spec.n, seed=spec.seed, **spec.kwargs)


@st.cache_data(max_entries=64, show_spinner=False)
def placed(run_id: str, root: str, umap_ready: bool, spec: BatchSpec) -> np.ndarray:
    """Where the batch of ``spec`` lands on the 2-D map [n, 2]."""
    b = batch(run_id, root, spec)
    return maps.map_layout(run_id, root, umap_ready).placer.place(b.z)


@st.cache_data(max_entries=64, show_spinner=False)
def live_check(run_id: str, root: str, spec: BatchSpec) -> dict:
    """Face rate and diversity of one Generator batch (a few ms a face; cached per batch);
    empty for a run without a decoder (no faces to judge)."""
    b = batch(run_id, root, spec)
    return {} if b.images is None else live_judge(run_id, root).judge(b.images)


@st.cache_data(max_entries=16, show_spinner=False)
def cloud(run_id: str, root: str, sampler: str, params: tuple[tuple[str, Any], ...], seed: int,
          n: int = N_CLOUD) -> np.ndarray:
    """Many vectors of one sampler (no decoding): distributions such as radius histograms."""
    return run_sampler(run_id, root).vectors(sampler, n, seed=seed, **dict(params)).astype(np.float32)
