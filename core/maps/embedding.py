"""2-D maps of the z-points: UMAP (cached) and a fast, faithful placement of new points.

umap-learn's ``transform`` needs the fitted reducer (which we never pickle), takes 1-3 s for
21 points and about a minute on its first numba-compiling call. The slider path has tens of
ms, so ``Placer`` reproduces what ``transform`` starts from: exact k nearest z-points in
latent space, UMAP's own membership strengths exp(-d / sigma) with sigma solved so the
strengths sum to log2(k), and the weighted mean of the neighbours' 2-D coordinates. It can
then run a few of UMAP's own optimisation epochs against the frozen embedding (``refine``).
``bench/bench_projection.py`` measures speed and agreement with ``transform``: about 1% of
the embedding's spread for in-distribution points of a clustered cloud (transform differs
from itself by as much across seeds), 8-10% on the resampled CelebA stand-in of
``bench/bench_dashboard.py``; more often in the right cluster than ``transform`` itself,
whose approximate neighbour search misses neighbours of new points (exact search here). Off-manifold points (far from every z-point) have no faithful
place; the weighted mean puts them between their neighbours' clusters.

umap is imported lazily: importing it compiles numba code for seconds, and the dashboard can
draw ``pca_2d`` previews and place points without it.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.store.atomic import load_npy, read_json, save_npy, write_json
from core.store.derived import load_or_compute, load_valid
from core.analysis.neighbors import KNNIndex

Progress = Callable[[float, str], None]


@dataclass
class Embedding:
    coords: np.ndarray   # [N, 2] float32, row i = z-point i
    params: dict         # how it was made (JSON-able)
    z_key: str           # which z-points it belongs to
    request: dict | None = None   # the cache request it was saved under (for validity checks)


def embedding_spread(coords: np.ndarray) -> float:
    """RMS distance of embedded points from their centroid: the scale for 'how far off'."""
    c = np.asarray(coords, dtype=np.float64)
    return float(np.sqrt(((c - c.mean(axis=0)) ** 2).sum(axis=1).mean()))


def pca_2d(z: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """First two principal components [N, 2] float32 (core.maps.plane): UMAP's initial layout."""
    from core.maps.plane import main_axes, project

    return project(z, *main_axes(z, 2, chunk), chunk=chunk)


def membership_weights(dist: np.ndarray, n_iter: int = 64) -> np.ndarray:
    """UMAP's fuzzy membership of a new point to its k neighbours, as in ``transform``.

    ``transform`` calls smooth_knn_dist with local_connectivity - 1 = 0, so rho = 0 and the
    strength is exp(-d / sigma), sigma binary-searched so that neighbours 2..k sum to
    log2(k) (umap skips the first column, which is 'self' when fitting). One difference:
    sigma's floor (1e-3 x mean distance) uses this query's mean, not the batch mean, so a
    point's placement never depends on which other points came with it.
    """
    d = np.asarray(dist, dtype=np.float64)                          # [n, k], ascending
    n, k = d.shape
    target = np.log2(k)
    lo, hi, mid = np.zeros(n), np.full(n, np.inf), np.ones(n)
    done = np.zeros(n, dtype=bool)
    for _ in range(n_iter):
        psum = np.where(d[:, 1:] > 0, np.exp(-d[:, 1:] / mid[:, None]), 1.0).sum(axis=1)
        done |= np.abs(psum - target) < 1e-5
        over = (psum > target) & ~done
        under = (psum <= target) & ~done
        hi = np.where(over, mid, hi)
        lo = np.where(under, mid, lo)
        mid = np.where(over | (under & np.isfinite(hi)), (lo + hi) / 2, mid)
        mid = np.where(under & ~np.isfinite(hi), mid * 2, mid)
        if done.all():
            break
    sigma = np.maximum(mid, 1e-3 * d.mean(axis=1))
    return np.where(d > 0, np.exp(-d / sigma[:, None]), 1.0)       # [n, k]


