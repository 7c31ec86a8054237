"""Background jobs of the dashboard: training as a detached CLI process (never twice at once),
the first-launch demo, and the per-run derivation (statistics + UMAP) with its status file."""
from __future__ import annotations

import shutil
import time

import pytest

from core.store import atomic
from dashboard import jobs

TINY = dict(dataset="synthetic", synthetic_n=200, image_size=32, z_dim=8, epochs=1, widths="8,16,16,32")


def wait_until(cond, timeout: float = 300.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.5)
    return False


def test_train_command_is_the_cli_contract(tmp_path):
    cmd = jobs.train_command("r1", tmp_path, dataset="folder", data_dir="/data/x", image_size=96, z_dim=32,
                             epochs=3)
    assert cmd[1:4] == ["-m", "core", "train"]
    assert "--quiet" in cmd
    args = [a for a in cmd[4:] if a != "--quiet"]
    pairs = dict(zip(args[::2], args[1::2]))
    assert pairs["--dataset"] == "folder" and pairs["--data-dir"] == "/data/x"
    assert pairs["--image-size"] == "96" and pairs["--z-dim"] == "32" and pairs["--epochs"] == "3"
    assert pairs["--run-id"] == "r1" and pairs["--cache-dir"] == str(tmp_path.resolve())


def test_demo_starts_only_on_an_empty_cache(tmp_path, monkeypatch):
    (tmp_path / "runs" / "someone").mkdir(parents=True)
    spawned = []
    monkeypatch.setattr(jobs, "start_training", lambda *a, **k: spawned.append(a) or True)
    assert jobs.ensure_demo(tmp_path) is False and not spawned
    shutil.rmtree(tmp_path / "runs")
    monkeypatch.setenv("AE_DASHBOARD_AUTO_JOBS", "0")
    assert jobs.ensure_demo(tmp_path) is False and not spawned
    monkeypatch.setenv("AE_DASHBOARD_AUTO_JOBS", "1")
    assert jobs.ensure_demo(tmp_path) is True and spawned[0][0] == jobs.DEMO_RUN_ID


def test_derive_status_states(tmp_path):
    run = tmp_path / "runs" / "r"
    (run / "derived").mkdir(parents=True)
    assert jobs.derive_status(run)["state"] == "missing"
    atomic.write_json(run / "derived" / "derive_status.json", {"state": "running", "fraction": 0.3})
    assert jobs.derive_status(run)["state"] == "interrupted"       # nobody holds the lock
    atomic.write_json(run / "derived" / "derive_status.json", {"state": "done", "umap_params": {"n": 1}})
    assert not jobs.umap_ready(run)                                 # made with other parameters
    atomic.write_json(run / "derived" / "derive_status.json", {"state": "done", "umap_params": jobs.UMAP_PARAMS})
    assert jobs.umap_ready(run)


@pytest.mark.slow
def test_training_runs_detached_once_and_completes(tmp_path):
    assert jobs.start_training("t", tmp_path, **TINY) is True
    path = tmp_path / "runs" / "t"
    assert jobs.training_active(path)
    assert jobs.start_training("t", tmp_path, **TINY) is False     # never twice at once
    assert wait_until(lambda: jobs.read_status(path).get("state") == "done")
    assert wait_until(lambda: not jobs.training_active(path), 30)
    assert "=== " in (path / "train.log").read_text()
    assert [p.name for p in jobs.run_folders(tmp_path)] == ["t"]


@pytest.mark.slow
def test_derive_writes_stats_and_umap(tiny_run, tmp_path):
    cache = tmp_path / "c"
    shutil.copytree(tiny_run.path.parents[1], cache, symlinks=True)
    path = cache / "runs" / "tiny"
    shutil.rmtree(path / "derived", ignore_errors=True)
    assert jobs.start_derive("tiny", cache) is True
    assert wait_until(lambda: jobs.derive_status(path)["state"] in ("done", "failed"), 600)
    st = jobs.derive_status(path)
    assert st["state"] == "done", (path / "derived" / "derive.log").read_text()[-2000:]
    assert jobs.umap_ready(path) and jobs.start_derive("tiny", cache) is False
    names = {p.name for p in (path / "derived").iterdir()}
    assert any(n.startswith("stats-") for n in names) and any(n.startswith("umap-") for n in names)
