"""Decode anywhere on the map: which inverse of the 2-D map gives back the right latent vector?

    python bench/bench_inverse.py RUN_ID [--cache-dir DIR] [--max-fit 6000]

Protocol (ground truth from real faces the map never saw): fit umap-learn on the run's
training z-points, let ``transform`` place the held-out z-points (where an unseen face lands),
then ask each inverse for a latent vector at that spot and compare it with the face's real
z-point: latent distance (relative to that point's distance to its nearest training z-point,
the scale of "a different face"), the decoded images' pixel MSE against the face's own
reconstruction, and the vector's Mahalanobis radius against the real points'. Empty spots
(probe-grid locations more than 3 point spacings from any embedded point) have no truth:
for them the table shows how data-like the decoded vectors are.

Methods: core.navigation.inverse.MapInverse (kernel blend of the z-points around the spot,
with and without re-scaling to the neighbours' Mahalanobis radius) and umap-learn's own
``inverse_transform`` (needs the fitted reducer; its first call compiles with numba).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


from core.analysis.neighbors import KNNIndex
from core.maps.embedding import fit_umap
from core.navigation.inverse import MapInverse
from core.sampling.session import RunSampler
from core.store.runs import open_run


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_id")
    ap.add_argument("--cache-dir")
    ap.add_argument("--max-fit", type=int, default=6000, help="training z-points the UMAP is fitted on")
    ap.add_argument("--queries", type=int, default=300, help="held-out faces used as ground truth")
    a = ap.parse_args()
    gen = RunSampler(open_run(a.run_id, a.cache_dir))
    z, s = np.asarray(gen.z, np.float32), gen.stats
    rng = np.random.default_rng(0)
    train = gen.train_rows if len(gen.heldout_rows) else np.arange(len(z))
    train = np.sort(rng.choice(train, min(a.max_fit, len(train)), replace=False))
    held = rng.choice(gen.heldout_rows, min(a.queries, len(gen.heldout_rows)), replace=False)
    (emb, reducer), t_fit = timed(fit_umap, z[train], n_neighbors=15, min_dist=0.1, seed=0)
    xy_held, t_tr = timed(reducer.transform, z[held])
    print(f"run {a.run_id}: UMAP fitted on {len(train):,} training z-points in {t_fit:.0f} s; "
          f"{len(held)} held-out faces placed by transform in {t_tr:.1f} s")
    knn = KNNIndex(z[train])
    nn_train = knn.query(z[held], 1)[0][:, 0]                      # "a different face" scale
    recon = gen.decode(z[held]).astype(np.float64)
    blend = MapInverse(emb.coords, z[train])
    shell = MapInverse(emb.coords, z[train], stats=s)
    nearest = MapInverse(emb.coords, z[train], k=1)
    mean = z[train].astype(np.float64).mean(0)
    methods = {"baseline: the training mean": lambda xy: np.repeat(mean[None], len(xy), 0),
               "nearest map point (MapInverse k=1)": lambda xy: nearest(xy).z,
               "kNN blend (MapInverse)": lambda xy: blend(xy).z,
               "kNN blend + radius (MapInverse, stats=)": lambda xy: shell(xy).z,
               "umap-learn inverse_transform": lambda xy: reducer.inverse_transform(xy)}
    reducer.inverse_transform(xy_held[:2])                         # numba compile outside timing
    grid = np.stack(np.meshgrid(*[np.linspace(*np.percentile(emb.coords[:, i], [1, 99]), 40) for i in (0, 1)]),
                    -1).reshape(-1, 2)
    empty = grid[blend(grid).map_dist > 3.0]
    ref_maha, ref_nn = np.median(s.mahalanobis(z[held])), np.median(nn_train)
    print(f"\nheld-out real faces: median Mahalanobis radius {ref_maha:.2f}, median distance to the nearest "
          f"training z-point {ref_nn:.2f}; {len(empty)} empty probe spots (> 3 point spacings from any point)\n")
    head = ["method", "latent err / nn dist", "pixel MSE vs recon", "Mahalanobis (real)",
            "ms / spot", "empty: Mahalanobis", "empty: nn dist"]
    rows = []
    for name, fn in methods.items():
        zh, t = timed(fn, xy_held)
        zh = np.asarray(zh, np.float64)
        err = np.linalg.norm(zh - z[held], axis=1) / nn_train
        mse = np.mean((gen.decode(zh).astype(np.float64) - recon) ** 2, axis=(1, 2, 3)) / 255.0 ** 2
        ze = np.asarray(fn(empty), np.float64) if len(empty) else np.zeros((0, z.shape[1]))
        rows.append([name, f"{np.median(err):.2f}", f"{np.median(mse):.4f}",
                     f"{np.median(s.mahalanobis(zh)):.2f} ({ref_maha:.2f})", f"{1000 * t / len(held):.2f}",
                     f"{np.median(s.mahalanobis(ze)):.2f}" if len(ze) else "-",
                     f"{np.median(knn.query(ze.astype(np.float32), 1)[0]):.2f}" if len(ze) else "-"])
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("  ".join(h.ljust(x) for h, x in zip(head, w)))
    for r in rows:
        print("  ".join(str(v).ljust(x) for v, x in zip(r, w)))
    print(f"\nreference: the nearest training z-point itself gives latent err / nn dist = 1.00; "
          f"the training mean gives {np.median(np.linalg.norm(z[train].mean(0) - z[held], axis=1) / nn_train):.2f}")


if __name__ == "__main__":
    main()
