"""core.navigation against known answers: planted axes and directions, exact endpoints."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analysis.latent_stats import latent_stats
from core.analysis.neighbors import KNNIndex
from core.errors import BadInputError
from core.navigation import attributes as attr
from core.navigation import paths, traverse
from core.navigation.inverse import MapInverse


def rotated_gaussian(n=4000, d=12, seed=0):
    """z = y Q^T with independent y_k ~ N(0, var_k), distinct variances: known main axes Q."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    var = 16.0 * 0.6 ** np.arange(d)                           # well-separated variances
    z = (rng.standard_normal((n, d)) * np.sqrt(var)) @ q.T + 0.3
    return z.astype(np.float32), q, var


@pytest.fixture(scope="module")
def cloud():
    z, q, var = rotated_gaussian()
    return z, q, var, latent_stats(z)


@pytest.mark.parametrize("kind", paths.PATH_KINDS)
def test_path_endpoints_are_the_endpoints(cloud, kind):
    z, _, _, s = cloud
    a, b = paths.endpoint("row", s, z=z, row=3), paths.endpoint("axis", s, axis=1, k_sigma=2.0)
    p = paths.make_path(kind, a, b, s, 9)
    assert p.shape == (9, s.d)
    np.testing.assert_array_equal(p[0], a)
    np.testing.assert_allclose(p[-1], b, atol=1e-12)


def test_shell_path_keeps_interpolated_radius_and_center_path_hits_center(cloud):
    z, _, _, s = cloud
    a, b = np.asarray(z[0], np.float64), np.asarray(z[1], np.float64)
    shell = paths.on_shell(a, b, s, 11)
    r = s.mahalanobis(shell)
    np.testing.assert_allclose(r, np.linspace(r[0], r[-1], 11), rtol=1e-9)
    # the straight chord dips inside that shell
    assert s.mahalanobis(paths.straight(a, b, 11))[5] < r[5]
    c = paths.through_center(a, b, s.pca_mean, 11)
    assert np.min(np.linalg.norm(c - s.pca_mean, axis=1)) < 0.15 * np.linalg.norm(a - b)


def test_endpoint_kinds(cloud):
    z, _, _, s = cloud
    idx = pd.DataFrame({"row": np.arange(len(z)), "image_id": [f"{i:06d}.jpg" for i in range(len(z))]})
    np.testing.assert_array_equal(paths.endpoint("row", s, z=z, index=idx, image_id="000007.jpg"), z[7])
    np.testing.assert_allclose(paths.endpoint("center", s), s.pca_mean)
    e = paths.endpoint("axis", s, axis=0, k_sigma=-3.0)
    np.testing.assert_allclose(s.to_pca(e[None])[0, 0], -3.0 * np.sqrt(s.pca_eigvals[0]), rtol=1e-9)
    with pytest.raises(BadInputError, match="image_id"):
        paths.endpoint("row", s, z=z, index=idx, image_id="nope.jpg")
    with pytest.raises(BadInputError):
        paths.endpoint("vector", s, vector=np.zeros(3))


def test_step_measures_match_brute_force(cloud):
    z, _, _, s = cloud
    pts = paths.straight(z[0], z[1] * 3, 5)
    m = paths.step_measures(pts, s, KNNIndex(z))
    brute = np.linalg.norm(pts[:, None] - z[None].astype(np.float64), axis=2)
    np.testing.assert_array_equal(m.nn_row, brute.argmin(1))
    np.testing.assert_allclose(m.nn_dist, brute.min(1), rtol=1e-4)
    np.testing.assert_allclose(m.maha, s.mahalanobis(pts))
    assert m.nn_dist[0] == pytest.approx(0, abs=1e-3) and m.face_rate is None
    imgs = np.zeros((5, 8, 8, 3), np.uint8)
    imgs[[1, 3]] = 200
    m = paths.step_measures(pts, s, KNNIndex(z), imgs, lambda im: im.mean(axis=(1, 2, 3)) > 100)
    np.testing.assert_array_equal(m.face_rate, [0, 1, 0, 1, 0])


