"""``derive`` at 200,000 z-points against umap-learn's own fit of all of them: time and map quality.

    python bench/bench_derive.py --keep DIR [--run RUN_ID] [--cache-dir DIR] [--n 200000]
                                 [--full-fit-coords FILE.npy] [--save-full-fit FILE.npy] [--sample 5000]

The stand-in run is bench_dashboard's (resampled real z-points, in ``--keep``; built if
missing). ``python -m core derive`` runs on it in a subprocess (statistics, neighbour index,
UMAP fitted on a subsample with the rest placed, mixture), timed, each phase from its status file. The alternative is
what a user would type, ``umap.UMAP(n_neighbors=15, min_dist=0.1).fit_transform(z)`` on every
point (umap-learn's defaults: no seed, every core): run here unless ``--full-fit-coords``
gives its saved coordinates (``--save-full-fit`` keeps them; it takes minutes). Quality of each map on
the same seeded subsample of ``--sample`` points: sklearn's trustworthiness (k=15) and kNN
preservation (share of each point's 15 nearest z-points, among the subsample, that are also
among its 15 nearest on the map).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


from bench_dashboard import build_standin
from core.jobs.derive import UMAP_PARAMS, derive_status
from core.maps.embedding import load_embedding
from core.store.runs import REPO_ROOT, list_runs, open_run


def knn_preservation(z: np.ndarray, xy: np.ndarray, k: int = 15) -> float:
    from sklearn.neighbors import NearestNeighbors

    a = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z, return_distance=False)[:, 1:]
    b = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy, return_distance=False)[:, 1:]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)]))


def quality(z: np.ndarray, xy: np.ndarray) -> tuple[float, float]:
    from sklearn.manifold import trustworthiness

    return trustworthiness(z, xy, n_neighbors=15), knn_preservation(z, xy)


def timed_derive(root: str, run_id: str) -> tuple[float, list[tuple[str, float]]]:
    """``python -m core derive`` in a subprocess: (seconds, [(phase message, start s)]) with
    the phases read from its status file as they change."""
    run = open_run(run_id, root)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "core", "derive", run_id, "--cache-dir", root],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    phases: list[tuple[str, float]] = []
    while proc.poll() is None:
        msg = derive_status(run.paths).get("message", "")
        if msg and (not phases or phases[-1][0] != msg) and "ready" not in msg:
            phases.append((msg, time.perf_counter() - t))
        time.sleep(0.2)
    if proc.returncode:
        raise SystemExit(f"derive failed (exit {proc.returncode})")
    return time.perf_counter() - t, phases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", required=True, help="cache dir of the stand-in (built if missing)")
    ap.add_argument("--run", default=None)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--full-fit-coords", default=None, help="saved umap-learn full-fit coordinates")
    ap.add_argument("--save-full-fit", default=None, help="save the full fit's coordinates here")
    ap.add_argument("--sample", type=int, default=5000)
    args = ap.parse_args()

    src = open_run(args.run, args.cache_dir) if args.run else list_runs(args.cache_dir, complete_only=True)[0]
    rid = f"{src.run_id}-standin{args.n}"
    if not (Path(args.keep) / "runs" / rid / "z.npy").exists():
        build_standin(src, args.n, args.keep, 0.5)
    run = open_run(rid, args.keep)
    la0 = os.getloadavg()
    if derive_status(run.paths).get("state") == "done":
        t_derive = float("nan")
        print("derive already done in --keep: its time is not measured again")
    else:
        t_derive, phases = timed_derive(args.keep, rid)
        print("| derive phase | s |\n|---|---|")
        for (msg, t0), (_, t1) in zip(phases, phases[1:] + [("end", t_derive)]):
            print(f"| {msg} | {t1 - t0:.1f} |")
    z = np.asarray(run.z(), np.float32)
    key = derive_status(run.paths)["z_key"]
    ours = load_embedding(z, run.derived(), key, **UMAP_PARAMS).coords
    if args.full_fit_coords:   # its time from the sidecar --save-full-fit wrote, if any
        full = np.load(args.full_fit_coords)
        side = Path(args.full_fit_coords).with_suffix(".json")
        t_full = float(json.loads(side.read_text())["seconds"]) if side.exists() else float("nan")
    else:
        import umap

        t = time.perf_counter()
        full = umap.UMAP(n_neighbors=15, min_dist=0.1).fit_transform(z)
        t_full = time.perf_counter() - t
        if args.save_full_fit:
            np.save(args.save_full_fit, full.astype(np.float32))
            Path(args.save_full_fit).with_suffix(".json").write_text(json.dumps(
                {"seconds": t_full, "call": "umap.UMAP(n_neighbors=15, min_dist=0.1).fit_transform(z)",
                 "n": len(z), "load_average": os.getloadavg()}))
    pick = np.sort(np.random.default_rng(0).choice(len(z), args.sample, replace=False))
    q_ours, q_full = quality(z[pick], ours[pick]), quality(z[pick], full[pick])
    la = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nTable 5. Map of {len(z):,} x {z.shape[1]} z-points: time and quality on {args.sample:,} "
          f"seeded points (k=15); load average at start {la0[0]:.2f}, at end {la}")
    print("| map | time s | trustworthiness | kNN preservation |\n|---|---|---|---|")
    print(f"| `python -m core derive` (UMAP on {UMAP_PARAMS['max_fit_points']:,}, rest placed; "
          f"+ stats, index, mixture) | {t_derive:.0f} | {q_ours[0]:.4f} | {q_ours[1]:.4f} |")
    print(f"| umap-learn fit_transform of all points (defaults, every core) | {t_full:.0f} "
          f"(issue: 142 on a quiet machine) | {q_full[0]:.4f} | {q_full[1]:.4f} |")


if __name__ == "__main__":
    main()
