"""Shared fixtures. `tiny_run`: a complete run trained once per session by the real CLI."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY_TRAIN = ["--dataset", "synthetic", "--synthetic-n", "300", "--image-size", "32",
              "--widths", "8,16,16,32", "--z-dim", "16", "--epochs", "2", "--run-id", "tiny", "--quiet"]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A complete tiny run (300 synthetic faces, 32 px, z_dim 16) in a session temp cache;
    returns core.store.runs.Run (its cache folder is ``run.path.parents[1]``)."""
    from core.store.runs import open_run

    cache = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "core", "train", *TINY_TRAIN, "--cache-dir", str(cache)],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    run = open_run("tiny", cache)
    assert run.complete
    return run


@pytest.fixture(autouse=True)
def _restore_main_module():
    """AppTest runs page scripts as ``__main__`` and leaves that module in place; worker
    processes (forkserver/spawn) would then re-run the page script. Restore it per test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def pytest_terminal_summary(terminalreporter):
    """The probe suite's counts (tests/probes/tally.py), when any probe ran."""
    probes = sys.modules.get("tests.probes.tally")
    text = probes.summary() if probes is not None else ""
    if text:
        terminalreporter.write_sep("=", "hardening probes (issue 8)")
        terminalreporter.write_line(text)


@pytest.fixture(scope="module")
def tiny_app(tiny_run):
    """The tiny run's cache as the dashboard's (AE_CACHE_DIR) for AppTest, no background jobs
    (no UMAP fits during tests); the environment is restored after the module."""
    old = {k: os.environ.get(k) for k in ("AE_CACHE_DIR", "AE_DASHBOARD_AUTO_JOBS")}
    os.environ["AE_CACHE_DIR"] = str(tiny_run.path.parents[1])
    os.environ["AE_DASHBOARD_AUTO_JOBS"] = "0"
    yield tiny_run
    for k, v in old.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="session")
def copy_tiny(tiny_run):
    """``copy_tiny(cache, run_id="tiny", skip=...)``: a private copy of the tiny run in ``cache``
    (tests that damage, derive or re-run a run never touch the shared one); ``skip`` names
    patterns left out (locks by default). Returns the copy's folder."""
    def copy(cache, run_id: str = "tiny", skip: tuple[str, ...] = (".lock", "*.lock")) -> Path:
        dst = Path(cache) / "runs" / run_id
        shutil.copytree(tiny_run.path, dst, symlinks=True, ignore=shutil.ignore_patterns(*skip))
        return dst
    return copy


@pytest.fixture
def app_env(monkeypatch):
    """``app_env(cache)``: point the dashboard at ``cache`` (AE_CACHE_DIR) with no background
    jobs, for this test only; returns ``cache``."""
    def point(cache):
        monkeypatch.setenv("AE_CACHE_DIR", str(cache))
        monkeypatch.setenv("AE_DASHBOARD_AUTO_JOBS", "0")
        return cache
    return point
