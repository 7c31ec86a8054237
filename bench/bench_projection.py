"""Placing 21 new latent vectors on a UMAP of N z-points: speed and faithfulness.

    python bench/bench_projection.py [--n 200000] [--d 256] [--fit-n 20000] [--refine 0 30 100]
    python bench/bench_projection.py --knn [--standin celeba30 --cache-dir DIR]

``--knn`` prints only the neighbour-index table that chose core.analysis.fast_knn: build
time, ms for 21 queries (one thread, median) and recall@16 against exact search for queries
on the data and off it (the box sampler at several `fact`), on the mixture or on the
dashboard bench's 200,000-point stand-in of a real run (``--standin RUN``).

Budget: the whole slider round trip (sampling, placing, decoding ~10 ms) under 150 ms of
server time on 2 cores at N=200,000. umap-learn's ``transform`` is the reference for
faithfulness. Data: a Gaussian mixture (clusters with a low-dimensional spread plus
isotropic noise, roughly how AE latents look). UMAP is fitted on a seeded subsample of
``--fit-n`` points and the rest placed by ``Placer`` (the mode ``fit_umap(max_fit_points=)``
offers); ``transform`` is the reducer fitted on that subsample. Two kinds of query:
'mixture' = fresh draws from the same mixture, 'box' = the blog's sampler, uniform in
[mu - hw, mu + hw] per component (off the data manifold: the hard case).

Beware when reading agreement: above 4,096 fitted points ``transform`` finds neighbours with
its approximate NNDescent index, whose recall for new points is far from 1 (printed), so the
table also compares with ``transform`` forced onto exact neighbours (its small-data path).
Set OMP_NUM_THREADS / run under ``taskset -c 0,1`` to mimic the 2-core server.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits


from core.analysis.neighbors import KNNIndex
from core.maps.embedding import Placer, embedding_spread, fit_umap


def mixture(n, d, clusters, seed, draw=0):
    """([n, d] float32, labels [n]) from `clusters` Gaussians, each spread along 8 random
    directions; `seed` fixes the mixture, `draw` the points drawn from it."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1.0, (clusters, d))
    axes = rng.normal(0, 0.6, (clusters, 8, d))
    rng = np.random.default_rng([seed, draw])
    lab = rng.integers(0, clusters, n)
    z = centers[lab] + np.einsum("nk,nkd->nd", rng.normal(size=(n, 8)), axes[lab])
    z += rng.normal(0, 0.5, (n, d))
    return z.astype(np.float32), lab


def box(z, n, seed):
    mu, hw = z.mean(axis=0), 1.1774 * z.std(axis=0)
    rng = np.random.default_rng(seed)
    return rng.uniform(mu - hw, mu + hw, (n, z.shape[1])).astype(np.float32)


def timed(fn, repeats=5):
    """(min, median) seconds: min is the run least disturbed by other processes."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times))


def ms(t):
    return f"{t[0] * 1e3:.1f} / {t[1] * 1e3:.1f} ms"


class Judge:
    """Compares placements with a reference placement on the same embedding."""

    def __init__(self, coords, labels):
        self.coords, self.labels = coords, labels
        self.spread = embedding_spread(coords)
        self.index = KNNIndex(np.ascontiguousarray(coords, dtype=np.float32))

    def nearest(self, xy, k=1):
        return self.index.query(np.asarray(xy, dtype=np.float32), k)[1]

    def scores(self, xy, ref, true_lab=None):
        """median |xy - ref| / spread; share whose nearest embedded point is among ref's 15
        nearest; share whose nearest embedded point has ref's nearest point's cluster;
        share landing in the query's own cluster (when known)."""
        med = np.median(np.linalg.norm(xy - ref, axis=1)) / self.spread
        nn_xy, nn_ref = self.nearest(xy)[:, 0], self.nearest(ref, 15)
        out = [med, (nn_ref == nn_xy[:, None]).any(axis=1).mean(),
               (self.labels[nn_xy] == self.labels[nn_ref[:, 0]]).mean()]
        out.append(np.nan if true_lab is None else (self.labels[nn_xy] == true_lab).mean())
        return out


