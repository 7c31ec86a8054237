"""The run lifecycle through the store (core.store): one status reader that tells an interrupted
run from a live one, one listing in which a broken folder is listed as broken, refused
configurations that leave no run folder, artifacts that follow the umask, and a run started on
the command line with non-default options that is killed and resumed through the dashboard."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import load_config, make_config
from core.errors import BadInputError, BrokenArtifactError
from core.jobs import launch
from core.store import atomic
from core.store.paths import RunPaths
from core.store.runs import list_runs, open_run, read_status
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT


def cli(*args: str, cache: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args, "--cache-dir", str(cache)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def fake_run(cache: Path, rid: str, status=None, config=True, history=None) -> RunPaths:
    paths = RunPaths.of(rid, cache)
    paths.folder.mkdir(parents=True)
    if config:
        atomic.write_json(paths.config, {"config": json.loads(make_config().to_json()), "manifest": {"n_ok": 10}})
    if status is not None:
        atomic.write_json(paths.status, status)
    if history is not None:
        paths.history.write_text(history)
    return paths


@pytest.fixture
def messy_cache(tiny_run, tmp_path) -> Path:
    """The tiny run next to four bad folders: status not an object, truncated history,
    config not JSON, and a training killed after epoch 3."""
    cache = tmp_path / "cache"
    shutil.copytree(tiny_run.path.parents[1], cache, symlinks=True)
    fake_run(cache, "a-list-status", status=[1, 2, 3])
    fake_run(cache, "b-cut-history", status={"state": "done"}, history='[{"epoch": 1, "val_lo')
    p = fake_run(cache, "c-bad-config", status={"state": "done"}, config=False)
    p.config.write_text("{not json")
    fake_run(cache, "d-killed", status={"state": "training", "epoch": 4, "checkpoint_epoch": 3, "pid": 1})
    return cache


def test_status_reader_names_interrupted_and_broken_runs(tmp_path):
    killed = fake_run(tmp_path, "k", status={"state": "training", "checkpoint_epoch": 3})
    st = read_status(killed)
    assert st["state"] == "interrupted" and st["checkpoint_epoch"] == 3 and "epoch 3" in st["message"]
    from core.jobs.train_run import run_lock

    with run_lock(killed.folder):                     # a live process holds the lock: still training
        assert read_status(killed)["state"] == "training"
    assert read_status(fake_run(tmp_path, "l", status=["x"]))["state"] == "broken"
    assert read_status(fake_run(tmp_path, "m", status=None))["state"] == "unknown"


def test_listing_survives_broken_folders(messy_cache):
    summaries = {r.run_id: r.summary() for r in list_runs(messy_cache)}
    assert set(summaries) == {"tiny", "a-list-status", "b-cut-history", "c-bad-config", "d-killed"}
    assert summaries["tiny"]["state"] == "done" and summaries["tiny"]["problem"] is None
    for rid, why in [("a-list-status", "not a JSON object"), ("b-cut-history", "history.json"),
                     ("c-bad-config", "config.json")]:
        assert summaries[rid]["state"] == "broken" and why in summaries[rid]["problem"], summaries[rid]
    assert summaries["d-killed"]["state"] == "interrupted" and summaries["d-killed"]["epochs"] == 3
    with pytest.raises(BrokenArtifactError, match="history.json"):
        open_run("b-cut-history", messy_cache).history()
    r = cli("runs", cache=messy_cache, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines()[1:]}
    assert "broken" in lines["a-list-status"] and "not a JSON object" in lines["a-list-status"]
    assert "broken" in lines["b-cut-history"] and "broken" in lines["c-bad-config"]
    assert lines["d-killed"].split()[1:2] == ["interrupted"] and " 3 " in lines["d-killed"]
    assert "done" in lines["tiny"]


def test_refused_configuration_leaves_no_run_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cache = tmp_path / "cache"
    r = cli("train", "--dataset", "folder", "--data-dir", str(empty), "--run-id", "nothing", "--quiet", cache=cache)
    assert r.returncode == 2 and "no images" in r.stderr
    assert not (cache / "runs" / "nothing").exists()
    assert "no runs" in cli("runs", cache=cache, timeout=120).stdout


def test_artifacts_follow_the_umask(tiny_run):
    umask = os.umask(0o022)
    os.umask(umask)
    p = tiny_run.paths
    for f in (p.config, p.status, p.history, p.z, p.index, p.weights):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f


def test_config_file_round_trip_and_conflicts(tmp_path, tiny_run):
    cfg = make_config(lr=3e-4, batch_size=16, loss="bce", seed=5, batch_norm=False)
    f = tmp_path / "run.json"
    f.write_text(cfg.to_json())
    assert load_config(f) == cfg
    assert load_config(tiny_run.paths.config) == tiny_run.config     # a run's own config.json
    f.write_text("[1]")
    with pytest.raises(BadInputError, match="not a run configuration"):
        load_config(f)
    r = cli("train", "--config", str(tiny_run.paths.config), "--lr", "0.1", cache=tmp_path)
    assert r.returncode == 2 and "--lr" in r.stderr


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.3)
    return False


@pytest.mark.slow
def test_killed_cli_run_resumes_through_the_dashboard(tmp_path, app_env):
    """Non-default lr, batch size, loss, seed and no batch norm survive a resume from the sidebar."""
    from streamlit.testing.v1 import AppTest

    cache = tmp_path / "cache"
    opts = ["--dataset", "synthetic", "--synthetic-n", "1500", "--image-size", "32", "--widths", "8,16,16,32",
            "--z-dim", "8", "--epochs", "6", "--lr", "0.002", "--batch-size", "32", "--loss", "bce",
            "--seed", "7", "--no-batch-norm", "--run-id", "cli-run", "--quiet", "--cache-dir", str(cache)]
    child = subprocess.Popen([sys.executable, "-m", "core", "train", *opts], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    paths = RunPaths.of("cli-run", cache)
    try:
        assert _wait(lambda: (read_status(paths).get("checkpoint_epoch") or 0) >= 1, 300)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    st = read_status(paths)
    assert st["state"] == "interrupted", st
    app_env(cache)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert "interrupted" in at.sidebar.caption[0].value and "last checkpoint: epoch" in at.sidebar.caption[0].value
    resume, = [b for b in at.sidebar.button if b.label == "Resume training"]
    resume.click().run()
    assert not at.exception
    assert _wait(lambda: read_status(paths).get("state") in ("done", "failed"), 600), read_status(paths)
    assert _wait(lambda: not launch.training_active(paths), 30)
    log = paths.train_log.read_text()
    assert read_status(paths)["state"] == "done", log[-3000:]
    assert "resuming from the checkpoint after epoch" in log
    run = open_run("cli-run", cache)
    t, m = run.config.train, run.config.model
    assert (t.lr, t.batch_size, t.loss, t.seed, m.batch_norm) == (0.002, 32, "bce", 7, False)
    assert len(run.history()) == 6
