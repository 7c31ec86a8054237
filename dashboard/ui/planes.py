"""2-D projections of the z-points (coordinate planes or PCA main-axis planes), shared by the
Projections and Correlations pages: the data behind charts.maps.projection_scatter."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import api
from dashboard import batch, cached, state
from dashboard.charts.maps import projection_scatter

MAX_SCATTER = 50_000   # points drawn; contours and ellipses always use every z-point


@st.cache_data(max_entries=4, show_spinner=False)
def _sample_rows(n: int, seed: int = 0) -> np.ndarray:
    return np.arange(n) if n <= MAX_SCATTER else np.sort(
        np.random.default_rng(seed).choice(n, MAX_SCATTER, replace=False))


@st.cache_data(max_entries=16, show_spinner="projecting the z-points")
def plane(rid: str, root: str, kind: str, a: int, b: int):
    """(xy of all points [N, 2], mean [2], cov [2, 2], axis labels) for one plane."""
    s = cached.stats(rid, root)
    z = cached.generator(rid, root).z
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


def project_batch(rid: str, root: str, kind: str, a: int, b: int, zb: np.ndarray) -> np.ndarray:
    if kind == "pca":
        return api.stats_plane(cached.stats(rid, root), zb, a, b)
    return zb[:, [a, b]]


def plane_figure(rid: str, kind: str, a: int, b: int, overlay: bool = True, height: int = 620):
    root = state.root()
    xy, mean, cov, labels = plane(rid, root, kind, a, b)
    rows = _sample_rows(len(xy))
    bxy = None
    if overlay:
        bxy = project_batch(rid, root, kind, a, b, batch.current(rid).z)
    r = np.corrcoef(xy[:, 0], xy[:, 1])[0, 1] if len(xy) > 2 else float("nan")
    fig = projection_scatter(xy[rows], mean, cov, labels, batch_xy=bxy, density_xy=xy, height=height)
    return fig, len(rows), len(xy), r
