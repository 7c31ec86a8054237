"""Paths between two latent vectors and what each step of them looks like to the data.

The blog walks "paths through the core": a straight line between two z-points leaves the
cloud in 256 dimensions (the middle of the chord is nearer the center than any real point
is, so its Mahalanobis radius collapses), so two paths that stay inside the cloud are offered
beside it: one bent through the cloud's center and one whose every step is pushed back
onto the Mahalanobis radius interpolated between the endpoints' (real points sit on a thin
shell of that radius). Endpoints are always reproduced exactly, so a strip's first and last
faces are the endpoints' own decodings.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import BadInputError

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from core.analysis.latent_stats import LatentStats
    import pandas as pd

PATH_KINDS = ("straight", "center", "shell")
PATH_LABELS = {"straight": "straight line", "center": "through the center",
               "shell": "on the data's Mahalanobis shell"}


def endpoint(kind: str, stats: LatentStats, *, z: np.ndarray | None = None,
             index: pd.DataFrame | None = None, row: int | None = None,
             image_id: str | None = None, axis: int = 0, k_sigma: float = 0.0,
             vector: np.ndarray | None = None) -> np.ndarray:
    """One path endpoint as a float64 vector [d].

    kind 'row': z-point ``row`` (or the row whose ``image_id`` matches, via the index table);
    'center': the cloud's mean; 'axis': mean + k_sigma * sigma_axis * main axis ``axis``;
    'vector': any given vector (a sampled one, a decoded map location)."""
    d = stats.d
    if kind == "row":
        if image_id is not None:
            if index is None:
                raise BadInputError("endpoint by image_id needs the run's index table (index=)")
            hits = np.flatnonzero(index["image_id"].astype(str).to_numpy() == str(image_id))
            if not len(hits):
                raise BadInputError(f"image_id {image_id!r} is not in this run's index")
            row = int(index["row"].iloc[hits[0]]) if "row" in index else int(hits[0])
        if z is None or row is None or not 0 <= int(row) < len(z):
            raise BadInputError(f"endpoint row must be in [0, {0 if z is None else len(z)}), got {row}")
        return np.asarray(z[int(row)], np.float64)
    if kind == "center":
        return np.asarray(stats.pca_mean, np.float64).copy()
    if kind == "axis":
        if not 0 <= axis < d:
            raise BadInputError(f"endpoint axis must be in [0, {d}), got {axis}")
        return stats.pca_mean + k_sigma * np.sqrt(stats.pca_eigvals[axis]) * stats.pca_components[axis]
    if kind == "vector":
        v = np.asarray(vector, np.float64)
        if v.shape != (d,):
            raise BadInputError(f"endpoint vector must have shape ({d},), got {v.shape}")
        return v
    raise BadInputError(f"endpoint kind must be row, center, axis or vector, got {kind!r}")


def straight(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Equally spaced points from a to b, both included: [steps, d]."""
    if steps < 2:
        raise BadInputError(f"a path needs at least 2 steps, got {steps}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (1 - t) * np.asarray(a, np.float64) + t * np.asarray(b, np.float64)


def through_center(a: np.ndarray, b: np.ndarray, center: np.ndarray, steps: int) -> np.ndarray:
    """a -> center -> b, steps spread by length so the spacing is even: [steps, d]."""
    a, b, c = (np.asarray(v, np.float64) for v in (a, b, center))
    la, lb = np.linalg.norm(c - a), np.linalg.norm(b - c)
    total = la + lb
    if total == 0:
        return straight(a, b, steps)
    s = np.linspace(0.0, total, steps)[:, None]
    first = a + np.clip(s / max(la, 1e-300), 0, 1) * (c - a)
    second = c + np.clip((s - la) / max(lb, 1e-300), 0, 1) * (b - c)
    return np.where(s <= la, first, second)


def on_shell(a: np.ndarray, b: np.ndarray, stats: LatentStats, steps: int) -> np.ndarray:
    """The straight line with each step scaled about the cloud's mean (in the whitened frame,
    i.e. along the ray from the mean) to the Mahalanobis radius interpolated between the
    endpoints' radii: a great-circle-like arc that keeps the real points' radius. Steps that
    fall on the mean itself (a path through it) keep their place."""
    line = straight(a, b, steps)
    r = stats.mahalanobis(line)                                   # [steps]
    ra, rb = r[0], r[-1]
    target = np.linspace(ra, rb, steps)
    scale = np.where(r > 1e-9, target / np.maximum(r, 1e-300), 1.0)
    out = stats.pca_mean + (line - stats.pca_mean) * scale[:, None]
    out[0], out[-1] = line[0], line[-1]
    return out


def make_path(kind: str, a: np.ndarray, b: np.ndarray, stats: LatentStats, steps: int) -> np.ndarray:
    """One of PATH_KINDS between a and b: [steps, d] float64."""
    if kind == "straight":
        return straight(a, b, steps)
    if kind == "center":
        return through_center(a, b, stats.pca_mean, steps)
    if kind == "shell":
        return on_shell(a, b, stats, steps)
    raise BadInputError(f"path kind must be one of {PATH_KINDS}, got {kind!r}")


@dataclass
class StepMeasures:
    """Per step of a path or strip: how far it lies from the data."""
    maha: np.ndarray         # [n] Mahalanobis radius
    nn_dist: np.ndarray      # [n] distance to the nearest real z-point
    nn_row: np.ndarray       # [n] that z-point's row
    face_rate: np.ndarray | None = None   # [n] 0/1 face found (when a detector is available)

    def table(self) -> dict:
        out = {"step": np.arange(len(self.maha)), "Mahalanobis radius": self.maha,
               "nearest real distance": self.nn_dist, "nearest real row": self.nn_row}
        if self.face_rate is not None:
            out["face found"] = self.face_rate
        return out


def step_measures(points: np.ndarray, stats: LatentStats, knn: Any, images: np.ndarray | None = None,
                  face_detector: Callable[[np.ndarray], np.ndarray] | None = None) -> StepMeasures:
    """Mahalanobis radius, nearest-real distance (exact, via the run's KNNIndex) and, when a
    face detector (images [n, S, S, 3] uint8 -> bool [n]) and the decoded images are given,
    whether a face is found in each step's image."""
    p = np.atleast_2d(np.asarray(points, np.float32))
    if not np.isfinite(p).all():
        from core.errors import NonFiniteError
        raise NonFiniteError("path points contain NaN or inf")
    dist, idx = knn.query(p, 1)
    faces = None
    if face_detector is not None and images is not None:
        faces = np.asarray(face_detector(images), np.float64)
    return StepMeasures(stats.mahalanobis(p), dist[:, 0].astype(np.float64), idx[:, 0], faces)
