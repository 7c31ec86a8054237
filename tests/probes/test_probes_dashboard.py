"""Probes (issue 8, items 14, 19): the loss curve while a run trains (history.json after every
epoch, drawn live on the Overview), and a dashboard that listens on localhost only."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.probes import tally as probes
from core.store import atomic
from core.store.locks import exclusive
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT
APP = str(ROOT / "dashboard" / "app.py")


def test_history_written_after_every_epoch(tmp_path):
    from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from core.jobs.train_run import train_run

    cfg = RunConfig(DataConfig("synthetic", None, 32, None, 64, 0), ModelConfig(32, 3, 8, (4, 8, 8, 16), True),
                    TrainConfig(epochs=3, batch_size=16))
    seen = []

    def on_epoch(ev, info):
        if ev == "epoch":   # what a page reading the run folder would find at this moment
            hist = probes.json_of(tmp_path / "runs" / "h" / "history.json") \
                if (tmp_path / "runs" / "h" / "history.json").exists() else []
            seen.append([h["epoch"] for h in hist])

    train_run(cfg, tmp_path, "h", progress=False, callbacks=[on_epoch])
    probes.check("history.json during training", "handled" if seen == [[1], [1, 2], [1, 2, 3]] else "silent",
                 str(seen))


@pytest.fixture
def training_cache(tmp_path, app_env):
    run = probes.make_run(tmp_path / "cache", "t")
    atomic.write_json(run.path / "status.json", {"state": "training", "epoch": 3, "epochs": 10, "step": 2,
                                                 "steps": 5, "message": "training"})
    atomic.write_json(run.path / "history.json", [{"epoch": e, "train_loss": 0.1 / e, "val_loss": 0.12 / e,
                                                   "images_per_s": 100.0, "seconds": 1.0} for e in (1, 2)])
    app_env(tmp_path / "cache")
    return run


def test_overview_shows_the_loss_curve_while_training(training_cache):
    with exclusive(training_cache.path / ".lock"):      # a live training holds the run's lock
        at = AppTest.from_file(APP, default_timeout=120).run()
    charts = at.get("plotly_chart")
    ok = not at.exception and len(charts) >= 1 and any("2 epochs" in c.value for c in at.caption)
    probes.check("Overview while training: live loss curve", "handled" if ok else "silent",
                 f"exceptions={[e.value for e in at.exception]} charts={len(charts)}")


def test_streamlit_config_binds_localhost():
    # next to app.py: Streamlit reads a script's own .streamlit/ whatever the current folder
    cfg = tomllib.loads((ROOT / "dashboard" / ".streamlit" / "config.toml").read_text())
    addr = cfg.get("server", {}).get("address")
    probes.check("dashboard/.streamlit/config.toml server.address", "handled" if addr in ("localhost", "127.0.0.1")
                 else "silent", repr(addr))
    readme = (ROOT / "README.md").read_text()
    assert "--server.address 0.0.0.0" in readme and "localhost" in readme


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets listening on ``port``."""
    out = []
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            f = ln.split()
            addr, p = f[1].rsplit(":", 1)
            if int(p, 16) == port and f[3] == "0A":     # 0A: LISTEN
                out.append(addr)
    return out


LOCAL = {"0100007F", "00000000000000000000000001000000"}      # 127.0.0.1, ::1 (as in /proc/net/tcp*)
ANY = {"00000000", "00000000000000000000000000000000"}


@pytest.mark.slow
@pytest.mark.parametrize("where", ["repo root", "another folder", "exposed deliberately"])
def test_server_listens_on_localhost_only(tmp_path, where):
    """Started from the repository, from another folder with a home config that asks for every
    interface, and with an explicit --server.address (the one way to expose it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text('[server]\naddress = "0.0.0.0"\n')
    env = {**os.environ, "AE_CACHE_DIR": str(tmp_path / "cache"), "AE_DASHBOARD_AUTO_JOBS": "0",
           "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}   # ~/.streamlit/config.toml says 0.0.0.0
    env.pop("STREAMLIT_SERVER_ADDRESS", None)
    extra = ["--server.address", "0.0.0.0"] if where == "exposed deliberately" else []
    p = subprocess.Popen([sys.executable, "-m", "streamlit", "run", APP, "--server.port", str(port), *extra],
                         cwd=ROOT if where == "repo root" else tmp_path, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 60    # liveness wait for the server to start, not a timing check
        while not _listening(port) and time.monotonic() < end and p.poll() is None:
            time.sleep(0.2)
        addrs = _listening(port)
    finally:
        p.terminate()
        p.wait(timeout=30)
    ok = bool(addrs) and set(addrs) <= (ANY if extra else LOCAL)
    probes.check(f"streamlit run dashboard/app.py from the {where} listens on", "handled" if ok else "silent",
                 str(addrs))
