"""Moving one latent vector along chosen directions: main axes (GANSpace-style sliders in
units of each axis's sigma), any direction (an attribute's), and toward the nearest real
z-points ("micro-correlations": the blog's nudge, as a strip over alpha)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import BadInputError

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.analysis.latent_stats import LatentStats


def axis_sigma(stats: LatentStats, axis: int) -> float:
    """Standard deviation of the cloud along main axis ``axis``."""
    if not 0 <= axis < stats.d:
        raise BadInputError(f"main axis must be in [0, {stats.d}), got {axis}")
    return float(np.sqrt(stats.pca_eigvals[axis]))


def move_along_axes(stats: LatentStats, base: np.ndarray, offsets: dict[int, float]) -> np.ndarray:
    """base + sum_k offsets[k] * sigma_k * axis_k: [d]. Offsets are in sigma units, so a
    slider at 1 moves as far as one standard deviation of the data along that axis."""
    out = np.array(base, np.float64, copy=True)
    for k, s in offsets.items():
        if s:
            out += float(s) * axis_sigma(stats, int(k)) * stats.pca_components[int(k)]
    return out


def set_axes(stats: LatentStats, base: np.ndarray, values: dict[int, float]) -> np.ndarray:
    """base with its main-axis coordinates k replaced by values[k] (sigma units about the
    mean): the slider position is then where the face is, not how far it moved."""
    out = np.array(base, np.float64, copy=True)
    for k, v in values.items():
        k = int(k)
        cur = float((out - stats.pca_mean) @ stats.pca_components[k]) / axis_sigma(stats, k)
        out += (float(v) - cur) * axis_sigma(stats, k) * stats.pca_components[k]
    return out


def axis_coords(stats: LatentStats, v: np.ndarray, axes: list[int] | np.ndarray) -> np.ndarray:
    """Coordinates of v along the given main axes in sigma units about the mean."""
    y = (np.asarray(v, np.float64) - stats.pca_mean) @ stats.pca_components[list(axes)].T
    return y / np.sqrt(stats.pca_eigvals[list(axes)])


def strip(base: np.ndarray, direction: np.ndarray, scale: float, extent: float = 3.0, steps: int = 7) -> np.ndarray:
    """base + t * scale * direction for t evenly in [-extent, extent]: [steps, d]."""
    if steps < 2:
        raise BadInputError(f"a strip needs at least 2 steps, got {steps}")
    t = np.linspace(-extent, extent, steps)[:, None]
    return np.asarray(base, np.float64) + t * float(scale) * np.asarray(direction, np.float64)


def axis_strip(stats: LatentStats, base: np.ndarray, axis: int, extent: float = 3.0, steps: int = 7) -> np.ndarray:
    """What main axis ``axis`` changes: base moved -extent..+extent sigma along it."""
    return strip(base, stats.pca_components[axis], axis_sigma(stats, axis), extent, steps)


@dataclass
class Nudge:
    rows: np.ndarray        # [k] nearest real z-points, nearest first
    dists: np.ndarray       # [k] their distances to the vector
    target: np.ndarray      # [d] their mean (where alpha = 1 lands)
    alphas: np.ndarray      # [steps]
    points: np.ndarray      # [steps, d] vector + alpha * (target - vector)


def nudge_strip(x: np.ndarray, z: np.ndarray, knn: Any, k: int = 10,
                alphas: np.ndarray | None = None) -> Nudge:
    """The blog's micro-correlations: the k nearest real z-points of x and x moved toward
    their mean by alpha (0 = x itself, 1 = the mean of the neighbours), as in the 'nudge'
    sampler (core.sampling.functions.nudge_points), one row per alpha."""
    x = np.asarray(x, np.float64)
    alphas = np.linspace(0.0, 1.0, 7) if alphas is None else np.asarray(alphas, np.float64)
    k = int(min(max(k, 1), len(z)))
    dist, idx = knn.query(x[None].astype(np.float32), k)
    target = np.asarray(z[np.sort(idx[0])], np.float64).mean(axis=0)
    pts = x + alphas[:, None] * (target - x)
    return Nudge(idx[0], dist[0].astype(np.float64), target, alphas, pts)
