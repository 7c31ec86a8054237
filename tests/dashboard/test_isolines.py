"""Contour lines as polylines (dashboard.isolines) that can be drawn as WebGL, so dense
clouds no longer hide them."""
from __future__ import annotations

import numpy as np

from dashboard.charts.isolines import polyline, segments


def test_isolines_of_a_gaussian_bump_are_circles():
    x = np.linspace(-2, 2, 41)
    X, Y = np.meshgrid(x, x)
    seg = segments(x, x, np.exp(-(X ** 2 + Y ** 2) / 2), np.exp(-0.5))      # the radius-1 circle
    r = np.linalg.norm(seg, axis=2)
    assert len(seg) > 40 and np.allclose(r, 1.0, atol=2e-3)
    xs, ys = polyline(x, x, np.exp(-(X ** 2 + Y ** 2) / 2), n_levels=3)
    assert len(xs) == len(ys) and None in xs


def test_isolines_resolve_saddles_without_crossing():
    h = np.array([[1.0, 0.0], [0.0, 1.0]])                                     # a saddle cell
    seg = segments(np.array([0.0, 1.0]), np.array([0.0, 1.0]), h, 0.5)
    assert seg.shape == (2, 2, 2)
