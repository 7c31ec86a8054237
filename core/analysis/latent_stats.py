"""Statistics of a latent cloud: `latent_stats(z) -> LatentStats`.

Three chunked passes over z [N, d] (memory O(N*d + d^2)):
  1. sums and ranges              -> mean, std, histogram ranges
  2. centred moments, covariance,  -> skew, kurtosis, corr, PCA (eigh of the d x d cov),
     histograms, |z|                 Gaussian fits per component (histfit.py)
  3. PCA frame                     -> Mahalanobis distances, distances to the fitted center,
                                      histograms of the main-axis coordinates, moments of the core
then the normality checks of the core (normality.py). The result is plain arrays, saved as
npz, and cached by a fingerprint of z (`cached_latent_stats`).
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from core.analysis import normality
from core.analysis import passes as sc
from core.analysis.histfit import HWHM_PER_SIGMA, HistAccumulator, fit_gaussians, hist_ranges, n_bins
from core.errors import BadInputError
from core.store.atomic import load_npz, save_npz
from core.store.derived import load_or_compute

STATS_VERSION = 1
EIG_RTOL = 1e-6       # main axes below this fraction of the largest variance count as dead


@dataclass(repr=False)
class LatentStats:
    n: int
    d: int
    z_key: str
    bins: int
    # per component [d]: moments and the Gaussian fitted to the histogram
    mean: np.ndarray
    std: np.ndarray
    skew: np.ndarray
    kurtosis: np.ndarray            # excess kurtosis (0 for a Gaussian)
    vmin: np.ndarray
    vmax: np.ndarray
    center: np.ndarray              # fitted Gaussian center (the blog's ay_mu_comp)
    half_width: np.ndarray          # fitted half width at half maximum (ay_mu_hw) = 1.1774 sigma
    fit_amplitude: np.ndarray       # fitted peak height in counts per bin
    fit_r2: np.ndarray              # goodness of fit of that curve over all bins
    fit_ok: np.ndarray              # False where the moments replaced a failed fit
    hist_edges: np.ndarray          # [d, bins + 1]
    hist_counts: np.ndarray         # [d, bins]
    hist_outside: np.ndarray        # [d] points beyond mean +- 6 std (not in the counts)
    off_origin: np.ndarray          # |center| / half_width
    off_origin_rank: np.ndarray     # components by off_origin, largest first
    # the cloud as a whole
    cov: np.ndarray                 # [d, d]
    corr: np.ndarray                # [d, d]
    corr_order: np.ndarray          # [d] hierarchical-clustering leaf order (blocks show as blocks)
    top_pairs_i: np.ndarray         # most strongly correlated pairs, by |r|
    top_pairs_j: np.ndarray
    top_pairs_r: np.ndarray
    pca_mean: np.ndarray            # [d]
    pca_eigvals: np.ndarray         # [d] descending
    pca_explained: np.ndarray       # [d] fraction of the total variance
    pca_components: np.ndarray      # [d, d]; row k = main axis k
    pca_rank: int                   # axes above EIG_RTOL * largest (used for whitening)
    pca_center: np.ndarray          # [d] fitted Gaussian center along each main axis
    pca_half_width: np.ndarray      # [d] fitted half width along each main axis
    pca_hist_edges: np.ndarray      # [d, bins + 1]
    pca_hist_counts: np.ndarray     # [d, bins]
    # per point [N], float32
    radius: np.ndarray              # |z|
    center_dist: np.ndarray         # |z - center|
    maha: np.ndarray                # Mahalanobis distance to pca_mean (method: mahalanobis(z))
    # k-sigma cores, k = core_k
    core_k: np.ndarray
    core_fraction: np.ndarray       # fraction with Mahalanobis <= k
    core_expected: np.ndarray       # the same for a Gaussian: chi2.cdf(k^2, rank)
    core_radius_eq: np.ndarray      # radius holding a Gaussian's +-k sigma mass in rank dims
    core_fraction_eq: np.ndarray    # fraction within that radius (Gaussian: 0.683, 0.954, 0.997)
    # normality of the core (Mahalanobis <= core_radius_eq[k=3])
    norm_n_core: int
    norm_skew: np.ndarray           # [d] per component, in the core
    norm_kurtosis: np.ndarray       # [d] excess
    norm_k2: np.ndarray             # [d] D'Agostino-Pearson statistic
    norm_p: np.ndarray              # [d] its p-value
    mardia_b1: float
    mardia_skew_stat: float
    mardia_skew_dof: float
    mardia_skew_p: float
    mardia_b2: float
    mardia_b2_expected: float
    mardia_kurt_z: float
    mardia_kurt_p: float

    def __repr__(self) -> str:
        return f"LatentStats(n={self.n}, d={self.d}, z_key={self.z_key!r}, rank={self.pca_rank})"

    # ---- frames and distances -------------------------------------------------------
    def to_pca(self, z: np.ndarray) -> np.ndarray:
        """Coordinates along the main axes: [n, d] -> [n, d]."""
        return (np.asarray(z, np.float64) - self.pca_mean) @ self.pca_components.T

    def from_pca(self, y: np.ndarray) -> np.ndarray:
        """Inverse of `to_pca` (the components are orthonormal)."""
        return np.asarray(y, np.float64) @ self.pca_components + self.pca_mean

    def whiten(self, z: np.ndarray) -> np.ndarray:
        """Main-axis coordinates over their std, live axes only: [n, d] -> [n, rank]."""
        r = self.pca_rank
        y = (np.asarray(z, np.float64) - self.pca_mean) @ self.pca_components[:r].T
        return y / np.sqrt(self.pca_eigvals[:r])

    def mahalanobis(self, z: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of any points [n, d] to the cloud's mean -> [n]."""
        w = self.whiten(np.atleast_2d(z))
        return np.sqrt(np.einsum("ij,ij->i", w, w))

    def cube_radius_mean(self, b: float) -> float:
        """Mean |x| for x uniform in [-b, b]^d (the naive sampler): about b sqrt(d/3)."""
        return float(b * np.sqrt(self.d / 3.0))

    def cube_radius_std(self, b: float) -> float:
        """Spread of that |x|: b / sqrt(15) whatever d, so the shell gets relatively thin."""
        return float(b / np.sqrt(15.0))

    @property
    def sigma_fit(self) -> np.ndarray:
        return self.half_width / HWHM_PER_SIGMA

    # ---- persistence (npz, no pickle) -------------------------------------------------
    def save(self, path: str | Path) -> None:
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        save_npz(path, _version=np.asarray(STATS_VERSION), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "LatentStats":
        data = load_npz(path)
        if int(data.get("_version", -1)) != STATS_VERSION:
            raise ValueError(f"{path}: stats version {data.get('_version')} != {STATS_VERSION}")
        casts = {"int": int, "float": float, "str": str}
        kwargs = {f.name: casts.get(f.type, lambda a: a)(data[f.name]) for f in fields(cls)}
        out = cls(**kwargs)
        out._check()
        return out

    def _check(self) -> None:
        d, n = self.d, self.n
        shapes = {"center": (d,), "half_width": (d,), "corr": (d, d), "pca_components": (d, d),
                  "hist_counts": (d, self.bins), "radius": (n,), "maha": (n,)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"stats field {name} has shape {getattr(self, name).shape}, not {shape}")


def z_key(z: np.ndarray) -> str:
    """Fingerprint of z: shape, dtype, a strided subsample and a CRC32 of every byte
    (zlib's CRC runs at GB/s, so 200 MB costs a fraction of a second)."""
    z = np.asarray(z)
    h = hashlib.blake2b(f"{z.shape}{z.dtype.str}".encode(), digest_size=8)
    h.update(np.ascontiguousarray(z[:: max(1, len(z) // 256)]).tobytes())
    crc = 0
    for i in range(0, len(z), 8 * sc.CHUNK):
        crc = zlib.crc32(np.ascontiguousarray(z[i:i + 8 * sc.CHUNK]).data, crc)
    h.update(crc.to_bytes(4, "little"))
    return f"{z.shape[0]}x{z.shape[1] if z.ndim > 1 else 1}-{h.hexdigest()}"


def cached_latent_stats(z: np.ndarray, folder: str | Path, *, key: str | None = None) -> LatentStats:
    """Load ``<folder>/stats-<z_key>.npz`` if it is there and sound, else compute and save it."""
    key = key or z_key(z)
    return load_or_compute(Path(folder) / f"stats-{key}.npz", LatentStats.load,
                           lambda: latent_stats(z, key=key), lambda st, p: st.save(p),
                           valid=lambda st: st.z_key == key and (st.n, st.d) == tuple(np.shape(z)))


def latent_stats(z: np.ndarray, *, key: str | None = None, timings: dict | None = None,
                 seed: int = 0) -> LatentStats:
    """All statistics of z [N, d] (float32 or float64, may be a memmap). `timings`, if given,
    receives seconds per part; `seed` only picks the subsample for Mardia's skewness."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[0] < 8 or z.shape[1] < 1:
        raise BadInputError(f"statistics need z-points [N >= 8, d >= 1], got shape {z.shape}; "
                            "a run needs at least 8 images (train it on more)")
    N, d = z.shape
    tick = sc.Timer(timings)
    key = key or z_key(z)
    tick("fingerprint")

    mean0, std0, vmin, vmax = sc.range_pass(z, tick)
    bins = n_bins(N)
    hist = HistAccumulator(*hist_ranges(mean0, std0, vmin, vmax), bins)
    sums, cov, radius = sc.moment_pass(z, mean0, hist, tick)
    std, skew, kurt = sc.central_moments(sums, N)
    mean = mean0 + sums[0] / N
    tick("moments")

    edges, counts, outside = hist.result()
    fit = fit_gaussians(edges, counts, mean, std)
    hw = fit.half_width
    eps = 1e-6 * max(float(np.median(hw)), 1e-12)              # dead components stay finite
    off = np.abs(fit.center) / np.maximum(hw, eps)
    tick("gauss_fit")
    corr, order, pairs = sc.correlations(cov, std)
    tick("correlation")

    w, v = np.linalg.eigh(cov)                                  # ascending
    w, comps = np.maximum(w[::-1], 0.0), np.ascontiguousarray(v[:, ::-1].T)  # row k = axis k
    rank = max(1, int((w > EIG_RTOL * max(w[0], 1e-300)).sum()))
    sd = np.sqrt(w)
    tick("pca")

    # cov is about mean0 (pass 1); the shift to the exact mean is second order, 1e-8 of var
    phist = HistAccumulator(*hist_ranges(np.zeros(d), sd, -6 * sd, 6 * sd), bins)
    cut = float(normality.equivalent_radius(3.0, rank))
    maha, cdist, out_sums, n_out = sc.frame_pass(z, mean0, comps, sd, rank, fit.center,
                                                 phist, cut, tick)
    pedges, pcounts, _ = phist.result()
    pfit = fit_gaussians(pedges, pcounts, np.zeros(d), sd)
    tick("gauss_fit")
    norm = normality.core_report(z, maha, sums, out_sums, n_out, rank, seed)
    tick("normality")

    return LatentStats(
        n=N, d=d, z_key=key, bins=bins, mean=mean, std=std, skew=skew, kurtosis=kurt,
        vmin=vmin, vmax=vmax, center=fit.center, half_width=hw, fit_amplitude=fit.amplitude,
        fit_r2=fit.r2, fit_ok=fit.ok, hist_edges=edges, hist_counts=counts,
        hist_outside=outside, off_origin=off, off_origin_rank=np.argsort(-off, kind="stable"),
        cov=cov, corr=corr, corr_order=order, top_pairs_i=pairs[0], top_pairs_j=pairs[1],
        top_pairs_r=pairs[2], pca_mean=mean0, pca_eigvals=w,
        pca_explained=w / max(w.sum(), 1e-300), pca_components=comps, pca_rank=rank,
        pca_center=pfit.center, pca_half_width=pfit.half_width, pca_hist_edges=pedges,
        pca_hist_counts=pcounts, radius=radius, center_dist=cdist, maha=maha, **norm)
