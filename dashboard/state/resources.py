"""What a run loads once and every page shares, one cache entry a run, keyed by run id and
cache root: its ``RunSampler`` (model, z-points, neighbour index, statistics; cache_resource),
the index table, images, reconstructions and decodes (cache_data), the live face judge, the
attribute directions and the face detector."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import api
from core.errors import AtlasError, BrokenArtifactError


class SharedQueryIndex:
    """Wraps the run's neighbour index (api.open_knn_index) and remembers its last answer: the
    batch diagnostics (k=16) and the map placement (k=15) of the same new vectors then cost one
    pass over the 200,000 z-points instead of two (a pass is most of a slider move's time)."""

    def __init__(self, inner, k_min: int = 16):
        self.inner, self.k_min, self._last = inner, k_min, None

    def __getattr__(self, name):          # z, n, d, sq_norms: whatever the index offers
        return getattr(self.inner, name)

    def query(self, q, k: int, exclude_self: bool = False):
        q = np.atleast_2d(np.asarray(q, np.float32))
        key = (q.shape, exclude_self, q.tobytes())
        last = self._last
        if last is not None and last[0] == key and last[1].shape[1] >= k:
            return last[1][:, :k], last[2][:, :k]
        dist, idx = self.inner.query(q, max(k, min(self.k_min, self.inner.n - exclude_self)),
                                     exclude_self=exclude_self)
        self._last = (key, dist, idx)
        return dist[:, :k], idx[:, :k]


def _one_blas_thread() -> None:
    """BLAS on one thread in the server process. OpenBLAS's idle workers spin for a while
    after every multi-threaded call (a 21 x 256 Mahalanobis product was enough) and took the
    second core from the decode thread: a slider move cost decode + search (38 ms) instead of
    the longer of the two (21 ms; 200,000 z-points, 2 cores). Heavy work runs in jobs."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:   # ships with scikit-learn; without it BLAS keeps its default
        return
    # A limit covers the libraries loaded so far: load scipy's and FAISS's own OpenBLAS first.
    import scipy.linalg  # noqa: F401
    try:
        import faiss  # noqa: F401
    except ImportError:
        pass
    threadpool_limits(limits=1, user_api="blas")


@st.cache_resource(max_entries=4, show_spinner="loading the run (model, z-points, neighbour index)")
def run_sampler(run_id: str, root: str) -> api.RunSampler:
    import torch

    # The server only decodes small batches: one thread is as fast for 21 faces and does not
    # collapse when a training or UMAP job competes for the same two cores (2 threads: 10x).
    torch.set_num_threads(1)
    _one_blas_thread()
    run = api.open_run(run_id, root)
    # z-points in memory, never mapped: a z.npy truncated under a mapping kills the server
    # (SIGBUS) for every user. The run's persisted neighbour index (built once, by derive or
    # here), its last query shared by the diagnostics and the map placement.
    z = run.z(mmap=False)
    gen = api.RunSampler(run, knn=SharedQueryIndex(api.open_knn_index(z, run.derived())), z=z)
    _LOADED.add((run_id, root))
    return gen


# Runs whose RunSampler this process has built: pages that can draw without it (the UMAP
# map) draw first and load it afterwards instead of keeping the user waiting.
_LOADED: set[tuple[str, str]] = set()


def is_loaded(run_id: str, root: str) -> bool:
    return (run_id, root) in _LOADED


@st.cache_resource(max_entries=4, show_spinner="computing statistics of the z-points (once per run)")
def stats(run_id: str, root: str):
    return run_sampler(run_id, root).stats


@st.cache_resource(max_entries=4, show_spinner=False)
def knn(run_id: str, root: str):
    return run_sampler(run_id, root).knn


@st.cache_data(max_entries=4, show_spinner=False)
def index(run_id: str, root: str) -> pd.DataFrame:
    return api.open_run(run_id, root).index()


@st.cache_data(max_entries=4, show_spinner=False)
def index_columns(run_id: str, root: str) -> list[str]:
    """The index table's column names, from the parquet footer (no rows read)."""
    import pyarrow.parquet as pq

    path = api.open_run(run_id, root).paths.index
    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError) as e:   # ArrowInvalid is a ValueError: a damaged table
        raise BrokenArtifactError(path, f"not a readable parquet table ({type(e).__name__})",
                                  "delete the run folder and train it again") from None
    return [c for c in names if not c.startswith("__index_level_")]   # a stored pandas index


@st.cache_resource(max_entries=4, show_spinner=False)
def images(run_id: str, root: str):
    return api.open_run(run_id, root).images()          # uint8 [N, S, S, 3], rows read on demand


@st.cache_data(max_entries=32, show_spinner=False)
def reconstructions(run_id: str, root: str, rows: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(originals, reconstructions) uint8 [n, S, S, 3] of the given z-point rows: the decoded
    z-points (what re-encoding gives, and all a run imported from z-points plus a decoder has)."""
    gen = run_sampler(run_id, root)
    orig = np.asarray(images(run_id, root)[list(rows)])
    return orig, gen.decode(np.asarray(gen.z[list(rows)], np.float32))


@st.cache_data(max_entries=64, show_spinner=False)
def decode(run_id: str, root: str, z_bytes: bytes, d: int) -> np.ndarray:
    z = np.frombuffer(z_bytes, dtype=np.float32).reshape(-1, d)
    return run_sampler(run_id, root).decode(z)


@st.cache_resource(max_entries=4, show_spinner=False)
def live_judge(run_id: str, root: str):
    """Face rate and diversity references of a run (api.LiveJudge), built once per run."""
    gen = run_sampler(run_id, root)
    rows = gen.heldout_rows if len(gen.heldout_rows) else gen.train_rows
    return api.LiveJudge(gen.decode, np.asarray(gen.z[rows[:2000]]))


@st.cache_resource(max_entries=8, show_spinner="fitting a direction for every attribute (once per run)")
def attribute_directions(run_id: str, root: str, method: str):
    gen = run_sampler(run_id, root)
    return api.attribute_directions(gen.z, index(run_id, root), stats(run_id, root), method=method)


@st.cache_data(max_entries=16, show_spinner="projecting the z-points onto the attribute direction")
def attribute_plane(run_id: str, root: str, method: str, name: str) -> np.ndarray:
    u, _ = attribute_directions(run_id, root, method).get(name)
    return api.attribute_plane(run_sampler(run_id, root).z, u, stats(run_id, root))


@st.cache_data(max_entries=8, show_spinner=False)
def attribute_groups(run_id: str, root: str) -> dict[str, np.ndarray]:
    return api.label_groups(index(run_id, root))


@st.cache_resource(show_spinner=False)
def face_detector():
    """api.has_face (OpenCV's Haar cascade) when OpenCV is installed, else None: the strips
    then show no face column."""
    try:
        has_face = api.has_face
        has_face(np.zeros((1, 64, 64, 3), np.uint8))          # loads the cascade once
    except (ImportError, AtlasError, AttributeError):
        return None
    return has_face
