"""Plotly builders for the navigation pages: the clickable map (real points plus an invisible
probe grid, so a click on an empty spot is a point too), paths drawn on a map or plane,
per-step measures under a face strip, and the attribute map. Data in, figure out."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.maps import marker_size
from dashboard.charts.stats import REAL, SAMPLE, _style

PATH_COLORS = {"straight": "#E4572E", "center": "#2E86AB", "shell": "#3BB273", "nudge": "#8E44AD",
               "attribute": "#C0392B"}
REAL_CURVE, PROBE_CURVE = 0, 1      # curve numbers a click reports
PROBE_N = 90                        # probe grid resolution per side (90 x 90 = 8,100 points)


def probe_grid(coords: np.ndarray, n: int = PROBE_N) -> np.ndarray:
    """A regular grid [n*n, 2] over the map's extent (plus a margin), clickable anywhere."""
    lo, hi = np.percentile(coords, [0.5, 99.5], axis=0)
    pad = 0.08 * (hi - lo) + 1e-9
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], n),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], n))
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


def nav_map(coords: np.ndarray, axis_titles: tuple[str, str], probes: np.ndarray,
            lines: dict[str, np.ndarray] | None = None, marks: dict[str, np.ndarray] | None = None,
            height: int = 560) -> go.Figure:
    """Real z-points (curve 0, point index = row), the probe grid (curve 1, invisible until
    clicked), then path lines and labelled marks (endpoints, the decoded location)."""
    fig = go.Figure()
    size = marker_size(len(coords))
    fig.add_scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", name=f"real z-points ({len(coords):,})",
                      marker=dict(size=size, color=REAL, opacity=0.45),
                      selected=dict(marker=dict(color="#111111", size=size + 3)),
                      hovertemplate="z-point #%{pointNumber}<extra></extra>")
    fig.add_scattergl(x=probes[:, 0], y=probes[:, 1], mode="markers", name="any spot (click to decode)",
                      marker=dict(size=7, color="#000000", opacity=0.0, symbol="x"),
                      selected=dict(marker=dict(opacity=1.0, color="#D62728", size=14)),
                      unselected=dict(marker=dict(opacity=0.0)), showlegend=False,
                      hovertemplate="decode here (%{x:.2f}, %{y:.2f})<extra></extra>")
    for name, xy in (lines or {}).items():
        fig.add_scattergl(x=xy[:, 0], y=xy[:, 1], mode="lines+markers", name=name, hoverinfo="skip",
                          line=dict(color=PATH_COLORS.get(name.split(" ")[0], SAMPLE), width=3),
                          marker=dict(size=6))
    for name, xy in (marks or {}).items():
        fig.add_scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers+text", name=name, text=[name] * len(xy),
                          textposition="top center", hoverinfo="skip",
                          marker=dict(size=15, color=SAMPLE, symbol="star", line=dict(color="white", width=1.5)))
    fig.update_xaxes(title=axis_titles[0])
    fig.update_yaxes(title=axis_titles[1])
    fig.update_layout(dragmode="zoom", hovermode="closest", uirevision="keep", clickmode="event+select")
    return _style(fig, height)


def add_lines(fig: go.Figure, lines: dict[str, np.ndarray]) -> go.Figure:
    """Draw paths (WebGL, so they stay above WebGL point clouds) on any 2-D figure."""
    for name, xy in lines.items():
        fig.add_scattergl(x=xy[:, 0], y=xy[:, 1], mode="lines+markers", name=name, hoverinfo="skip",
                          line=dict(color=PATH_COLORS.get(name.split(" ")[0], SAMPLE), width=3),
                          marker=dict(size=6))
    return fig


def measures_figure(steps: np.ndarray, series: dict[str, np.ndarray], reference: dict[str, float],
                    x_title: str = "step", height: int = 260) -> go.Figure:
    """One small panel per measure (Mahalanobis radius, nearest-real distance, face found),
    each with the held-out real points' median as a dashed line."""
    names = list(series)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.08)
    for i, name in enumerate(names, start=1):
        fig.add_scatter(x=steps, y=series[name], mode="lines+markers", row=1, col=i, showlegend=False,
                        line=dict(color=SAMPLE), hovertemplate="%{x}: %{y:.3f}<extra></extra>")
        if name in reference:
            fig.add_hline(y=reference[name], line=dict(color=REAL, dash="dash"), row=1, col=i,
                          annotation_text="real (held-out) median", annotation_font_size=10)
        fig.update_xaxes(title=x_title, row=1, col=i)
    fig.update_layout(margin=dict(t=30))
    return _style(fig, height)


def attribute_map(xy: np.ndarray, positive: np.ndarray, name: str, y_title: str,
                  marks: dict[str, np.ndarray] | None = None, height: int = 480) -> go.Figure:
    """Every z-point at (position along the attribute direction, remaining main spread),
    coloured by the group: the map whose x-axis is the attribute."""
    fig = go.Figure()
    size = marker_size(len(xy))
    for grp, color, label in ((False, "#9DB4CF", f"not {name}"), (True, SAMPLE, name)):
        m = positive == grp
        fig.add_scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=f"{label} ({int(m.sum()):,})",
                          marker=dict(size=size, color=color, opacity=0.5), hoverinfo="skip")
    for label, p in (marks or {}).items():
        fig.add_scattergl(x=p[:, 0], y=p[:, 1], mode="lines+markers", name=label, hoverinfo="skip",
                          line=dict(color="#111111", width=2), marker=dict(size=8, color="#111111"))
    fig.update_xaxes(title=f"along the {name} direction (σ of the data along it)")
    fig.update_yaxes(title=y_title)
    return _style(fig, height)
