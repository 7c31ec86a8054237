"""What the dashboard costs a user: slider-to-grid latency at 200,000 z-points, how faithful the
fast map placement is, and how long the first render takes in a real browser.

    python bench/bench_dashboard.py [--run RUN_ID] [--cache-dir DIR] [--n 200000] [--no-browser]
                                    [--keep DIR] [--compare-app before=/path/to/old/checkout]

No 200k-image run is needed: a stand-in run is built in a temporary cache from an existing one
(default: the first complete run in core.store.runs.list_runs()) by resampling its z-points with
Gaussian noise (--noise x the median nearest-neighbour distance of the source, spread over the
dimensions) up to --n rows. The model, config and history are copied; the index gets one row
per z-point (the source row's metadata); the images are a sparse file (source rows, the rest black).

1. Slider -> grid: for new `fact` values of the `box` sampler, the work of one Generator-page
   update through the dashboard's own objects (dashboard.state.resources.run_sampler: a RunSampler whose
   SharedQueryIndex lets diagnostics and placement share one neighbour query; Placer built as
   state.maps.map_layout builds it; widgets.face_jpeg and charts.maps.thumbnail_jpeg for images),
   next to what a user would otherwise run: sklearn NearestNeighbors(brute) for the neighbours
   and umap-learn's reducer.transform for the placement.
2. Agreement: Placer vs reducer.transform on the same points, median distance / spread.
3. Browser (bench/browser_timing.py), after ``python -m core derive`` of the stand-in (timed):
   the UMAP page with every stand-in point, cold server and warm reload, navigation until
   the chart is drawn; 4. one key press on the slider until the new grid is on screen.
   ``--compare-app`` runs 3 and 4 with another checkout's app too (side by side).
The UMAP is fitted on a 20,000-point subsample (fit_umap(max_fit_points=20000)) and the rest
placed, like the dashboard's background job (which uses 50,000). Timings: perf_counter, medians.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


from core.analysis.neighbors import KNNIndex
from core.jobs.derive import derive_status
from core.store import atomic
from core.store.runs import REPO_ROOT, list_runs, open_run

COPY = ("config.json", "status.json", "weights.safetensors", "history.json")


def standin_z(z: np.ndarray, n: int, noise: float = 0.5, seed: int = 0, info: bool = False):
    """n rows resampled from z, each plus Gaussian noise of norm ~ noise x the median
    nearest-neighbour distance of z; with info also (rows, nn, sigma)."""
    rng = np.random.default_rng(seed)
    probe = rng.choice(len(z), min(500, len(z)), replace=False)
    nn = float(np.median(KNNIndex(z).query(z[probe], 2)[0][:, 1]))   # col 0 is the point itself
    sigma = noise * nn / np.sqrt(z.shape[1])                           # noise norm ~ noise x nn
    rows = np.concatenate([np.arange(min(n, len(z))), rng.integers(0, len(z), max(0, n - len(z)))])
    zn = z[rows] + rng.normal(0, sigma, (n, z.shape[1])).astype(np.float32)
    return (zn, rows, nn, sigma) if info else zn


def standin_images(src, rows: np.ndarray, root: str, dst: str) -> None:
    """One image row per stand-in z-point (a run's files must agree): a sparse .npy whose
    rows that are the source's own (the first len(source)) hold its images, the resampled
    rest black; the copied config.json is pointed at it."""
    img = src.images()
    data = os.path.join(root, "data", f"{os.path.basename(dst)}-images")
    os.makedirs(data, exist_ok=True)
    out = np.lib.format.open_memmap(os.path.join(data, "images.npy"), mode="w+", dtype=np.uint8,
                                    shape=(len(rows), *img.shape[1:]))
    own = int(np.argmax(rows != np.arange(len(rows)))) if (rows != np.arange(len(rows))).any() else len(rows)
    for s in range(0, own, 1024):
        out[s:min(own, s + 1024)] = img[s:min(own, s + 1024)]
    out.flush()
    del out
    meta = atomic.read_json(os.path.join(dst, "config.json"))
    atomic.write_json(os.path.join(dst, "config.json"), {**meta, "data_path": data})


def build_standin(src, n: int, root: str, noise: float, seed: int = 0):
    """Copy `src` into <root>/runs/<id>-standin<n> with n resampled, noised z-points."""
    z = np.asarray(src.z(), np.float32)
    zn, rows, nn, sigma = standin_z(z, n, noise, seed, info=True)
    dst = os.path.join(root, "runs", f"{src.run_id}-standin{n}")
    os.makedirs(dst, exist_ok=True)
    for f in COPY:
        if (src.path / f).exists():
            shutil.copy2(src.path / f, dst)
    standin_images(src, rows, root, dst)
    atomic.save_npy(os.path.join(dst, "z.npy"), zn)
    idx = src.index().iloc[rows].reset_index(drop=True)
    idx["source_row"] = rows
    idx["row"] = np.arange(n)
    idx.to_parquet(os.path.join(dst, "index.parquet"))
    return open_run(os.path.basename(dst), root), z, nn, sigma


def med(ts) -> float:
    return 1000 * float(np.median(ts))


def quiet_streamlit():
    """st.cache_* outside `streamlit run` warns once per call ('No runtime found'): hush it."""
    import streamlit  # noqa: F401
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)


def slider_tables(args, run, src_z):
    quiet_streamlit()
    from sklearn.neighbors import NearestNeighbors

    from core.maps.embedding import Placer, embedding_spread, fit_umap
    from dashboard.charts.maps import density_rgb, thumbnail_jpeg
    from dashboard.state import resources
    from dashboard.ui.widgets import face_jpeg

    root = str(run.path.parent.parent)
    t = time.perf_counter()
    gen = resources.run_sampler(run.run_id, root)          # sets torch to 1 thread, as the server does
    s = gen.stats
    gen.heldout_reference  # computed here once, so the slider timings below exclude it
    print(f"load run + stats + held-out reference: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    emb, reducer = fit_umap(np.asarray(gen.z), max_fit_points=args.fit_n, z_key=s.z_key)
    print(f"UMAP fit on {emb.params['n_fit']:,} points + placement of the rest: {time.perf_counter() - t:.1f} s")
    placer = Placer.from_embedding(gen.z, emb, knn=gen.knn)           # as maps.map_layout
    bg, ext = density_rgb(emb.coords)
    gen.batch("box", 21, seed=0, fact=1.0)                            # model load, first decode
    placer.place(np.zeros((1, s.d), np.float32))

    facts = np.round(np.linspace(0.25, 2.0, args.repeats), 3)
    # A move as the page makes it: RunSampler.batch (sample, then decode in a worker thread
    # while the neighbour query runs), placement reusing that query, the two images.
    rows, qs = [], []
    for f in facts:
        t0 = time.perf_counter(); b = gen.batch("box", 21, seed=0, fact=float(f))
        t1 = time.perf_counter(); xy = placer.place(b.z)
        t2 = time.perf_counter(); face_jpeg(b.images); thumbnail_jpeg(bg, ext, xy)
        t3 = time.perf_counter()
        rows.append([t1 - t0, t2 - t1, t3 - t2, t3 - t0])
        qs.append(b.z)
    rows = np.array(rows)
    # the same work one part after another (other fact values: no query is reused)
    seq = []
    for f in facts + 0.01:
        t0 = time.perf_counter(); z = gen.vectors("box", 21, seed=0, fact=float(f))
        t1 = time.perf_counter(); gen.decode(z)
        t2 = time.perf_counter(); gen.knn.inner.query(z, 16)
        t3 = time.perf_counter()
        seq.append([t1 - t0, t2 - t1, t3 - t2])
    seq = np.array(seq)

    # the alternatives a user would reach for, on the same vectors, with BLAS on every core as
    # in a notebook (the dashboard's server keeps BLAS to one thread: dashboard.state.resources)
    from threadpoolctl import threadpool_limits

    inner = gen.knn.inner
    with threadpool_limits(limits=os.cpu_count(), user_api="blas"):
        t = time.perf_counter(); sk = NearestNeighbors(algorithm="brute").fit(np.asarray(gen.z))
        sk_fit = time.perf_counter() - t
        sk_t, exact_t, tr_t = [], [], []
        exact = KNNIndex(np.asarray(gen.z))
        t = time.perf_counter(); reducer.transform(qs[0]); tr_first = time.perf_counter() - t
        for q in qs:
            t = time.perf_counter(); sk.kneighbors(q, 16); sk_t.append(time.perf_counter() - t)
            t = time.perf_counter(); exact.query(q, 16); exact_t.append(time.perf_counter() - t)
        for q in qs[:args.transform_repeats]:
            t = time.perf_counter(); reducer.transform(q); tr_t.append(time.perf_counter() - t)
    recall = np.mean([len(set(a) & set(b)) / 16 for q in qs
                      for a, b in zip(inner.query(q, 16)[1], exact.query(q, 16)[1])])

    n = len(gen.z)
    la = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nTable 1. Slider -> grid at {n:,} z-points (d={s.d}), box sampler, {len(facts)} new fact "
          f"values {facts[0]}..{facts[-1]}, ms; load average {la} on {os.cpu_count()} cores")
    print(f"| {'one move, as the Generator page makes it':<52} | median |    max |\n|{'-' * 54}|--------|--------|")
    for i, p in enumerate(["sample + (decode 21 faces || diagnostics kNN)", "placement (Placer, shared query)",
                           "grid JPEG + map thumbnail", "**total server work per move**"]):
        print(f"| {p:<52} | {1000 * np.median(rows[:, i]):>6.1f} | {1000 * rows[:, i].max():>6.1f} |")
    for i, p in enumerate(["  parts alone: sample (box)", "  parts alone: decode 21 faces (1 thread)",
                           f"  parts alone: kNN k=16, {type(inner).__name__}"]):
        print(f"| {p:<52} | {1000 * np.median(seq[:, i]):>6.1f} | {1000 * seq[:, i].max():>6.1f} |")
    alt = np.median(sk_t) + np.median(tr_t)
    alt_move = np.median(seq[:, 0]) + np.median(seq[:, 1]) + alt + np.median(rows[:, 2])
    ours = np.median(rows[:, 3])
    print(f"\n| {'what a notebook would run, same 21 vectors':<52} | median |\n|{'-' * 54}|--------|")
    for p, v in [("kNN k=16: sklearn NearestNeighbors brute (warm)", med(sk_t)),
                 (f"  (its fit on {n:,} points, once)", 1000 * sk_fit),
                 ("kNN k=16: exact core KNNIndex (before this index)", med(exact_t)),
                 ("placement: umap reducer.transform, first call", 1000 * tr_first),
                 ("placement: umap reducer.transform, warm", med(tr_t)),
                 ("**sklearn kNN + warm transform**", 1000 * alt),
                 ("the whole move that way (+ sample, decode, images)", 1000 * alt_move)]:
        print(f"| {p:<52} | {v:>6.1f} |")
    print(f"\nserver work per move {1000 * ours:.1f} ms: {alt / ours:.2f}x faster than sklearn kNN + warm "
          f"transform alone, {alt_move / ours:.2f}x faster than the whole move that way; recall@16 of "
          f"{type(inner).__name__} vs exact on these {len(qs)} batches: {recall:.4f}")

    # Table 2: agreement on the same points
    spread = embedding_spread(emb.coords)
    rng = np.random.default_rng(1)
    held = np.flatnonzero(gen.run.index()["partition"].to_numpy()[:len(src_z)] != "train")
    held = rng.choice(held if len(held) else np.arange(len(src_z)), min(200, len(src_z)), replace=False)
    sets = {"21 box points (fact=1)": gen.vectors("box", 21, seed=0, fact=1.0),
            f"{len(held)} held-out real points": src_z[held]}
    fast = Placer.from_embedding(gen.z, emb, knn=inner)   # its own query: none shared here
    print(f"\nTable 2. Placement agreement, Placer (exact kNN over {n:,}) vs reducer.transform "
          f"(fitted on {emb.params['n_fit']:,}); embedding spread {spread:.3f}")
    print(f"{'points':<30}{'median dist/spread':>20}{'p90':>8}{'Placer ms':>11}{'transform ms':>14}{'tr/Placer':>10}")
    for name, q in sets.items():
        t = time.perf_counter(); a = fast.place(q); ta = time.perf_counter() - t
        t = time.perf_counter(); b = reducer.transform(q); tb = time.perf_counter() - t
        d = np.linalg.norm(a - b, axis=1) / spread
        print(f"{name:<30}{np.median(d):>20.4f}{np.percentile(d, 90):>8.3f}{1000 * ta:>11.1f}"
              f"{1000 * tb:>14.1f}{tb / ta:>10.2f}")


def derive_standin(root: str, run_id: str) -> float:
    """``python -m core derive`` on the stand-in (stats, neighbour index, UMAP, mixture): seconds."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core", "derive", run_id, "--cache-dir", root], cwd=REPO_ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def browser_tables(root: str, run_id: str, n: int, apps: dict, presses: int):
    """Tables 3 and 4 for each checkout of the app in ``apps`` (label -> repository root)."""
    from browser_timing import pct, slider_latency, umap_paint

    from browser_timing import floor_paint

    out = {}
    for label, app_root in apps.items():
        colds, warms, switches = umap_paint(root, n, app_root)
        lat, server = slider_latency(root, app_root, presses=presses)
        out[label] = (colds, warms, switches, lat, server)
    run = open_run(run_id, root)
    emb = sorted(run.paths.derived.glob(f"umap-{n}x*.npy"))
    floors = floor_paint(str(emb[-1]), str(REPO_ROOT)) if emb else {}
    la = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nTable 3. UMAP page with {n:,} points in headless Chromium (software WebGL: no GPU here), "
          f"navigation -> chart drawn, s (cold: fresh server and browser profile, median of 3; warm: "
          f"reload, median of 5; switch: Overview -> UMAP in the sidebar, no reload); load average {la}")
    print("| app | cold | warm reload | in-app switch |\n|---|---|---|---|")
    for label, (colds, warms, switches, _, _) in out.items():
        print(f"| {label} | {np.median(colds):.2f} ({', '.join(f'{c:.1f}' for c in colds)}) | "
              f"{np.median(warms):.2f} | {np.median(switches):.2f} |")
    for label, (colds, warms) in floors.items():   # the floor: the same figure with nothing else
        print(f"| {label} | {np.median(colds):.2f} ({', '.join(f'{c:.1f}' for c in colds)}) | "
              f"{np.median(warms):.2f} | |")
    print(f"\nTable 4. Slider -> new grid visible in headless Chromium at {n:,} z-points: one ArrowRight "
          f"press, 1 s apart, {presses} presses, ms")
    print("| app | p50 | p90 | max | the whole fragment run the page reports (grid, then face rate, diversity, table), median |\n|---|---|---|---|---|")
    for label, (_, _, _, lat, server) in out.items():
        print(f"| {label} | {1000 * pct(lat, 50):.0f} | {1000 * pct(lat, 90):.0f} | {1000 * max(lat):.0f} | "
              f"{np.median(server) if server else float('nan'):.0f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=None, help="source run (default: first complete run)")
    ap.add_argument("--cache-dir", default=None, help="cache holding the source run")
    ap.add_argument("--n", type=int, default=200_000, help="z-points of the stand-in run")
    ap.add_argument("--noise", type=float, default=0.5, help="noise norm / median NN distance")
    ap.add_argument("--fit-n", type=int, default=20_000, help="UMAP fit subsample")
    ap.add_argument("--repeats", type=int, default=12, help="new fact values (slider moves)")
    ap.add_argument("--transform-repeats", type=int, default=5)
    ap.add_argument("--no-browser", action="store_true", help="skip Tables 3 and 4 (Playwright)")
    ap.add_argument("--keep", default=None, help="build (or reuse) the stand-in in this cache dir")
    ap.add_argument("--presses", type=int, default=20, help="slider key presses in Table 4")
    ap.add_argument("--compare-app", action="append", default=[], metavar="LABEL=DIR",
                    help="also time the browser tables with the app of another checkout")
    args = ap.parse_args()

    runs = list_runs(args.cache_dir, complete_only=True)
    if not runs:
        sys.exit(f"no complete run in {args.cache_dir or 'the default cache'}")
    src = open_run(args.run, args.cache_dir) if args.run else runs[0]
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} cores; source run {src.run_id!r} ({len(src.z()):,} z-points)")
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        root = args.keep or tmp
        rid = f"{src.run_id}-standin{args.n}"
        t = time.perf_counter()
        if args.keep and (Path(root) / "runs" / rid / "z.npy").exists():
            run, src_z = open_run(rid, root), np.asarray(src.z(), np.float32)
            print(f"stand-in {rid} reused from {root}")
        else:
            run, src_z, nn, sigma = build_standin(src, args.n, root, args.noise)
            print(f"stand-in {run.run_id}: {args.n:,} rows, noise sd {sigma:.4f}/dim (source median NN "
                  f"distance {nn:.3f}), built in {time.perf_counter() - t:.1f} s")
        slider_tables(args, run, src_z)
        if not args.no_browser:
            if derive_status(run.paths).get("state") != "done":
                print(f"\nderive of the stand-in (stats, neighbour index, UMAP, mixture): "
                      f"{derive_standin(root, rid):.0f} s")
            apps = {"this checkout": str(REPO_ROOT), **dict(a.split("=", 1) for a in args.compare_app)}
            browser_tables(root, rid, args.n, apps, args.presses)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
