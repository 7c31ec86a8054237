"""The PCA plane: z-points projected onto two main axes. One chunked projection for every
user (the UMAP's initial layout, the map preview while UMAP is fitting, the Projections and
Correlations planes, new points on the preview), so a memmapped z is never copied whole."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.analysis.latent_stats import LatentStats

CHUNK = 32768


def project(z: np.ndarray, mean: np.ndarray, axes: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """(z - mean) @ axes.T in float64, chunk by chunk: z [N, d], axes [k, d] (rows) -> [N, k] float32."""
    z = np.atleast_2d(z)
    axes = np.asarray(axes, np.float64)
    out = np.empty((len(z), len(axes)), np.float32)
    for i in range(0, len(z), chunk):
        out[i:i + chunk] = (np.asarray(z[i:i + chunk], np.float64) - mean) @ axes.T
    return out


def stats_plane(stats: LatentStats, z: np.ndarray, a: int = 0, b: int = 1) -> np.ndarray:
    """z on main axes (a, b) of a LatentStats -> [N, 2] float32."""
    return project(z, stats.pca_mean, stats.pca_components[[a, b]])


def main_axes(z: np.ndarray, k: int = 2, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """(mean [d], first k main axes [k, d]) from chunked float64 moments, each axis's sign
    pinned (largest entry positive) so a layout built on them never flips between runs."""
    n, d = z.shape
    s, ss = np.zeros(d), np.zeros((d, d))
    for i in range(0, n, chunk):
        blk = np.asarray(z[i:i + chunk], dtype=np.float64)
        s += blk.sum(axis=0)
        ss += blk.T @ blk
    mean = s / n
    _, vecs = np.linalg.eigh(ss / n - np.outer(mean, mean))
    axes = vecs[:, ::-1][:, :k].T                                   # [k, d], largest variance first
    return mean, axes * np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])[:, None]
