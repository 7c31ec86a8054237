"""Trainer: resume after interruption, NaN guard, DDP on the CPU, the train CLI end to end."""
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from core.store import atomic
from core.config import ModelConfig, TrainConfig
from core.model.train import Trainer
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT
TINY = ModelConfig(image_size=32, z_dim=8, widths=(4, 8, 8, 16))
TINY_ARGS = ["--dataset", "synthetic", "--synthetic-n", "160", "--image-size", "32",
             "--widths", "4,8,8,16", "--z-dim", "8", "--batch-size", "16", "--quiet"]


def _images(n=96, s=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, s, s, 3), dtype=np.uint8)


def _trainer(tmp_path, epochs, callbacks=(), **kw):
    imgs = _images()
    return Trainer(TINY, TrainConfig(epochs=epochs, batch_size=16, **kw), imgs, np.arange(80),
                   np.arange(80, 96), ckpt_path=tmp_path / "ckpt.pt", callbacks=list(callbacks))


def test_loss_decreases_and_history(tmp_path):
    t = _trainer(tmp_path, 3, lr=3e-3)
    h = t.fit()
    assert [r["epoch"] for r in h] == [1, 2, 3]
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    assert all(np.isfinite(r["val_loss"]) for r in h)


def test_resume_matches_uninterrupted(tmp_path):
    a = tmp_path / "a"; a.mkdir()
    b = tmp_path / "b"; b.mkdir()
    full = _trainer(a, 2)
    full.fit()
    first = _trainer(b, 1)
    first.fit()
    events = []
    resumed = _trainer(b, 2, callbacks=[lambda ev, info: events.append(ev)])
    assert resumed.start_epoch == 1
    h = resumed.fit()
    assert [r["epoch"] for r in h] == [1, 2]
    assert "resume" in events
    for (k, v1), v2 in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(v1, v2, rtol=1e-4, atol=1e-5, msg=k)


def test_broken_checkpoint_starts_over(tmp_path):
    (tmp_path / "ckpt.pt").write_bytes(b"not a checkpoint")
    warnings = []
    t = Trainer(TINY, TrainConfig(epochs=1, batch_size=16), _images(), np.arange(80), np.arange(80, 96),
                ckpt_path=tmp_path / "ckpt.pt", callbacks=[lambda ev, info: warnings.append(ev)])
    assert t.start_epoch == 0 and "warning" in warnings
    t.fit()
    assert t.start_epoch == 0 and (tmp_path / "ckpt.pt").stat().st_size > 100


def test_nan_loss_stops_with_clear_error(tmp_path, monkeypatch):
    t = _trainer(tmp_path, 1)
    monkeypatch.setattr(t, "_loss", lambda x: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(FloatingPointError, match="learning rate"):
        t.fit()


def _cli(*args, cache, timeout=300, **popen):
    env = dict(os.environ, OMP_NUM_THREADS="1", AE_CACHE_DIR=str(cache))
    return subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


@pytest.mark.slow
def test_cli_kill_and_resume(tmp_path):
    """Kill a training mid-run; the same command resumes and reaches the same epoch count."""
    args = ["train", *TINY_ARGS, "--epochs", "6", "--run-id", "r1"]
    p = _cli(*args, cache=tmp_path)
    status = tmp_path / "runs" / "r1" / "status.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            st = atomic.read_json(status)
            if st.get("state") == "training" and st.get("epoch", 0) >= 2 and st.get("event") == "epoch":
                break
        except (OSError, ValueError):
            pass
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (tmp_path / "runs" / "r1" / "z.npy").exists()
    p = _cli(*args, cache=tmp_path)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "resuming from the checkpoint after epoch" in err
    assert out.strip().splitlines()[-1] == "r1"
    hist = atomic.read_json(tmp_path / "runs" / "r1" / "history.json")
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4, 5, 6]
    z = np.load(tmp_path / "runs" / "r1" / "z.npy")
    assert z.shape == (160, 8) and np.isfinite(z).all()
    # listing shows it; a second identical command returns at once without training
    p = _cli("runs", cache=tmp_path)
    out, _ = p.communicate(timeout=60)
    assert "r1" in out and "done" in out


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tmp_path):
    torchrun = shutil.which("torchrun")
    cmd = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    env = dict(os.environ, OMP_NUM_THREADS="1", AE_CACHE_DIR=str(tmp_path))
    r = subprocess.run([*cmd, "--standalone", "--nproc_per_node=2", "-m", "core", "train", *TINY_ARGS,
                        "--epochs", "2", "--run-id", "ddp", "--device", "cpu"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "runs" / "ddp"
    hist = atomic.read_json(run / "history.json")
    assert [h["epoch"] for h in hist] == [1, 2]
    assert np.load(run / "z.npy").shape == (160, 8)
    assert atomic.read_json(run / "status.json")["state"] == "done"
