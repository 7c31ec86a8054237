"""Exact Euclidean nearest neighbours for a few queries against a big reference set.

The slider path asks for the neighbours of ~21 new latent vectors among up to 200,000
z-points (d=256) on 2 CPU cores. Tree indexes do not help in 256 dimensions and approximate
indexes (NNDescent) need a numba warm-up, so this is brute force done well: one BLAS product
per chunk of the reference set, using ||q - z||^2 = ||q||^2 - 2 q.z + ||z||^2 with the norms
of z precomputed. The float32 expansion loses precision for close points, so each chunk only
nominates candidates (k plus a margin); the survivors are re-ranked with distances computed
directly from differences in float64. Results therefore match a float64 brute force.
"""
from __future__ import annotations

import contextlib

import numpy as np

# Bytes of the [references, queries] score block held at once; keeps memory flat for any N.
_BLOCK_BYTES = 32 * 2**20
# Reference rows per product: 4,096 x 256 float32 (4 MiB) stays cache-friendly; measured
# ~15% faster than 32k-row chunks for 21 queries.
_REF_ROWS = 4096
# Up to this many queries the products run on one BLAS thread: a 21-row product gains
# little from a second thread, and on 2 shared cores OpenBLAS's thread hand-offs cost more
# than they save (measured 60-95 ms on one thread vs 350-560 ms on two, under load).
_FEW_QUERIES = 64
# From this many queries FAISS's brute force nominates the candidates: measured at 200,000 x
# 256, it is 2-7x faster from 500 queries on, but slower up to 300 (0.83 vs 0.60 s at 200).
_MANY_QUERIES = 400
# Reference rows per FAISS brute-force call for many queries (64 MiB of float32 at d=256).
_MANY_REF_ROWS = 65_536
# Queries re-ranked at once: 256 x 32 candidates (k=16) x 256 dims of float64 stay in cache
# (8,192 queries: 0.25 s in such pieces, 2.7 s in one).
_RERANK_QUERIES = 256
_controller = None


