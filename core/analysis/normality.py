"""Normality checks for the cloud's core: per component and multivariate.

With N = 200,000 even tiny deviations from a Gaussian are "significant", so every test
reports its effect size (skewness, kurtosis, Mardia's b1/b2) next to the p-value.
All functions take moments or Mahalanobis distances that stats.py has already computed,
so no extra pass over the z-points is needed except Mardia's skewness on a subsample.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import special, stats as sps

if TYPE_CHECKING:
    from core.analysis.latent_stats import LatentStats

SIGMA_LEVELS = np.array([1.0, 2.0, 3.0])


def gauss_mass(k: float | np.ndarray) -> np.ndarray:
    """Mass of a 1-D Gaussian within +-k sigma: 0.683, 0.954, 0.997 for k = 1, 2, 3."""
    return special.erf(np.asarray(k, np.float64) / np.sqrt(2.0))


def equivalent_radius(k: float | np.ndarray, dof: int) -> np.ndarray:
    """Mahalanobis radius holding the same Gaussian mass in `dof` dimensions as +-k sigma
    in one. In 256-d a Gaussian has almost no points within Mahalanobis radius 3 (they sit
    near sqrt(256) = 16), so the literal "k-sigma ball" says little; this one does."""
    return np.sqrt(sps.chi2.ppf(gauss_mass(k), dof))


def dagostino_k2(skew: np.ndarray, kurt: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """D'Agostino-Pearson K^2 test from (biased) skewness and excess kurtosis, vectorised
    over components; the same formulas as ``scipy.stats.normaltest``. Returns (K2, p)."""
    b2 = np.asarray(skew, np.float64)
    k = np.asarray(kurt, np.float64) + 3.0
    n = float(n)
    # skewness part (scipy.stats.skewtest)
    y = b2 * np.sqrt(((n + 1) * (n + 3)) / (6.0 * (n - 2)))
    beta2 = 3.0 * (n * n + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2.0) * (n + 5) * (n + 7) * (n + 9))
    w2 = -1 + np.sqrt(2 * (beta2 - 1))
    delta = 1 / np.sqrt(0.5 * np.log(w2))
    alpha = np.sqrt(2.0 / (w2 - 1))
    y = np.where(y == 0, 1, y)
    zs = delta * np.log(y / alpha + np.sqrt((y / alpha) ** 2 + 1))
    # kurtosis part (scipy.stats.kurtosistest)
    e = 3.0 * (n - 1) / (n + 1)
    varb2 = 24.0 * n * (n - 2) * (n - 3) / ((n + 1) * (n + 1.0) * (n + 3) * (n + 5))
    x = (k - e) / np.sqrt(varb2)
    sqrtbeta1 = 6.0 * (n * n - 5 * n + 2) / ((n + 7) * (n + 9)) * np.sqrt((6.0 * (n + 3) * (n + 5)) / (n * (n - 2) * (n - 3)))
    a = 6.0 + 8.0 / sqrtbeta1 * (2.0 / sqrtbeta1 + np.sqrt(1 + 4.0 / sqrtbeta1 ** 2))
    term1 = 1 - 2 / (9.0 * a)
    denom = 1 + x * np.sqrt(2 / (a - 4.0))
    term2 = np.sign(denom) * np.where(denom == 0, np.nan, ((1 - 2.0 / a) / np.abs(np.where(denom == 0, 1, denom))) ** (1 / 3.0))
    zk = (term1 - term2) / np.sqrt(2 / (9.0 * a))
    k2 = zs * zs + zk * zk
    return k2, sps.chi2.sf(k2, 2)


def _truncated_chi2_moment(order: int, dof: int, c: float) -> float:
    """E[X^order | X <= c] for X ~ chi2(dof): E[X^r 1{X<=c}] = mu_r * F_{dof+2r}(c)."""
    raw = np.prod([dof + 2.0 * i for i in range(order)])
    return float(raw * sps.chi2.cdf(c, dof + 2 * order) / sps.chi2.cdf(c, dof))


def mardia_kurtosis(maha_core: np.ndarray, dof: int, cut: float) -> dict:
    """Mardia's kurtosis on the core (Mahalanobis radius <= cut), scale-normalised so the
    core's shrunken spread does not count as a deviation:
    b2 = d^2 mean(D^4) / mean(D^2)^2, compared with its value for a Gaussian truncated at
    the same radius (d(d+2) without truncation). Approximate z-score with Mardia's variance."""
    D2 = maha_core.astype(np.float64) ** 2
    n = len(D2)
    if n < 10:
        return {"b2": np.nan, "expected": np.nan, "z": np.nan, "p": np.nan}
    c = cut * cut
    m1 = _truncated_chi2_moment(1, dof, c)
    m2 = _truncated_chi2_moment(2, dof, c)
    b2 = dof * dof * np.mean(D2 * D2) / np.mean(D2) ** 2
    expected = dof * dof * m2 / (m1 * m1)
    z = (b2 - expected) / np.sqrt(8.0 * dof * (dof + 2) / n)
    return {"b2": float(b2), "expected": float(expected), "z": float(z), "p": float(2 * sps.norm.sf(abs(z)))}


