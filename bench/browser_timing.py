"""What a user waits for in a real browser (headless Chromium via Playwright), used by
bench_dashboard.py: the UMAP page's chart drawn on a cold server and on a warm reload, and
the Generator's new face grid visible after one key press on the `fact` slider.

Every timing runs from the browser's side: navigation or key press until the chart holds
all N points (plotly's ``_fullData``, set once the WebGL trace is drawn) or until the grid's
caption names the new value and its image has loaded. ``app_root`` lets the same bench
drive another checkout of the app (e.g. main before a change) for a side-by-side table.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CHART_DRAWN_JS = """(n) => { const gd = document.querySelector('.js-plotly-plot');
  return !!(gd && gd._fullData && gd._fullData.length && gd._fullData[0].x && gd._fullData[0].x.length === n); }"""
GRID_SHOWN_JS = """(want) => Array.from(document.querySelectorAll('[data-testid="stImage"]')).some(h =>
  h.innerText.includes(want) && Array.from(h.querySelectorAll('img')).some(i => i.complete && i.naturalWidth > 0))"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cache_dir: str, app_root: str, script: str = "dashboard/app.py", extra_env: dict | None = None):
    """``streamlit run dashboard/app.py`` of ``app_root`` on a free port: (proc, url, seconds up)."""
    port = free_port()
    # PYTHONPATH: that checkout's core and dashboard, not the installed (editable) ones
    env = {**os.environ, "AE_CACHE_DIR": cache_dir, "AE_DASHBOARD_AUTO_JOBS": "0", "PYTHONPATH": app_root,
           **(extra_env or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=app_root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t < 180:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return proc, url, time.perf_counter() - t
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("streamlit did not come up within 180 s")


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _browser(pw):
    return pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)


def umap_paint(cache_dir: str, n_points: int, app_root: str, cold: int = 3, warm: int = 5):
    """(cold seconds per fresh server, warm seconds per reload, seconds per in-app switch
    Overview -> UMAP through the sidebar, no reload) until the map holds n_points."""
    from playwright.sync_api import sync_playwright

    colds, warms, switches = [], [], []
    with sync_playwright() as pw:
        browser = _browser(pw)
        for i in range(cold):
            proc, url, _ = start_server(cache_dir, app_root)
            try:
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                t = time.perf_counter()
                page.goto(f"{url}/umap")
                page.wait_for_function(CHART_DRAWN_JS, arg=n_points, timeout=300_000, polling=20)
                colds.append(time.perf_counter() - t)
                if i == 0 and warm:   # warm means idle: the cold page's later work done too
                    page.get_by_text("Nothing selected yet.").wait_for(timeout=600_000)
                    page.wait_for_timeout(3000)
                for _ in range(warm if i == 0 else 0):
                    t = time.perf_counter()
                    page.reload()
                    page.wait_for_function(CHART_DRAWN_JS, arg=n_points, timeout=300_000, polling=20)
                    warms.append(time.perf_counter() - t)
                for _ in range(warm if i == 0 else 0):   # a user already in the app picks the page
                    page.locator('[data-testid="stSidebarNav"] a', has_text="Overview").first.click()
                    page.wait_for_function(f"(n) => !({CHART_DRAWN_JS})(n)", arg=n_points, timeout=60_000, polling=20)
                    page.wait_for_timeout(1500)
                    t = time.perf_counter()
                    page.locator('[data-testid="stSidebarNav"] a', has_text="UMAP").first.click()
                    page.wait_for_function(CHART_DRAWN_JS, arg=n_points, timeout=300_000, polling=20)
                    switches.append(time.perf_counter() - t)
                    page.wait_for_timeout(1500)
                page.context.close()
            finally:
                _stop(proc)
        browser.close()
    return colds, warms, switches


def floor_paint(coords_npy: str, app_root: str, cold: int = 3, warm: int = 5):
    """What the browser alone costs for the same figure: {label: (colds, warms)} for a bare
    Streamlit app holding only the map (bench/bare_map_app.py) and a static HTML page with
    plotly.js and the figure's JSON (no Streamlit; file://, warm = reload)."""
    import tempfile

    import plotly
    import plotly.io as pio
    from playwright.sync_api import sync_playwright

    from dashboard.charts.maps import color_marker, umap_figure

    coords = np.load(coords_npy)
    n = len(coords)
    out = {"bare Streamlit app, the same chart alone": ([], []), "static HTML page, plotly.js + the same figure": ([], [])}
    js = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    spec = pio.to_json(umap_figure(coords, color_marker(None, None, "none"), ("UMAP 1", "UMAP 2")), validate=False)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        html = os.path.join(tmp, "map.html")
        with open(html, "w") as f:
            f.write(f"<html><body><div id='g' class='js-plotly-plot' style='width:1300px'></div>"
                    f"<script src='file://{js}'></script><script>const f = {spec};"
                    f"Plotly.newPlot('g', f.data, f.layout);</script></body></html>")
        browser = _browser(pw)
        bare, static = out.values()
        for i in range(cold):
            proc, url, _ = start_server("", app_root, "bench/bare_map_app.py", {"BARE_MAP_COORDS": coords_npy})
            try:
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                t = time.perf_counter()
                page.goto(url)
                page.wait_for_function(CHART_DRAWN_JS, arg=n, timeout=300_000, polling=20)
                bare[0].append(time.perf_counter() - t)
                page.wait_for_timeout(3000)
                for _ in range(warm if i == 0 else 0):
                    t = time.perf_counter()
                    page.reload()
                    page.wait_for_function(CHART_DRAWN_JS, arg=n, timeout=300_000, polling=20)
                    bare[1].append(time.perf_counter() - t)
                page.context.close()
            finally:
                _stop(proc)
        for i in range(cold):
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            for j in range(1 + (warm if i == 0 else 0)):
                t = time.perf_counter()
                page.goto("file://" + html) if j == 0 else page.reload()
                page.wait_for_function(CHART_DRAWN_JS, arg=n, timeout=300_000, polling=20)
                (static[0] if j == 0 else static[1]).append(time.perf_counter() - t)
            page.context.close()
        browser.close()
    return out


def slider_latency(cache_dir: str, app_root: str, presses: int = 20, gap_s: float = 1.0):
    """Seconds from one ArrowRight on `fact` to the new grid on screen, for ``presses`` presses
    ``gap_s`` apart (a user looking at each grid), plus the server times the page reports."""
    from playwright.sync_api import sync_playwright

    times, server_ms = [], []
    with sync_playwright() as pw:
        browser = _browser(pw)
        proc, url, _ = start_server(cache_dir, app_root)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()
            page.goto(f"{url}/generator")
            page.wait_for_function(GRID_SHOWN_JS, arg="box(fact=1)", timeout=600_000, polling=20)
            page.wait_for_timeout(3000)
            page.locator('[data-testid="stSlider"] input[type="range"]').first.focus()
            fact = 1.0
            for _ in range(presses):
                fact = round(fact + 0.05, 2)
                t = time.perf_counter()
                page.keyboard.press("ArrowRight")
                page.wait_for_function(GRID_SHOWN_JS, arg=f"box(fact={fact:g})", timeout=60_000, polling=10)
                times.append(time.perf_counter() - t)
                page.wait_for_timeout(200)                   # the caption under the grid follows
                m = re.search(r"server time for this update: (\d+) ms", page.inner_text("body"))
                if m:
                    server_ms.append(int(m.group(1)))
                page.wait_for_timeout(int(1000 * gap_s))
        finally:
            _stop(proc)
            browser.close()
    return times, server_ms


def pct(xs, q) -> float:
    return float(np.percentile(xs, q)) if len(xs) else float("nan")
