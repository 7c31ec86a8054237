"""Judging a batch of artificial latent vectors without decoding it.

Two figures per point: its Mahalanobis radius (how far out in the cloud it sits, in units
the cloud itself defines) and its distance to the nearest real z-point (does it land where
data is, or in the empty space between). Both are compared with the same figures for real
held-out z-points, whose nearest neighbour is searched among the training z-points only.
Neighbour search accepts any prebuilt index with `.query(q, k) -> (dist, idx)` (e.g.
core.analysis.neighbors.KNNIndex); without one, a KNNIndex is built over the real z-points.
"""
from __future__ import annotations

import numpy as np

from typing import TYPE_CHECKING

from core.analysis.neighbors import KNNIndex

if TYPE_CHECKING:
    from core.analysis.latent_stats import LatentStats

ESCALATE_UP_TO = 4096   # neighbours asked for before the brute-force fallback


def nearest_real(q: np.ndarray, z: np.ndarray, *, index: KNNIndex | None = None, allowed: np.ndarray | None = None,
                 exclude: np.ndarray | None = None, k0: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Nearest row of z for each query q [m, d], among rows where `allowed` (bool [N]) holds
    and not equal to `exclude` (row per query, e.g. the query itself). -> (dist [m], idx [m]).

    Asks the index for k0 neighbours and keeps the first admissible one; the rare query
    whose k0 neighbours are all excluded (near-copies of a held-out image) asks again for 8x
    as many, and only past 4,096 by brute force over the allowed rows (which copies them)."""
    q = np.atleast_2d(np.asarray(q, np.float32))
    if z is None:
        z = getattr(index, "z", None)                                  # KNNIndex keeps its rows
    if z is None:
        raise ValueError("nearest_real needs the real z-points (z=) or an index holding them")
    index = index if index is not None else KNNIndex(z)
    k = min(k0, len(z)) if (allowed is not None or exclude is not None) else 1
    excl = None if exclude is None else np.asarray(exclude)

    def admissible(jj: np.ndarray, which: np.ndarray) -> np.ndarray:   # [b, k] rows of z
        ok = np.ones(jj.shape, bool)
        if allowed is not None:
            ok &= allowed[jj]
        if excl is not None:
            ok &= jj != excl[which][:, None]
        return ok

    dist, idx = index.query(q, k)
    ok = admissible(idx, np.arange(len(q)))
    first = ok.argmax(axis=1)
    rows = np.arange(len(q))
    d_out, i_out = dist[rows, first].astype(np.float64), idx[rows, first].copy()
    bad = np.flatnonzero(~ok.any(axis=1))
    while len(bad) and k < min(len(z), ESCALATE_UP_TO):   # same index, deeper: no copy of z
        k = min(8 * k, len(z), ESCALATE_UP_TO)
        dd, jj = index.query(q[bad], k)
        okb = admissible(jj, bad)
        found = okb.any(axis=1)
        fb, first_b = bad[found], okb[found].argmax(axis=1)
        d_out[fb] = dd[found, first_b]
        i_out[fb] = jj[found, first_b]
        bad = bad[~found]
    if len(bad):  # very rare: one batched exact search over the admissible rows
        cand = np.flatnonzero(allowed) if allowed is not None else np.arange(len(z))
        dd, jj = KNNIndex(np.asarray(z[cand], np.float32)).query(q[bad], min(2, len(cand)))
        rows2 = cand[jj]                                               # [b, 2] rows of z
        pick = np.zeros(len(bad), int)
        if exclude is not None and rows2.shape[1] > 1:
            pick = (rows2[:, 0] == np.asarray(exclude)[bad]).astype(int)
        sel = np.arange(len(bad))
        d_out[bad], i_out[bad] = dd[sel, pick], rows2[sel, pick]
    return d_out, i_out


def reference_diagnostics(stats: LatentStats, z: np.ndarray, train_rows: np.ndarray | None = None,
                          heldout: np.ndarray | None = None, *, index: KNNIndex | None = None,
                          max_points: int = 500, seed: int = 0) -> dict:
    """The figures for real held-out z-points: what a good batch looks like.

    z: every z-point [N, d] (the index, if given, is over these rows); train_rows: rows that
    count as training (None: all); heldout: rows of z (ints) or separate points [m, d]. With
    no held-out rows, random training rows stand in, each excluding itself. At most
    `max_points` of them are used (chosen by `seed`), which keeps this to a second."""
    N = len(z)
    allowed = None
    if train_rows is not None and len(train_rows) < N:
        allowed = np.zeros(N, bool)
        allowed[np.asarray(train_rows)] = True
    rng = np.random.default_rng(seed)
    exclude = None
    if heldout is None or len(heldout) == 0:
        pool = np.flatnonzero(allowed) if allowed is not None else np.arange(N)
        heldout, exclude = pool, pool                                  # leave-one-out
    heldout = np.asarray(heldout)
    pick = np.sort(rng.choice(len(heldout), size=min(max_points, len(heldout)), replace=False))
    if heldout.ndim == 1:                                              # rows of z
        rows = heldout[pick]
        points = np.asarray(z[rows], np.float32)
        exclude = rows if exclude is not None else None
    else:
        points = heldout[pick].astype(np.float32)
    nn, _ = nearest_real(points, z, index=index, allowed=allowed, exclude=exclude)
    maha = stats.mahalanobis(points)
    out = {"real_mahalanobis": maha, "real_nn": nn, "real_n": len(points), "allowed": allowed}
    out.update(_summary("real", maha, nn))
    out["real_nn_p95"] = float(np.percentile(nn, 95))
    return out


def batch_diagnostics(samples: np.ndarray, stats: LatentStats, *, z_real: np.ndarray | None = None,
                      heldout: np.ndarray | None = None, reference: dict | None = None,
                      index: KNNIndex | None = None, train_rows: np.ndarray | None = None) -> dict:
    """Mahalanobis radius and nearest-real distance of each sample, next to the held-out
    reference (computed here from z_real/heldout unless `reference` is passed in).

    Flat keys, so a table of the summary is one line: sample_* for the batch, real_* for
    the reference; sample_mahalanobis / sample_nn / sample_nn_index are per-sample arrays."""
    if index is None and z_real is not None:
        index = KNNIndex(z_real)                                     # built once, used twice
    if reference is None:
        if z_real is None:
            raise ValueError("batch_diagnostics needs z_real (and heldout) or a reference")
        reference = reference_diagnostics(stats, z_real, train_rows, heldout, index=index)
    samples = np.atleast_2d(np.asarray(samples, np.float32))
    nn, nn_idx = nearest_real(samples, z_real, index=index, allowed=reference.get("allowed"))
    maha = stats.mahalanobis(samples)
    out = {k: v for k, v in reference.items() if k != "allowed"}
    out.update(sample_mahalanobis=maha, sample_nn=nn, sample_nn_index=nn_idx, sample_n=len(samples))
    out.update(_summary("sample", maha, nn))
    out["sample_nn_beyond_real_p95"] = float(np.mean(nn > reference["real_nn_p95"]))
    out["gaussian_mahalanobis_mean"] = float(np.sqrt(max(stats.pca_rank - 0.5, 0.5)))  # E chi_d
    return out


def _summary(prefix: str, maha: np.ndarray, nn: np.ndarray) -> dict:
    return {f"{prefix}_mahalanobis_mean": float(np.mean(maha)),
            f"{prefix}_mahalanobis_median": float(np.median(maha)),
            f"{prefix}_nn_mean": float(np.mean(nn)), f"{prefix}_nn_median": float(np.median(nn))}
