"""What the dashboard costs a user: slider-to-grid latency at 200,000 z-points, how faithful the
fast map placement is, and how long the first render takes in a real browser.

    python bench/bench_dashboard.py [--run RUN_ID] [--cache-dir DIR] [--n 200000] [--no-browser]

No 200k-image run is needed: a stand-in run is built in a temporary cache from an existing one
(default: the first complete run in core.store.runs.list_runs()) by resampling its z-points with
Gaussian noise (--noise x the median nearest-neighbour distance of the source, spread over the
dimensions) up to --n rows. The model, config and history are copied; the index gets one row
per z-point (the source row's metadata); config.json still points at the source's images.

1. Slider -> grid: for new `fact` values of the `box` sampler, the work of one Generator-page
   update through the dashboard's own objects (dashboard.cached.generator: a RunSampler whose
   SharedQueryIndex lets diagnostics and placement share one neighbour query; Placer built as
   cached.map_layout builds it; widgets.face_jpeg and charts_maps.thumbnail_jpeg for images),
   next to what a user would otherwise run: sklearn NearestNeighbors(brute) for the neighbours
   and umap-learn's reducer.transform for the placement.
2. Agreement: Placer vs reducer.transform on the same points, median distance / spread.
3. Browser: time from navigation until the Generator grid / the UMAP chart is visible.
The UMAP is fitted on a 20,000-point subsample (fit_umap(max_fit_points=20000)) and the rest
placed, like the dashboard's background job (which uses 50,000). Timings: perf_counter, medians.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.store import atomic  # noqa: E402
from core.analysis.neighbors import KNNIndex  # noqa: E402
from core.store.runs import REPO_ROOT, list_runs, open_run  # noqa: E402

COPY = ("config.json", "status.json", "weights.safetensors", "history.json")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


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


def build_standin(src, n: int, root: str, noise: float, seed: int = 0):
    """Copy `src` into <root>/runs/<id>-standin<n> with n resampled, noised z-points."""
    z = np.asarray(src.z(), np.float32)
    zn, rows, nn, sigma = standin_z(z, n, noise, seed, info=True)
    dst = os.path.join(root, "runs", f"{src.run_id}-standin{n}")
    os.makedirs(dst, exist_ok=True)
    for f in COPY:
        if (src.path / f).exists():
            shutil.copy2(src.path / f, dst)
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
    from dashboard import cached
    from dashboard.charts_maps import density_rgb, thumbnail_jpeg
    from dashboard.widgets import face_jpeg

    root = str(run.path.parent.parent)
    t = time.perf_counter()
    gen = cached.generator(run.run_id, root)          # sets torch to 1 thread, as the server does
    s = gen.stats
    gen.heldout_reference  # computed here once, so the slider timings below exclude it
    print(f"load run + stats + held-out reference: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    emb, reducer = fit_umap(np.asarray(gen.z), max_fit_points=args.fit_n, z_key=s.z_key)
    print(f"UMAP fit on {emb.params['n_fit']:,} points + placement of the rest: {time.perf_counter() - t:.1f} s")
    placer = Placer.from_embedding(gen.z, emb, knn=gen.knn)           # as cached.map_layout
    bg, ext = density_rgb(emb.coords)
    gen.batch("box", 21, seed=0, fact=1.0)                            # model load, first decode
    placer.place(np.zeros((1, s.d), np.float32))

    facts = np.round(np.linspace(0.25, 2.0, args.repeats), 3)
    parts = ["sample (box)", "decode 21 faces", "diagnostics (kNN query)", "placement (Placer)",
             "grid JPEG + map thumbnail"]
    rows, qs = [], []
    for f in facts:
        t0 = time.perf_counter(); z = gen.vectors("box", 21, seed=0, fact=float(f))
        t1 = time.perf_counter(); im = gen.decode(z)
        t2 = time.perf_counter(); gen.diagnostics(z)
        t3 = time.perf_counter(); xy = placer.place(z)
        t4 = time.perf_counter(); face_jpeg(im); thumbnail_jpeg(bg, ext, xy)
        t5 = time.perf_counter()
        rows.append([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0])
        qs.append(z)
    rows = np.array(rows)

    # the alternatives a user would reach for, on the same vectors
    inner = gen.knn.inner
    t = time.perf_counter(); sk = NearestNeighbors(algorithm="brute").fit(np.asarray(gen.z))
    sk_fit = time.perf_counter() - t
    sk_t, own_t, tr_t = [], [], []
    t = time.perf_counter(); reducer.transform(qs[0]); tr_first = time.perf_counter() - t
    for q in qs:
        t = time.perf_counter(); sk.kneighbors(q, 16); sk_t.append(time.perf_counter() - t)
        t = time.perf_counter(); inner.query(q, 16); own_t.append(time.perf_counter() - t)
    for q in qs[:args.transform_repeats]:
        t = time.perf_counter(); reducer.transform(q); tr_t.append(time.perf_counter() - t)

    n = len(gen.z)
    print(f"\nTable 1. Slider -> grid at {n:,} z-points (d={s.d}), box sampler, {len(facts)} new fact "
          f"values {facts[0]}..{facts[-1]}, ms")
    print(f"{'part':<34}{'median':>9}{'max':>9}")
    for i, p in enumerate(parts + ["total (server work per move)"]):
        print(f"{p:<34}{1000 * np.median(rows[:, i]):>9.1f}{1000 * rows[:, i].max():>9.1f}")
    print(f"\n{'alternative for the same 21 vectors':<52}{'median ms':>10}")
    print(f"{'kNN k=16: core KNNIndex (inside diagnostics)':<52}{med(own_t):>10.1f}")
    print(f"{'kNN k=16: sklearn NearestNeighbors brute (warm)':<52}{med(sk_t):>10.1f}")
    print(f"{'  (its fit on %d points, once)' % n:<52}{1000 * sk_fit:>10.1f}")
    print(f"{'placement: umap reducer.transform, first call':<52}{1000 * tr_first:>10.1f}")
    print(f"{'placement: umap reducer.transform, warm':<52}{med(tr_t):>10.1f}")
    # the same move with our kNN query swapped for sklearn's and Placer for transform
    alt = np.median(rows[:, 5]) - np.median(rows[:, 3]) - np.median(own_t) + np.median(sk_t) + np.median(tr_t)
    print(f"{'total with sklearn kNN + transform (warm)':<52}{1000 * alt:>10.1f}")

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cache_dir: str):
    port = free_port()
    env = {**os.environ, "AE_CACHE_DIR": cache_dir, "AE_DASHBOARD_AUTO_JOBS": "0"}
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t < 120:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return proc, url, time.perf_counter() - t
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("streamlit did not come up within 120 s")


def browser_table(cache_dir: str, run_id: str):
    from playwright.sync_api import sync_playwright

    targets = {"Generator grid image": ("generator", '[data-testid="stImage"] img'),
               "UMAP plotly chart": ("umap", '[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg')}
    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        for what, (path, sel) in targets.items():
            proc, url, up = start_server(cache_dir)        # cold server for each page
            try:
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                times = []
                for i in range(3):                         # cold, then two warm reloads
                    t = time.perf_counter()
                    if i == 0:
                        page.goto(f"{url}/{path}")
                    else:
                        page.reload()
                    page.locator(sel).first.wait_for(state="visible", timeout=300_000)
                    times.append(time.perf_counter() - t)
                out.append((what, up, times[0], min(times[1:])))
                page.context.close()
            finally:
                proc.terminate()
                proc.wait(10)
        browser.close()
    print(f"\nTable 3. Time to first render in headless Chromium, run {run_id!r} in {cache_dir}, s")
    print(f"{'target':<24}{'server up':>10}{'cold server':>13}{'warm reload':>13}")
    for what, up, cold, warm in out:
        print(f"{what:<24}{up:>10.1f}{cold:>13.1f}{warm:>13.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=None, help="source run (default: first complete run)")
    ap.add_argument("--cache-dir", default=None, help="cache holding the source run")
    ap.add_argument("--n", type=int, default=200_000, help="z-points of the stand-in run")
    ap.add_argument("--noise", type=float, default=0.5, help="noise norm / median NN distance")
    ap.add_argument("--fit-n", type=int, default=20_000, help="UMAP fit subsample")
    ap.add_argument("--repeats", type=int, default=12, help="new fact values (slider moves)")
    ap.add_argument("--transform-repeats", type=int, default=5)
    ap.add_argument("--no-browser", action="store_true", help="skip Table 3 (Playwright)")
    args = ap.parse_args()

    runs = list_runs(args.cache_dir, complete_only=True)
    if not runs:
        sys.exit(f"no complete run in {args.cache_dir or 'the default cache'}")
    src = open_run(args.run, args.cache_dir) if args.run else runs[0]
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} cores; source run {src.run_id!r} ({len(src.z()):,} z-points)")
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        t = time.perf_counter()
        run, src_z, nn, sigma = build_standin(src, args.n, tmp, args.noise)
        print(f"stand-in {run.run_id}: {args.n:,} rows, noise sd {sigma:.4f}/dim (source median NN "
              f"distance {nn:.3f}), built in {time.perf_counter() - t:.1f} s")
        slider_tables(args, run, src_z)
    if not args.no_browser:
        browser_table(str(src.path.parent.parent), src.run_id)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
