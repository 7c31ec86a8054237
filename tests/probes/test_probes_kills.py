"""Probes (issue 8, items 15, 16): kill -9 at the worst moments, with real processes.
Preprocessing leaves no worker pool behind; stray ``.tmp-*`` files of killed writers are
cleaned by the next run; a training killed mid-epoch resumes mid-epoch, to the same weights."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.probes import tally as probes
from core.config import ModelConfig, TrainConfig
from core.model.train import Trainer
from core.store import atomic
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY_ARGS = ["--dataset", "synthetic", "--synthetic-n", "1500", "--image-size", "32", "--widths", "4,8,8,16",
             "--z-dim", "8", "--batch-size", "4", "--epochs", "2", "--quiet"]


def _session(sid: int) -> list[int]:
    """Pids of the live (not zombie) processes of session ``sid``."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(d.name))
    return out


def _wait(cond, timeout: float, step: float = 0.1) -> bool:
    """Liveness wait (not a timing assertion): poll until ``cond()`` or give up."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


PREPARE = ("from core.config import DataConfig\nfrom core.data.prepare import prepare\n"
           "prepare(DataConfig(dataset='synthetic', synthetic_n=200000, image_size=64), {cache!r}, "
           "progress=False, workers=2)\n")


@pytest.mark.slow
def test_kill_during_preprocessing_leaves_no_pool(tmp_path):
    code = PREPARE.format(root=str(ROOT), cache=str(tmp_path / "cache"))
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=ENV, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # workers (and the forkserver) are up once the session has 3+ processes besides p
        assert _wait(lambda: len(_session(p.pid)) >= 4 or p.poll() is not None, 120), _session(p.pid)
        assert p.poll() is None, p.stderr.read()
        p.send_signal(signal.SIGKILL)
        p.wait()
        gone = _wait(lambda: not _session(p.pid), 30)
        left = _session(p.pid)
        probes.check("kill -9 during preprocessing: worker pool", "handled" if gone else "crash",
                     f"orphaned: {[Path(f'/proc/{q}/cmdline').read_bytes()[:80] for q in left if Path(f'/proc/{q}').exists()]}")
    finally:
        for q in _session(p.pid):
            try:
                os.kill(q, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_strays_of_killed_writers_are_cleaned(tmp_path):
    """A run folder and its derived/ folder holding .tmp-* files of killed writers."""
    cache = tmp_path / "cache"
    run = probes.make_run(cache, "r")
    a, b = run.path / ".tmp-z.npy-abc123", run.path / ".tmp-checkpoint.pt-xyz"
    d = run.path / "derived"
    d.mkdir()
    old, fresh = d / ".tmp-umap.npy-old", d / ".tmp-stats.npz-new"
    for f in (a, b, old, fresh):
        f.write_bytes(b"x" * 1000)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    # the run is complete, so train returns at once: but only after cleaning its folder
    from core.jobs.train_run import train_run

    train_run(run.config, cache, "r", progress=False)
    ok = not a.exists() and not b.exists()
    probes.check("stray .tmp-* in a run folder after a kill", "handled" if ok else "silent",
                 str(sorted(p.name for p in run.path.iterdir())))
    from core.jobs.derive import _clean_strays

    _clean_strays(d)
    probes.check("stray .tmp-* in derived/ after a kill", "handled" if not old.exists() and fresh.exists()
                 else "silent", str(sorted(p.name for p in d.iterdir())))
    from core.config import DataConfig
    from core.data import prepare as prep_mod

    cfg = DataConfig(dataset="synthetic", synthetic_n=20, image_size=32)
    folder = cache / "data" / prep_mod.dataset_key(cfg)
    folder.mkdir(parents=True)
    (folder / ".tmp-images.npy-killed").write_bytes(b"x" * 1000)   # a build killed before its manifest
    prep_mod.prepare(cfg, cache, progress=False, workers=1)
    probes.check("stray .tmp-* in a data cache after a kill", "handled" if not list(folder.glob(".tmp-*"))
                 else "silent", str(sorted(p.name for p in folder.iterdir())))


# -- item 15: checkpoints within an epoch -------------------------------------------------------
TINY = ModelConfig(image_size=32, z_dim=8, widths=(4, 8, 8, 16))


class Killed(Exception):
    pass


def _trainer(folder: Path, callbacks=(), every_s: float = 300.0) -> Trainer:
    imgs = np.random.default_rng(0).integers(0, 256, size=(96, 32, 32, 3), dtype=np.uint8)
    return Trainer(TINY, TrainConfig(epochs=2, batch_size=8), imgs, np.arange(80), np.arange(80, 96),
                   ckpt_path=folder / "ckpt.pt", callbacks=list(callbacks), checkpoint_every_s=every_s)


def test_resume_mid_epoch_matches_uninterrupted(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    torch.set_num_threads(1)
    full = _trainer(tmp_path / "a")
    full.fit()

    def kill_at(ev, info):
        if ev == "batch" and info["epoch"] == 2 and info["step"] == 4:
            raise Killed

    with pytest.raises(Killed):
        _trainer(tmp_path / "b", [kill_at], every_s=0).fit()
    events = []
    resumed = _trainer(tmp_path / "b", [lambda ev, info: events.append((ev, info.get("step")))])
    resumed_at = (resumed.start_epoch, resumed._partial["step"]) if hasattr(resumed, "_partial") else (resumed.start_epoch, 0)
    resumed.fit()
    same = all(torch.equal(v1, v2) for v1, v2 in zip(full.model.state_dict().values(),
                                                       resumed.model.state_dict().values()))
    hist_same = [round(r["train_loss"], 6) for r in full.history] == [round(r["train_loss"], 6) for r in resumed.history]
    ok = resumed_at == (1, 4) and same and hist_same
    probes.check("training killed mid-epoch resumes mid-epoch", "handled" if ok else "silent",
                 f"resumed at {resumed_at}, same weights {same}, same history {hist_same}")


@pytest.mark.slow
def test_kill9_mid_epoch_resumes_to_the_same_z(tmp_path):
    def train(cache, *extra, wait_for=None):
        p = subprocess.Popen([sys.executable, "-m", "core", "train", *TINY_ARGS, "--run-id", "k",
                              "--cache-dir", str(cache), *extra], cwd=ROOT, env=ENV, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if wait_for is None:
            return p.communicate(timeout=600)[1], p.returncode

        def mid_epoch():
            try:
                st = atomic.read_json(cache / "runs" / "k" / "status.json")
                return st.get("epoch") == 2 and 5 <= st.get("step", 0) < st["steps"] - 20 and st.get("event") == "batch"
            except (OSError, ValueError):
                return False
        assert _wait(lambda: mid_epoch() or p.poll() is not None, 300)
        p.kill(), p.wait()
        assert not (cache / "runs" / "k" / "z.npy").exists(), "the training ended before the kill"
        return "", p.returncode

    ref_err, rc = train(tmp_path / "ref")
    assert rc == 0, ref_err
    train(tmp_path / "c", "--checkpoint-minutes", "0", wait_for=True)
    err, rc = train(tmp_path / "c", "--checkpoint-minutes", "0")
    z_ref, z = np.load(tmp_path / "ref" / "runs" / "k" / "z.npy"), np.load(tmp_path / "c" / "runs" / "k" / "z.npy")
    ok = rc == 0 and "resuming from the checkpoint in epoch 2, after step" in err and np.array_equal(z, z_ref)
    probes.check("kill -9 mid-epoch, then train again", "handled" if ok else ("crash" if rc else "silent"), err)


# -- issue 18: kill -9 during an import -----------------------------------------------------------
def test_kill9_during_import_leaves_no_run(tmp_path):
    """An import started the way the dashboard starts it, killed mid-way: no half run is listed,
    the dashboard says it stopped, and the same import then completes."""
    from core.config import DataConfig
    from core.jobs import launch
    from core.jobs.import_run import import_status, request_json
    from core.model.external import ExternalConfig
    from core.store.paths import RunPaths
    from tests.extmodels import nan_decoder_files

    cache = tmp_path / "cache"
    files = nan_decoder_files(tmp_path / "files", n=3000)
    req = request_json(ExternalConfig(z_points=str(files["z"]), decoder=str(files["decoder"])),
                       DataConfig("synthetic", None, 32, None, 3000, 0))
    paths = RunPaths.of("imp", cache)
    assert launch.start_import("imp", req, cache)
    pid = atomic.read_json(paths.import_launch)["pid"]
    busy = ("preparing", "probing", "encoding")
    assert _wait(lambda: import_status("imp", cache).get("state") in busy or not launch.pid_alive(pid), 120)
    os.kill(pid, signal.SIGKILL)
    assert _wait(lambda: not launch.import_active(paths), 30)
    rc, out, err, exc = probes.run_cli("runs", "--cache-dir", cache)
    said = dict(launch.imports(cache)).get("imp", {})
    ok = not any(ln.startswith("imp ") for ln in out.splitlines()) and not paths.folder.exists() and said.get("state") == "failed" \
        and "stopped while" in said.get("message", "")
    probes.check("kill -9 during an import", "handled" if ok else "silent", f"{out}\n{said}")
    rc, out, err, exc = probes.run_cli("import", "--request", paths.import_request, "--run-id", "imp", "--quiet",
                                       "--cache-dir", cache)
    ok = rc == 0 and not paths.import_stage.exists() and open_run_complete(cache, "imp")
    probes.check("the same import after the kill", "handled" if ok else "crash", err)


def open_run_complete(cache, rid: str) -> bool:
    from core.store.runs import open_run

    return open_run(rid, cache).complete
