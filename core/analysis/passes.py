"""The chunked passes over z [N, d] behind `core.analysis.latent_stats.latent_stats`.

Memory stays O(chunk * d + d^2) besides the three float32 [N] outputs. Element-wise work
runs in float32 on centred chunks (cheap, and precise enough: every per-chunk sum is
accumulated in float64); the two N*d^2 products (covariance, main-axis frame) are float32
BLAS calls, which is where most of the time goes.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Iterator

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

if TYPE_CHECKING:
    from core.analysis.histfit import HistAccumulator

CHUNK = 4096          # rows per chunk: 4 MB float32 at d = 256, stays in cache-friendly sizes
TOP_PAIRS = 32


class Timer:
    """Adds elapsed seconds per part into a dict (for bench/; costs nothing when unused)."""

    def __init__(self, sink: dict | None):
        self.sink, self.t = sink, time.perf_counter()

    def __call__(self, part: str) -> None:
        now = time.perf_counter()
        if self.sink is not None:
            self.sink[part] = self.sink.get(part, 0.0) + now - self.t
        self.t = now


def chunks(n: int) -> Iterator[slice]:
    for i in range(0, n, CHUNK):
        yield slice(i, min(n, i + CHUNK))


def range_pass(z: np.ndarray, tick: Timer) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, rough std, min, max per component (pass 1). Sums are taken around z[0], which
    avoids cancellation when |mean| >> std."""
    N, d = z.shape
    shift = z[0].astype(np.float32)
    s1, s2 = np.zeros(d), np.zeros(d)
    vmin, vmax = np.full(d, np.inf), np.full(d, -np.inf)
    for sl in chunks(N):
        x = z[sl].astype(np.float32) - shift
        s1 += x.sum(0, dtype=np.float64)
        s2 += np.einsum("ij,ij->j", x, x, dtype=np.float64)
        vmin = np.minimum(vmin, x.min(0))
        vmax = np.maximum(vmax, x.max(0))
    if not (np.isfinite(s1).all() and np.isfinite(s2).all()):    # NaN and inf reach the sums
        raise ValueError("z contains NaN or inf")
    m = s1 / N
    tick("moments")
    return shift + m, np.sqrt(np.maximum(s2 / N - m * m, 0.0)), vmin + shift, vmax + shift


def moment_pass(z: np.ndarray, mean: np.ndarray, hist: HistAccumulator,
                tick: Timer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 2: sums of (x - mean)^p for p = 1..4 [4, d], covariance [d, d], |z| [N];
    feeds `hist`."""
    N, d = z.shape
    sums = np.zeros((4, d))
    cov = np.zeros((d, d))
    radius = np.empty(N, np.float32)
    mean32 = mean.astype(np.float32)
    for sl in chunks(N):
        raw = z[sl].astype(np.float32, copy=False)
        x = raw - mean32
        x2 = x * x
        sums[0] += x.sum(0, dtype=np.float64)
        sums[1] += x2.sum(0, dtype=np.float64)
        sums[2] += np.einsum("ij,ij->j", x2, x, dtype=np.float64)
        sums[3] += np.einsum("ij,ij->j", x2, x2, dtype=np.float64)
        tick("moments")
        cov += x.T @ x                       # numpy turns x.T @ x into one SYRK call
        tick("covariance")
        hist.add(raw)
        tick("histograms")
        radius[sl] = np.sqrt(np.einsum("ij,ij->i", raw, raw))
        tick("radii")
    return sums, cov / N, radius


def frame_pass(z: np.ndarray, mean: np.ndarray, comps: np.ndarray, sd: np.ndarray, rank: int, center: np.ndarray,
               phist: HistAccumulator, cut: float, tick: Timer) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Pass 3, in the main-axis frame: Mahalanobis distance [N], distance to the fitted
    center [N], and the power sums (as in `moment_pass`) of the points beyond `cut`
    (usually a few per mille), so the core's moments are totals minus these."""
    N, d = z.shape
    maha = np.empty(N, np.float32)
    cdist = np.empty(N, np.float32)
    out_sums = np.zeros((4, d))
    n_out = 0
    mean32 = mean.astype(np.float32)
    proj = np.ascontiguousarray(comps.T, dtype=np.float32)            # [d, d]
    inv_sd = (1.0 / sd[:rank]).astype(np.float32)
    center32 = center.astype(np.float32)
    for sl in chunks(N):
        raw = z[sl].astype(np.float32, copy=False)
        x = raw - mean32
        y = x @ proj                                                   # [n, d] main-axis coords
        tick("mahalanobis")
        phist.add(y)
        tick("histograms")
        yw = y[:, :rank] * inv_sd
        m = np.sqrt(np.einsum("ij,ij->i", yw, yw))
        maha[sl] = m
        c = raw - center32
        cdist[sl] = np.sqrt(np.einsum("ij,ij->i", c, c))
        tick("mahalanobis")
        far = x[m > cut].astype(np.float64)
        n_out += len(far)
        p = far.copy()
        for r in range(4):
            out_sums[r] += p.sum(0)
            p *= far
        tick("normality")
    return maha, cdist, out_sums, n_out


def central_moments(sums: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skewness and excess kurtosis [d] from power sums about a nearby point."""
    e1, e2, e3, e4 = sums / max(n, 1)
    m2 = e2 - e1 ** 2
    m3 = e3 - 3 * e1 * e2 + 2 * e1 ** 3
    m4 = e4 - 4 * e1 * e3 + 6 * e1 ** 2 * e2 - 3 * e1 ** 4
    safe = np.where(m2 > 0, m2, 1.0)
    skew = np.where(m2 > 0, m3 / safe ** 1.5, 0.0)
    kurt = np.where(m2 > 0, m4 / safe ** 2 - 3.0, 0.0)
    return np.sqrt(np.maximum(m2, 0.0)), skew, kurt


def correlations(cov: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """corr [d, d], clustering order [d] (average linkage on 1 - |r|, so blocks of
    correlated components end up next to each other), and the top pairs (i, j, r) by |r|."""
    d = len(std)
    s = np.where(std > 0, std, np.inf)                                 # dead components: r = 0
    corr = np.clip(cov / np.outer(s, s), -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    if d > 2:
        dist = np.clip(squareform(1.0 - np.abs(corr), checks=False), 0.0, None)
        order = hierarchy.leaves_list(hierarchy.linkage(dist, "average"))
    else:
        order = np.arange(d)
    i, j = np.triu_indices(d, 1)
    top = np.argsort(-np.abs(corr[i, j]), kind="stable")[:TOP_PAIRS]
    return corr, order.astype(np.int64), (i[top], j[top], corr[i, j][top])
