"""Density contour lines as plain line segments (marching squares), so they can be drawn as
WebGL lines: plotly puts every WebGL trace above every SVG one, so SVG contours and ellipses
vanish under a dense WebGL point cloud (above ~17,000 points the cloud covers them)."""
from __future__ import annotations

import numpy as np


def segments(x: np.ndarray, y: np.ndarray, h: np.ndarray, level: float) -> np.ndarray:
    """Line segments [m, 2, 2] where the grid function h [len(y), len(x)] crosses ``level``
    (linear interpolation along cell edges; saddles resolved by the cell's mean)."""
    h = np.asarray(h, np.float64)
    a = h >= level
    bl, br, tl, tr = h[:-1, :-1], h[:-1, 1:], h[1:, :-1], h[1:, 1:]
    abl, abr, atl, atr = a[:-1, :-1], a[:-1, 1:], a[1:, :-1], a[1:, 1:]
    X0, Y0 = np.meshgrid(x[:-1], y[:-1])
    X1, Y1 = np.meshgrid(x[1:], y[1:])

    def cut(h0, h1):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.clip(np.where(h1 != h0, (level - h0) / (h1 - h0), 0.5), 0, 1)

    # crossing point on each edge: bottom, right, top, left -> [ny-1, nx-1, 2]
    pts = [np.stack([X0 + cut(bl, br) * (X1 - X0), Y0], -1),
           np.stack([X1, Y0 + cut(br, tr) * (Y1 - Y0)], -1),
           np.stack([X0 + cut(tl, tr) * (X1 - X0), Y1], -1),
           np.stack([X0, Y0 + cut(bl, tl) * (Y1 - Y0)], -1)]
    crossed = np.stack([abl != abr, abr != atr, atl != atr, abl != atl], -1)      # [.., 4]
    out = []
    two = crossed.sum(-1) == 2
    if two.any():
        e = np.argsort(~crossed[two], axis=1, kind="stable")[:, :2]            # the two crossed edges
        p = np.stack(pts, 2)[two]                                               # [m, 4, 2]
        out.append(np.stack([p[np.arange(len(p)), e[:, 0]], p[np.arange(len(p)), e[:, 1]]], 1))
    four = crossed.sum(-1) == 4
    if four.any():
        p = np.stack(pts, 2)[four]
        joined = ((bl + br + tl + tr)[four] / 4 >= level) == abl[four]         # BL joins TR via center
        pair1 = np.where(joined[:, None], [0, 1], [0, 3])                       # bottom-right or bottom-left
        pair2 = np.where(joined[:, None], [2, 3], [1, 2])
        r = np.arange(len(p))
        for pr in (pair1, pair2):
            out.append(np.stack([p[r, pr[:, 0]], p[r, pr[:, 1]]], 1))
    return np.concatenate(out) if out else np.zeros((0, 2, 2))


def polyline(xc: np.ndarray, yc: np.ndarray, h: np.ndarray, n_levels: int = 8) -> tuple[list, list]:
    """All contour segments of n_levels evenly spaced levels as x, y lists with None breaks
    (one scattergl trace)."""
    top = float(np.max(h))
    xs: list = []
    ys: list = []
    for level in np.linspace(top / (n_levels + 1), top * n_levels / (n_levels + 1), n_levels):
        seg = segments(xc, yc, h, level)
        if len(seg):
            xs += np.column_stack([seg[:, 0, 0], seg[:, 1, 0], np.full(len(seg), np.nan)]).ravel().tolist()
            ys += np.column_stack([seg[:, 0, 1], seg[:, 1, 1], np.full(len(seg), np.nan)]).ravel().tolist()
    return [None if np.isnan(v) else v for v in xs], [None if np.isnan(v) else v for v in ys]
