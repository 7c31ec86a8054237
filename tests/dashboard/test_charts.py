"""Plotly/image builders of the dashboard: plain functions, checked without a server."""
from __future__ import annotations

import io
import json

import numpy as np
import plotly.io as pio
import pytest
from PIL import Image

from dashboard.charts import maps as charts_maps
from dashboard.charts import stats as charts


def test_gaussian_curve_peaks_at_center_with_half_max_at_half_width():
    edges = np.linspace(-5, 7, 61)
    x, y = charts.gaussian_curve(edges, center=1.0, half_width=2.0, amplitude=10.0)
    assert x[np.argmax(y)] == pytest.approx(1.0, abs=0.02)
    assert np.interp(3.0, x, y) == pytest.approx(5.0, rel=1e-3)    # half maximum at center + hw
    assert np.interp(-1.0, x, y) == pytest.approx(5.0, rel=1e-3)


def test_component_hist_marks_center_and_half_width():
    edges = np.linspace(-3, 3, 31)
    counts = np.arange(30)
    fig = charts.component_hist(edges, counts, 0.5, 1.25, 20.0, j=7)
    kinds = [t.type for t in fig.data]
    assert kinds == ["bar", "scatter"]
    xs = sorted(s.x0 for s in fig.layout.shapes)
    assert xs == pytest.approx([0.5 - 1.25, 0.0, 0.5, 0.5 + 1.25])
    assert fig.layout.xaxis.title.text == "value of component z7"


def test_corr_heatmap_uses_clustered_order():
    corr = np.array([[1.0, 0.1, 0.9], [0.1, 1.0, 0.2], [0.9, 0.2, 1.0]])
    fig = charts.corr_heatmap(corr, np.array([0, 2, 1]))
    hm = fig.data[0]
    assert list(hm.x) == ["z0", "z2", "z1"]
    assert np.asarray(hm.z)[0, 1] == pytest.approx(0.9)            # z0 x z2 now adjacent


@pytest.mark.parametrize("k", [1, 2, 3])
def test_ellipse_points_have_mahalanobis_k(k):
    cov = np.array([[4.0, 1.5], [1.5, 1.0]])
    mean = np.array([1.0, -2.0])
    e = charts_maps.ellipse_xy(mean, cov, k)
    d = e - mean
    maha = np.sqrt(np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d))
    assert maha == pytest.approx(np.full(len(e), float(k)))


def test_projection_scatter_layers():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(500, 2))
    fig = charts_maps.projection_scatter(xy, xy.mean(0), np.cov(xy.T), ("a", "b"), batch_xy=xy[:5])
    names = [t.name for t in fig.data]
    assert names[0].startswith("real z-points (500")
    assert names[1:] == ["density", "1σ ellipse", "2σ ellipse", "3σ ellipse", "current batch"]
    assert fig.data[-1].marker.color == charts.SAMPLE


def test_umap_figure_keeps_row_order_and_overlay_second():
    coords = np.random.default_rng(1).normal(size=(1000, 2)).astype(np.float32)
    marker = charts_maps.color_marker(np.arange(1000) % 3.0, ["a", "b", "c"], "cat")
    fig = charts_maps.umap_figure(coords, marker, ("UMAP 1", "UMAP 2"), batch_xy=coords[:4] + 1)
    assert [t.type for t in fig.data] == ["scattergl", "scattergl"]
    assert np.array_equal(np.asarray(fig.data[0].x), coords[:, 0])  # point index == z row
    assert list(fig.data[0].marker.colorbar.ticktext) == ["a", "b", "c"]
    assert len(fig.data[1].x) == 4
    # sent without a template (the page passes theme=None): a template cost the browser 0.4 s
    # per draw at 200,000 points (bench/browser_timing.floor_paint), its look is set by hand
    spec = json.loads(pio.to_json(fig, validate=False))
    assert spec["layout"]["template"] == {} and spec["layout"]["plot_bgcolor"] == "white"
    # the 200,000 coordinates go as typed arrays (base64), not as lists of decimal numbers
    assert isinstance(spec["data"][0]["x"], dict) and "bdata" in spec["data"][0]["x"]


def test_color_marker_modes():
    assert charts_maps.color_marker(None, None, "none")["color"] == charts.REAL
    cont = charts_maps.color_marker(np.linspace(0, 1, 10), None, "radius")
    assert cont["colorscale"] == "Viridis" and cont["showscale"]


def test_thumbnail_draws_batch_in_sample_colour():
    xy = np.random.default_rng(2).normal(size=(5000, 2))
    bg, extent = charts_maps.density_rgb(xy, px=120, bins=60)
    assert bg.shape == (120, 120, 3) and bg.dtype == np.uint8
    jpeg = charts_maps.thumbnail_jpeg(bg, extent, np.array([[0.0, 0.0]]))
    img = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)
    sample = np.array([int(charts.SAMPLE[i:i + 2], 16) for i in (1, 3, 5)])
    centre = img[55:65, 55:65].reshape(-1, 3)
    assert np.abs(centre - sample).sum(1).min() < 40                # an orange marker at the middle
    assert np.abs(img[:8, :8].reshape(-1, 3) - sample).sum(1).min() > 100   # corner untouched


def test_radius_hist_and_loss_curves():
    rng = np.random.default_rng(3)
    fig = charts.radius_hist(rng.normal(10, 1, 500), rng.normal(9, 1, 200), rng.normal(20, 0.3, 200),
                             rng.normal(9, 1, 21), "box")
    assert [t.name for t in fig.data] == ["real z-points", "box (200 vectors)", "naive cube [-b, b]",
                                          "current batch"]
    hist = [{"epoch": 1, "train_loss": 0.1, "val_loss": 0.12}, {"epoch": 2, "train_loss": 0.05, "val_loss": 0.07}]
    fig = charts.loss_curves(hist)
    assert list(fig.data[1].y) == [0.12, 0.07] and fig.layout.yaxis.type == "log"


def test_components_table_one_row_per_component(tiny_run):
    from core.analysis.latent_stats import latent_stats

    s = latent_stats(np.asarray(tiny_run.z()))
    df = charts.components_table(s)
    assert len(df) == s.d and set(df.columns) >= {"center", "half_width", "off_origin", "skew",
                                                 "kurtosis", "fit_r2"}
    fig = charts.small_multiples(s, [int(j) for j in s.off_origin_rank[:8]])
    assert sum(t.type == "bar" for t in fig.data) == 8
