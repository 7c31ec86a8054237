"""latent_stats on clouds with known answers: tolerances scale like c / sqrt(N)."""
import numpy as np
import pytest
from scipy import stats as sps
from scipy.optimize import curve_fit

from core.analysis.histfit import HWHM_PER_SIGMA, fit_gaussians
from core.analysis.normality import dagostino_k2
from core.analysis.latent_stats import LatentStats, cached_latent_stats, latent_stats, z_key

N = 20000
MU = np.array([0.5, -1.0, 3.0, 0.0, 0.2, -0.3, 1.0, 0.0])
SIGMA = np.array([1.0, 0.5, 2.0, 1.5, 0.8, 1.0, 0.3, 1.2])
BLOCKS = ([0, 2, 4], [1, 3, 5])          # correlated within, not across
R_IN = 0.6
GAMMA_K, GAMMA_THETA = 4.0, 0.5          # skewed extra component: skew 1, excess kurtosis 1.5


def true_corr():
    R = np.eye(len(MU))
    for b in BLOCKS:
        for i in b:
            for j in b:
                R[i, j] = 1.0 if i == j else R_IN
    R[6, 7] = R[7, 6] = -0.8            # the strongest pair
    return R


def correlated_gaussian(n=N, seed=0):
    rng = np.random.default_rng(seed)
    cov = true_corr() * np.outer(SIGMA, SIGMA)
    return (MU + rng.standard_normal((n, len(MU))) @ np.linalg.cholesky(cov).T).astype(np.float32)


@pytest.fixture(scope="module")
def gauss():
    z = correlated_gaussian()
    return z, latent_stats(z)


@pytest.fixture(scope="module")
def skewed():
    rng = np.random.default_rng(1)
    g = rng.gamma(GAMMA_K, GAMMA_THETA, N)
    z = np.c_[correlated_gaussian(seed=1), g].astype(np.float32)
    return z, latent_stats(z)


def test_moments_and_fitted_gaussian_recover_known_values(gauss):
    _, st = gauss
    tol = 6.0 / np.sqrt(N)
    assert np.all(np.abs(st.mean - MU) < tol * SIGMA)
    assert np.all(np.abs(st.std / SIGMA - 1) < tol)
    assert np.all(np.abs(st.center - MU) < tol * SIGMA)
    assert np.all(np.abs(st.half_width / (HWHM_PER_SIGMA * SIGMA) - 1) < tol)
    assert np.all(np.abs(st.skew) < 5 * np.sqrt(6 / N))
    assert np.all(np.abs(st.kurtosis) < 5 * np.sqrt(24 / N))
    assert st.fit_ok.all() and np.all(st.fit_r2 > 0.98)


def test_skewed_component_fit_is_robust(skewed):
    _, st = skewed
    j = len(MU)
    mode, mean = (GAMMA_K - 1) * GAMMA_THETA, GAMMA_K * GAMMA_THETA
    assert abs(st.skew[j] - 2 / np.sqrt(GAMMA_K)) < 0.15
    assert abs(st.kurtosis[j] - 6 / GAMMA_K) < 0.8
    assert mode < st.center[j] < mean                        # the peak, pulled by the tail
    sd = np.sqrt(GAMMA_K) * GAMMA_THETA
    assert 0.6 * sd < st.half_width[j] < 1.5 * HWHM_PER_SIGMA * sd
    assert st.fit_ok[j] and st.fit_r2[j] < st.fit_r2[:j].min()


def test_histograms_count_every_point(gauss):
    z, st = gauss
    assert st.hist_counts.shape == (st.d, st.bins) and st.hist_edges.shape == (st.d, st.bins + 1)
    np.testing.assert_array_equal(st.hist_counts.sum(1) + st.hist_outside, N)
    ref, _ = np.histogram(z[:, 2], bins=st.hist_edges[2])
    assert np.abs(ref - st.hist_counts[2]).max() <= 2          # float32 rounding at bin edges


