"""KNNIndex must equal brute force exactly (indices and distances), whatever the chunking."""
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

import core.analysis.neighbors as neighbors
from core.store.atomic import save_npy, load_npy
from core.analysis.neighbors import KNNIndex


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    # Offset from the origin so the ||q||^2 - 2q.z + ||z||^2 expansion loses precision.
    z = (rng.normal(size=(2000, 16)) + 20).astype(np.float32)
    q = (rng.normal(size=(37, 16)) + 20).astype(np.float32)
    return z, q, NearestNeighbors(n_neighbors=12, algorithm="brute").fit(z)


@pytest.fixture(params=["one block", "many blocks"])
def block_bytes(request, monkeypatch):
    if request.param == "many blocks":   # ~100 reference rows per block: exercises merging
        monkeypatch.setattr(neighbors, "_BLOCK_BYTES", 4 * 37 * 100)
    return request.param


def test_query_equals_sklearn_brute(data, block_bytes):
    z, q, nn = data
    dist, idx = KNNIndex(z).query(q, 12)
    ref_d, ref_i = nn.kneighbors(q)
    assert dist.dtype == np.float32 and idx.dtype == np.int64
    assert dist.shape == idx.shape == (len(q), 12)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-5, atol=1e-5)
    assert (np.diff(dist, axis=1) >= 0).all()


def test_exclude_self_equals_sklearn_without_self(data, block_bytes):
    z, _, nn = data
    dist, idx = KNNIndex(z).query(z[:60], 12, exclude_self=True)
    ref_d, ref_i = nn.kneighbors(None)           # sklearn: each training point minus itself
    np.testing.assert_array_equal(idx, ref_i[:60])
    np.testing.assert_allclose(dist, ref_d[:60], rtol=1e-5, atol=1e-5)
    assert not (idx == np.arange(60)[:, None]).any()


def test_exclude_self_keeps_k_nearest_for_outside_queries(data):
    z, q, _ = data
    index = KNNIndex(z)
    d_ex, i_ex = index.query(q, 5, exclude_self=True)
    d, i = index.query(q, 5)
    np.testing.assert_array_equal(i_ex, i)
    np.testing.assert_array_equal(d_ex, d)


def test_read_only_memmap(tmp_path, data):
    z, q, nn = data
    save_npy(tmp_path / "z.npy", z)
    zm = load_npy(tmp_path / "z.npy", mmap=True)
    assert not zm.flags.writeable
    np.testing.assert_array_equal(KNNIndex(zm).query(q, 12)[1], nn.kneighbors(q)[1])


def test_ties_break_by_index_and_single_query():
    z = np.zeros((50, 4), dtype=np.float32)
    z[10:] = 1.0                                 # 10 identical points at the origin
    dist, idx = KNNIndex(z).query(np.zeros(4, dtype=np.float32), 3)
    np.testing.assert_array_equal(idx, [[0, 1, 2]])
    np.testing.assert_array_equal(dist, np.zeros((1, 3)))


def test_k_equal_n_and_invalid_k(data):
    z, q, _ = data
    small = KNNIndex(z[:20])
    dist, idx = small.query(q[:3], 20)
    assert sorted(idx[0]) == list(range(20))
    with pytest.raises(ValueError):
        small.query(q[:3], 21)
    with pytest.raises(ValueError):
        small.query(q[:3], 20, exclude_self=True)
    with pytest.raises(ValueError):
        small.query(q[:3, :8], 3)


@pytest.mark.parametrize("ref_rows", [65_536, 300])
def test_many_queries_through_faiss_equal_sklearn_and_the_few_query_path(tmp_path, data, monkeypatch, ref_rows):
    """From _MANY_QUERIES queries on, FAISS's brute force nominates the candidates (blocks of
    reference rows merged), then the same float64 re-rank: results equal sklearn's exactly,
    on a read-only memmap, with duplicates and exclude_self, in re-rank pieces too."""
    pytest.importorskip("faiss")
    monkeypatch.setattr(neighbors, "_MANY_REF_ROWS", ref_rows)
    monkeypatch.setattr(neighbors, "_RERANK_QUERIES", 50)
    monkeypatch.setattr(neighbors, "_MANY_QUERIES", 100)
    z, _, nn = data
    z = z.copy()
    z[1500] = z[7]                                    # a duplicate: ties break by index
    save_npy(tmp_path / "z.npy", z)
    zm = load_npy(tmp_path / "z.npy", mmap=True)
    rng = np.random.default_rng(3)
    q = np.concatenate([z[:120], (rng.normal(size=(80, 16)) * 3 + 20).astype(np.float32)])
    assert len(q) >= neighbors._MANY_QUERIES
    dist, idx = KNNIndex(zm).query(q, 12)
    ref_d, ref_i = NearestNeighbors(n_neighbors=12, algorithm="brute").fit(z.astype(np.float64)).kneighbors(q)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-5, atol=1e-5)
    few = np.concatenate([KNNIndex(zm).query(q[s:s + 40], 12)[1] for s in range(0, len(q), 40)])
    np.testing.assert_array_equal(idx, few)
    d_ex, i_ex = KNNIndex(zm).query(z[:120], 5, exclude_self=True)
    assert (i_ex != np.arange(120)[:, None]).all() and i_ex[7, 0] == 1500 and d_ex[7, 0] == 0
