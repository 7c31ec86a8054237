"""FID, KID and precision/recall against known answers (closed forms, known Gaussians)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from core.quality import metrics


def _rot(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def test_frechet_matches_closed_form_for_commuting_covariances():
    # same eigenvectors: tr(S1 + S2 - 2 (S1 S2)^1/2) = sum (sqrt(a_i) - sqrt(b_i))^2
    d, q = 6, _rot(6, 0)
    a, b = np.array([1.0, 2, 3, 4, 5, 6]), np.array([2.0, 2, 1, 9, 0.5, 6])
    mu1, mu2 = np.arange(d, dtype=float), np.arange(d, dtype=float)[::-1]
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = metrics.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(want, rel=1e-9)


def test_frechet_matches_sqrtm_for_general_covariances():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 8)), rng.standard_normal((8, 8))
    s1, s2 = x @ x.T + 0.1 * np.eye(8), y @ y.T + 0.1 * np.eye(8)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2)))
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)


def test_fid_of_a_set_with_itself_is_zero_and_reference_agrees():
    x = np.random.default_rng(2).standard_normal((300, 20))
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-8)
    y = x + 1.0                                        # shift every feature by 1: FID = d
    assert metrics.FrechetReference(x).fid(y) == pytest.approx(20.0, rel=1e-6)


def test_kid_near_zero_for_one_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((400, 16)), rng.standard_normal((400, 16))
    same, spread = metrics.kid(a, b, subsets=20, subset_size=200, seed=0)
    assert abs(same) < 3 * spread + 1e-3                # unbiased: zero within its spread
    shifted, spread2 = metrics.kid(a, b + 0.5, subsets=20, subset_size=200, seed=0)
    assert shifted > 10 * max(spread2, abs(same))


def test_precision_recall_on_known_distributions():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((500, 8))
    p, r = metrics.precision_recall(real, rng.standard_normal((500, 8)), k=3)
    assert p > 0.8 and r > 0.8                          # same distribution: both high
    p, r = metrics.precision_recall(real, rng.standard_normal((500, 8)) + 3.0, k=3)
    assert p < 0.2                                      # shifted away: looks unreal
    p, r = metrics.precision_recall(real, 0.05 * rng.standard_normal((500, 8)), k=3)
    assert p > 0.95 and r < 0.2                         # collapsed onto the mode: no variety


def test_nan_features_fail_loudly():
    x = np.ones((5, 3))
    x[0, 0] = np.nan
    with pytest.raises(FloatingPointError):
        metrics.fid(x, np.ones((5, 3)))
