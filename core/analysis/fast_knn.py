"""The neighbour index of the slider path: FAISS nominates, an exact re-rank decides.

A slider move asks for the k=16 nearest of ~21 new latent vectors among up to 200,000
z-points (d=256) on 2 shared CPU cores, with decoding and images in a 40 ms budget. Measured
at 200,000 x 256 (``bench/bench_projection.py --knn``; load ~3 on 2 cores):

    exact brute force (core KNNIndex, sklearn brute, FAISS flat)   75-190 ms   recall 1
    FAISS HNSW M=16, efSearch 256                                   10-45 ms   0.88-0.94 off-data
    FAISS IVF-flat 1024 lists, nprobe 64                            27 ms      0.95-0.97 off-data
    FAISS PQ fast-scan (d/2 x 4 bit) + exact re-rank of 32 k        12-26 ms   >= 0.99

Graph and cluster indexes lose the neighbours of *off-data* queries (the box sampler's points
sit in the empty space between z-points, where their greedy walks stop early); a 4-bit
product-quantisation scan visits every z-point (64 bytes each, SIMD table look-ups) and so
ranks far queries as well as near ones. Its top ``CANDIDATES_PER_K * k`` are re-ranked with
exact float64 distances from the z-points themselves (``neighbors.exact_rerank``), so the
distances returned are exact and only membership can be approximate (tests/core/analysis/test_fast_knn.py
holds recall@16 >= 0.99). Many queries at once (diagnostics of 500 held-out points, placing
150,000 points after a UMAP fit) go to the exact index, whose FAISS brute force is then
faster per query (neighbors.KNNIndex._query_many).

The FAISS index is persisted in the run's ``derived/`` folder in FAISS's own serialisation
(never pickled) with a JSON sidecar holding its SHA-256: a truncated, foreign or corrupt file
never reaches FAISS's reader; it is rebuilt (a few seconds) and rewritten atomically.
Without faiss installed, or for small runs, :func:`open_knn_index` returns the exact index.
"""
from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from core.analysis.neighbors import KNNIndex, checked_query, drop_self, exact_rerank
from core.store.atomic import read_json, write_bytes, write_json

CANDIDATES_PER_K = 32      # re-ranked candidates per neighbour asked for (recall >= 0.99)
FEW_QUERIES = 64           # above this many queries the exact BLAS index is faster
EXACT_BELOW = 20_000       # runs this small: exact brute force is already a few ms
TRAIN_POINTS = 50_000      # z-points the quantiser is trained on (seeded subsample)
FORMAT = 1                 # bump when the index layout or its parameters change


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


@contextlib.contextmanager
def _one_thread(faiss):
    """One OpenMP thread for a few queries: the other core decodes the faces meanwhile."""
    prev = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(prev)


