"""Throughput of the procedural face renderer on one core, per image size.

    python bench/bench_synthetic.py [--n 1000] [--sizes 32 64 96 128]

The budget: the 20,000-face demo set at 64x64 in well under a minute on one core
(< 1 ms per face), so the data pipeline never holds up the first training run.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")   # measure one core, as the budget says

from core.data.synthetic import face_factors, render_faces


def _best_of(fn, repeats: int) -> float:
    """Best wall time of `repeats` runs: the least disturbed by other processes."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="faces per measurement")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 96, 128])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    render_faces(4)   # warm-up: imports, first-call allocations
    print(f"{'what':<22}{'n':>7}{'ms/image':>10}{'images/s':>10}{'20k est. s':>12}")
    t = _best_of(lambda: face_factors(args.n), args.repeats)
    print(f"{'face_factors':<22}{args.n:>7}{t / args.n * 1e3:>10.3f}{args.n / t:>10.0f}{2e4 * t / args.n:>12.1f}")
    for size in args.sizes:
        t = _best_of(lambda: render_faces(args.n, size=size), args.repeats)
        name = f"render_faces {size}x{size}"
        print(f"{name:<22}{args.n:>7}{t / args.n * 1e3:>10.3f}{args.n / t:>10.0f}{2e4 * t / args.n:>12.1f}")


if __name__ == "__main__":
    main()