def exact_transform(reducer, x):
    """umap's transform, but with exact neighbours: its own small-data path (pairwise
    distances), which it normally takes only below 4,096 fitted points."""
    small = reducer._small_data
    reducer._small_data = True
    try:
        return reducer.transform(x)
    finally:
        reducer._small_data = small


def knn_table(z, qsets: dict, repeats: int = 15):
    """Candidate neighbour indexes side by side: build s, query ms, recall@16 per query set."""
    import faiss
    from sklearn.neighbors import NearestNeighbors

    from core.analysis.fast_knn import FastKNNIndex, build_pq

    exact = KNNIndex(z)
    truth = {k: exact.query(q, 16)[1] for k, q in qsets.items()}
    faiss.omp_set_num_threads(1)

    def flat():
        f = faiss.IndexFlatL2(z.shape[1]); f.add(z); return f

    def hnsw(m):
        def build():
            h = faiss.IndexHNSWFlat(z.shape[1], m); h.hnsw.efConstruction = 80; h.add(z)
            return h
        return build

    def ivf():
        quant = faiss.IndexFlatL2(z.shape[1]); f = faiss.IndexIVFFlat(quant, z.shape[1], 1024)
        f.train(z[np.random.default_rng(0).choice(len(z), min(len(z), 50_000), replace=False)])
        f.add(z); return f

    def tune(attr, value):
        def set_(ix):
            obj = ix.hnsw if attr == "efSearch" else ix
            setattr(obj, attr, value)
            return ix
        return set_

    hnsw16 = hnsw(16)
    candidates = [  # (name, build, configure, search(index, q) -> idx)
        ("exact: core KNNIndex (BLAS, float64 re-rank)", lambda: exact, None, lambda ix, q: ix.query(q, 16)[1]),
        ("exact: sklearn NearestNeighbors brute", lambda: NearestNeighbors(algorithm="brute").fit(z), None,
         lambda ix, q: ix.kneighbors(q, 16)[1]),
        ("exact: FAISS IndexFlatL2", flat, None, lambda ix, q: ix.search(q, 16)[1]),
        ("FAISS HNSW M=16 efSearch=64", hnsw16, tune("efSearch", 64), lambda ix, q: ix.search(q, 16)[1]),
        ("FAISS HNSW M=16 efSearch=256", hnsw16, tune("efSearch", 256), lambda ix, q: ix.search(q, 16)[1]),
        ("FAISS IVF-flat 1024 lists nprobe=64", ivf, tune("nprobe", 64), lambda ix, q: ix.search(q, 16)[1]),
        ("PQ fast-scan + exact re-rank (FastKNNIndex)", lambda: FastKNNIndex(z, build_pq(z), exact=exact), None,
         lambda ix, q: ix.query(q, 16)[1]),
    ]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; N={len(z):,} d={z.shape[1]}, "
          f"21 queries, k=16, one thread; recall@16 vs exact\n")
    print(f"| {'index':<46} | build s | query ms | " + " | ".join(f"{k:>9}" for k in qsets) + " |")
    print(f"|{'-' * 48}|---------|----------|" + "|".join("-" * 11 for _ in qsets) + "|")
    built = {}
    for name, build, conf, search in candidates:
        t = time.perf_counter()
        ix = built[build] if build in built else build()
        built[build] = ix
        b = time.perf_counter() - t
        if conf:
            ix = conf(ix)
        q0 = qsets[next(iter(qsets))]
        with threadpool_limits(1, "blas"):
            tq = timed(lambda ix=ix, q0=q0, search=search: search(ix, q0), repeats)[1]
            rec = [np.mean([len(set(a) & set(b)) / 16 for a, b in zip(search(ix, q), truth[k])])
                   for k, q in qsets.items()]
        print(f"| {name:<46} | {b:>7.1f} | {1e3 * tq:>8.1f} | " + " | ".join(f"{r:>9.3f}" for r in rec)
              + " |", flush=True)