class FastKNNIndex:
    """k-nearest z-points (Euclidean): PQ fast-scan candidates, exact distances."""

    def __init__(self, z: np.ndarray, pq_index, *, exact: KNNIndex | None = None):
        if z.ndim != 2 or pq_index.ntotal != len(z) or pq_index.d != z.shape[1]:
            raise ValueError(f"index holds {pq_index.ntotal} x {pq_index.d}, z is {z.shape}")
        self.z = z                                   # [N, d]; may be a read-only memmap
        self.n, self.d = z.shape
        self.pq = pq_index
        self._exact = exact

    @property
    def exact(self) -> KNNIndex:
        if self._exact is None:                      # norms of every row: built on first use
            self._exact = KNNIndex(self.z)
        return self._exact

    def query(self, q: np.ndarray, k: int, exclude_self: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
        """(dist [n, k] float32 ascending, idx [n, k] int64), as KNNIndex.query."""
        q, kk = checked_query(q, k, exclude_self, d=self.d, n=self.n)
        if len(q) > FEW_QUERIES:
            return self.exact.query(q, k, exclude_self=exclude_self)
        m = min(self.n, CANDIDATES_PER_K * kk)
        if not np.isfinite(q).all():
            raise ValueError("query vectors contain NaN or inf")
        with _one_thread(_faiss()):
            _, cand = self.pq.search(np.ascontiguousarray(q), m)     # [nq, m], approximate
        dist, idx = exact_rerank(self.z, q, _shortlist(self.z, q, cand, 2 * kk), kk)
        return drop_self(dist, idx) if exclude_self else (dist, idx)


def _shortlist(z: np.ndarray, q: np.ndarray, cand: np.ndarray, m: int) -> np.ndarray:
    """The m candidates nearest each query by float32 distances computed from differences
    (no cancellation, half the memory traffic of float64): the float64 re-rank then only
    sorts these. [nq, M] -> [nq, m]"""
    if cand.shape[1] <= m:
        return cand
    flat = cand.ravel()
    order = np.argsort(flat, kind="stable")              # sorted reads are kinder to a memmap
    zr = np.empty((flat.size, z.shape[1]), dtype=np.float32)
    zr[order] = z[flat[order]]
    zr = zr.reshape(cand.shape[0], cand.shape[1], -1)    # [nq, M, d]
    zr -= q[:, None, :]
    d2 = np.einsum("ijk,ijk->ij", zr, zr)               # [nq, M]
    keep = np.argpartition(d2, m - 1, axis=1)[:, :m]
    return np.take_along_axis(cand, keep, axis=1)


def _subquantizers(d: int) -> int:
    """Two dimensions a 4-bit sub-quantiser (d/2 of them) when d is even, else one."""
    return d // 2 if d % 2 == 0 else d


def build_pq(z: np.ndarray, *, seed: int = 0, train_points: int = TRAIN_POINTS) -> Any:
    """A trained and filled FAISS IndexPQFastScan over the rows of z (deterministic)."""
    faiss = _faiss()
    if faiss is None:
        raise ImportError("faiss is not installed (pip install faiss-cpu)")
    n, d = z.shape
    rng = np.random.default_rng(seed)
    train = np.sort(rng.choice(n, size=min(n, train_points), replace=False))
    index = faiss.IndexPQFastScan(d, _subquantizers(d), 4)
    index.pq.cp.seed = seed                          # k-means initialisation
    index.train(np.ascontiguousarray(z[train], dtype=np.float32))
    for s in range(0, n, 65_536):                    # chunks: a memmapped z is never copied whole
        index.add(np.ascontiguousarray(z[s:s + 65_536], dtype=np.float32))
    return index


def _paths(folder, z_key: str) -> tuple[Path, Path]:
    stem = Path(folder) / f"knn-{z_key}-pqfs4"
    return stem.with_suffix(".faiss"), stem.with_suffix(".json")


def _load(faiss, blob: Path, side: Path, z: np.ndarray, z_key: str):
    """The persisted index when file and sidecar are sound and match z, else None."""
    try:
        meta = read_json(side)
        data = blob.read_bytes()
    except (OSError, ValueError):
        return None
    want = {"format": FORMAT, "z_key": z_key, "n": len(z), "d": z.shape[1],
            "faiss": faiss.__version__}
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in want.items()):
        return None
    if meta.get("sha256") != hashlib.sha256(data).hexdigest():
        return None                                  # truncated or altered: never parse it
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError:
        return None
    return index if index.ntotal == len(z) and index.d == z.shape[1] else None


def cached_pq(z: np.ndarray, folder: str | Path, z_key: str, *, seed: int = 0) -> Any:
    """Load ``<folder>/knn-<z_key>-pqfs4.faiss`` if sound, else build it and save it
    atomically (blob first, sidecar last: a crash in between leaves no valid pair)."""
    faiss = _faiss()
    blob, side = _paths(folder, z_key)
    index = _load(faiss, blob, side, z, z_key)
    if index is None:
        index = build_pq(z, seed=seed)
        data = faiss.serialize_index(index).tobytes()
        write_bytes(blob, data)
        write_json(side, {"format": FORMAT, "z_key": z_key, "n": len(z), "d": z.shape[1],
                          "faiss": faiss.__version__, "seed": seed,
                          "sha256": hashlib.sha256(data).hexdigest(),
                          "kind": f"IndexPQFastScan(d={z.shape[1]}, M={_subquantizers(z.shape[1])}, 4 bit)"})
    return index


def open_knn_index(z: np.ndarray, folder: str | Path | None = None, z_key: str | None = None) -> KNNIndex:
    """The index a run's slider path should use: FastKNNIndex (persisted under ``folder``
    when given) for big runs with faiss installed, else the exact KNNIndex."""
    if len(z) < EXACT_BELOW or _faiss() is None:
        return KNNIndex(z)
    if folder is None:
        return FastKNNIndex(z, build_pq(z))
    if z_key is None:
        from core.analysis.latent_stats import z_key as fingerprint
        z_key = fingerprint(z)
    return FastKNNIndex(z, cached_pq(z, folder, z_key))