def find_ab_params(spread: float = 1.0, min_dist: float = 0.1) -> tuple[float, float]:
    """UMAP's curve 1 / (1 + a x^2b) fitted to its min_dist kernel (same as umap's own)."""
    from scipy.optimize import curve_fit
    x = np.linspace(0, spread * 3, 300)
    y = np.where(x < min_dist, 1.0, np.exp(-(x - min_dist) / spread))
    (a, b), _ = curve_fit(lambda x, a, b: 1.0 / (1.0 + a * x ** (2 * b)), x, y)
    return float(a), float(b)


class Placer:
    """Place new latent vectors on an existing 2-D embedding of z (deterministic)."""

    def __init__(self, z: np.ndarray, coords: np.ndarray, knn: KNNIndex | None = None, *,
                 n_neighbors: int = 15, min_dist: float = 0.1, refine_epochs: int = 0,
                 seed: int = 0):
        n = knn.n if knn is not None else len(z)    # z only feeds the index when none given
        if n != len(coords):
            raise ValueError(f"the index has {n} rows, coords {len(coords)}")
        self.coords = np.asarray(coords, dtype=np.float32)          # [N, 2]
        self.knn = knn if knn is not None else KNNIndex(z)
        self.k = min(n_neighbors, len(z))
        self.refine_epochs = refine_epochs
        self.seed = seed
        self._ab = find_ab_params(1.0, min_dist) if refine_epochs > 0 else None

    @classmethod
    def from_embedding(cls, z: np.ndarray, emb: Embedding, knn: KNNIndex | None = None, **kw: Any) -> "Placer":
        kw.setdefault("n_neighbors", emb.params.get("n_neighbors", 15))
        kw.setdefault("min_dist", emb.params.get("min_dist", 0.1))
        return cls(z, emb.coords, knn, **kw)

    def place(self, q: np.ndarray) -> np.ndarray:
        return self.place_knn(q)[0]

    def place_knn(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xy [n, 2] float32, dist [n, k], idx [n, k]): the neighbours come for free."""
        q = np.atleast_2d(np.asarray(q, dtype=np.float32))
        dist, idx = self.knn.query(q, self.k)
        w = membership_weights(dist)                                # [n, k]
        nb = self.coords[idx].astype(np.float64)                    # [n, k, 2]
        xy = (w[:, :, None] * nb).sum(axis=1) / w.sum(axis=1, keepdims=True)
        exact = dist[:, 0] == 0                 # a copy of a z-point sits on that point
        xy[exact] = nb[exact, 0]
        if self.refine_epochs > 0:
            xy = self._refine(xy, nb, w, q, fixed=exact)
        return xy.astype(np.float32), dist, idx

    def _refine(self, xy, nb, w, q, fixed):
        """UMAP's transform epochs (attraction to neighbours, repulsion from random embedded
        points, clipped gradients, linearly decaying rate from 0.25) vectorised over queries;
        negative samples come from a per-query RNG seeded by the query's bytes."""
        a, b = self._ab
        n_epochs, neg_rate = self.refine_epochs, 5.0
        w = np.where(w >= w.max(axis=1, keepdims=True) / n_epochs, w, 0.0)
        eps = np.where(w > 0, w.max(axis=1, keepdims=True) / np.maximum(w, 1e-300), np.inf)
        eps_neg = eps / neg_rate
        next_s, next_neg = eps.copy(), eps_neg.copy()
        pool_n = int(np.ceil(neg_rate * n_epochs * (w > 0).sum(axis=1).max())) + 1
        pool = np.stack([np.random.default_rng([self.seed, zlib.crc32(r.tobytes())])
                         .integers(0, len(self.coords), pool_n) for r in q])   # [n, P]
        cursor = np.zeros(len(q), dtype=np.int64)
        pos = xy.copy()
        rows = np.arange(len(q))
        # Dropped edges carry inf schedules and d2 = 0 gives 0**(b-1): both masked below.
        with np.errstate(divide="ignore", invalid="ignore"):
            for e in range(n_epochs):
                alpha = 0.25 * (1.0 - e / n_epochs)
                due = next_s <= e                                       # [n, k]
                diff = pos[:, None, :] - nb                             # [n, k, 2]
                d2 = (diff ** 2).sum(-1)
                c = np.where(d2 > 0, -2 * a * b * d2 ** (b - 1) / (1 + a * d2 ** b), 0.0)
                pos += alpha * (np.clip(c[..., None] * diff, -4, 4) * due[..., None]).sum(1)
                n_neg = np.where(due, np.floor((e - next_neg) / eps_neg), 0).astype(np.int64)
                cnt = np.minimum(n_neg.sum(axis=1), pool_n - cursor)    # [n]
                if cnt.sum():
                    owner = np.repeat(rows, cnt)
                    off = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
                    other = self.coords[pool[owner, cursor[owner] + off]]
                    diff = pos[owner] - other                           # [m, 2]
                    d2 = (diff ** 2).sum(-1)
                    c = np.where(d2 > 0, 2 * b / ((0.001 + d2) * (1 + a * d2 ** b)), 0.0)
                    g = np.clip(c[:, None] * diff, -4, 4)
                    pos += alpha * np.stack([np.bincount(owner, g[:, i], len(q))
                                             for i in (0, 1)], axis=1)
                    cursor += cnt
                next_s = np.where(due, next_s + eps, next_s)
                next_neg = np.where(due, next_neg + n_neg * eps_neg, next_neg)
        pos[fixed] = xy[fixed]
        return pos