def test_outliers_fall_outside_the_bins_not_into_the_edge_bins():
    z = correlated_gaussian(4000)
    z[:3, 0] = [50.0, -60.0, 70.0]                              # far beyond mean +- 6 std
    st = latent_stats(z)
    assert st.hist_outside[0] == 3 and st.hist_counts[0].sum() == 3997
    ref, _ = np.histogram(z[:, 0], bins=st.hist_edges[0])
    assert np.abs(ref - st.hist_counts[0]).max() <= 1


def test_vectorised_fit_matches_curve_fit():
    rng = np.random.default_rng(3)
    x = np.c_[rng.normal(1.0, 2.0, 5000), rng.gamma(3.0, 1.0, 5000)]
    edges = np.stack([np.linspace(x[:, j].min(), x[:, j].max() * 1.0001, 41) for j in range(2)])
    counts = np.stack([np.histogram(x[:, j], edges[j])[0] for j in range(2)])
    fit = fit_gaussians(edges, counts, x.mean(0), x.std(0))
    g = lambda t, a, m, s: a * np.exp(-0.5 * ((t - m) / s) ** 2)  # noqa: E731
    for j in range(2):
        c = 0.5 * (edges[j, 1:] + edges[j, :-1])
        p, _ = curve_fit(g, c, counts[j], p0=[counts[j].max(), x[:, j].mean(), x[:, j].std()])
        h = edges[j, 1] - edges[j, 0]
        assert abs(fit.center[j] - p[1]) < 1e-3 * abs(p[2])
        assert abs(fit.sigma[j] - np.sqrt(p[2] ** 2 - h * h / 12)) < 1e-3 * abs(p[2])  # Sheppard


def test_off_origin_ranking(gauss):
    _, st = gauss
    np.testing.assert_allclose(st.off_origin, np.abs(st.center) / st.half_width)
    expected = np.argsort(-np.abs(MU) / SIGMA)
    assert list(st.off_origin_rank[:2]) == list(expected[:2])   # components 1 and 6


def test_correlation_matrix_order_and_pairs(gauss):
    _, st = gauss
    R = true_corr()
    assert np.abs(st.corr - R).max() < 6 / np.sqrt(N)
    pos = {c: i for i, c in enumerate(st.corr_order)}
    for b in BLOCKS:                                             # each block is contiguous
        p = sorted(pos[c] for c in b)
        assert p[-1] - p[0] == len(b) - 1
    assert {st.top_pairs_i[0], st.top_pairs_j[0]} == {6, 7}
    assert abs(st.top_pairs_r[0] + 0.8) < 6 / np.sqrt(N)


def test_pca_matches_covariance_and_round_trips(gauss):
    z, st = gauss
    cov = true_corr() * np.outer(SIGMA, SIGMA)
    assert np.abs(st.cov - cov).max() < 6 / np.sqrt(N) * SIGMA.max() ** 2
    true_w = np.linalg.eigvalsh(cov)[::-1]
    np.testing.assert_allclose(st.pca_eigvals, true_w, rtol=8 / np.sqrt(N))
    np.testing.assert_allclose(st.pca_components @ st.pca_components.T, np.eye(st.d), atol=1e-10)
    np.testing.assert_allclose(st.pca_explained.sum(), 1.0)
    y = st.to_pca(z[:100])
    np.testing.assert_allclose(st.from_pca(y), z[:100], atol=1e-5)
    np.testing.assert_allclose(np.cov(st.to_pca(z).T, bias=True), np.diag(st.pca_eigvals),
                               atol=1e-4 * true_w[0])
    np.testing.assert_allclose(st.pca_half_width, HWHM_PER_SIGMA * np.sqrt(true_w),
                               rtol=8 / np.sqrt(N))


