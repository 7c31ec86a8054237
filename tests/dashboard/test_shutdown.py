"""The server ends right after SIGTERM (issue 17): the app's exit hook (dashboard/state/shutdown.py)
skips joining page threads and tearing down torch; background jobs are other processes."""
from __future__ import annotations

import signal
import subprocess

import pytest

from tests.browser_server import BROWSER_MARKS, CHROMIUM_ARGS, PAGE_WAIT_MS, chromium, log_tail, streamlit_server


def test_apptest_never_installs_the_exit_hook(tiny_app):
    """Under AppTest (a stand-in runtime) the hook must not run: it would end pytest with 0."""
    from streamlit.testing.v1 import AppTest

    from core.store.paths import REPO_ROOT
    from dashboard.state import shutdown

    AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=180).run()
    assert shutdown._installed is False


def _browser(test):
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


@_browser
@pytest.mark.parametrize("page", ["", "umap"])
def test_sigterm_ends_the_server_with_a_page_open(tiny_run, tmp_path, page):
    from playwright.sync_api import sync_playwright

    log = tmp_path / "server.log"
    with streamlit_server(tiny_run.path.parents[1], log, with_proc=True) as (url, proc), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page()
            pg.goto(f"{url}/{page}")
            pg.wait_for_selector("[data-testid='stSidebar']", timeout=PAGE_WAIT_MS)
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=60)           # liveness bound, not a timing check
            except subprocess.TimeoutExpired:
                pytest.fail(f"the server did not stop on SIGTERM:\n{log_tail(log)}")
        finally:
            browser.close()
    assert rc == 0
    assert "stopped; background jobs keep running" in log.read_text(), log_tail(log)