def _subsample(n: int, m: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))


def fit_umap(z: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0,
             n_epochs: int | None = None, max_fit_points: int | None = None,
             init: str = "pca", z_key: str = "", progress: Progress | None = None) -> tuple[Embedding, Any]:
    """Fit umap-learn on z (or on a seeded subsample of ``max_fit_points`` rows, the rest
    placed by ``Placer``); returns (Embedding, fitted reducer). Deterministic for a seed
    (umap then runs single-threaded).

    ``init="pca"`` (our pca_2d, scaled as umap scales its own) is the default because
    umap's "spectral" init is not reproducible when the kNN graph falls apart into
    components (sklearn's ARPACK call on the component centroids varies between calls
    even with a fixed random_state); "spectral" is available, without that guarantee.
    """
    import umap
    report = progress or (lambda f, m: None)
    n = len(z)
    sub = _subsample(n, max_fit_points, seed) if max_fit_points and n > max_fit_points \
        else None
    z_fit = np.asarray(z if sub is None else z[sub], dtype=np.float32)
    report(0.0, f"fitting UMAP on {len(z_fit):,} of {n:,} points")
    if init == "pca":
        start = pca_2d(z_fit).astype(np.float64)
        start *= 10.0 / max(np.abs(start).max(), 1e-12)
        start += np.random.default_rng(seed).normal(0, 1e-4, start.shape)  # no exact ties
        start = start.astype(np.float32)
    elif init == "spectral":
        start = "spectral"
    else:
        raise ValueError(f"init must be 'pca' or 'spectral', got {init!r}")
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=n_epochs,
                        init=start, random_state=seed, transform_seed=seed, n_jobs=1)
    fit_coords = reducer.fit_transform(z_fit).astype(np.float32)
    if sub is None:
        coords = fit_coords
    else:
        coords = np.empty((n, 2), dtype=np.float32)
        coords[sub] = fit_coords
        rest = np.setdiff1d(np.arange(n), sub)
        placer = Placer(z_fit, fit_coords, n_neighbors=n_neighbors, min_dist=min_dist)
        step = 8192
        for i in range(0, len(rest), step):
            report(0.8 + 0.2 * i / len(rest), "placing the remaining points")
            coords[rest[i:i + step]] = placer.place(z[rest[i:i + step]])
    report(1.0, "done")
    params = dict(method="umap" if sub is None else "umap-subsample+knn-placement",
                  n_neighbors=n_neighbors, min_dist=min_dist, seed=seed, n_epochs=n_epochs,
                  max_fit_points=max_fit_points, init=init, n_points=n, n_fit=len(z_fit),
                  umap_version=umap.__version__)
    return Embedding(coords, params, z_key), reducer


