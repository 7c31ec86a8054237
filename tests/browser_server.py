"""What the real-browser tests share: finding Chromium and Playwright, and ``streamlit run
dashboard/app.py`` on a free port for one cache, always stopped (its log kept for failures)."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_WAIT_S = 60          # streamlit start-up (imports) on a loaded 2-core machine
PAGE_WAIT_MS = 60_000       # first page render: torch, the model and the run are loaded once


def chromium() -> str | None:
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else shutil.which("chromium")


def has_playwright() -> bool:
    try:
        return importlib.util.find_spec("playwright.sync_api") is not None
    except (ImportError, ValueError):
        return False


# Skipped before any fixture runs (no training, no server) when the browser stack is absent.
BROWSER_MARKS = [pytest.mark.browser, pytest.mark.slow,
                 pytest.mark.skipif(chromium() is None,
                                    reason="no chromium executable (/usr/bin/chromium; `install.sh --dev` installs it)"),
                 pytest.mark.skipif(not has_playwright(), reason="playwright (Python package) not installed")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


@contextlib.contextmanager
def streamlit_server(cache: Path, log_path: Path, with_proc: bool = False):
    """The dashboard on a free port serving ``cache`` (no background jobs); yields its URL (and
    the server's Popen with ``with_proc``)."""
    port = free_port()
    env = {**os.environ, "AE_CACHE_DIR": str(cache), "AE_DASHBOARD_AUTO_JOBS": "0",
           "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT)}   # this checkout's code, whichever one is installed
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_WAIT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit not healthy after {SERVER_WAIT_S} s:\n{log_tail(log_path)}")
            time.sleep(0.5)
        yield (url, proc) if with_proc else url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