def mardia_skewness(x: np.ndarray, block: int = 512) -> dict:
    """Mardia's multivariate skewness with the small-sample correction, on points x [m, d]
    whitened by their own mean and covariance; O(m^2 d) time, O(block * m) memory."""
    x = np.asarray(x, np.float64)
    m, d = x.shape
    if m <= d + 2:
        return {"b1": np.nan, "stat": np.nan, "dof": np.nan, "p": np.nan, "n": m}
    xc = x - x.mean(0)
    w, v = np.linalg.eigh(xc.T @ xc / m)
    keep = w > 1e-10 * w.max()
    y = xc @ (v[:, keep] / np.sqrt(w[keep]))                              # [m, rank]
    d = int(keep.sum())
    total = 0.0
    for i in range(0, m, block):
        g = y[i:i + block] @ y.T                                          # [block, m]
        total += float(np.sum(g * g * g))
    b1 = total / (m * m)
    corr = (d + 1) * (m + 1) * (m + 3) / (m * ((m + 1) * (d + 1) - 6.0))
    stat = m * b1 * corr / 6.0
    dof = d * (d + 1) * (d + 2) / 6.0
    return {"b1": b1, "stat": stat, "dof": dof, "p": float(sps.chi2.sf(stat, dof)), "n": m}


def core_report(z: np.ndarray, maha: np.ndarray, total_sums: np.ndarray, out_sums: np.ndarray, n_out: int, rank: int, seed: int = 0,
                mardia_points: int = 2000) -> dict:
    """The k-sigma core fractions and the normality of the <= 3-sigma-equivalent core, as
    LatentStats fields. total_sums / out_sums: power sums p = 1..4 about the mean over all
    points / over the points beyond the cut (see stats_compute)."""
    from core.analysis.passes import central_moments

    N, d = z.shape
    ks = SIGMA_LEVELS
    radii = equivalent_radius(ks, rank)
    cut = float(radii[-1])
    n_core = N - n_out
    _, sk, ku = central_moments(total_sums - out_sums, n_core)
    k2, p = dagostino_k2(sk, ku, n_core) if n_core >= 8 else (np.full(d, np.nan),) * 2
    core_idx = np.flatnonzero(maha <= cut)
    pick = np.random.default_rng(seed).choice(core_idx, size=min(mardia_points, len(core_idx)),
                                              replace=False)
    ms = mardia_skewness(np.asarray(z[np.sort(pick)]))
    mk = mardia_kurtosis(maha[core_idx], rank, cut)
    return dict(
        core_k=ks, core_fraction=np.array([(maha <= k).mean() for k in ks]),
        core_expected=sps.chi2.cdf(ks ** 2, rank), core_radius_eq=radii,
        core_fraction_eq=np.array([(maha <= r).mean() for r in radii]),
        norm_n_core=int(n_core), norm_skew=sk, norm_kurtosis=ku, norm_k2=k2, norm_p=p,
        mardia_b1=float(ms["b1"]), mardia_skew_stat=float(ms["stat"]),
        mardia_skew_dof=float(ms["dof"]), mardia_skew_p=float(ms["p"]),
        mardia_b2=mk["b2"], mardia_b2_expected=mk["expected"],
        mardia_kurt_z=mk["z"], mardia_kurt_p=mk["p"])


