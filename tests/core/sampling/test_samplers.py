"""Samplers and batch diagnostics on a correlated Gaussian cloud with known answers."""
import numpy as np
import pytest
from scipy import stats as sps

from core.analysis.diagnostics import batch_diagnostics, reference_diagnostics
from core.sampling.mixture import GaussianMixtureModel, cached_gmm, fit_gmm
from core.sampling.registry import SAMPLERS, sample
from core.analysis.latent_stats import latent_stats

N, D = 8000, 6


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(D, D)) * 0.4 + np.eye(D) * np.linspace(0.5, 2.0, D)
    z = (np.linspace(-1, 1, D) + rng.standard_normal((N, D)) @ A.T).astype(np.float32)
    return z, latent_stats(z)


@pytest.fixture(scope="module")
def mixture(cloud):
    return fit_gmm(cloud[0], n_components=3, seed=0)


def inputs(name, z, gm):
    return {"gmm": {"gmm": gm}, "path": {"z": z}, "nudge": {"z": z}}.get(name, {})


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_is_reproducible(name, cloud, mixture):
    z, st = cloud
    a = sample(name, st, 21, seed=7, **inputs(name, z, mixture))
    b = sample(name, st, 21, seed=7, **inputs(name, z, mixture))
    assert a.dtype == np.float32 and a.shape == (21, D) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    if name != "path":                                          # the main-axis path is deterministic
        assert not np.array_equal(a, sample(name, st, 21, seed=8, **inputs(name, z, mixture)))


def test_box_stays_in_bounds_and_is_uniform(cloud):
    _, st = cloud
    x = sample("box", st, 20000, seed=0, fact=0.7).astype(np.float64)
    u = (x - st.center) / (0.7 * st.half_width)                # uniform in [-1, 1] per component
    assert np.all(np.abs(u) <= 1 + 1e-5)
    for j in range(D):
        assert sps.kstest(u[:, j], "uniform", args=(-1, 2)).pvalue > 1e-3
    assert np.all(np.abs(u).max(0) > 0.99)                     # fills the box


def test_cube_radius_matches_b_sqrt_d_over_3():
    z = np.random.default_rng(1).standard_normal((500, 256)).astype(np.float32)
    st = latent_stats(z)
    r = np.linalg.norm(sample("cube", st, 4000, seed=0, b=1.5), axis=1)
    assert abs(r.mean() / st.cube_radius_mean(1.5) - 1) < 0.005
    assert abs(r.std() / st.cube_radius_std(1.5) - 1) < 0.1
    assert np.abs(sample("cube", st, 100, seed=0, b=1.5)).max() <= 1.5


@pytest.mark.parametrize("name", ["full_gauss", "gmm"])
def test_gaussians_reproduce_the_covariance(name, cloud, mixture):
    z, st = cloud
    n = 40000
    x = sample(name, st, n, seed=1, **inputs(name, z, mixture)).astype(np.float64)
    tol = 6 / np.sqrt(min(n, N)) * np.outer(st.std, st.std)
    assert np.all(np.abs(np.cov(x.T) - st.cov) < tol)
    assert np.all(np.abs(x.mean(0) - st.mean) < 6 * st.std / np.sqrt(min(n, N)))


def test_diag_gauss_drops_correlations_and_scale(cloud):
    _, st = cloud
    x = sample("diag_gauss", st, 40000, seed=2, scale=0.5).astype(np.float64)
    c = np.corrcoef(x.T)
    assert np.abs(c - np.eye(D)).max() < 6 / np.sqrt(40000)
    np.testing.assert_allclose(x.std(0), 0.5 * st.std, rtol=0.03)


def test_pca_box_is_a_box_in_the_main_axis_frame(cloud):
    _, st = cloud
    x = sample("pca_box", st, 5000, seed=3, fact=1.5)
    u = (st.to_pca(x) - st.pca_center) / (1.5 * st.pca_half_width)
    assert np.all(np.abs(u) <= 1 + 1e-4) and np.all(np.abs(u).max(0) > 0.98)


