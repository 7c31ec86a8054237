"""Plotly figure builders for the statistics pages: plain functions, arrays in, figure out
(tested without a server). Maps and scatters of the z-points are in maps.py."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

REAL = "#4C78A8"        # real z-points: blue
REAL_LIGHT = "#9DB4CF"
SAMPLE = "#E4572E"      # sampled vectors: orange-red, everywhere
CUBE = "#8E6C8A"        # the naive common-interval cube sampler
FIT = "#222222"
HWHM_PER_SIGMA = float(np.sqrt(2 * np.log(2)))   # 1.1774: half width at half max / sigma


def _style(fig: go.Figure, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=40 if title else 20, b=50),
                      title=title, template="plotly_white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def loss_curves(history: list[dict]) -> go.Figure:
    ep = [h["epoch"] for h in history]
    fig = go.Figure()
    fig.add_scatter(x=ep, y=[h["train_loss"] for h in history], name="train", mode="lines+markers",
                    line=dict(color=REAL))
    fig.add_scatter(x=ep, y=[h.get("val_loss") for h in history], name="validation", mode="lines+markers",
                    line=dict(color=SAMPLE))
    fig.update_xaxes(title="epoch", dtick=max(1, len(ep) // 10))
    fig.update_yaxes(title="reconstruction loss (MSE per pixel)", type="log")
    return _style(fig, 340)


def error_hist(err: np.ndarray) -> go.Figure:
    fig = go.Figure(go.Histogram(x=err, nbinsx=60, marker_color=REAL, name="images"))
    fig.update_xaxes(title="per-image MSE of the reconstruction")
    fig.update_yaxes(title="number of images")
    return _style(fig, 340)


def gaussian_curve(edges: np.ndarray, center: float, half_width: float, amplitude: float):
    """The fitted Gaussian sampled finely over the histogram's range (counts per bin)."""
    x = np.linspace(edges[0], edges[-1], 400)
    sigma = max(half_width / HWHM_PER_SIGMA, 1e-12)
    return x, amplitude * np.exp(-0.5 * ((x - center) / sigma) ** 2)


def component_hist(edges, counts, center: float, half_width: float, amplitude: float, j: int,
                   height: int = 380) -> go.Figure:
    """Histogram of component j with its fitted Gaussian, the center and center ± half width."""
    mids = 0.5 * (edges[1:] + edges[:-1])
    fig = go.Figure()
    fig.add_bar(x=mids, y=counts, width=np.diff(edges), name="z-points", marker_color=REAL_LIGHT,
                marker_line_width=0, hovertemplate="z<sub>%d</sub> = %%{x:.3f}<br>%%{y} points<extra></extra>" % j)
    x, y = gaussian_curve(edges, center, half_width, amplitude)
    fig.add_scatter(x=x, y=y, name="fitted Gaussian", mode="lines", line=dict(color=FIT, width=2))
    fig.add_vline(x=center, line=dict(color=SAMPLE, width=2),
                  annotation_text=f"center {center:.3f}", annotation_position="top right")
    for s in (-1, 1):
        fig.add_vline(x=center + s * half_width, line=dict(color=SAMPLE, width=1.5, dash="dash"))
    fig.add_vline(x=0, line=dict(color="#888", width=1, dash="dot"))
    fig.add_annotation(x=center + half_width, y=amplitude / 2, text=f"half-width {half_width:.3f}",
                       showarrow=True, ax=40, ay=-20, font=dict(color=SAMPLE))
    fig.update_xaxes(title=f"value of component z{j}")
    fig.update_yaxes(title="number of z-points")
    return _style(fig, height)