def verdict(stats: "LatentStats", alpha: float = 0.01) -> dict:
    """The normality figures of ``LatentStats`` judged in words: is the core a multivariate
    normal? At large N every p-value is tiny, so the words follow the effect sizes (Mardia's
    skewness over its Gaussian expectation, kurtosis relative to a Gaussian truncated at the
    same radius, the share of components failing D'Agostino at alpha / d, and how much of
    the cloud lies inside the 1/2/3-sigma-equivalent radii). Returns {"normal": bool,
    "headline": str, "details": [str], "table": {measure: (value, gaussian value, p)}}."""
    d = stats.d
    skew_ratio = stats.mardia_skew_stat / stats.mardia_skew_dof if stats.mardia_skew_dof else np.nan
    kurt_rel = stats.mardia_b2 / stats.mardia_b2_expected - 1.0 if stats.mardia_b2_expected else np.nan
    fail = float(np.mean(np.asarray(stats.norm_p) < alpha / d))
    med_skew, med_kurt = float(np.median(np.abs(stats.norm_skew))), float(np.median(np.abs(stats.norm_kurtosis)))
    inside, gauss = np.asarray(stats.core_fraction_eq), gauss_mass(stats.core_k)
    normal = bool(skew_ratio < 1.1 and abs(kurt_rel) < 0.02 and fail < 0.1
                  and np.all(np.abs(inside - gauss) < 0.05))
    tails = "heavier tails (more mass far out)" if kurt_rel > 0 else "lighter tails (a flatter core)"
    head = (f"{'Yes' if normal else 'No'}: the core ({stats.norm_n_core:,} z-points inside the "
            f"3σ-equivalent radius) is {'close to' if normal else 'not'} a multivariate normal.")
    details = [
        f"Mardia's skewness is {skew_ratio:.2f}× what a Gaussian sample of this size gives "
        f"({_p(stats.mardia_skew_p)}).",
        f"Mardia's kurtosis is {100 * kurt_rel:+.1f}% off a Gaussian truncated at the same radius "
        f"(z = {stats.mardia_kurt_z:.1f}, {_p(stats.mardia_kurt_p)}){': ' + tails if abs(kurt_rel) >= 0.02 else ''}.",
        f"{100 * fail:.0f}% of the {d} components fail D'Agostino's test on their own (α = {alpha:g}/{d}); "
        f"the median component has |skewness| {med_skew:.2f} and |excess kurtosis| {med_kurt:.2f}"
        + (", so each histogram looks Gaussian while the joint shape is not." if med_skew < 0.2 and med_kurt < 0.5
           and not normal else "."),
        "Inside the 1/2/3σ-equivalent Mahalanobis radii: " + ", ".join(
            f"{100 * f:.1f}%" for f in inside) + " of the z-points (a Gaussian: "
        + ", ".join(f"{100 * g:.1f}%" for g in gauss) + ")."]
    table = {"Mardia skewness b1": (stats.mardia_b1, stats.mardia_b1 / skew_ratio if skew_ratio else np.nan,
                                    stats.mardia_skew_p),
             "Mardia kurtosis b2": (stats.mardia_b2, stats.mardia_b2_expected, stats.mardia_kurt_p),
             f"components failing D'Agostino (α={alpha:g}/d)": (fail, alpha / d, np.nan),
             "median |skewness| per component": (med_skew, 0.0, np.nan),
             "median |excess kurtosis| per component": (med_kurt, 0.0, np.nan)}
    return {"normal": normal, "headline": head, "details": details, "table": table}


def _p(p: float) -> str:
    return "p < 1e-300" if p == 0 else f"p = {p:.2g}"
