"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright opens the UMAP page of the tiny run served by ``streamlit run``, clicks one real
z-point of the WebGL scatter and waits for its decoded face (the reconstruction) to appear.

AppTest (tests/dashboard/test_dashboard_umap_clicks.py) cannot click a plotly chart: this test checks
the path a user takes, browser -> plotly click -> streamlit selection -> rerun -> st.image.
Screenshots (before, hover, after) are kept in ``test-artifacts/`` (git-ignored) for CI.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.browser_server import BROWSER_MARKS, CHROMIUM_ARGS, PAGE_WAIT_MS, chromium, streamlit_server
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT
ARTIFACTS = ROOT / "test-artifacts"
DECODE_WAIT_MS = 30_000     # the click's rerun: one decode and a kNN query on 300 points

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def browser_cache(tiny_run, copy_tiny, tmp_path_factory) -> Path:
    """A private copy of the tiny run with its UMAP already derived: the shared session run
    stays un-derived (other tests rely on the PCA fallback) and the app starts no jobs."""
    cache = tmp_path_factory.mktemp("browser-cache")
    copy_tiny(cache, tiny_run.run_id, skip=(".lock", "*.lock", "job.json"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "core", "derive", tiny_run.run_id, "--cache-dir", str(cache)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"derive failed ({r.returncode}):\n{r.stderr[-3000:]}"
    return cache


@pytest.fixture(scope="module")
def app_url(browser_cache, tmp_path_factory):
    """``streamlit run dashboard/app.py`` on a free port; yields its base URL, always stopped."""
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    try:
        with streamlit_server(browser_cache, log_path) as url:
            yield url
    finally:
        if log_path.exists():   # the server's own log next to the screenshots, for CI failures
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(log_path, ARTIFACTS / "browser-streamlit.log")


@pytest.fixture(scope="module")
def page():
    """A headless Chromium page, large enough that the map and the detail panel under it fit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1800})
        finally:
            browser.close()


# Pixel position (page coordinates) of one real z-point (trace 0) that a click cannot miss:
# well inside the plot area, far from the batch's diamonds (trace 1, drawn on top) and as far
# as possible from its nearest real neighbour. Scattergl points are not DOM elements, so the
# position comes from plotly's own axis mapping (l2p) plus the plot area's offset.
PICK_POINT_JS = """(gd) => {
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis, box = gd.getBoundingClientRect();
  const px = (t, i) => [box.left + xa._offset + xa.l2p(t.x[i]), box.top + ya._offset + ya.l2p(t.y[i])];
  const real = gd._fullData[0], batch = gd._fullData[1];
  const pts = Array.from(real.x, (_, i) => px(real, i));
  const diamonds = batch ? Array.from(batch.x, (_, i) => px(batch, i)) : [];
  const d = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const margin = 30, x0 = box.left + xa._offset, y0 = box.top + ya._offset;
  let best = null;
  pts.forEach((p, i) => {
    if (p[0] < x0 + margin || p[0] > x0 + xa._length - margin ||
        p[1] < y0 + margin || p[1] > y0 + ya._length - margin) return;
    if (diamonds.some(q => d(p, q) < 30)) return;
    const gap = Math.min(...pts.filter((_, j) => j !== i).map(q => d(p, q)));
    if (!best || gap > best.gap) best = {i, x: p[0], y: p[1], gap};
  });
  return best;
}"""

# Every st.image whose caption (or alt text) says "decoded", with its natural size.
DECODED_IMAGES_JS = """() => Array.from(document.querySelectorAll('img')).map(img => {
  const holder = img.closest('[data-testid="stImage"]') || img.parentElement;
  return {caption: ((holder && holder.innerText) || '') + ' ' + (img.alt || ''),
          w: img.naturalWidth, h: img.naturalHeight, complete: img.complete};
}).filter(o => o.caption.includes('decoded'))"""


def wait_for_plot(page, condition: str) -> None:
    """Until the page's first plotly chart ``gd`` satisfies the JS ``condition``."""
    page.wait_for_function(f"() => {{ const gd = document.querySelector('.js-plotly-plot'); "
                           f"return !!(gd && {condition}); }}", timeout=PAGE_WAIT_MS)


def test_click_on_umap_point_shows_decoded_face(app_url, page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{app_url}/umap")
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(state="visible", timeout=PAGE_WAIT_MS)
    page.get_by_text("Nothing selected yet.").wait_for(timeout=PAGE_WAIT_MS)
    # the map is drawn first; the current batch joins it once the model is loaded (a rerun)
    wait_for_plot(page, "gd.data && gd.data.some(t => t.name === 'current batch')")
    page.get_by_text("Nothing selected yet.").wait_for(timeout=PAGE_WAIT_MS)
    # the map must be the UMAP itself (derived in the fixture), not the PCA preview
    wait_for_plot(page, "gd._fullLayout && gd._fullLayout.xaxis.title.text === 'UMAP 1'")
    assert page.get_by_text("decoded from its z-point").count() == 0   # nothing decoded yet
    page.screenshot(path=ARTIFACTS / "browser-umap-before.png", full_page=True)

    target = plot.evaluate(PICK_POINT_JS)
    assert target is not None, "no clickable real z-point found on the map"
    # hover first: plotly's own hover label names the point under the cursor
    page.mouse.move(target["x"], target["y"])
    hover = page.locator(".hoverlayer .hovertext")
    hover.first.wait_for(timeout=10_000)
    label = hover.first.text_content()
    assert re.search(rf"z-point #{target['i']}\b", label), label
    page.screenshot(path=ARTIFACTS / "browser-umap-hover.png", full_page=True)

    page.mouse.click(target["x"], target["y"])
    page.get_by_text(f"real z-point #{target['i']}", exact=True).wait_for(timeout=DECODE_WAIT_MS)
    page.wait_for_function(f"() => ({DECODED_IMAGES_JS})().some(o => o.complete && o.w > 0)",
                           timeout=DECODE_WAIT_MS)
    decoded = page.evaluate(DECODED_IMAGES_JS)
    # let the other pictures of the panel (original, neighbours) load too, for the screenshot
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=DECODE_WAIT_MS)
    page.screenshot(path=ARTIFACTS / "browser-umap-after.png", full_page=True)
    assert any("reconstruction, decoded from its z-point" in o["caption"] and o["w"] > 0 and o["h"] > 0
               for o in decoded), decoded
    assert page.get_by_text(f"original image #{target['i']}").count() >= 1


# A probe-grid point (trace 1 of the Navigate map) well inside the plot and away from every
# real z-point: an empty spot of the map.
EMPTY_SPOT_JS = """(gd) => {
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis, box = gd.getBoundingClientRect();
  const px = (t, i) => [box.left + xa._offset + xa.l2p(t.x[i]), box.top + ya._offset + ya.l2p(t.y[i])];
  const real = gd._fullData[0], probe = gd._fullData[1];
  const pts = Array.from(real.x, (_, i) => px(real, i));
  const x0 = box.left + xa._offset, y0 = box.top + ya._offset, m = 40;
  let best = null;
  for (let i = 0; i < probe.x.length; i += 1) {
    const p = px(probe, i);
    if (p[0] < x0 + m || p[0] > x0 + xa._length - m || p[1] < y0 + m || p[1] > y0 + ya._length - m) continue;
    const gap = Math.min(...pts.map(q => Math.hypot(p[0] - q[0], p[1] - q[1])));
    if (gap > 10 && (!best || gap > best.gap)) best = {i, x: p[0], y: p[1], gap};
  }
  return best;
}"""


def test_click_on_empty_spot_of_navigate_map_decodes_a_face(app_url, page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{app_url}/navigate")
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(state="visible", timeout=PAGE_WAIT_MS)
    page.get_by_text("Click any spot of the map").wait_for(timeout=PAGE_WAIT_MS)
    wait_for_plot(page, "gd._fullLayout && gd._fullLayout.xaxis.title.text === 'UMAP 1'")
    target = plot.evaluate(EMPTY_SPOT_JS)
    assert target is not None, "no empty spot found on the map"
    page.mouse.move(target["x"], target["y"])
    hover = page.locator(".hoverlayer .hovertext")
    hover.first.wait_for(timeout=10_000)
    assert "decode here" in hover.first.text_content()
    page.mouse.click(target["x"], target["y"])
    page.wait_for_function(f"() => ({DECODED_IMAGES_JS})().some(o => o.caption.includes('decoded: map spot')"
                           " && o.complete && o.w > 0)", timeout=DECODE_WAIT_MS)
    page.get_by_text("point spacings").first.wait_for(timeout=DECODE_WAIT_MS)
    page.screenshot(path=ARTIFACTS / "browser-navigate-empty-spot.png", full_page=True)


def test_fast_slider_key_presses_are_never_dropped(app_url, page):
    """Ten ArrowRight presses on `fact`, each before the previous rerun has finished: the
    slider must end at 1.00 + 10 x 0.05 and the grid's caption must name that value (a
    script that writes the widget's key each run snaps the slider back to a stale value)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{app_url}/generator")
    caption = page.get_by_text(re.compile(r"decoded faces: box\(fact=1\) "))
    caption.wait_for(timeout=PAGE_WAIT_MS)
    slider = page.locator('[data-testid="stSlider"]').first
    thumb = slider.locator('input[type="range"]')
    shown = slider.locator('[data-testid="stSliderThumbValue"]')
    assert thumb.input_value() == "1" and shown.inner_text() == "1.00"
    thumb.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(60)                  # faster than a rerun: presses overlap runs
    final = page.get_by_text(re.compile(r"decoded faces: box\(fact=1\.5\) "))
    final.wait_for(timeout=DECODE_WAIT_MS)
    page.wait_for_timeout(1500)                    # a late, stale rerun would land by now
    page.screenshot(path=ARTIFACTS / "browser-slider-after.png", full_page=True)
    assert thumb.input_value() == "1.5" and shown.inner_text() == "1.50"
    assert final.count() == 1 and page.get_by_text(re.compile(r"decoded faces: box\(fact=1\.45\) ")).count() == 0
