"""The samplers themselves: fn(stats, n, rng, **params) -> array [n, d].

Each is a few lines on top of LatentStats; samplers.py registers them with their
parameters, validates calls and casts the result to float32. They follow the blog's order:
the naive cube, component-specific boxes, Gaussians (independent, then correlated), the
main-axis box, a fitted mixture, paths through the core, and nudging toward real points.
"""
from __future__ import annotations

import numpy as np

from typing import TYPE_CHECKING

from core.analysis.neighbors import KNNIndex

if TYPE_CHECKING:
    from core.analysis.latent_stats import LatentStats
    from core.sampling.mixture import GaussianMixtureModel


def box(stats: LatentStats, n: int, rng: np.random.Generator, fact: float = 1.0) -> np.ndarray:
    """Each component uniform in [center - fact*half_width, center + fact*half_width]
    (the blog's method: intervals specific to each component)."""
    hw = fact * stats.half_width
    return stats.center + rng.uniform(-1.0, 1.0, (n, stats.d)) * hw


def naive_cube_b(stats: LatentStats) -> float:
    """The blog's naive common interval [-b, b], defined once from the data: the smallest one
    wide enough for every component, i.e. holding each fitted center +- 2 fitted sigma (its
    central 95%). Used by the cube sampler, the CLI, the Generator and the Projections page."""
    return float(np.max(np.abs(stats.center) + 2.0 * stats.sigma_fit))


def cube(stats: LatentStats, n: int, rng: np.random.Generator, b: float | None = None) -> np.ndarray:
    """Every component uniform in one common interval [-b, b] (the naive method; b from
    `naive_cube_b` unless given): the points lie in a thin shell of radius ~ b sqrt(d/3),
    far from where the data is."""
    b = naive_cube_b(stats) if b is None else b
    return rng.uniform(-b, b, (n, stats.d))


def diag_gauss(stats: LatentStats, n: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Independent Gaussians per component around the fitted center, std * scale
    (ignores correlations)."""
    return stats.center + rng.standard_normal((n, stats.d)) * (scale * stats.std)


def full_gauss(stats: LatentStats, n: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Multivariate normal with the full covariance (correlations kept), drawn in the
    main-axis frame: independent N(0, eigval) per axis, rotated back."""
    y = rng.standard_normal((n, stats.d)) * (scale * np.sqrt(stats.pca_eigvals))
    return stats.from_pca(y)


def pca_box(stats: LatentStats, n: int, rng: np.random.Generator, fact: float = 1.0) -> np.ndarray:
    """Uniform in the main-axis frame within +-fact * (fitted half width along each axis)
    around the fitted center on that axis, mapped back: a box that leans with the cloud."""
    y = stats.pca_center + rng.uniform(-1.0, 1.0, (n, stats.d)) * (fact * stats.pca_half_width)
    return stats.from_pca(y)


def gmm(stats: LatentStats, n: int, rng: np.random.Generator, gmm: GaussianMixtureModel | None = None,
        z: np.ndarray | None = None) -> np.ndarray:
    """Draw from a Gaussian mixture fitted to the z-points (Ghosh et al. 2020). Pass the
    fitted model (core.sampling.mixture.fit_gmm / cached_gmm); with only z, one is fitted here (slow)."""
    if gmm is None:
        if z is None:
            raise ValueError("sampler 'gmm' needs gmm=<fitted GaussianMixtureModel> "
                             "(core.sampling.mixture.cached_gmm) or z=<z-points> to fit one")
        from core.sampling.mixture import fit_gmm
        gmm = fit_gmm(z)
    if gmm.means.shape[1] != stats.d:
        raise ValueError(f"mixture has d={gmm.means.shape[1]}, the stats d={stats.d}")
    return gmm.sample(n, rng)


def path(stats: LatentStats, n: int, rng: np.random.Generator, mode: str = "axis", axis: int = 0, axis2: int = -1,
         angle: float = 0.0, extent: float = 3.0, steps: int | None = None, a: int | np.ndarray | None = None,
         b: int | np.ndarray | None = None, z: np.ndarray | None = None) -> np.ndarray:
    """Equally spaced points on a straight line through the core; `steps` (default n)
    points, so the output has `steps` rows.

    mode 'axis':   along main axis `axis` through the mean, +-extent std of that axis;
    mode 'coord':  along coordinate `axis` through the fitted center, +-extent fitted sigma;
                   with axis2 >= 0 the line is tilted by `angle` degrees toward coordinate
                   axis2 in the (axis, axis2) plane (in sigma units of each);
    mode 'points': from z-point a to z-point b (rows of z or [d] vectors; random rows of z,
                   by seed, when left out)."""
    steps = n if steps is None else int(steps)
    if steps < 1:
        raise ValueError(f"path: steps must be >= 1, got {steps}")
    d = stats.d
    if mode == "points":
        a, b = _endpoint(a, z, d, rng, "a"), _endpoint(b, z, d, rng, "b")
        t = np.linspace(0.0, 1.0, steps)[:, None]
        return a + t * (b - a)
    if not 0 <= axis < d:
        raise ValueError(f"path: axis must be in [0, {d}), got {axis}")
    t = np.linspace(-extent, extent, steps)[:, None]
    if mode == "axis":
        return stats.pca_mean + t * (np.sqrt(stats.pca_eigvals[axis]) * stats.pca_components[axis])
    sigma = stats.sigma_fit
    direction = np.zeros(d)
    direction[axis] = sigma[axis]
    if axis2 >= 0:
        if not 0 <= axis2 < d or axis2 == axis:
            raise ValueError(f"path: axis2 must be another component in [0, {d}), got {axis2}")
        th = np.deg2rad(angle)
        direction[axis] *= np.cos(th)
        direction[axis2] = np.sin(th) * sigma[axis2]
    return stats.center + t * direction


def _endpoint(p, z, d, rng, name):
    if p is None or np.ndim(p) == 0:
        if z is None:
            raise ValueError(f"path mode 'points' needs z= when {name} is a row number or left out")
        p = rng.integers(len(z)) if p is None else int(p)
        return np.asarray(z[p], np.float64)
    p = np.asarray(p, np.float64)
    if p.shape != (d,):
        raise ValueError(f"path: {name} must be a row of z or a vector of length {d}, got shape {p.shape}")
    return p


def nudge_points(x: np.ndarray, z: np.ndarray | None, *, k: int = 10, alpha: float = 0.5,
                 index: KNNIndex | None = None) -> np.ndarray:
    """Move each point toward the mean of its k nearest real z-points by the factor alpha
    (the blog's "micro-correlations": real neighbours carry the fine structure the
    sampler misses). -> [n, d]."""
    if z is None:
        z = getattr(index, "z", None)
    if z is None:
        raise ValueError("sampler 'nudge' needs z=<z-points> (and optionally index=)")
    index = index if index is not None else KNNIndex(z)
    _, idx = index.query(np.asarray(x, np.float32), min(k, len(z)))                 # [n, k]
    target = np.asarray(z[idx.ravel()], np.float64).reshape(idx.shape + (x.shape[1],)).mean(axis=1)
    return x + alpha * (target - x)
