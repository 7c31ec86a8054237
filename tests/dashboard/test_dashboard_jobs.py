"""Background jobs (core.jobs.launch, dashboard.state.jobs): training as a detached CLI process that
gets its configuration as JSON (never twice at once), the first-launch demo, and the per-run
derivation (statistics + UMAP) with its status file."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from core.config import RunConfig, make_config
from core.jobs import launch
from core.store import atomic
from core.store.paths import RunPaths
from dashboard.state import jobs

TINY = make_config(dataset="synthetic", synthetic_n=200, image_size=32, z_dim=8, epochs=1, widths=(8, 16, 16, 32))


def wait_until(cond, timeout: float = 300.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.5)
    return False


def test_train_command_passes_the_config_as_json(tmp_path, monkeypatch):
    launched = []
    monkeypatch.setattr(launch, "launch", lambda cmd, *a, **k: launched.append(cmd) or 1)
    cfg = make_config(dataset="folder", data_dir="/data/x", image_size=96, z_dim=32, epochs=3, lr=3e-4)
    assert launch.start_training("r1", cfg, tmp_path) is True
    cmd, = launched
    assert cmd[1:4] == ["-m", "core", "train"] and "--quiet" in cmd
    args = [a for a in cmd[4:] if a != "--quiet"]
    pairs = dict(zip(args[::2], args[1::2]))
    assert set(pairs) == {"--config", "--run-id", "--cache-dir"}      # no option rebuilt by hand
    assert pairs["--run-id"] == "r1" and pairs["--cache-dir"] == str(tmp_path.resolve())
    assert RunConfig.from_json(open(pairs["--config"]).read()) == cfg
    assert not (tmp_path / "runs" / "r1").exists()     # the child makes the run folder, not the launcher


def test_demo_starts_only_on_an_empty_cache(tmp_path, monkeypatch):
    (tmp_path / "runs" / "someone").mkdir(parents=True)
    spawned = []
    monkeypatch.setattr(launch, "start_training", lambda *a, **k: spawned.append(a) or True)
    assert jobs.ensure_demo(tmp_path) is False and not spawned
    shutil.rmtree(tmp_path / "runs")
    monkeypatch.setenv("AE_DASHBOARD_AUTO_JOBS", "0")
    assert jobs.ensure_demo(tmp_path) is False and not spawned
    monkeypatch.setenv("AE_DASHBOARD_AUTO_JOBS", "1")
    assert jobs.ensure_demo(tmp_path) is True and spawned[0][0] == jobs.DEMO_RUN_ID


def test_derive_status_states(tmp_path):
    run = RunPaths.of("r", tmp_path)
    run.derived.mkdir(parents=True)
    assert launch.derive_state(run)["state"] == "missing"
    atomic.write_json(run.derive_status, {"state": "running", "fraction": 0.3})
    assert launch.derive_state(run)["state"] == "interrupted"       # nobody holds the lock
    atomic.write_json(run.derive_status, {"state": "done", "umap_params": {"n": 1}})
    assert not launch.umap_ready(run)                                 # made with other parameters
    atomic.write_json(run.derive_status, {"state": "done", "umap_params": launch.UMAP_PARAMS})
    assert launch.umap_ready(run)
    atomic.write_json(run.derive_status, ["not", "an", "object"])
    assert launch.derive_state(run)["state"] == "missing"


@pytest.mark.slow
def test_training_runs_detached_once_and_completes(tmp_path):
    assert launch.start_training("t", TINY, tmp_path) is True
    paths = RunPaths.of("t", tmp_path)
    assert launch.training_active(paths)
    assert launch.run_ids(tmp_path) == ["t"]                          # listed while starting
    assert launch.start_training("t", TINY, tmp_path) is False     # never twice at once
    assert wait_until(lambda: launch.run_status(paths).get("state") == "done")
    assert wait_until(lambda: not launch.training_active(paths), 30)
    assert "=== " in paths.train_log.read_text()
    assert launch.run_ids(tmp_path) == ["t"]
    assert json.loads(paths.config.read_text())["config"] == json.loads(TINY.to_json())


@pytest.mark.slow
def test_derive_writes_stats_and_umap(tiny_run, tmp_path):
    cache = tmp_path / "c"
    shutil.copytree(tiny_run.path.parents[1], cache, symlinks=True)
    path = cache / "runs" / "tiny"
    shutil.rmtree(path / "derived", ignore_errors=True)
    paths = RunPaths(path)
    assert launch.start_derive("tiny", cache) is True
    assert wait_until(lambda: launch.derive_state(paths)["state"] in ("done", "failed"), 600)
    st = launch.derive_state(paths)
    assert st["state"] == "done", paths.derive_log.read_text()[-2000:]
    assert launch.umap_ready(paths) and launch.start_derive("tiny", cache) is False
    names = {p.name for p in (path / "derived").iterdir()}
    assert any(n.startswith("stats-") for n in names) and any(n.startswith("umap-") for n in names)
