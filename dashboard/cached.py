"""Every st.cache_* wrapper of the app, keyed by small hashable values (run id, cache root,
parameters as JSON). Models, indexes and statistics live in one ``RunSampler`` per run
(cache_resource); small derived arrays are cache_data. Pages never cache on their own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

from core import api
from core.errors import BrokenArtifactError

if TYPE_CHECKING:
    from dashboard.batch import BatchSpec

N_CLOUD = 2000   # points per sampler when a distribution (not a face grid) is drawn


class SharedQueryIndex:
    """Wraps the run's neighbour index (api.open_knn_index) and remembers
    its last answer: the batch diagnostics (k=16) and the map placement (k=15) of the same new vectors then cost one pass over the
    200,000 z-points instead of two (a pass is most of a slider move's time)."""

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
def generator(run_id: str, root: str) -> api.RunSampler:
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
    return generator(run_id, root).stats


@st.cache_resource(max_entries=4, show_spinner=False)
def knn(run_id: str, root: str):
    return generator(run_id, root).knn


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


@st.cache_data(max_entries=64, show_spinner=False)
def batch(run_id: str, root: str, spec: "BatchSpec") -> api.Batch:
    """The batch of ``spec`` (dashboard.batch.BatchSpec): vectors, decoded faces, diagnostics."""
    return generator(run_id, root).batch(spec.sampler, spec.n, seed=spec.seed, **spec.kwargs)


@st.cache_data(max_entries=16, show_spinner=False)
def cloud(run_id: str, root: str, sampler: str, params: tuple[tuple[str, Any], ...], seed: int,
          n: int = N_CLOUD) -> np.ndarray:
    """Many vectors of one sampler (no decoding): distributions such as radius histograms."""
    return generator(run_id, root).vectors(sampler, n, seed=seed, **dict(params)).astype(np.float32)


@st.cache_data(max_entries=32, show_spinner=False)
def reconstructions(run_id: str, root: str, rows: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(originals, reconstructions) uint8 [n, S, S, 3] of the given z-point rows: the decoded
    z-points (what re-encoding gives, and all a run imported from z-points plus a decoder has)."""
    gen = generator(run_id, root)
    orig = np.asarray(images(run_id, root)[list(rows)])
    return orig, gen.decode(np.asarray(gen.z[list(rows)], np.float32))


@st.cache_data(max_entries=64, show_spinner=False)
def decode(run_id: str, root: str, z_bytes: bytes, d: int) -> np.ndarray:
    z = np.frombuffer(z_bytes, dtype=np.float32).reshape(-1, d)
    return generator(run_id, root).decode(z)


# -- 2-D map: UMAP when the background job has finished, the PCA plane until then ------------
@dataclass
class MapLayout:
    kind: str                 # "umap" or "pca"
    coords: np.ndarray        # [N, 2] float32
    placer: object            # .place(q [n, d]) -> [n, 2]

    @property
    def axis_titles(self) -> tuple[str, str]:
        return axis_titles(self.kind)


class _PCAPlacer:
    """New points on the PCA preview: the exact projection onto the first two main axes."""

    def __init__(self, st_):
        self.stats = st_

    def place(self, q: np.ndarray) -> np.ndarray:
        return api.stats_plane(self.stats, q)


@st.cache_resource(max_entries=4, show_spinner="loading the 2-D map of the z-points")
def map_layout(run_id: str, root: str, umap_ready: bool) -> MapLayout:
    """``umap_ready`` is part of the key so the app swaps the preview for UMAP once it exists."""
    gen = generator(run_id, root)
    s = stats(run_id, root)
    if umap_ready:
        # the background job wrote it; the server only loads it, never fits
        emb = api.derived_umap(gen.run, gen.z, s.z_key)
        if emb is None:
            return MapLayout("pca", api.stats_plane(s, gen.z), _PCAPlacer(s))
        return MapLayout("umap", emb.coords, api.Placer.from_embedding(gen.z, emb, knn=gen.knn))
    return MapLayout("pca", api.stats_plane(s, gen.z), _PCAPlacer(s))


@st.cache_resource(max_entries=4, show_spinner=False)
def map_coords(run_id: str, root: str, umap_ready: bool) -> tuple[str, np.ndarray]:
    """(kind, coords [N, 2] float32, read-only) to draw the map. With the UMAP derived, only
    its file is read (keyed by the z-points' fingerprint that derive recorded): no z-points,
    model, neighbour index or statistics, so a cold page draws in a second. Else the layout."""
    if umap_ready:
        run = api.open_run(run_id, root)
        key = api.derive_status(run.paths).get("z_key")
        emb = api.derived_umap(run, _shape_only(run.paths.z), key) if key else None
        if emb is not None:
            emb.coords.flags.writeable = False                      # shared by every session
            return "umap", emb.coords
    layout = map_layout(run_id, root, umap_ready)
    return layout.kind, layout.coords


def _shape_only(npy) -> np.ndarray:
    """An [N, d] array of z.npy's shape that holds no data (every row a view of one zero):
    what the embedding's check needs, without reading or mapping 200 MB of z-points."""
    with open(npy, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape = read(f)[0]
    return np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=shape, strides=(0,) * len(shape))


def axis_titles(kind: str) -> tuple[str, str]:
    return ("UMAP 1", "UMAP 2") if kind == "umap" else ("PCA axis 1", "PCA axis 2")


@st.cache_data(max_entries=64, show_spinner=False)
def placed(run_id: str, root: str, umap_ready: bool, spec: "BatchSpec") -> np.ndarray:
    """Where the batch of ``spec`` lands on the 2-D map [n, 2]."""
    b = batch(run_id, root, spec)
    return map_layout(run_id, root, umap_ready).placer.place(b.z)


@st.cache_data(max_entries=8, show_spinner=False)
def density_rgb(run_id: str, root: str, umap_ready: bool) -> tuple[np.ndarray, list[float]]:
    """The 2-D map as a small density image plus its extent (charts_maps.density_rgb)."""
    from dashboard.charts.maps import density_rgb as build

    return build(map_layout(run_id, root, umap_ready).coords)


@st.cache_data(max_entries=8, show_spinner=False)
def color_values(run_id: str, root: str, column: str) -> tuple[np.ndarray, list[str] | None]:
    """Per z-point colour values for the UMAP: numbers, or category codes plus their labels."""
    s = stats(run_id, root)
    if column == "radius":
        return s.radius.astype(np.float32), None
    if column == "Mahalanobis distance":
        return s.maha.astype(np.float32), None
    col = index(run_id, root)[column]
    if pd.api.types.is_numeric_dtype(col) and col.nunique() > 12:
        return col.to_numpy(np.float32), None
    cat = pd.Categorical(col.astype(str))
    return cat.codes.astype(np.float32), [str(c) for c in cat.categories]


@st.cache_resource(max_entries=4, show_spinner=False)
def live_judge(run_id: str, root: str):
    """Face rate and diversity references of a run (api.LiveJudge), built once per run."""
    gen = generator(run_id, root)
    rows = gen.heldout_rows if len(gen.heldout_rows) else gen.train_rows
    return api.LiveJudge(gen.decode, np.asarray(gen.z[rows[:2000]]))


@st.cache_data(max_entries=64, show_spinner=False)
def live_check(run_id: str, root: str, spec: "BatchSpec") -> dict:
    """Face rate and diversity of one Generator batch (a few ms a face; cached per batch);
    empty for a run without a decoder (no faces to judge)."""
    b = batch(run_id, root, spec)
    return {} if b.images is None else live_judge(run_id, root).judge(b.images)


@st.cache_data(ttl=10, show_spinner=False)
def quality_rows(run_id: str, root: str) -> list[dict]:
    """Rows the quality job has cached so far (re-read at most every 10 s)."""
    return api.quality_rows(api.open_run(run_id, root))
