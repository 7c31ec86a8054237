"""Benchmark: latent_stats on 200,000 x 256 and every sampler for 21 points.

    OMP_NUM_THREADS=2 python bench/bench_stats.py [--n 200000] [--d 256] [--gmm-points 10000]

Synthetic z-points stand in for a real run (only the scale matters here): correlated blocks,
a few off-origin components and a few skewed ones. Prints tables; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


from core.analysis.diagnostics import batch_diagnostics, reference_diagnostics
from core.sampling.mixture import fit_gmm
from core.analysis.histfit import HistAccumulator, fit_gaussians, hist_ranges, n_bins
from core.sampling.registry import SAMPLERS, sample
from core.analysis.latent_stats import latent_stats


def synthetic_z(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Blocks of 16 correlated components, offsets on every 32nd, gamma tails on 4."""
    rng = np.random.default_rng(seed)
    mix = np.eye(d, dtype=np.float32)
    for b in range(0, d, 16):
        mix[b:b + 16, b:b + 16] += rng.normal(0, 0.25, (16, 16)).astype(np.float32)
    z = np.empty((n, d), np.float32)
    for i in range(0, n, 20000):                                 # chunked: memory O(n d)
        z[i:i + 20000] = rng.standard_normal((min(20000, n - i), d), dtype=np.float32) @ mix
    z[:, ::32] += 2.0
    z[:, 1:5] = rng.gamma(3.0, 0.5, (n, 4)).astype(np.float32)
    return z


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def row(name: str, seconds: float, note: str = "") -> None:
    print(f"  {name:<34} {seconds * 1e3:>10.1f} ms  {note}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=5, help="best of this many for the samplers")
    ap.add_argument("--gmm-points", type=int, default=10000,
                    help="points for the mixture fit (fit_gmm's default is 50000: minutes here)")
    ap.add_argument("--loop-components", type=int, default=32,
                    help="components for the curve_fit / np.histogram loop comparison")
    a = ap.parse_args()
    print(f"# bench_stats: N={a.n} d={a.d}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"cpus={os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}")
    z = synthetic_z(a.n, a.d)

    parts: dict = {}
    t = time.perf_counter()
    st = latent_stats(z, timings=parts)
    total = time.perf_counter() - t
    print("\nlatent_stats (one run; wall time per part)")
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        row(k, v)
    row("TOTAL", total, f"rank {st.pca_rank}, {st.bins} bins, {int(st.fit_ok.sum())}/{st.d} fits ok")

    print(f"\nvectorised vs plain loops ({a.loop_components} components, scaled to {a.d})")
    _loops(z, st, a.loop_components)

    print(f"\nsamplers, 21 points (best of {a.repeat})")
    t = time.perf_counter()
    gm = fit_gmm(z, max_points=a.gmm_points)
    row(f"gmm fit ({a.gmm_points} points, K=10, full)", time.perf_counter() - t,
        f"{gm.n_iter} EM iterations, converged={gm.converged}")
    t = time.perf_counter()
    index = _index(z)
    row(f"neighbour index build ({type(index).__name__})", time.perf_counter() - t)
    extra = {"gmm": {"gmm": gm}, "path": {"z": z}, "nudge": {"z": z, "index": index}}
    for name in SAMPLERS:
        row(name, best_of(lambda: sample(name, st, 21, seed=0, **extra.get(name, {})), a.repeat))
    row("nudge (base full_gauss, k=10)", best_of(
        lambda: sample("nudge", st, 21, seed=0, base="full_gauss", z=z, index=index), a.repeat))

    print("\ndiagnostics")
    train_rows = np.arange(int(0.9 * a.n))
    held_rows = np.arange(int(0.9 * a.n), a.n)
    t = time.perf_counter()
    ref = reference_diagnostics(st, z, train_rows, held_rows, index=index)
    row("reference (500 held-out points)", time.perf_counter() - t)
    x = sample("box", st, 21, seed=0)
    row("batch_diagnostics (21 points)", best_of(
        lambda: batch_diagnostics(x, st, reference=ref, index=index), a.repeat))
    d = batch_diagnostics(x, st, reference=ref, index=index)
    print(f"  box batch: Mahalanobis {d['sample_mahalanobis_mean']:.1f} vs held-out "
          f"{d['real_mahalanobis_mean']:.1f}; nearest real {d['sample_nn_mean']:.2f} vs {d['real_nn_mean']:.2f}")


def _index(z):
    from core.analysis.neighbors import KNNIndex

    return KNNIndex(z)


def _loops(z, st, m: int) -> None:
    """The per-component alternatives: np.histogram and scipy's curve_fit in a Python loop."""
    from scipy.optimize import curve_fit

    scale = st.d / m
    sub = np.ascontiguousarray(z[:, :m])
    t = time.perf_counter()
    for j in range(m):
        np.histogram(sub[:, j], bins=st.hist_edges[j])
    row("np.histogram loop", (time.perf_counter() - t) * scale)
    t = time.perf_counter()
    acc = HistAccumulator(*hist_ranges(st.mean[:m], st.std[:m], st.vmin[:m], st.vmax[:m]), n_bins(len(z)))
    for i in range(0, len(z), 4096):
        acc.add(sub[i:i + 4096])
    row("HistAccumulator (bincount)", (time.perf_counter() - t) * scale)

    g = lambda x, a, mu, s: a * np.exp(-0.5 * ((x - mu) / s) ** 2)  # noqa: E731
    t = time.perf_counter()
    for j in range(m):
        c = 0.5 * (st.hist_edges[j, 1:] + st.hist_edges[j, :-1])
        curve_fit(g, c, st.hist_counts[j], p0=[st.hist_counts[j].max(), st.mean[j], st.std[j]])
    row("curve_fit loop", (time.perf_counter() - t) * scale)
    t = time.perf_counter()
    fit_gaussians(st.hist_edges, st.hist_counts, st.mean, st.std)
    row("fit_gaussians (all components)", time.perf_counter() - t)


if __name__ == "__main__":
    main()