def small_multiples(stats, comps: list[int], cols: int = 4) -> go.Figure:
    """Histograms and fits of several components, one panel each (shared style, own axes)."""
    rows = -(-len(comps) // cols)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.05, vertical_spacing=0.12,
                        subplot_titles=[f"z{j}: off-origin {stats.off_origin[j]:.2f}" for j in comps])
    for k, j in enumerate(comps):
        r, c = divmod(k, cols)
        e, n = stats.hist_edges[j], stats.hist_counts[j]
        mids = 0.5 * (e[1:] + e[:-1])
        fig.add_bar(x=mids, y=n, width=np.diff(e), marker_color=REAL_LIGHT, marker_line_width=0,
                    showlegend=False, row=r + 1, col=c + 1, hoverinfo="skip")
        x, y = gaussian_curve(e, stats.center[j], stats.half_width[j], stats.fit_amplitude[j])
        fig.add_scatter(x=x, y=y, mode="lines", line=dict(color=FIT, width=1.5), showlegend=False,
                        row=r + 1, col=c + 1, hoverinfo="skip")
        fig.add_vline(x=float(stats.center[j]), line=dict(color=SAMPLE, width=1.5), row=r + 1, col=c + 1)
        fig.add_vline(x=0, line=dict(color="#888", width=1, dash="dot"), row=r + 1, col=c + 1)
    fig.update_yaxes(showticklabels=False)
    fig.update_annotations(font_size=12)
    return _style(fig, 210 * rows)


def corr_heatmap(corr: np.ndarray, order: np.ndarray, height: int = 720) -> go.Figure:
    """Correlation matrix with rows and columns in clustering order; hover names the pair."""
    order = np.asarray(order)
    c = corr[np.ix_(order, order)]
    labels = [f"z{j}" for j in order]
    fig = go.Figure(go.Heatmap(
        z=c, x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu_r",
        colorbar=dict(title="r", thickness=14),
        hovertemplate="%{y} × %{x}<br>r = %{z:.3f}<extra></extra>"))
    step = max(1, len(order) // 32)
    fig.update_xaxes(title="component (clustered order)", tickvals=labels[::step], tickangle=-90,
                     tickfont_size=9)
    fig.update_yaxes(title="component (clustered order)", tickvals=labels[::step], autorange="reversed",
                     tickfont_size=9, scaleanchor="x")
    return _style(fig, height)


def radius_hist(real: np.ndarray, sampled: np.ndarray | None, cube: np.ndarray | None,
                batch: np.ndarray | None = None, sampler: str = "sampler") -> go.Figure:
    """Vector lengths |z|: the real cloud vs the current sampler vs the naive cube."""
    lo = min(float(np.min(a)) for a in (real, sampled, cube, batch) if a is not None and len(a))
    hi = max(float(np.max(a)) for a in (real, sampled, cube, batch) if a is not None and len(a))
    bins = dict(start=lo, end=hi, size=(hi - lo) / 80 or 1.0)
    fig = go.Figure()
    fig.add_histogram(x=real, name="real z-points", histnorm="probability density", xbins=bins,
                      marker_color=REAL, opacity=0.6)
    if sampled is not None:
        fig.add_histogram(x=sampled, name=f"{sampler} ({len(sampled):,} vectors)", xbins=bins,
                          histnorm="probability density", marker_color=SAMPLE, opacity=0.55)
    if cube is not None:
        fig.add_histogram(x=cube, name="naive cube [-b, b]", histnorm="probability density", xbins=bins,
                          marker_color=CUBE, opacity=0.5)
    if batch is not None:
        fig.add_scatter(x=batch, y=np.zeros(len(batch)), mode="markers", name="current batch",
                        marker=dict(symbol="line-ns-open", size=16, color=SAMPLE, line_width=2))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="radius |z| (distance from the origin)")
    fig.update_yaxes(title="density")
    return _style(fig, 360)


def components_table(stats):
    """One row per component: what the Components page's sortable table shows."""
    import pandas as pd

    return pd.DataFrame({
        "component": np.arange(stats.d), "center": stats.center, "half_width": stats.half_width,
        "off_origin": stats.off_origin, "mean": stats.mean, "std": stats.std, "skew": stats.skew,
        "kurtosis": stats.kurtosis, "fit_r2": stats.fit_r2, "fit_ok": stats.fit_ok.astype(bool)})