def test_traversal_along_a_known_axis_moves_only_that_axis(cloud):
    z, q, var, s = cloud
    base = np.asarray(z[10], np.float64)
    moved = traverse.move_along_axes(s, base, {2: 1.5})
    dy = s.to_pca(moved[None])[0] - s.to_pca(base[None])[0]
    assert abs(dy[2]) == pytest.approx(1.5 * np.sqrt(s.pca_eigvals[2]))
    np.testing.assert_allclose(np.delete(dy, 2), 0, atol=1e-9)
    # and that axis is the planted one (third largest variance), in the data's own frame
    step = (moved - base) / np.linalg.norm(moved - base)
    assert abs(step @ q[:, 2]) > 0.98
    assert np.sqrt(s.pca_eigvals[2]) == pytest.approx(np.sqrt(var[2]), rel=0.05)
    # set_axes puts the face where the slider says, other coordinates untouched
    placed = traverse.set_axes(s, base, {0: 2.0})
    np.testing.assert_allclose(traverse.axis_coords(s, placed, [0])[0], 2.0)
    np.testing.assert_allclose(np.delete(s.to_pca(placed[None])[0] - s.to_pca(base[None])[0], 0), 0, atol=1e-9)
    st = traverse.axis_strip(s, base, 2, extent=3.0, steps=7)
    np.testing.assert_allclose(traverse.axis_coords(s, st, [2])[:, 0] - traverse.axis_coords(s, base, [2])[0],
                               np.linspace(-3, 3, 7), atol=1e-9)