def test_radii_and_mahalanobis(gauss):
    z, st = gauss
    np.testing.assert_allclose(st.radius, np.linalg.norm(z, axis=1), rtol=1e-5)
    np.testing.assert_allclose(st.center_dist, np.linalg.norm(z - st.center, axis=1), rtol=1e-4)
    xc = z.astype(np.float64) - st.mean
    direct = np.sqrt(np.einsum("ij,jk,ik->i", xc, np.linalg.inv(st.cov), xc))
    np.testing.assert_allclose(st.maha, direct, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(st.mahalanobis(z[:50]), st.maha[:50], rtol=1e-5)
    assert abs(np.mean(st.maha.astype(np.float64) ** 2) - st.d) < 1e-6 * st.d   # exact identity
    assert st.cube_radius_mean(2.0) == pytest.approx(2.0 * np.sqrt(st.d / 3))


def test_core_fractions_match_a_gaussian(gauss):
    _, st = gauss
    mass = sps.norm.cdf(st.core_k) - sps.norm.cdf(-st.core_k)
    tol = 4 * np.sqrt(mass * (1 - mass) / N)
    assert np.all(np.abs(st.core_fraction_eq - mass) < tol + 1e-3)
    np.testing.assert_allclose(st.core_expected, sps.chi2.cdf(st.core_k ** 2, st.d))
    assert np.all(np.abs(st.core_fraction - st.core_expected) < 4 * np.sqrt(st.core_expected / N) + 1e-3)


def test_normality_checks_separate_gaussian_from_skewed(gauss, skewed):
    _, st = gauss
    assert st.norm_n_core == pytest.approx(0.9973 * N, rel=0.01)
    assert np.all(st.norm_p > 1e-4) and st.mardia_skew_p > 1e-3 and abs(st.mardia_kurt_z) < 4
    _, sk = skewed
    assert sk.norm_p[-1] < 1e-10 and np.all(sk.norm_p[:-1] > 1e-4)
    assert sk.mardia_skew_p < 1e-6


def test_core_moments_are_those_of_the_core_points(skewed):
    z, st = skewed
    core = z[st.maha <= st.core_radius_eq[-1]].astype(np.float64)
    assert len(core) == st.norm_n_core < N
    np.testing.assert_allclose(st.norm_skew, sps.skew(core), atol=1e-4)
    np.testing.assert_allclose(st.norm_kurtosis, sps.kurtosis(core), atol=1e-3)


def test_dagostino_matches_scipy():
    x = np.random.default_rng(5).gamma(9.0, 1.0, (500, 3))
    k2, p = dagostino_k2(sps.skew(x), sps.kurtosis(x), len(x))
    ref = sps.normaltest(x)
    np.testing.assert_allclose(k2, ref.statistic, rtol=1e-8)
    np.testing.assert_allclose(p, ref.pvalue, rtol=1e-6)


def test_save_load_and_cache(gauss, tmp_path):
    z, st = gauss
    st.save(tmp_path / "s.npz")
    back = LatentStats.load(tmp_path / "s.npz")
    for f in ("center", "corr", "maha", "top_pairs_i", "norm_p"):
        np.testing.assert_array_equal(getattr(back, f), getattr(st, f))
    assert (back.n, back.d, back.z_key, back.mardia_b2) == (st.n, st.d, st.z_key, st.mardia_b2)
    assert isinstance(back.n, int) and isinstance(back.z_key, str)

    small = z[:500]
    first = cached_latent_stats(small, tmp_path)
    path = tmp_path / f"stats-{z_key(small)}.npz"
    assert path.exists()
    path.write_bytes(path.read_bytes()[:200])                    # a truncated file
    again = cached_latent_stats(small, tmp_path)
    np.testing.assert_array_equal(again.corr, first.corr)
    LatentStats.load(path)                                       # rewritten, sound again


def test_z_key_tracks_content():
    z = correlated_gaussian(3000)
    assert z_key(z) == z_key(z.copy())
    z2 = z.copy()
    z2[137, 3] += 1e-3                                           # off the strided subsample (every 11th row)
    assert z_key(z2) != z_key(z)


def test_dead_component_and_bad_input():
    z = correlated_gaussian(2000)
    z[:, 3] = 0.25                                               # a dead latent unit
    st = latent_stats(z)
    assert st.pca_rank == st.d - 1 and st.half_width[3] == 0.0 and st.center[3] == pytest.approx(0.25)
    for name in ("off_origin", "corr", "maha", "center_dist", "norm_p"):
        arr = getattr(st, name)
        assert np.all(np.isfinite(np.delete(arr, 3) if name == "norm_p" else arr)), name
    z[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        latent_stats(z)
    with pytest.raises(ValueError, match="shape"):
        latent_stats(np.zeros(10))