_FIT_DEFAULTS = {k: p.default for k, p in inspect.signature(fit_umap).parameters.items()
                 if p.kind is p.KEYWORD_ONLY and k not in ("z_key", "progress")}


def _embedding_paths(z, folder, z_key: str, params: dict) -> tuple[Path, Path, dict]:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", z_key):
        raise ValueError(f"z_key must be filename-safe, got {z_key!r}")
    unknown = set(params) - set(_FIT_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown UMAP parameters: {sorted(unknown)}")
    request = {**_FIT_DEFAULTS, **params}
    ident = json.dumps({"z_key": z_key, "shape": list(z.shape), **request}, sort_keys=True)
    stem = Path(folder) / f"umap-{z_key}-{hashlib.sha1(ident.encode()).hexdigest()[:12]}"
    return stem.with_suffix(".npy"), stem.with_suffix(".json"), request


def embedding_files(z: np.ndarray, folder: str | Path, z_key: str, **params: Any) -> list[str]:
    """The names of the (coordinates, sidecar) files of this UMAP in ``folder``."""
    npy, side, _ = _embedding_paths(z, folder, z_key, params)
    return [npy.name, side.name]


def load_embedding(z: np.ndarray, folder: str | Path, z_key: str, **params: Any) -> Embedding | None:
    """The cached UMAP of z if a valid one is on disk, else None (never fits: for UIs)."""
    npy, side, request = _embedding_paths(z, folder, z_key, params)
    return load_valid(side, _loader(npy), _validator(len(z), request, z_key))


def cached_embedding(z: np.ndarray, folder: str | Path, z_key: str, progress: Progress | None = None,
                     **params: Any) -> Embedding:
    """UMAP of z cached as ``<folder>/umap-<z_key>-<paramhash>.npy`` plus a JSON sidecar.
    A missing, unreadable or mismatched file is recomputed and rewritten atomically."""
    npy, side, request = _embedding_paths(z, folder, z_key, params)

    def save(emb: Embedding, side: Path) -> None:
        save_npy(npy, emb.coords)
        # Sidecar last: a crash in between leaves no sidecar, so the pair reads as invalid.
        write_json(side, {"z_key": z_key, "request": request, "params": emb.params})

    return load_or_compute(side, _loader(npy), lambda: fit_umap(z, **request, z_key=z_key, progress=progress)[0],
                           save, valid=_validator(len(z), request, z_key))


def _loader(npy: Path) -> Callable[[Path], tuple[dict, np.ndarray]]:
    """The pair (sidecar JSON, coordinates): the sidecar is the artifact's 'what it was made of'."""
    def load(side: Path) -> tuple[dict, np.ndarray]:
        meta = read_json(side)
        if not isinstance(meta, dict) or not isinstance(meta.get("params"), dict):
            raise ValueError(f"{side} is not an embedding sidecar")
        return meta, load_npy(npy)
    return lambda side: _as_embedding(*load(side))


def _as_embedding(meta: dict, coords: np.ndarray) -> Embedding:
    return Embedding(coords.astype(np.float32, copy=False), meta["params"], meta.get("z_key", ""),
                     meta.get("request"))


def _validator(n: int, request: dict, z_key: str) -> Callable[[Embedding], bool]:
    return lambda e: (e.request == request and e.z_key == z_key and e.coords.shape == (n, 2)
                      and bool(np.isfinite(e.coords).all()))
