"""Benchmark: what the quality report costs on this machine, beside what a notebook would do.

    python bench/bench_quality.py [--images 32] [--run RUN_ID --cache-dir DIR]

Prints Inception-v3 features/s (batched vs one image at a time; CUDA too where present), FID
of 2048-d features (two eigh vs scipy's general sqrtm, the pytorch-fid way), KID (kernels
once vs recomputed per subset), face rate per image, and the time of the full quality report
at the default N: estimated from these rates and, with --run, as measured from a finished job.
Asserts nothing.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


from core.quality import faces, metrics
from core.quality.inception import InceptionFeatures, default_n, measure_rate
from core.quality.table import default_rows


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t, out


def one_at_a_time(net: InceptionFeatures, n: int) -> float:
    x = np.random.default_rng(1).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    t = time.perf_counter()
    for i in range(n):
        net.features(x[i:i + 1])
    return n / (time.perf_counter() - t)


def kid_per_subset(a, b, subsets=50, m=1000, seed=0):
    """KID as often written in notebooks: each subset's three kernel matrices from scratch."""
    rng, m = np.random.default_rng(seed), min(m, len(a), len(b))
    vals = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = (metrics._kernel(p, q) for p, q in ((x, x), (y, y), (x, y)))
        vals.append(metrics._mmd2_unbiased(kxx, kyy, kxy))
    return float(np.mean(vals))


def measured_job(run_id: str, cache_dir) -> str:
    from core.quality.table import read_rows
    from core.store.runs import open_run

    run = open_run(run_id, cache_dir)
    rows = read_rows(run)
    if not rows:
        return f"(run {run_id} has no quality rows yet)"
    refs = sorted(run.paths.quality.glob("*/ref-*.npz"), key=lambda p: p.stat().st_mtime)
    t0 = min(p.stat().st_mtime for p in refs) if refs else min(r["created"] for r in rows)
    span = max(r["created"] for r in rows) - t0
    return (f"{len(rows)} rows at N={rows[0]['n']} measured {span / 60:.1f} min after the first reference "
            f"(shared 2-core machine, load from other jobs included)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--run")
    ap.add_argument("--cache-dir")
    a = ap.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CUDA: {torch.cuda.is_available()}")
    rows = [("", "ours", "notebook way", "")]
    net = InceptionFeatures("cpu")
    cpu = measure_rate(net, a.images)
    single = one_at_a_time(net, max(4, a.images // 4))
    rows.append(("Inception features/s, CPU", f"{cpu:.2f} (batch {net.batch})", f"{single:.2f} (one image a call)",
                 f"{1 / cpu:.3f} s an image"))
    if torch.cuda.is_available():
        gpu = InceptionFeatures("cuda")
        rows.append(("Inception features/s, CUDA", f"{measure_rate(gpu, 2000):.0f}", "", ""))
    rng = np.random.default_rng(0)
    fa, fb = rng.standard_normal((940, 2048)), rng.standard_normal((500, 2048)) + 0.05
    t_ref, ref = timed(metrics.FrechetReference, fa)
    t_fid, _ = timed(ref.fid, fb)
    from scipy import linalg

    s1, s2 = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    t_sqrtm, _ = timed(linalg.sqrtm, s1 @ s2)
    rows.append(("FID 2048-d, per row", f"{t_fid:.1f} s (+{t_ref:.1f} s once per reference)",
                 f"{t_sqrtm:.1f} s (scipy sqrtm)", ""))
    t_kid, _ = timed(metrics.kid, fa, fb)
    t_kid_nb, _ = timed(kid_per_subset, fa, fb, subsets=10)
    rows.append(("KID, 50 subsets", f"{t_kid:.2f} s", f"{t_kid_nb * 5:.1f} s (kernels per subset)", ""))
    t_pr, _ = timed(metrics.precision_recall, fa, fb)
    rows.append(("precision/recall k=3", f"{t_pr:.2f} s", "", "940 vs 500 rows"))
    from core.store.runs import open_run  # noqa: F401  (real faces where a run is given)

    imgs = rng.integers(0, 256, (42, 64, 64, 3), dtype=np.uint8)
    t_face, _ = timed(faces.has_face, imgs)
    rows.append(("face rate (Haar, 64 px upscaled 2x)", f"{1000 * t_face / len(imgs):.1f} ms an image", "", ""))
    n, n_ref, n_rows = default_n("cpu"), 940, len(default_rows())
    per_row_metrics = 2 * (t_fid + t_kid + t_pr)
    est = (n * n_rows + 2 * n_ref) / cpu + n_rows * per_row_metrics + 2 * t_ref
    rows.append((f"full report, default N={n} ({n_rows} rows, 2 refs of {n_ref})", f"{est / 60:.0f} min (estimate)",
                 "", f"{(n * n_rows + 2 * n_ref):,} images through Inception"))
    if a.run:
        rows.append(("full report, measured", measured_job(a.run, a.cache_dir), "", ""))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))


if __name__ == "__main__":
    main()