def test_paths(cloud):
    z, st = cloud
    p = sample("path", st, 21, seed=0, mode="axis", axis=1, extent=2.0)
    np.testing.assert_allclose(p[10], st.pca_mean, atol=1e-5)           # through the center
    y = st.to_pca(p)
    np.testing.assert_allclose(np.delete(y, 1, axis=1), 0, atol=1e-4)  # only main axis 1 moves
    np.testing.assert_allclose(y[[0, -1], 1], np.array([-2, 2]) * np.sqrt(st.pca_eigvals[1]), rtol=1e-4)

    c = sample("path", st, 9, seed=0, mode="coord", axis=2, axis2=4, angle=90.0, steps=5)
    assert c.shape == (5, D)
    moving = np.flatnonzero(np.ptp(c, axis=0) > 1e-6)
    assert list(moving) == [4]                                          # 90 degrees: all toward axis2

    q = sample("path", st, 11, seed=0, mode="points", a=3, b=17, z=z)
    np.testing.assert_allclose(q[[0, -1]], z[[3, 17]], atol=1e-6)
    assert np.allclose(np.diff(q, 2, axis=0), 0, atol=1e-5)            # equally spaced, straight


def test_nudge_moves_toward_real_neighbours(cloud):
    z, st = cloud
    base = sample("box", st, 30, seed=4, fact=1.5)
    same = sample("nudge", st, 30, seed=4, base="box", fact=1.5, alpha=0.0, z=z)
    np.testing.assert_allclose(same, base, atol=1e-6)
    full = sample("nudge", st, 30, seed=4, base="box", fact=1.5, alpha=1.0, k=5, z=z)
    dist = np.linalg.norm(base[:, None, :].astype(np.float64) - z[None], axis=2)
    target = z[np.argsort(dist, axis=1)[:, :5]].mean(axis=1)
    np.testing.assert_allclose(full, target, atol=1e-5)

    class CountingIndex:                                    # any object with .query(q, k) will do
        calls = 0

        def query(self, q, k):
            CountingIndex.calls += 1
            d = np.linalg.norm(q[:, None, :].astype(np.float64) - z[None], axis=2)
            idx = np.argsort(d, axis=1)[:, :k]
            return np.take_along_axis(d, idx, 1).astype(np.float32), idx

    half = sample("nudge", st, 30, seed=4, base="box", fact=1.5, k=5, z=z, index=CountingIndex())
    assert CountingIndex.calls == 1
    np.testing.assert_allclose(half, 0.5 * (base + target), atol=1e-5)


@pytest.mark.parametrize("name, params, match", [
    ("nope", {}, "unknown sampler"),
    ("box", {"fct": 1.0}, "no parameter"),
    ("box", {"fact": -1}, "fact must be a finite number > 0"),
    ("cube", {"b": "wide"}, "must be a number"),
    ("path", {"mode": "spiral"}, "must be one of"),
    ("path", {"axis": 99}, "axis"),
    ("nudge", {"alpha": 2.0}, "alpha must be a finite number between 0 and 1"),
    ("nudge", {"base": "box", "b": 1.0}, "no parameter"),      # b belongs to cube, not box
    ("nudge", {}, "needs z"),
    ("gmm", {}, "needs gmm"),
])
def test_bad_calls_raise_clear_errors(name, params, match, cloud):
    with pytest.raises(ValueError, match=match):
        sample(name, cloud[1], 5, seed=0, **params)


def test_gmm_save_load_and_cache(cloud, mixture, tmp_path):
    z, _ = cloud
    mixture.save(tmp_path / "g.npz")
    back = GaussianMixtureModel.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(back.covariances, mixture.covariances)
    assert back.covariance_type == "full" and back.n_components == 3
    rng1, rng2 = np.random.default_rng(0), np.random.default_rng(0)
    np.testing.assert_array_equal(back.sample(50, rng1), mixture.sample(50, rng2))

    small = z[:1500]
    g1 = cached_gmm(small, tmp_path, n_components=2, covariance_type="diag")
    files = list(tmp_path.glob("gmm-*-k2-diag-*.npz"))
    assert len(files) == 1 and g1.covariances.shape == (2, D, D)
    files[0].write_bytes(b"not a zip")                              # broken file: refitted
    g2 = cached_gmm(small, tmp_path, n_components=2, covariance_type="diag")
    np.testing.assert_allclose(g2.means, g1.means)
    GaussianMixtureModel.load(files[0])


