"""Distances between two sets of features (rows = images): FID, KID, precision / recall.

- FID: Fréchet distance of the Gaussians fitted to each set (Heusel et al. 2017). Biased
  upward at small N, so a figure is only comparable with others at the same N.
- KID: unbiased MMD^2 with the cubic polynomial kernel (Bińkowski et al. 2018), averaged over
  random subsets; its spread over the subsets says how much to trust it at small N.
- Precision / recall: k-NN manifolds (Kynkäänniemi et al. 2019, k = 3): precision is the share
  of generated samples inside the real manifold ("looks real"), recall the share of real
  samples inside the generated manifold ("covers the variety").
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

from core.errors import NonFiniteError


def _finite(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if not np.isfinite(x).all():
        raise NonFiniteError(f"{name} contains NaN/inf")
    return x


def gaussian(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D, D] of features [n, D]."""
    f = _finite("features", feats)
    if len(f) < 2:
        raise ValueError(f"need at least 2 feature rows for a covariance, got {len(f)}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

    For covariances (symmetric PSD) tr((S1 S2)^(1/2)) = tr((A S2 A)^(1/2)) with A = S1^(1/2),
    and A S2 A is symmetric: two `eigh` instead of a general `sqrtm` (no complex round-off,
    several times faster at D = 2048)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    return _frechet(mu1, s1, _sqrt_psd(s1), mu2, s2)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _frechet(mu1, s1, a1, mu2, s2) -> float:
    m = a1 @ s2 @ a1
    tr_sqrt = np.sqrt(np.clip(linalg.eigvalsh((m + m.T) / 2.0), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt, 0.0))


class FrechetReference:
    """A reference set's Gaussian with its matrix square root, computed once for many FIDs."""

    def __init__(self, feats: np.ndarray):
        self.mu, self.sigma = gaussian(feats)
        self.root = _sqrt_psd(self.sigma)

    def fid(self, feats: np.ndarray) -> float:
        mu, sigma = gaussian(feats)
        return _frechet(self.mu, self.sigma, self.root, mu, sigma)


def fid(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    return frechet_distance(*gaussian(feats_a), *gaussian(feats_b))


def _kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3                          # cubic polynomial kernel


def _mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    m, n = len(kxx), len(kyy)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean())


def kid(feats_a: np.ndarray, feats_b: np.ndarray, *, subsets: int = 50, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over `subsets` random subsets of each set.

    The three kernel matrices are computed once; each subset only indexes into them."""
    a, b = _finite("features a", feats_a), _finite("features b", feats_b)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 rows in each set, got {len(a)} and {len(b)}")
    kaa, kbb, kab = _kernel(a, a), _kernel(b, b), _kernel(a, b)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        i, j = rng.choice(len(a), m, replace=False), rng.choice(len(b), m, replace=False)
        vals.append(_mmd2_unbiased(kaa[np.ix_(i, i)], kbb[np.ix_(j, j)], kab[np.ix_(i, j)]))
    return float(np.mean(vals)), float(np.std(vals))


def _pairwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.sqrt(np.maximum(d2, 0.0))


def _radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row (the k-NN ball of the manifold)."""
    d = _pairwise(x, x)
    np.fill_diagonal(d, np.inf)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def _coverage(manifold: np.ndarray, radii: np.ndarray, queries: np.ndarray, chunk: int = 1024) -> float:
    """Share of queries inside at least one k-NN ball of the manifold."""
    inside = [(_pairwise(queries[i:i + chunk], manifold) <= radii[None, :]).any(axis=1)
              for i in range(0, len(queries), chunk)]
    return float(np.concatenate(inside).mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of `fake` against `real` with k-NN manifolds."""
    r, f = _finite("real features", real), _finite("generated features", fake)
    if min(len(r), len(f)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} rows in each set")
    return _coverage(r, _radii(r, k), f), _coverage(f, _radii(f, k), r)
