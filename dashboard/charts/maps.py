"""Plotly builders for point clouds: 2-D projections with contours and confidence ellipses,
the full UMAP scatter (WebGL) and its light thumbnail (density image + overlay only)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.charts import isolines
from dashboard.charts.stats import REAL, SAMPLE, _style

QUALITATIVE = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#EECA3B", "#72B7B2", "#9D755D",
               "#FF9DA6", "#BAB0AC", "#79706E", "#D67195", "#439894"]
SIGMA_DASH = {1: "solid", 2: "dash", 3: "dot"}


def ellipse_xy(mean: np.ndarray, cov: np.ndarray, k: float, n: int = 120) -> np.ndarray:
    """Points of the k-sigma ellipse {x: (x-m)^T C^-1 (x-m) = k^2} of a 2-D Gaussian [n, 2]."""
    w, v = np.linalg.eigh(np.asarray(cov, np.float64))
    t = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)], 1)                     # [n, 2]
    return np.asarray(mean) + k * (circle * np.sqrt(np.maximum(w, 0))) @ v.T


def density_grid(xy: np.ndarray, bins: int | None = None, smooth: int = 2):
    """Histogram density on a bins x bins grid (box-smoothed) for contour lines; fewer bins
    for fewer points so the contours stay smooth."""
    bins = bins or int(np.clip(np.sqrt(len(xy)) / 2, 12, 60))
    lo, hi = np.percentile(xy, [0.5, 99.5], axis=0)
    h, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins, range=[[lo[0], hi[0]], [lo[1], hi[1]]])
    for _ in range(smooth):
        p = np.pad(h, 1, mode="edge")
        h = sum(p[i:i + bins, j:j + bins] for i in range(3) for j in range(3)) / 9.0
    return 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), h.T   # contour wants z[y, x]


def projection_scatter(xy: np.ndarray, mean: np.ndarray, cov: np.ndarray, labels: tuple[str, str],
                       batch_xy: np.ndarray | None = None, density_xy: np.ndarray | None = None,
                       height: int = 620) -> go.Figure:
    """Real points (WebGL), density contours, 1/2/3-sigma ellipses, the current batch on top."""
    fig = go.Figure()
    fig.add_scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", name=f"real z-points ({len(xy):,})",
                      marker=dict(size=marker_size(len(xy)) - 1, color=REAL, opacity=0.35),
                      hovertemplate=f"{labels[0]} %{{x:.3f}}<br>{labels[1]} %{{y:.3f}}<extra></extra>")
    # contours and ellipses as WebGL lines: plotly draws WebGL above SVG, so SVG lines would
    # vanish under a dense WebGL cloud (dashboard/isolines.py)
    cx, cy = isolines.polyline(*density_grid(density_xy if density_xy is not None else xy))
    fig.add_scattergl(x=cx, y=cy, mode="lines", name="density", hoverinfo="skip",
                      line=dict(color="#1f3b5c", width=1), opacity=0.8)
    for k in (1, 2, 3):
        e = ellipse_xy(mean, cov, k)
        fig.add_scattergl(x=e[:, 0], y=e[:, 1], mode="lines", name=f"{k}σ ellipse", hoverinfo="skip",
                          line=dict(color="#333", width=1.6, dash=SIGMA_DASH[k]))
    if batch_xy is not None and len(batch_xy):
        fig.add_scattergl(x=batch_xy[:, 0], y=batch_xy[:, 1], mode="markers", name="current batch",
                          marker=dict(size=10, color=SAMPLE, symbol="diamond", line=dict(color="white", width=1)),
                          customdata=np.arange(len(batch_xy)),
                          hovertemplate="sample #%{customdata}<br>%{x:.3f}, %{y:.3f}<extra></extra>")
    fig.update_xaxes(title=labels[0])
    fig.update_yaxes(title=labels[1], scaleanchor="x", scaleratio=1)
    return _style(fig, height)


def color_marker(values: np.ndarray | None, categories: list[str] | None, title: str) -> dict:
    """Marker spec for the big scatter: one colour, a continuous scale, or category codes."""
    base = dict(size=3, opacity=0.6)
    if values is None:
        return dict(base, color=REAL, opacity=0.45)
    if categories is None:
        return dict(base, color=values, colorscale="Viridis", showscale=True,
                    colorbar=dict(title=title, thickness=14))
    k = len(categories)
    scale = []
    for i in range(k):   # a step colorscale: code i -> its own colour
        c = QUALITATIVE[i % len(QUALITATIVE)]
        scale += [[i / k, c], [(i + 1) / k, c]]
    return dict(base, color=values, colorscale=scale, cmin=-0.5, cmax=k - 0.5, showscale=True,
                colorbar=dict(title=title, thickness=14, tickvals=list(range(k)), ticktext=categories))


def marker_size(n: int) -> float:
    return 6.0 if n <= 5_000 else 4.0 if n <= 30_000 else 3.0 if n <= 100_000 else 2.0


LIGHT_AXIS = dict(gridcolor="#EBF0F8", zerolinecolor="#EBF0F8", linecolor="#BCCCDC", ticks="outside",
                  tickcolor="#BCCCDC")
OFF_DATA_NOTE = "hollow: off the data (farther from it than 95% of held-out real points)"


def umap_figure(coords: np.ndarray, marker: dict, axis_titles: tuple[str, str],
                batch_xy: np.ndarray | None = None, height: int = 680,
                off: np.ndarray | None = None) -> go.Figure:
    """Every z-point as one WebGL trace (curve 0, point index = z row), the batch as curve 1;
    its points off the data (bool ``off``) drawn hollow, explained by a legend entry."""
    fig = go.Figure()
    # big dots for small runs, fine dots where 200,000 would merge into a blot
    marker = dict(marker, size=marker_size(len(coords)))
    fig.add_scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", marker=marker,
                      name=f"real z-points ({len(coords):,})",
                      selected=dict(marker=dict(color="#111111", size=marker["size"] + 2)),
                      hovertemplate="z-point #%{pointNumber}<extra></extra>")
    if batch_xy is not None and len(batch_xy):
        hollow = np.zeros(len(batch_xy), bool) if off is None or len(off) != len(batch_xy) else np.asarray(off)
        fig.add_scattergl(x=batch_xy[:, 0], y=batch_xy[:, 1], mode="markers", name="current batch",
                          marker=dict(size=12, color=SAMPLE, symbol=np.where(hollow, "diamond-open", "diamond"),
                                      line=dict(color=np.where(hollow, SAMPLE, "white"), width=1.5)),
                          selected=dict(marker=dict(color="#8B0000", size=16)),
                          hovertemplate="sample #%{pointNumber}<extra></extra>")
        if hollow.any():   # a legend entry only (no points, so click numbering stays)
            fig.add_scattergl(x=[None], y=[None], mode="markers", name=f"{int(hollow.sum())} of {len(hollow)} {OFF_DATA_NOTE}",
                              marker=dict(size=12, color=SAMPLE, symbol="diamond-open"))
    fig.update_xaxes(title=axis_titles[0], **LIGHT_AXIS)
    fig.update_yaxes(title=axis_titles[1], **LIGHT_AXIS)
    fig.update_layout(dragmode="zoom", hovermode="closest", uirevision="keep")
    # No template (the page draws it with theme=None too): at 200,000 points a template made
    # the browser's first draw 0.4 s slower (headless Chromium, bare app 2.5 -> 2.1 s), so the
    # few looks it gave are set by hand.
    return _style(fig, height).update_layout(template=None, plot_bgcolor="white", paper_bgcolor="white",
                                             font=dict(family="sans-serif", color="#31333F"))


def density_rgb(xy: np.ndarray, px: int = 360, bins: int = 180) -> tuple[np.ndarray, list[float]]:
    """All points as a log-density image (white -> slate blue) [px, px, 3] uint8 and its
    [x0, x1, y0, y1] extent: the map's background when only an overlay changes. Counted on
    a coarser grid than shown, so 200,000 points read as a smooth density, not as dust."""
    lo, hi = np.percentile(xy, [0.2, 99.8], axis=0)
    pad = 0.05 * (hi - lo) + 1e-9
    lo, hi = lo - pad, hi + pad
    h, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=bins, range=[[lo[1], hi[1]], [lo[0], hi[0]]])
    v = np.log1p(h[::-1])                                            # image rows run top-down
    v = v / max(v.max(), 1e-9)
    rep = max(1, px // bins)
    v = np.repeat(np.repeat(v, rep, axis=0), rep, axis=1)
    rgb = np.stack([255 - 180 * v, 255 - 140 * v, 255 - 90 * v], -1)
    return rgb.astype(np.uint8), [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]


def _hex_rgb(c: str) -> np.ndarray:
    return np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], np.uint8)


def thumbnail_jpeg(bg: np.ndarray, extent: list[float], xy: np.ndarray, r: int = 6,
                   off: np.ndarray | None = None) -> bytes:
    """The density image with the batch drawn on as orange diamonds (white rim), points off
    the data (bool ``off``) as hollow ones: ~20 kB of JPEG in about a millisecond, what a
    slider move re-sends instead of 200,000 points."""
    import io

    from PIL import Image

    img = bg.copy()
    h, w = img.shape[:2]
    x0, x1, y0, y1 = extent
    col = np.clip((xy[:, 0] - x0) / (x1 - x0) * (w - 1), 0, w - 1).round().astype(int)
    row = np.clip((y1 - xy[:, 1]) / (y1 - y0) * (h - 1), 0, h - 1).round().astype(int)
    dy, dx = np.mgrid[-r - 1:r + 2, -r - 1:r + 2]
    manhattan = np.abs(dy) + np.abs(dx)
    hollow = np.zeros(len(xy), bool) if off is None or len(off) != len(xy) else np.asarray(off, bool)
    for rad, color in ((r + 1, np.array([255, 255, 255], np.uint8)), (r, _hex_rgb(SAMPLE))):
        m = manhattan <= rad
        yy, xx = (row[:, None] + dy[m][None]).ravel(), (col[:, None] + dx[m][None]).ravel()
        ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        img[yy[ok], xx[ok]] = color
    if hollow.any():   # punch the inside out again: only the rim shows, the density stays visible
        m = manhattan <= r - 3
        yy, xx = (row[hollow][:, None] + dy[m][None]).ravel(), (col[hollow][:, None] + dx[m][None]).ravel()
        ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        img[yy[ok], xx[ok]] = bg[yy[ok], xx[ok]]
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()
