"""Ex-post density estimation (Ghosh et al. 2020, "From variational to deterministic
autoencoders"): a Gaussian mixture fitted to the z-points, sampled for new latent vectors.

scikit-learn fits it; the result is kept as plain arrays (weights, means, full covariances)
so it saves to npz without pickle and samples with numpy alone.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from core.store.atomic import load_npz, save_npz
from core.store.derived import load_or_compute

COVARIANCE_TYPES = ("full", "diag", "tied", "spherical")


@dataclass(repr=False)
class GaussianMixtureModel:
    weights: np.ndarray        # [K]
    means: np.ndarray          # [K, d]
    covariances: np.ndarray    # [K, d, d] (every covariance type stored as full matrices)
    covariance_type: str       # what was fitted
    n_fit: int                 # points it was fitted on
    seed: int
    converged: bool
    n_iter: int
    lower_bound: float         # mean log-likelihood per point at the end of EM
    z_key: str = ""

    def __repr__(self) -> str:
        return (f"GaussianMixtureModel(K={self.n_components}, d={self.means.shape[1]}, "
                f"{self.covariance_type}, fitted on {self.n_fit}, converged={self.converged})")

    @property
    def n_components(self) -> int:
        return len(self.weights)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n points [n, d]: component counts from a multinomial, then shuffled so that the
        order says nothing about the component."""
        counts = rng.multinomial(n, self.weights / self.weights.sum())
        if getattr(self, "_roots", None) is None:       # K Cholesky factors, once per model
            self._roots = [_sqrt_cov(c) for c in self.covariances]
        parts = []
        for k, c in enumerate(counts):
            if c:
                L = self._roots[k]
                parts.append(self.means[k] + rng.standard_normal((c, L.shape[1])) @ L.T)
        return np.concatenate(parts)[rng.permutation(n)]

    def save(self, path: str | Path) -> None:
        save_npz(path, **{f.name: np.asarray(getattr(self, f.name)) for f in fields(self)})

    @classmethod
    def load(cls, path: str | Path) -> "GaussianMixtureModel":
        data = load_npz(path)
        casts = {"int": int, "float": float, "str": str, "bool": bool}
        return cls(**{f.name: casts.get(f.type, lambda a: a)(data[f.name]) for f in fields(cls)})


def _sqrt_cov(c: np.ndarray) -> np.ndarray:
    """A matrix L with L L^T = c; eigh fallback for covariances on the edge of singular."""
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(c)
        return v * np.sqrt(np.maximum(w, 0.0))


def _full_covariances(cov: np.ndarray, kind: str, K: int, d: int) -> np.ndarray:
    if kind == "full":
        return cov
    if kind == "tied":
        return np.broadcast_to(cov, (K, d, d)).copy()
    if kind == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(d) * c for c in cov])                     # spherical


def fit_gmm(z: np.ndarray, n_components: int = 10, covariance_type: str = "full", seed: int = 0,
            max_points: int = 20000, max_iter: int = 100, reg_covar: float = 1e-6,
            z_key: str = "") -> GaussianMixtureModel:
    """Fit on at most `max_points` rows (chosen by `seed`): full-covariance EM costs
    O(points * K * d^2) per iteration, and the mixture's shape settles long before 200,000."""
    from sklearn.mixture import GaussianMixture

    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    N, d = np.shape(z)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(N, size=min(N, max_points), replace=False))
    x = np.asarray(z[rows], np.float64)
    gm = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                         random_state=seed, max_iter=max_iter, reg_covar=reg_covar).fit(x)
    return GaussianMixtureModel(
        weights=gm.weights_, means=gm.means_,
        covariances=_full_covariances(gm.covariances_, covariance_type, n_components, d),
        covariance_type=covariance_type, n_fit=len(x), seed=seed, converged=bool(gm.converged_),
        n_iter=int(gm.n_iter_), lower_bound=float(gm.lower_bound_), z_key=z_key)


def cached_gmm(z: np.ndarray, folder: str | Path, n_components: int = 10, covariance_type: str = "full",
               seed: int = 0, max_points: int = 20000, key: str | None = None) -> GaussianMixtureModel:
    """Load the mixture for these z-points and settings from `folder`, or fit and save it."""
    from core.analysis.latent_stats import z_key

    key = key or z_key(z)
    path = Path(folder) / f"gmm-{key}-k{n_components}-{covariance_type}-s{seed}-m{max_points}.npz"
    return load_or_compute(path, GaussianMixtureModel.load,
                           lambda: fit_gmm(z, n_components, covariance_type, seed, max_points, z_key=key),
                           lambda m, p: m.save(p),
                           valid=lambda m: m.z_key == key and m.means.shape == (n_components, np.shape(z)[1]))
