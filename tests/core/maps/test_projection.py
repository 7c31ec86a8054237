"""Placement of new points on an embedding, UMAP fitting and its on-disk cache.

Fast tests use a known 2-D layout (a plane embedded in 16-d) as the 'embedding', so where a
new point belongs is known exactly; tests marked slow fit real UMAP on ~1,500 points.
"""
import numpy as np
import pytest

import core.maps.embedding as projection
from core.maps.embedding import (Embedding, Placer, cached_embedding, embedding_spread,
                             membership_weights, pca_2d)


def plane(n, seed):
    """2-D points (the layout) and their linear image in 16-d plus a little noise."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-10, 10, (n, 2))
    lift = np.random.default_rng(99).normal(size=(2, 16))
    z = xy @ lift + rng.normal(0, 0.05, (n, 16))
    return z.astype(np.float32), xy.astype(np.float32)


def blobs(n, seed, centers=5):
    """Well separated clusters in 16-d, each spread over a 2-D sheet: (z, labels). The sheets
    give UMAP a within-cluster layout to be faithful to (isotropic blobs have none, and
    there placements agree on the cluster but not on the spot within it)."""
    c = np.random.default_rng(1).normal(0, 8, (centers, 16))
    axes = np.random.default_rng(2).normal(0, 1.0, (centers, 2, 16))
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, centers, n)
    z = c[lab] + np.einsum("nk,nkd->nd", rng.normal(size=(n, 2)), axes[lab])
    return (z + rng.normal(0, 0.2, (n, 16))).astype(np.float32), lab


@pytest.fixture(scope="module")
def layout():
    return plane(2000, 0)


def test_reference_points_land_on_their_own_coordinates(layout):
    z, xy = layout
    coords = np.random.default_rng(3).normal(size=xy.shape).astype(np.float32)  # any map
    for refine in (0, 10):
        out = Placer(z, coords, refine_epochs=refine).place(z[:40])
        np.testing.assert_array_equal(out, coords[:40])


def test_new_points_land_where_they_belong(layout):
    z, xy = layout
    qz, qxy = plane(100, 1)
    inside = np.abs(qxy).max(axis=1) < 9         # away from the border, where means shrink
    out = Placer(z, xy).place(qz)
    assert out.shape == (100, 2) and out.dtype == np.float32
    err = np.linalg.norm(out - qxy, axis=1)[inside]
    assert np.median(err) < 0.02 * embedding_spread(xy)
    # A map with shuffled rows must fail the same check (the test can fail).
    bad = Placer(z, xy[np.random.default_rng(0).permutation(len(xy))]).place(qz)
    assert np.median(np.linalg.norm(bad - qxy, axis=1)) > 0.2 * embedding_spread(xy)


def test_placement_is_deterministic_and_independent_of_batch(layout):
    z, xy = layout
    qz, _ = plane(10, 2)
    for refine in (0, 20):
        p = Placer(z, xy, refine_epochs=refine, seed=4)
        batch = p.place(qz)
        np.testing.assert_array_equal(batch, p.place(qz))
        np.testing.assert_array_equal(batch[3:4], p.place(qz[3]))
        np.testing.assert_array_equal(batch, Placer(z, xy, refine_epochs=refine,
                                                    seed=4).place(qz))


def test_membership_weights_follow_umap_normalisation():
    d = np.sort(np.random.default_rng(0).uniform(1, 5, (30, 15)), axis=1)
    w = membership_weights(d)
    # sigma is solved so that neighbours 2..k sum to log2(k), as umap's smooth_knn_dist does
    np.testing.assert_allclose(w[:, 1:].sum(axis=1), np.log2(15), atol=1e-4)
    assert (np.diff(w, axis=1) <= 0).all() and (w > 0).all() and (w <= 1).all()
    assert (membership_weights(np.zeros((2, 5))) == 1).all()     # exact copies: strength 1


def test_pca_2d_matches_sklearn_up_to_sign(layout):
    from sklearn.decomposition import PCA
    z, _ = layout
    out = pca_2d(z, chunk=300)
    ref = PCA(2).fit_transform(z.astype(np.float64))
    for j in range(2):
        sign = np.sign(out[:, j] @ ref[:, j])
        np.testing.assert_allclose(out[:, j], sign * ref[:, j], atol=1e-3)
    np.testing.assert_array_equal(out, pca_2d(z[::-1].copy())[::-1])


@pytest.fixture
def fake_fit(monkeypatch):
    """Replace UMAP with a cheap stand-in that counts its calls."""
    calls = []

    def fit(z, **params):
        calls.append(params)
        return Embedding(np.asarray(z[:, :2], dtype=np.float32) + len(calls),
                         {"method": "fake", **params}, params["z_key"]), None
    monkeypatch.setattr(projection, "fit_umap", fit)
    return calls


def test_cached_embedding_round_trip_and_reuse(tmp_path, layout, fake_fit):
    z, _ = layout
    a = cached_embedding(z, tmp_path, "run1", n_neighbors=10)
    b = cached_embedding(z, tmp_path, "run1", n_neighbors=10)
    assert len(fake_fit) == 1
    np.testing.assert_array_equal(a.coords, b.coords)
    assert b.params["n_neighbors"] == 10 and b.z_key == "run1"
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].startswith("umap-run1-") and files[1].endswith(".npy")
    # Defaults spelled out hash the same; other parameters or z_key make a new entry.
    cached_embedding(z, tmp_path, "run1", n_neighbors=10, min_dist=0.1)
    assert len(fake_fit) == 1
    cached_embedding(z, tmp_path, "run1", n_neighbors=11)
    cached_embedding(z, tmp_path, "run2", n_neighbors=10)
    assert len(fake_fit) == 3


@pytest.mark.parametrize("damage", ["garbage", "wrong shape", "no sidecar", "nan"])
def test_cached_embedding_rebuilds_broken_files(tmp_path, layout, fake_fit, damage):
    z, _ = layout
    first = cached_embedding(z, tmp_path, "run1")
    npy = next(tmp_path.glob("*.npy"))
    if damage == "garbage":
        npy.write_bytes(b"not an array")
    elif damage == "wrong shape":
        np.save(npy, np.zeros((len(z), 3), np.float32))
    elif damage == "no sidecar":
        npy.with_suffix(".json").unlink()
    else:
        np.save(npy, np.full((len(z), 2), np.nan, np.float32))
    again = cached_embedding(z, tmp_path, "run1")
    assert len(fake_fit) == 2 and again.coords.shape == (len(z), 2)
    assert not np.array_equal(again.coords, first.coords)   # the stand-in shifts per call
    np.testing.assert_array_equal(cached_embedding(z, tmp_path, "run1").coords, again.coords)
    assert len(fake_fit) == 2


def test_cached_embedding_rejects_bad_arguments(tmp_path, layout):
    z, _ = layout
    with pytest.raises(ValueError):
        cached_embedding(z, tmp_path, "../escape")
    with pytest.raises(TypeError):
        cached_embedding(z, tmp_path, "run1", n_neighbours=15)


# ---- real UMAP (numba compiles on first use: seconds to a minute) ----

@pytest.fixture(scope="module")
def fitted():
    z, lab = blobs(1500, 0)
    emb, reducer = projection.fit_umap(z, n_epochs=60, seed=0, z_key="blobs")
    return z, lab, emb, reducer


def nearest_label(coords, labels, xy):
    d = ((xy[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    return labels[d.argmin(axis=1)]


@pytest.mark.slow
def test_fit_umap_is_deterministic(fitted):
    z, _, emb, _ = fitted
    again, _ = projection.fit_umap(z, n_epochs=60, seed=0, z_key="blobs")
    np.testing.assert_array_equal(emb.coords, again.coords)
    assert emb.coords.shape == (1500, 2) and emb.coords.dtype == np.float32
    assert emb.params["method"] == "umap" and emb.params["n_fit"] == 1500


@pytest.mark.slow
def test_new_points_land_in_their_cluster_and_agree_with_transform(fitted):
    z, lab, emb, reducer = fitted
    qz, qlab = blobs(40, 5)
    out = Placer(z, emb.coords).place(qz)
    assert (nearest_label(emb.coords, lab, out) == qlab).all()
    ref = reducer.transform(qz)           # exact kNN below 4,096 points, like Placer
    spread = embedding_spread(emb.coords)
    assert np.median(np.linalg.norm(out - ref, axis=1)) < 0.05 * spread
    refined = Placer(z, emb.coords, refine_epochs=20).place(qz)
    assert np.median(np.linalg.norm(refined - ref, axis=1)) < 0.05 * spread


@pytest.mark.slow
def test_fit_on_subsample_places_the_rest(fitted):
    z, lab, _, _ = fitted
    emb, _ = projection.fit_umap(z, n_epochs=60, seed=0, max_fit_points=600)
    assert emb.params["method"] == "umap-subsample+knn-placement"
    assert emb.params["n_fit"] == 600 and np.isfinite(emb.coords).all()
    # Placed points sit in their own cluster of the fitted ones.
    fit_idx = projection._subsample(len(z), 600, 0)
    rest = np.setdiff1d(np.arange(len(z)), fit_idx)
    got = nearest_label(emb.coords[fit_idx], lab[fit_idx], emb.coords[rest])
    assert (got == lab[rest]).mean() > 0.99


@pytest.mark.slow
def test_cached_embedding_with_real_umap(tmp_path, fitted):
    z, _, emb, _ = fitted
    a = cached_embedding(z, tmp_path, "blobs", n_epochs=60)
    np.testing.assert_array_equal(a.coords, emb.coords)
    b = cached_embedding(z, tmp_path, "blobs", n_epochs=60)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert b.params["umap_version"]


@pytest.mark.slow
def test_membership_weights_equal_umaps_own():
    from umap.umap_ import smooth_knn_dist
    d = np.sort(np.random.default_rng(1).uniform(1, 5, (30, 15)), axis=1).astype(np.float32)
    sigma, rho = smooth_knn_dist(d, 15.0, local_connectivity=0.0)   # what transform calls
    expected = np.exp(-(d - rho[:, None]) / sigma[:, None])
    np.testing.assert_allclose(membership_weights(d), expected, rtol=1e-4)