def box_queries(z, facts, n=21, seed=1):
    mu, hw = z.mean(axis=0), 1.1774 * z.std(axis=0)
    rng = np.random.default_rng(seed)
    return {f"box {f:g}": rng.uniform(mu - f * hw, mu + f * hw, (n, z.shape[1])).astype(np.float32)
            for f in facts}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--knn", action="store_true", help="only the neighbour-index table")
    ap.add_argument("--standin", default=None, help="with --knn: stand-in of this run (bench_dashboard)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--fit-n", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=21)
    ap.add_argument("--clusters", type=int, default=30)
    ap.add_argument("--refine", type=int, nargs="*", default=[0, 30, 100])
    ap.add_argument("--check-rest", type=int, default=2000,
                    help="placed-rest points compared with transform")
    ap.add_argument("--skip-ball-tree", action="store_true",
                    help="skip sklearn's ball tree (slow to build and query in 256-d)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.knn:
        if a.standin:
            from bench_dashboard import standin_z

            from core.store.runs import open_run
            src = np.asarray(open_run(a.standin, a.cache_dir).z(), np.float32)
            z = standin_z(src, a.n)
            near = src[np.random.default_rng(2).choice(len(src), a.queries)]
        else:
            z = mixture(a.n, a.d, a.clusters, a.seed)[0]
            near = mixture(a.queries, a.d, a.clusters, a.seed, draw=1)[0]
        qsets = {**box_queries(z, (1, 0.25, 2, 3), a.queries),
                 "on data": near + np.random.default_rng(3).normal(0, 0.01, near.shape).astype(np.float32)}
        knn_table(z, qsets)
        return

    z, labels = mixture(a.n, a.d, a.clusters, a.seed)
    qm, qm_lab = mixture(a.queries, a.d, a.clusters, a.seed, draw=1)
    queries = {"mixture": qm, "box": box(z, a.queries, a.seed + 1)}
    true_lab = {"mixture": qm_lab, "box": None}
    q = queries["box"]
    print(f"N={a.n:,} d={a.d} clusters={a.clusters} queries={a.queries}; UMAP fitted on "
          f"{min(a.fit_n, a.n):,} points; times min / median of repeats\n")
    print(f"| {'what':<46} | {'value':>19} | note |\n|{'-' * 48}|{'-' * 21}|------|")

    def row(name, value, note=""):
        print(f"| {name:<46} | {value:>19} | {note} |", flush=True)

    t = time.perf_counter()
    knn = KNNIndex(z)
    row("KNNIndex build (norms)", f"{(time.perf_counter() - t) * 1e3:.0f} ms")
    row("KNNIndex.query k=15", ms(timed(lambda: knn.query(q, 15))), "exact")
    from sklearn.neighbors import NearestNeighbors
    brute = NearestNeighbors(n_neighbors=15, algorithm="brute").fit(z)
    row("sklearn brute kneighbors", ms(timed(lambda: brute.kneighbors(q), 3)))
    row("numpy loop, one query at a time", ms(timed(
        lambda: [np.argpartition(((z - v) ** 2).sum(1), 15)[:15] for v in q], 1)))
    if not a.skip_ball_tree:
        t = time.perf_counter()
        ball = NearestNeighbors(n_neighbors=15, algorithm="ball_tree").fit(z)
        row("sklearn ball tree build", f"{time.perf_counter() - t:.1f} s")
        row("sklearn ball tree kneighbors", ms(timed(lambda: ball.kneighbors(q), 1)))

    t = time.perf_counter()
    emb, reducer = fit_umap(z, seed=a.seed, max_fit_points=a.fit_n)
    row(f"fit_umap {emb.params['method']}", f"{time.perf_counter() - t:.0f} s",
        f"UMAP on {emb.params['n_fit']:,} (1 thread, seeded) + numba compile + rest placed")
    coords = emb.coords
    judge = Judge(coords, labels)
    sub = np.sort(np.random.default_rng(a.seed).choice(a.n, a.fit_n, replace=False)) \
        if a.n > a.fit_n else np.arange(a.n)
    z_fit, c_fit = z[sub], coords[sub]
    placers = {r: Placer(z, coords, knn, refine_epochs=r) for r in a.refine}
    for r, p in placers.items():
        row(f"Placer.place, refine_epochs={r}", ms(timed(lambda: p.place(q))), "incl. kNN")

    p_fit = Placer(z_fit, c_fit)
    row("Placer.place on the fit set, refine_epochs=0", ms(timed(lambda: p_fit.place(q))),
        f"N={len(z_fit):,}: same reference set as transform")

    t = time.perf_counter()
    ref = {kind: reducer.transform(v) for kind, v in queries.items()}
    row("umap transform, first call", f"{time.perf_counter() - t:.1f} s",
        "numba compile of the index search; after fit")
    row("umap transform, warm", ms(timed(lambda: reducer.transform(q), 3)),
        f"on the {len(z_fit):,}-point fit")
    ex = {kind: exact_transform(reducer, v) for kind, v in queries.items()}
    reducer.transform_seed = a.seed + 1   # transform's own randomness: the noise floor
    other = {kind: reducer.transform(v) for kind, v in queries.items()}
    exact_fit = KNNIndex(z_fit)
    for kind, v in queries.items():
        i_ex = exact_fit.query(v, 15)[1]
        i_um = reducer._knn_search_index.query(v, 15, epsilon=0.12)[0]
        recall = np.mean([len(set(x) & set(y)) / 15 for x, y in zip(i_ex, i_um)])
        row(f"umap's own kNN recall@15, {kind} queries", f"{recall:.2f}", "vs exact")

    print(f"\nAgreement (spread = RMS radius of the embedding = {judge.spread:.2f}): median "
          "distance / spread; NN15 = nearest embedded point among the reference's 15 "
          "nearest; cluster = same mixture cluster as the reference's nearest point; "
          "own = lands in the query's own cluster\n")
    print(f"| {'placement':<40} | {'vs':<15} | {'queries':<8} | med dist |  NN15 | "
          f"cluster |   own |\n|{'-' * 42}|{'-' * 17}|{'-' * 10}|----------|-------|"
          "---------|-------|")

    def arow(name, vs, kind, xy, refxy):
        m, h, c, o = judge.scores(xy, refxy, true_lab.get(kind))
        print(f"| {name:<40} | {vs:<15} | {kind:<8} | {m:>8.3f} | {h:>5.2f} | {c:>7.2f} "
              f"| {o:>5.2f} |", flush=True)

    for kind, v in queries.items():
        arow("transform, other transform_seed", "transform", kind, other[kind], ref[kind])
        arow("transform with exact kNN", "transform", kind, ex[kind], ref[kind])
        arow("transform itself", "(truth)", kind, ref[kind], ref[kind])
        for r in a.refine:
            p_fit = Placer(z_fit, c_fit, refine_epochs=r, seed=a.seed).place(v)
            arow(f"Placer on fit set, refine={r}", "transform", kind, p_fit, ref[kind])
            arow(f"Placer on fit set, refine={r}", "exact transform", kind, p_fit, ex[kind])
            arow(f"Placer on all N, refine={r}", "exact transform", kind,
                 placers[r].place(v), ex[kind])
    if a.n > a.fit_n and a.check_rest:
        rest = np.setdiff1d(np.arange(a.n), sub)
        pick = np.random.default_rng(a.seed).choice(rest, min(a.check_rest, len(rest)),
                                                    replace=False)
        true_lab["rest"] = labels[pick]
        arow("fit_umap's placed rest", "transform", "rest", coords[pick],
             reducer.transform(z[pick]))


if __name__ == "__main__":
    main()