def _faiss_knn():
    """faiss.knn (brute force, no index to build) when faiss is installed, else None."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss.knn


def _blas_threads(nq: int):
    global _controller
    if nq > _FEW_QUERIES:
        return contextlib.nullcontext()
    if _controller is None:
        try:   # ships with scikit-learn; without it we simply keep the BLAS default
            from threadpoolctl import ThreadpoolController
            _controller = ThreadpoolController()
        except ImportError:
            _controller = False
    return _controller.limit(limits=1, user_api="blas") if _controller \
        else contextlib.nullcontext()


def checked_query(q: np.ndarray, k: int, exclude_self: bool, *, d: int, n: int) -> tuple[np.ndarray, int]:
    """(queries as float32 [n_q, d], how many neighbours to fetch): one check for every index."""
    q = np.atleast_2d(np.asarray(q, dtype=np.float32))
    if q.shape[1] != d:
        raise ValueError(f"query has d={q.shape[1]}, index has d={d}")
    kk = k + 1 if exclude_self else k
    if not 1 <= kk <= n:
        raise ValueError(f"k={k} (exclude_self={exclude_self}) impossible with N={n}")
    return q, kk


class KNNIndex:
    """Exact k-nearest-neighbour search over the rows of ``z`` (Euclidean)."""

    def __init__(self, z: np.ndarray):
        if z.ndim != 2:
            raise ValueError(f"z must be [N, d], got shape {z.shape}")
        self.z = z                                       # [N, d]; may be a read-only memmap
        self.n, self.d = z.shape
        self._ref_chunk = max(1024, min(self.n, 65536))
        # Norms in float64 then cast: the sum over d=256 squares is where float32 drifts.
        norms = np.empty(self.n, dtype=np.float32)
        for s in range(0, self.n, self._ref_chunk):
            blk = np.asarray(z[s:s + self._ref_chunk], dtype=np.float64)
            norms[s:s + len(blk)] = np.einsum("ij,ij->i", blk, blk)
        self.sq_norms = norms                            # [N]

    def query(self, q: np.ndarray, k: int, exclude_self: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
        """Return (dist [n, k] float32 ascending, idx [n, k] int64).

        ``exclude_self`` is for queries that are themselves reference points: per query, one
        reference point at distance exactly 0 (the point itself) is dropped. A query with no
        exact match simply keeps its k nearest.
        """
        q, kk = checked_query(q, k, exclude_self, d=self.d, n=self.n)
        if len(q) >= _MANY_QUERIES and _faiss_knn() is not None:
            dist, idx = self._query_many(q, kk)
            return drop_self(dist, idx) if exclude_self else (dist, idx)
        dist = np.empty((len(q), kk), dtype=np.float32)
        idx = np.empty((len(q), kk), dtype=np.int64)
        q_block = max(1, min(len(q), 2048))
        with _blas_threads(len(q)):
            for s in range(0, len(q), q_block):
                dist[s:s + q_block], idx[s:s + q_block] = \
                    self._query_block(q[s:s + q_block], kk)
        if exclude_self:
            dist, idx = drop_self(dist, idx)
        return dist, idx

    def _query_many(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Many queries at once (placing 150,000 points after a UMAP fit, 500 held-out
        references): FAISS's brute force nominates the candidates (its BLAS product and heap
        selection on every core; 7x faster than the argpartition below at 8,192 x 50,000),
        the same float64 re-rank decides. Reference rows go in blocks: memory stays flat."""
        knn = _faiss_knn()
        m = min(self.n, k + max(8, k))
        cand_idx, cand_score = [], []
        for s in range(0, self.n, _MANY_REF_ROWS):
            zc = np.ascontiguousarray(self.z[s:s + _MANY_REF_ROWS], dtype=np.float32)
            d2, ii = knn(np.ascontiguousarray(q), zc, min(m, len(zc)))
            cand_idx.append(ii + s)
            cand_score.append(d2)
        ci = np.concatenate(cand_idx, axis=1)
        if ci.shape[1] > m:
            keep = np.argpartition(np.concatenate(cand_score, axis=1), m - 1, axis=1)[:, :m]
            ci = np.take_along_axis(ci, keep, axis=1)
        return exact_rerank(self.z, q, ci, k)

    def _query_block(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nq = len(q)
        # Margin of extra candidates so float32 rounding in the expansion cannot push a true
        # neighbour out of the candidate set.
        m = min(self.n, k + max(8, k))
        rows = max(m, min(_REF_ROWS, _BLOCK_BYTES // (4 * nq)))
        qt = np.ascontiguousarray(q.T)                   # [d, nq]
        cand_idx, cand_score = [], []
        for s in range(0, self.n, rows):
            zc = self.z[s:s + rows]                      # [r, d]
            # z @ q.T streams z past a small packed q: faster than q @ z.T in OpenBLAS.
            # ||q||^2 is constant per query, so the ranking score omits it.
            score = zc @ qt                              # [r, nq]
            score *= -2.0                                # in place: no extra temporaries
            score += self.sq_norms[s:s + len(zc), None]
            score = np.ascontiguousarray(score.T)        # [nq, r]: rows for argpartition
            mm = min(m, score.shape[1])
            part = np.argpartition(score, mm - 1, axis=1)[:, :mm] if mm < score.shape[1] \
                else np.broadcast_to(np.arange(score.shape[1]), (nq, mm))
            cand_idx.append(part + s)
            cand_score.append(np.take_along_axis(score, part, axis=1))
        ci = np.concatenate(cand_idx, axis=1)            # [nq, chunks * m]
        cs = np.concatenate(cand_score, axis=1)
        if ci.shape[1] > m:
            keep = np.argpartition(cs, m - 1, axis=1)[:, :m]
            ci = np.take_along_axis(ci, keep, axis=1)    # [nq, m]
        return exact_rerank(self.z, q, ci, k)


def exact_rerank(z: np.ndarray, q: np.ndarray, cand: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest of each query's candidate rows of z [nq, m], by distances computed
    directly from differences in float64 (no cancellation); -> (dist [nq, k] float32
    ascending, idx [nq, k] int64). Shared by the exact index and the fast one."""
    if len(cand) > _RERANK_QUERIES:   # [nq, m, d] float64 in pieces: 10x faster than at once
        parts = [exact_rerank(z, q[s:s + _RERANK_QUERIES], cand[s:s + _RERANK_QUERIES], k)
                 for s in range(0, len(cand), _RERANK_QUERIES)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    nq, d = cand.shape[0], z.shape[1]
    flat = cand.ravel()
    order = np.argsort(flat, kind="stable")          # sorted reads are kinder to a memmap
    zr = np.empty((flat.size, d), dtype=np.float64)
    zr[order] = z[flat[order]]
    diff = zr.reshape(nq, cand.shape[1], d) - np.asarray(q, np.float64)[:, None, :]
    d2 = np.einsum("ijk,ijk->ij", diff, diff)        # [nq, m]
    # Ties broken by index so results are deterministic and match sklearn's order.
    sel = np.lexsort((cand, d2), axis=1)[:, :k]
    return (np.sqrt(np.take_along_axis(d2, sel, axis=1)).astype(np.float32),
            np.take_along_axis(cand, sel, axis=1).astype(np.int64))


def drop_self(dist: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From k+1 neighbours keep k: drop the first zero-distance hit, else the farthest."""
    n, kk = dist.shape
    zero = dist == 0.0
    drop = np.where(zero.any(axis=1), zero.argmax(axis=1), kk - 1)   # [n]
    keep = np.ones_like(zero)
    keep[np.arange(n), drop] = False
    return dist[keep].reshape(n, kk - 1), idx[keep].reshape(n, kk - 1)
