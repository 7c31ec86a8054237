"""Five browser sessions opened at once on a cache of three runs, each on another run (a link
``?run=ID``): every page of every session shows the run its own picker shows (issue 8, item 1).
Real Chromium contexts against ``streamlit run``: sessions share the server's caches and
threads, never their state."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_browser import (CHROMIUM_ARGS, PAGE_WAIT_MS, SERVER_WAIT_S, _chromium, _free_port, _has_playwright,
                          _log_tail)

ROOT = Path(__file__).resolve().parent.parent
RUNS = ["r-a", "r-b", "r-c"]
PICKS = RUNS + RUNS[:2]

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(_chromium() is None, reason="no chromium executable (`install.sh --dev`)"),
              pytest.mark.skipif(not _has_playwright(), reason="playwright (Python package) not installed")]

MAIN_TEXT = "() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).innerText"
PICKER_TEXT = ("() => { const s = document.querySelector('[data-testid=\"stSidebar\"] "
               "[data-testid=\"stSelectbox\"] input'); return s ? s.value : ''; }")   # the picked run


@pytest.fixture(scope="module")
def server(tiny_run, tmp_path_factory):
    cache = tmp_path_factory.mktemp("sessions")
    for rid in RUNS:
        shutil.copytree(tiny_run.path, cache / "runs" / rid, ignore=shutil.ignore_patterns(".lock", "derived"))
    port, log_path = _free_port(), cache / "server.log"
    env = {**os.environ, "AE_CACHE_DIR": str(cache), "AE_DASHBOARD_AUTO_JOBS": "0", "OMP_NUM_THREADS": "1"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port",
                                 str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_WAIT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not come up:\n{_log_tail(log_path)}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _shown(page, rid: str, also: str) -> tuple[str, str]:
    page.wait_for_function(f"() => ({MAIN_TEXT})().includes('run ') && ({MAIN_TEXT})().includes({also!r})"
                           f" && ({PICKER_TEXT})().startsWith('r-')", timeout=PAGE_WAIT_MS)
    main = page.evaluate(MAIN_TEXT)
    caption = next((ln.strip() for ln in main.splitlines() if ln.strip().startswith("run ")), "")
    return caption, page.evaluate(PICKER_TEXT)


def test_concurrent_sessions_each_show_their_own_run(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            pages = [browser.new_context(viewport={"width": 1300, "height": 1000}).new_page() for _ in PICKS]
            for pg, rid in zip(pages, PICKS):                 # all five load at the same time
                pg.goto(f"{server}/?run={rid}", wait_until="commit")
            for step, (link, also) in enumerate([(None, "Loss curves"), ("generator", "decoded faces"),
                                                 ("components", "All components")]):
                if link:
                    for pg in pages:                          # every session switches page at once
                        pg.locator(f'[data-testid="stSidebarNav"] a[href$="/{link}"]').first.click(no_wait_after=True)
                for pg, rid in zip(pages, PICKS):
                    caption, picker = _shown(pg, rid, also)
                    assert caption == f"run {rid}" and picker == rid, (step, rid, caption, picker)
        finally:
            browser.close()