def test_nudge_strip_goes_to_the_neighbours_mean(cloud):
    z, _, _, s = cloud
    x = np.full(s.d, 2.0)
    nd = traverse.nudge_strip(x, z, KNNIndex(z), k=5, alphas=[0, 0.5, 1])
    brute = np.argsort(np.linalg.norm(z - x, axis=1))[:5]
    assert set(nd.rows) == set(brute)
    np.testing.assert_allclose(nd.points[0], x)
    np.testing.assert_allclose(nd.points[2], z[brute].astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(nd.points[1], 0.5 * (x + nd.target))


def planted(n=6000, d=32, strengths=(3.0, 1.5, 0.8, 0.5, 0.0), seed=1):
    """Correlated Gaussian cloud plus strength_j * delta_j (unit) for members of attribute j."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    z = rng.standard_normal((n, d)) @ (np.eye(d) + a)                     # correlated
    deltas = np.linalg.qr(rng.standard_normal((d, len(strengths))))[0].T    # orthonormal [m, d]
    labels = rng.random((n, len(strengths))) < 0.4
    z = z + (labels * np.array(strengths)) @ deltas
    idx = pd.DataFrame({f"a{j}": labels[:, j].astype(np.int8) for j in range(len(strengths))})
    idx.insert(0, "partition", np.where(rng.random(n) < 0.75, "train", "test"))
    return z.astype(np.float32), idx, deltas


@pytest.mark.parametrize("method", attr.METHODS)
def test_attribute_directions_recover_planted_directions(method):
    z, idx, deltas = planted()
    res = attr.attribute_directions(z, idx, latent_stats(z), method=method)
    for j, name in enumerate(["a0", "a1", "a2"]):
        u, sigma = res.get(name)
        # mean differences estimate the planted shift itself; a linear classifier's normal
        # estimates the Bayes-optimal one, the within-class covariance's inverse times it
        g = idx[name].to_numpy() == 1
        zc = np.concatenate([z[g] - z[g].mean(0), z[~g] - z[~g].mean(0)]).astype(np.float64)
        truth = deltas[j] if method == "mean_diff" else np.linalg.solve(zc.T @ zc / len(zc), deltas[j])
        cos = abs(u @ truth) / np.linalg.norm(truth)
        assert cos > 0.95, (name, cos)
        assert u @ truth > 0 and sigma > 0                                # toward the positives
    assert list(res.table["attribute"]) == ["a0", "a1", "a2", "a3", "a4"]
    assert res.table["held-out AUC"].iloc[0] > 0.9
    assert abs(res.table.set_index("attribute").loc["a4", "held-out AUC"] - 0.5) < 0.05


def test_attribute_ranking_on_the_synthetic_faces_factors():
    """Plant the synthetic faces' own factors (continuous, binary) into a cloud with
    decreasing strengths: the ranking is the oracle's (each factor's AUC along its true
    planted direction), the strongest on top and the unplanted one at chance."""
    from core.data.synthetic import face_factors

    f = face_factors(4000, seed=3)
    cols = ["skin_tone", "mouth_curve", "glasses", "hair_length", "eye_size"]
    strengths = [4.0, 2.0, 0.7, 0.4, 0.0]
    rng = np.random.default_rng(0)
    d = 24
    dirs = np.linalg.qr(rng.standard_normal((d, len(cols))))[0].T
    std = (f[cols] - f[cols].mean()) / f[cols].std()
    z = (rng.standard_normal((len(f), d)) + (std.to_numpy() * strengths) @ dirs).astype(np.float32)
    idx = f[cols].copy()
    idx["partition"] = np.where(np.arange(len(f)) % 5 == 0, "valid", "train")
    res = attr.attribute_directions(z, idx, latent_stats(z))
    groups, held = attr.label_groups(idx), attr.heldout_mask(idx)
    names = list(res.table["attribute"])
    oracle = {n: attr.auc(z[held] @ dirs[[c.split(" ")[0] for c in cols].index(n.split(" ")[0])],
                          groups[n][held]) for n in names}
    assert names == sorted(names, key=lambda n: -oracle[n]), (res.table, oracle)
    assert [n.split(" ")[0] for n in names][0] == "skin_tone" and names[-1].startswith("eye_size")
    assert abs(res.table["held-out AUC"].iloc[-1] - 0.5) < 0.05


def test_label_groups_kinds_and_auc():
    from sklearn.metrics import roc_auc_score

    idx = pd.DataFrame({"row": range(8), "b": [-1, 1] * 4, "c": np.arange(8.0) * 1.5 + 0.1,
                        "k": list("xyzxyzxy"), "partition": ["train"] * 8})
    idx.loc[:, "c"] = idx["c"] ** 2
    attr.MAX_LEVELS, old = 3, attr.MAX_LEVELS
    try:
        g = attr.label_groups(idx)
    finally:
        attr.MAX_LEVELS = old
    assert set(g) == {"b", "c > median", "k = x", "k = y", "k = z"}
    np.testing.assert_array_equal(g["b"], [False, True] * 4)
    assert g["c > median"].sum() == 4
    rng = np.random.default_rng(0)
    s, y = rng.standard_normal(300), rng.random(300) < 0.3
    s[::7] = 0.0                                                             # ties
    assert attr.auc(s, y) == pytest.approx(roc_auc_score(y, s))


def test_attribute_plane_x_is_the_direction(cloud):
    z, _, _, s = cloud
    u = np.asarray(s.pca_components[3])
    xy = attr.attribute_plane(z, u, s)
    proj = (np.asarray(z, np.float64) - s.pca_mean) @ u
    np.testing.assert_allclose(xy[:, 0], proj / np.sqrt(s.pca_eigvals[3]), rtol=1e-4, atol=1e-5)
    assert abs(np.corrcoef(xy[:, 0], xy[:, 1])[0, 1]) < 0.05


def test_decode_anywhere_at_a_real_point_returns_a_vector_close_to_it():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((5, 20)) * 4
    lab = rng.integers(0, 5, 1500)
    z = (centers[lab] + rng.standard_normal((1500, 20))).astype(np.float32)
    coords = z[:, :2] + 0.05 * rng.standard_normal((1500, 2))               # a faithful 2-D map
    inv = MapInverse(coords, z)
    rows = rng.choice(1500, 40, replace=False)
    res = inv(coords[rows])
    nn_other = np.sort(np.linalg.norm(z[rows][:, None] - z[None], axis=2), axis=1)[:, 1]
    err = np.linalg.norm(res.z - z[rows], axis=1)
    # a 2-D map cannot separate points it draws on top of each other, so most, not all
    assert np.median(err / nn_other) < 0.05 and np.mean(err < 0.5 * nn_other) >= 0.9
    np.testing.assert_array_equal(res.rows[:, 0], rows)
    np.testing.assert_allclose(res.weights.sum(1), 1.0)
    assert np.all(res.map_dist == 0)
    # an empty spot far off the map: a blend of its nearest group, flagged as far from the data
    far = inv(np.array([[coords[:, 0].max() + 50 * inv.spacing, 0.0]]))
    assert far.map_dist[0] > 40 and np.isfinite(far.z).all()
