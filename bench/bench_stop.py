"""How long ``kill`` (SIGTERM) takes to end the dashboard with a page open: this checkout
against another one (``--compare-app main=/path/to/checkout``, e.g. before dashboard/state/shutdown.py)
and a bare Streamlit app holding one chart (bench/bare_map_app.py: Streamlit's own behaviour).

    python bench/bench_stop.py --cache-dir CACHE --run RUN_ID [--repeats 5] [--compare-app name=path]

Each repeat: a fresh server, one headless-Chromium page on it until its sidebar is drawn (the
page's script has run), a few seconds more, then SIGTERM; time until the process has exited.
"""
from __future__ import annotations

import argparse
import signal
import statistics
import time

from browser_timing import _browser, start_server
from core.store.paths import REPO_ROOT
from core.store.runs import open_run


def stop_seconds(cache: str, app_root: str, page: str, script: str = "dashboard/app.py", env=None,
                 settle_s: float = 3.0) -> float:
    from playwright.sync_api import sync_playwright

    proc, url, _ = start_server(cache, app_root, script, env)
    try:
        with sync_playwright() as pw:
            browser = _browser(pw)
            pg = browser.new_page()
            pg.goto(f"{url}/{page}")
            pg.wait_for_selector("[data-testid='stSidebar'], .js-plotly-plot", timeout=180_000)
            time.sleep(settle_s)
            t = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            took = time.perf_counter() - t
            browser.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", required=True)
    ap.add_argument("--run", required=True, help="a complete run in the cache (with its UMAP derived)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--compare-app", action="append", default=[], metavar="NAME=PATH")
    a = ap.parse_args()
    open_run(a.run, a.cache_dir).require_complete()
    apps = {"this checkout": str(REPO_ROOT), **dict(s.split("=", 1) for s in a.compare_app)}
    rows = []
    for name, root in apps.items():
        for page in ("", "umap"):
            xs = [stop_seconds(a.cache_dir, root, page) for _ in range(a.repeats)]
            rows.append((f"{name}, page /{page}", xs))
    coords = next(open_run(a.run, a.cache_dir).derived().glob("umap-*.npy"), None)
    if coords is not None:
        xs = [stop_seconds("", str(REPO_ROOT), "", "bench/bare_map_app.py", {"BARE_MAP_COORDS": str(coords)})
              for _ in range(a.repeats)]
        rows.append(("bare Streamlit app, one chart (Streamlit's own stop)", xs))
    print(f"\nSIGTERM -> process gone, s (median, max of {a.repeats}; a page open on the server)\n")
    print(f"| {'server':<58} | median | max |\n|{'-' * 60}|--------|-----|")
    for label, xs in rows:
        print(f"| {label:<58} | {statistics.median(xs):6.2f} | {max(xs):.2f} |")


if __name__ == "__main__":
    main()