def test_gmm_sample_order_says_nothing_about_the_component():
    gm = GaussianMixtureModel(weights=np.array([0.5, 0.5]), means=np.array([[-10.0, 0], [10.0, 0]]),
                              covariances=np.stack([np.eye(2)] * 2), covariance_type="full",
                              n_fit=0, seed=0, converged=True, n_iter=0, lower_bound=0.0)
    side = gm.sample(200, np.random.default_rng(0))[:, 0] > 0
    assert 70 < side.sum() < 130 and np.count_nonzero(np.diff(side)) > 50


def test_batch_diagnostics_compare_with_heldout(cloud):
    z, st = cloud
    train, held = z[:6000], z[6000:]
    real_like = batch_diagnostics(held[:21], st, z_real=train, heldout=held)
    for key in ("sample_mahalanobis", "sample_nn", "sample_nn_index"):
        assert real_like[key].shape == (21,)
    brute = np.linalg.norm(held[:21, None].astype(np.float64) - train[None], axis=2).min(1)
    np.testing.assert_allclose(real_like["sample_nn"], brute, rtol=1e-5)
    assert real_like["real_n"] == 500
    # real points look like real points; a wide cube does not
    assert abs(real_like["sample_mahalanobis_mean"] / real_like["real_mahalanobis_mean"] - 1) < 0.3
    far = batch_diagnostics(sample("cube", st, 21, seed=0, b=6.0), st, z_real=train, heldout=held)
    assert far["sample_mahalanobis_mean"] > 2 * far["real_mahalanobis_mean"]
    assert far["sample_nn_mean"] > 2 * far["real_nn_mean"] and far["sample_nn_beyond_real_p95"] > 0.9


def test_reference_with_rows_excludes_itself(cloud):
    z, st = cloud
    train_rows = np.arange(0, N, 2)
    held_rows = np.arange(1, 200, 2)
    ref = reference_diagnostics(st, z, train_rows, held_rows)
    brute = np.linalg.norm(z[held_rows, None].astype(np.float64) - z[None, train_rows], axis=2).min(1)
    np.testing.assert_allclose(np.sort(ref["real_nn"]), np.sort(brute), rtol=1e-5)
    loo = reference_diagnostics(st, z[:300], None, None)            # no held-out rows: leave-one-out
    assert np.all(loo["real_nn"] > 0)
    out = batch_diagnostics(z[:5], st, z_real=z, reference=ref)      # rows of z: nearest training row
    assert np.all(out["sample_nn_index"] % 2 == 0)


@pytest.mark.parametrize("copies", [40, 300])
def test_nearest_real_past_a_crowd_of_excluded_copies(cloud, copies, monkeypatch):
    """A query whose nearest rows are all near-copies of a held-out point (not allowed):
    the answer is the nearest *allowed* row, found by asking the index deeper (40 copies)
    or, past ESCALATE_UP_TO, by brute force (300 copies, limit lowered to 64)."""
    import core.analysis.diagnostics as diag
    from core.analysis.neighbors import KNNIndex

    monkeypatch.setattr(diag, "ESCALATE_UP_TO", 64)
    z, _ = cloud
    rng = np.random.default_rng(5)
    crowd = (z[0] + rng.normal(0, 1e-3, (copies, D))).astype(np.float32)
    zz = np.concatenate([z, crowd])
    allowed = np.ones(len(zz), bool)
    allowed[0] = False
    allowed[len(z):] = False                         # the held-out image and its copies
    q = np.stack([z[0] + 1e-4, z[1]]).astype(np.float32)
    dist, idx = diag.nearest_real(q, zz, index=KNNIndex(zz), allowed=allowed)
    brute = np.linalg.norm(q[:, None].astype(np.float64) - zz[None], axis=2)
    brute[:, ~allowed] = np.inf
    np.testing.assert_array_equal(idx, brute.argmin(1))
    np.testing.assert_allclose(dist, brute.min(1), rtol=1e-5)
