"""The one load-or-compute rule of derived artifacts (core.store.derived) and the one PCA plane
(core.maps.plane), checked against known answers."""
from __future__ import annotations

import numpy as np

from core.analysis.latent_stats import cached_latent_stats
from core.maps.plane import main_axes, project, stats_plane
from core.store import atomic
from core.store.derived import load_or_compute, load_valid


def test_load_or_compute_reuses_recomputes_and_rejects(tmp_path):
    path = tmp_path / "a.npy"
    calls = []

    def compute():
        calls.append(1)
        return np.arange(4.0)

    def get(valid=lambda a: a.shape == (4,)):
        return load_or_compute(path, atomic.load_npy, compute, lambda a, p: atomic.save_npy(p, a), valid)

    np.testing.assert_array_equal(get(), np.arange(4.0))
    get()
    assert len(calls) == 1                                   # valid file: reused
    path.write_bytes(path.read_bytes()[:20])                 # truncated: recomputed
    get()
    assert len(calls) == 2
    get(valid=lambda a: a.shape == (5,))                     # made for another request: recomputed
    assert len(calls) == 3
    path.write_text("garbage")
    assert load_valid(path, atomic.load_npy) is None         # a UI never computes
    assert load_valid(tmp_path / "missing.npy", atomic.load_npy) is None


def test_stats_cache_follows_the_rule(tmp_path):
    z = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    s1 = cached_latent_stats(z, tmp_path)
    f, = tmp_path.glob("stats-*.npz")
    f.write_bytes(f.read_bytes()[:100])
    s2 = cached_latent_stats(z, tmp_path)                    # rebuilt, same answer
    np.testing.assert_allclose(s1.center, s2.center)


def test_pca_plane_finds_a_planted_plane():
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(6, 6)))[0][:, :2].T          # [2, 6] orthonormal rows
    coef = rng.normal(size=(5000, 2)) * [5.0, 2.0]
    z = (coef @ basis + 0.01 * rng.normal(size=(5000, 6)) + 3.0).astype(np.float32)
    mean, axes = main_axes(z, 2, chunk=777)
    np.testing.assert_allclose(mean, z.mean(0), atol=1e-4)
    np.testing.assert_allclose(np.abs(axes @ basis.T), np.eye(2), atol=0.03)   # sampling error
    xy = project(z, mean, axes, chunk=999)
    np.testing.assert_allclose(xy, (z.astype(np.float64) - mean) @ axes.T, atol=1e-4)  # chunks change nothing
    for k in (0, 1):                                                     # the planted coordinates
        assert abs(np.corrcoef(xy[:, k], coef[:, k])[0, 1]) > 0.999
    assert xy.dtype == np.float32 and xy.shape == (5000, 2)
    from core.stats import latent_stats

    st = latent_stats(z)
    np.testing.assert_allclose(stats_plane(st, z[:5], 0, 1), st.to_pca(z[:5])[:, :2], atol=1e-4)
