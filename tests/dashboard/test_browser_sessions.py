"""Five browser sessions opened at once on a cache of three runs, each on another run (a link
``?run=ID``): every page of every session shows the run its own picker shows (issue 8, item 1).
Real Chromium contexts against ``streamlit run``: sessions share the server's caches and
threads, never their state."""
from __future__ import annotations


import pytest
from tests.browser_server import BROWSER_MARKS, CHROMIUM_ARGS, PAGE_WAIT_MS, chromium, streamlit_server

RUNS = ["r-a", "r-b", "r-c"]
PICKS = RUNS + RUNS[:2]

pytestmark = BROWSER_MARKS

MAIN_TEXT = "() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).innerText"
PICKER_TEXT = ("() => { const s = document.querySelector('[data-testid=\"stSidebar\"] "
               "[data-testid=\"stSelectbox\"] input'); return s ? s.value : ''; }")   # the picked run


@pytest.fixture(scope="module")
def server(copy_tiny, tmp_path_factory):
    cache = tmp_path_factory.mktemp("sessions")
    for rid in RUNS:
        copy_tiny(cache, rid, skip=(".lock", "derived"))
    with streamlit_server(cache, cache / "server.log") as url:
        yield url


def _shown(page, rid: str, also: str) -> tuple[str, str]:
    page.wait_for_function(f"() => ({MAIN_TEXT})().includes('run ') && ({MAIN_TEXT})().includes({also!r})"
                           f" && ({PICKER_TEXT})().startsWith('r-')", timeout=PAGE_WAIT_MS)
    main = page.evaluate(MAIN_TEXT)
    caption = next((ln.strip() for ln in main.splitlines() if ln.strip().startswith("run ")), "")
    return caption, page.evaluate(PICKER_TEXT)


def test_concurrent_sessions_each_show_their_own_run(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_ARGS)
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
