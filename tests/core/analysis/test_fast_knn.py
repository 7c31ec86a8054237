"""FastKNNIndex: recall@16 >= 0.99 against exact search (on and off the data), exact
distances, and a persisted FAISS file that is reused when sound and rebuilt when broken."""
import json

import numpy as np
import pytest

pytest.importorskip("faiss")

import core.analysis.fast_knn as fast_knn  # noqa: E402
from core.analysis.fast_knn import FastKNNIndex, build_pq, cached_pq, open_knn_index  # noqa: E402
from core.analysis.neighbors import KNNIndex  # noqa: E402


def _cloud(n=12_000, d=32, seed=0):
    """Clusters spread along a few directions plus noise, like AE latents, off the origin."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1.0, (25, d)) + 2.0
    axes = rng.normal(0, 0.5, (25, 4, d))
    lab = rng.integers(0, 25, n)
    z = centers[lab] + np.einsum("nk,nkd->nd", rng.normal(size=(n, 4)), axes[lab])
    return (z + rng.normal(0, 0.3, (n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def cloud():
    z = _cloud()
    return z, KNNIndex(z), FastKNNIndex(z, build_pq(z, seed=0))


def _queries(z, kind, n=21, seed=1):
    rng = np.random.default_rng(seed)
    mu, hw = z.mean(0), 1.1774 * z.std(0)
    if kind == "real":            # near real points: what nudge and clicks ask
        return z[rng.choice(len(z), n)] + rng.normal(0, 0.05, (n, z.shape[1])).astype(np.float32)
    fact = {"box 0.5": 0.5, "box 1": 1.0, "box 2": 2.0}[kind]   # the slider's off-data points
    return rng.uniform(mu - fact * hw, mu + fact * hw, (n, z.shape[1])).astype(np.float32)


@pytest.mark.parametrize("kind", ["real", "box 0.5", "box 1", "box 2"])
def test_recall_at_16_and_exact_distances(cloud, kind):
    z, exact, fast = cloud
    q = _queries(z, kind)
    d0, i0 = exact.query(q, 16)
    d1, i1 = fast.query(q, 16)
    recall = np.mean([len(set(a) & set(b)) / 16 for a, b in zip(i0, i1)])
    assert recall >= 0.99, f"recall@16 {recall:.3f} for {kind} queries"
    # whatever rows it returns, their distances are the exact ones, in ascending order
    true = np.linalg.norm(z[i1].astype(np.float64) - q[:, None, :].astype(np.float64), axis=2)
    np.testing.assert_allclose(d1, true, rtol=1e-6)
    assert (np.diff(d1, axis=1) >= 0).all() and i1.dtype == np.int64


def test_exclude_self_drops_the_point_itself(cloud):
    z, exact, fast = cloud
    d, i = fast.query(z[:10], 5, exclude_self=True)
    assert not (i == np.arange(10)[:, None]).any() and (d > 0).all()
    np.testing.assert_array_equal(i, exact.query(z[:10], 5, exclude_self=True)[1])


def test_many_queries_are_answered_exactly(cloud):
    z, exact, fast = cloud
    q = _queries(z, "box 1", n=fast_knn.FEW_QUERIES + 1)
    np.testing.assert_array_equal(fast.query(q, 8)[1], exact.query(q, 8)[1])


def test_bad_queries_fail_loudly(cloud):
    z, _, fast = cloud
    with pytest.raises(ValueError, match="d="):
        fast.query(np.zeros((2, 3), np.float32), 4)
    q = z[:2].copy()
    q[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fast.query(q, 4)


def _no_build(*a, **k):
    raise AssertionError("the index was rebuilt although a sound file was on disk")


def test_persisted_index_is_reused_and_a_broken_one_rebuilt(tmp_path, monkeypatch):
    z = _cloud(n=3000, d=16, seed=2)
    q = _queries(z, "box 1")
    first = FastKNNIndex(z, cached_pq(z, tmp_path, "k1"))
    blob, side = tmp_path / "knn-k1-pqfs4.faiss", tmp_path / "knn-k1-pqfs4.json"
    assert blob.exists() and json.loads(side.read_text())["n"] == len(z)
    want = first.query(q, 16)
    good = blob.read_bytes()

    with monkeypatch.context() as m:          # sound file: loaded, not rebuilt
        m.setattr(fast_knn, "build_pq", _no_build)
        np.testing.assert_array_equal(FastKNNIndex(z, cached_pq(z, tmp_path, "k1")).query(q, 16)[1], want[1])

    breakages = {"truncated": lambda: blob.write_bytes(good[: len(good) // 2]),
                 "garbage": lambda: blob.write_bytes(b"\x00not a faiss index" * 100),
                 "missing": lambda: blob.unlink(),
                 "sidecar not JSON": lambda: side.write_text("{"),
                 "other z-points": lambda: side.write_text(json.dumps(
                     {**json.loads(side.read_text()), "n": len(z) + 1}))}
    for what, breakage in breakages.items():
        breakage()
        rebuilt = FastKNNIndex(z, cached_pq(z, tmp_path, "k1"))
        np.testing.assert_array_equal(rebuilt.query(q, 16)[1], want[1], err_msg=what)
        assert blob.read_bytes() == good, f"{what}: the rebuilt file differs (build not deterministic)"
        assert json.loads(side.read_text())["n"] == len(z)


def test_open_knn_index_is_exact_for_small_runs_or_without_faiss(tmp_path, monkeypatch):
    z = _cloud(n=3000, d=16, seed=3)
    assert isinstance(open_knn_index(z, tmp_path, "small"), KNNIndex)
    monkeypatch.setattr(fast_knn, "EXACT_BELOW", 1000)
    assert isinstance(open_knn_index(z, tmp_path, "big"), FastKNNIndex)
    assert (tmp_path / "knn-big-pqfs4.faiss").exists()
    monkeypatch.setattr(fast_knn, "_faiss", lambda: None)
    assert isinstance(open_knn_index(z, tmp_path, "big"), KNNIndex)
