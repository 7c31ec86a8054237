"""The run's 2-D maps: the UMAP once the background job has made it (the plane of the first
two PCA main axes until then) with the placement of new points and the decode-anywhere
inverse, the map's density image, colours and click probes, and the coordinate and main-axis
planes of the Projections, Correlations and Navigate pages."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core import api
from dashboard.state.resources import index, run_sampler, stats


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
    gen = run_sampler(run_id, root)
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


@st.cache_data(max_entries=8, show_spinner=False)
def density_rgb(run_id: str, root: str, umap_ready: bool) -> tuple[np.ndarray, list[float]]:
    """The 2-D map as a small density image plus its extent (dashboard.charts.maps.density_rgb)."""
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
def map_inverse(run_id: str, root: str, umap_ready: bool):
    layout = map_layout(run_id, root, umap_ready)
    # plain blend: re-scaling it to the neighbours' Mahalanobis radius measured less faithful
    # on held-out faces (bench/bench_inverse.py)
    return api.MapInverse(layout.coords, run_sampler(run_id, root).z)


@st.cache_data(max_entries=4, show_spinner=False)
def probes(run_id: str, root: str, umap_ready: bool) -> np.ndarray:
    from dashboard.charts.nav import probe_grid

    return probe_grid(map_layout(run_id, root, umap_ready).coords)


MAX_SCATTER = 50_000   # points drawn; contours and ellipses always use every z-point


@st.cache_data(max_entries=4, show_spinner=False)
def sample_rows(n: int, seed: int = 0) -> np.ndarray:
    return np.arange(n) if n <= MAX_SCATTER else np.sort(
        np.random.default_rng(seed).choice(n, MAX_SCATTER, replace=False))


@st.cache_data(max_entries=16, show_spinner="projecting the z-points")
def plane(rid: str, root: str, kind: str, a: int, b: int):
    """(xy of all points [N, 2], mean [2], cov [2, 2], axis labels) for one plane."""
    s = stats(rid, root)
    z = run_sampler(rid, root).z
    if kind == "pca":
        xy = api.stats_plane(s, z, a, b)
        mean, cov = np.zeros(2), np.diag(s.pca_eigvals[[a, b]])
        ex = s.pca_explained
        labels = (f"main axis {a} ({100 * ex[a]:.1f}% of variance)", f"main axis {b} ({100 * ex[b]:.1f}%)")
    else:
        xy = np.asarray(z[:, [a, b]], np.float32)
        mean, cov = s.mean[[a, b]], s.cov[np.ix_([a, b], [a, b])]
        labels = (f"component z{a}", f"component z{b}")
    return xy, mean, cov, labels
