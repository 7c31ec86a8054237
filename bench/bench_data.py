"""Preprocessing throughput (core.data.prepare.prepare): CelebA subset and synthetic faces, one worker
vs all cores, plus the time to load a cache hit.

    python bench/bench_data.py [--limit 2000] [--synthetic-n 2000] [--size 64]

CelebA comes from $CELEBA_DIR (default ../shared/celeba next to the repository); every build
goes to a fresh temporary cache, so nothing is reused between rows. Pool start-up is inside
the timing: that is what a user waits for.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
from core.config import DataConfig
from core.data.prepare import _cpu_count, prepare

ROOT = Path(__file__).resolve().parent.parent


def _timed(cfg: DataConfig, cache: Path, workers: int):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare(cfg, cache, progress=False, workers=workers)
    return time.perf_counter() - t, data


def _row(what: str, workers, n: int, seconds: float) -> None:
    print(f"{what:<34}{workers!s:>8}{n:>8}{seconds:>10.3f}{n / seconds:>12.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=2000, help="CelebA images per measurement")
    ap.add_argument("--synthetic-n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    all_cores = _cpu_count()
    celeba = Path(os.environ.get("CELEBA_DIR", ROOT.parent / "shared" / "celeba"))

    print(f"{'what':<34}{'workers':>8}{'images':>8}{'seconds':>10}{'images/s':>12}")
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        tmp = Path(tmp)
        jobs = []
        if celeba.is_dir():
            jobs.append(("celeba", DataConfig(dataset="celeba", data_dir=str(celeba),
                                              image_size=args.size, limit=args.limit)))
        else:
            print(f"(no CelebA at {celeba}: set CELEBA_DIR; CelebA rows skipped)")
        jobs.append(("synthetic", DataConfig(dataset="synthetic", synthetic_n=args.synthetic_n,
                                             image_size=args.size)))
        for name, cfg in jobs:
            last = None
            for workers in sorted({1, all_cores}):
                cache = tmp / f"{name}-w{workers}"
                secs, data = _timed(cfg, cache, workers)
                _row(f"{name} {args.size}px build", workers, len(data.images), secs)
                last = (cache, data)
            cache, data = last
            secs, hit = _timed(cfg, cache, all_cores)
            assert hit.manifest["created"] == data.manifest["created"], "expected a cache hit"
            _row(f"{name} {args.size}px cache hit (load)", "-", len(hit.images), secs)


if __name__ == "__main__":
    main()
