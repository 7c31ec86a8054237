"""2-D projections of the z-points (coordinate planes or PCA main-axis planes) as figures, shared
by the Projections, Correlations and Navigate pages (the planes' data: state.maps.plane)."""
from __future__ import annotations

import numpy as np

from core import api
from dashboard.charts.maps import projection_scatter
from dashboard.state import batches, maps, resources, session


def project_batch(rid: str, root: str, kind: str, a: int, b: int, zb: np.ndarray) -> np.ndarray:
    if kind == "pca":
        return api.stats_plane(resources.stats(rid, root), zb, a, b)
    return zb[:, [a, b]]


def plane_figure(rid: str, kind: str, a: int, b: int, overlay: bool = True, height: int = 620):
    root = session.root()
    xy, mean, cov, labels = maps.plane(rid, root, kind, a, b)
    rows = maps.sample_rows(len(xy))
    bxy = None
    if overlay:
        bxy = project_batch(rid, root, kind, a, b, batches.current(rid).z)
    r = np.corrcoef(xy[:, 0], xy[:, 1])[0, 1] if len(xy) > 2 else float("nan")
    fig = projection_scatter(xy[rows], mean, cov, labels, batch_xy=bxy, density_xy=xy, height=height)
    return fig, len(rows), len(xy), r
