"""One call from a config to a complete run: prepare data, train (resuming), encode, index.

A run folder is locked while it is being trained (``flock``: released by the kernel if the
process dies), so one run is never trained twice at once; the same command run again
resumes an interrupted run from its last epoch, or returns at once when it is complete.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, ContextManager

import numpy as np

from core.config import RunConfig
from core.errors import AtlasError, BadInputError, BusyError
from core.store import atomic
from core.store.locks import exclusive
from core.store.locks import is_locked as _is_file_locked
from core.store.paths import RunPaths, cache_root, runs_dir
from core.store.run_id import check_run_id
from core.store.runs import DONE, Run

RunBusyError = BusyError  # raised when another process trains the same run


def default_run_id(cfg: RunConfig) -> str:
    """Same options -> same id, so repeating a command resumes or reuses its run."""
    h = hashlib.sha1(cfg.to_json().encode()).hexdigest()[:8]
    return f"{cfg.data.dataset}-{cfg.model.image_size}px-z{cfg.model.z_dim}-{h}"


def run_lock(run_path: Path) -> ContextManager[None]:
    """The run's training lock (one training a run; released by the kernel when the holder dies)."""
    paths = RunPaths(Path(run_path))
    return exclusive(paths.lock, busy=f"run {paths.run_id} is being trained by another process")


def is_locked(run_path: Path) -> bool:
    """True while some process holds the run's training lock."""
    return _is_file_locked(RunPaths(Path(run_path)).lock)


class StatusWriter:
    """Trainer callback that keeps ``status.json`` current (throttled) for the dashboard."""

    def __init__(self, path: Path, every_s: float = 1.0, enabled: bool = True):
        self.path, self.every_s, self.last, self.state = path, every_s, 0.0, {}
        self.enabled = enabled

    def set(self, **kw: Any) -> None:
        if not self.enabled:
            return
        self.state.update(kw, updated=time.time(), pid=os.getpid())
        atomic.write_json(self.path, self.state)
        self.last = time.monotonic()

    def __call__(self, event: str, info: dict) -> None:
        if event == "batch" and time.monotonic() - self.last < self.every_s:
            return
        info = {k: v for k, v in info.items() if k != "history"}
        if event in ("epoch", "resume"):
            # the trainer checkpoints before it reports an epoch: a kill from here on resumes after it
            info["checkpoint_epoch"] = info["epoch"]
        self.set(event=event, **info)


class TqdmProgress:
    """Trainer callback: one progress bar per epoch with images/s and ETA."""

    def __init__(self):
        from tqdm.auto import tqdm

        self.tqdm, self.bar = tqdm, None

    def __call__(self, event: str, info: dict) -> None:
        if event == "batch":
            if self.bar is None:
                self.bar = self.tqdm(total=info["steps"], desc=f"epoch {info['epoch']}/{info['epochs']}",
                                     file=sys.stderr, leave=True)
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{info['loss']:.4f}", img_s=f"{info['images_per_s']:.0f}",
                                 eta=f"{info['eta_s'] / 60:.1f}min", refresh=False)
        elif event == "epoch":
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            print(f"epoch {info['epoch']}/{info['epochs']}: train {info['train_loss']:.5f} "
                  f"val {info['val_loss']:.5f} ({info['images_per_s']:.0f} img/s)", file=sys.stderr)


class HistoryWriter:
    """Trainer callback: ``history.json`` rewritten (atomically) after every epoch, so a page
    can draw the loss curve while the training still runs."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, event: str, info: dict) -> None:
        if event in ("epoch", "resume") and info.get("history") is not None:
            atomic.write_json(self.path, info["history"])


def _notices(event: str, info: dict) -> None:
    """Resumes and warnings are always said, even with progress bars off."""
    if event == "resume" and info.get("step"):
        print(f"resuming from the checkpoint in epoch {info['epoch'] + 1}, after step {info['step']}", file=sys.stderr)
    elif event == "resume":
        print(f"resuming from the checkpoint after epoch {info['epoch']}", file=sys.stderr)
    elif event == "warning":
        print(f"warning: {info['message']}", file=sys.stderr)


def _split_rows(index, seed: int = 0, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Train on 'train' rows, validate on 'valid' (else 'test'); when a subset has neither
    (e.g. --limit on CelebA keeps only early, training ids), hold out a seeded fraction."""
    part = index["partition"].to_numpy()
    train = np.flatnonzero(part == "train")
    val = np.flatnonzero(part == "valid")
    if len(val) == 0:
        val = np.flatnonzero(part == "test")
    if len(train) == 0:
        raise ValueError("the dataset has no training images")
    if len(val) == 0 and len(train) >= 10:
        perm = np.random.default_rng(seed).permutation(train)
        n_val = max(1, int(round(len(train) * val_fraction)))
        val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return train, val


def _used_partition(index, train_rows: np.ndarray, val_rows: np.ndarray) -> np.ndarray:
    """The partition column as the training used it: rows held out from a 'train'-only subset
    (e.g. CelebA with --limit) become 'valid', so pages and ``recon --partition valid`` see
    which images the model never trained on."""
    part = index["partition"].to_numpy(dtype=object).copy()
    part[val_rows] = np.where(part[val_rows] == "train", "valid", part[val_rows])
    return part


def _clean_strays(path: Path) -> None:
    """Remove ``.tmp-*`` files a killed writer of this run left behind: only the process
    holding the run's lock writes into the run folder (derived/ is a folder of its own)."""
    for stray in path.glob(".tmp-*"):
        stray.unlink(missing_ok=True)


def _broken_reason(run: Run) -> str | None:
    """Why a run marked complete cannot be used (weights or z-points damaged), or None."""
    try:
        run.check()
        run.check_values()
        run.load_model()
    except AtlasError as e:
        return str(e)
    return None


def train_run(cfg: RunConfig, cache_dir: str | os.PathLike | None = None, run_id: str | None = None, *,
              progress: bool = True, callbacks: list[Callable[[str, dict], None]] | None = None,
              checkpoint_every_s: float = 300.0) -> Run:
    """Prepare, train, encode; returns the complete run. Safe to call again after a kill; a
    complete run whose weights or z-points are damaged is rebuilt (from its last checkpoint)."""
    from core.data.prepare import prepare
    from core.model.autoencoder import pick_device
    from core.model.encode import encode_to_npy
    from core.model.train import Trainer, barrier, init_distributed

    pick_device(cfg.train.device)  # a device that is not here fails now, not after preprocessing
    run_id = check_run_id(default_run_id(cfg) if run_id is None else run_id)
    dist = init_distributed(cfg.train.device)  # a world of one unless launched by torchrun
    root = cache_root(cache_dir)
    paths = RunPaths(runs_dir(root) / run_id)
    path = paths.folder
    if paths.config.exists():
        old = Run(path).meta["config"]      # a damaged config.json is named (BrokenArtifactError)
        if old != json.loads(cfg.to_json()):
            raise BadInputError(f"run {run_id!r} already exists with a different configuration; "
                                f"pick another --run-id or delete {path}")
    new_run = not path.exists()
    run = Run(path)
    # only rank 0 owns the run folder: it takes the lock and writes every file
    with (run_lock(path) if dist.main else nullcontext()):
        if dist.main:
            _clean_strays(path)
        if dist.main and run.complete:
            why = _broken_reason(run)
            if why is None:
                return run
            _notices("warning", {"message": f"{why}; rebuilding the run's weights and z-points from its checkpoint"})
        status = StatusWriter(paths.status, enabled=dist.main)
        status.set(state="preparing", message="preparing images")
        try:
            if not dist.main:
                barrier()  # let rank 0 build the preprocessing cache first
            data = prepare(cfg.data, root, progress=progress and dist.main)
            if dist.main:
                barrier()
            if not dist.main:
                return _train_only(cfg, data, paths, Trainer)
            atomic.write_json(paths.config, {"config": json.loads(cfg.to_json()), "fingerprint": data.fingerprint,
                                             "data_path": str(data.path),
                                             "manifest": _manifest_summary(data.manifest),
                                             "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
            train_rows, val_rows = _split_rows(data.index, cfg.data.seed, cfg.data.val_fraction)
            status.set(state="training", message="training")
            cbs = [status, _notices] + ([TqdmProgress()] if progress else []) + list(callbacks or [])
            cbs.insert(1, HistoryWriter(paths.history))
            trainer = Trainer(cfg.model, cfg.train, data.images, train_rows, val_rows,
                              ckpt_path=paths.checkpoint, callbacks=cbs,
                              checkpoint_every_s=checkpoint_every_s)
            history = trainer.fit()
            trainer.save_weights(paths.weights)
            atomic.write_json(paths.history, history)
            status.set(state="encoding", message=f"encoding {len(data.images)} images")
            bar = _encode_bar(progress, len(data.images))
            model = trainer.model.eval()
            errs = encode_to_npy(model, data.images, paths.z,
                                 progress=lambda i, n: (bar and bar.update(i - bar.n),
                                                        status("batch", {"encoded": i, "total": n})))
            if bar:
                bar.close()
            index = data.index.copy()
            index.insert(0, "row", np.arange(len(index)))
            index["partition"] = _used_partition(index, train_rows, val_rows)
            index["recon_mse"] = errs
            with atomic.atomic_path(paths.index) as tmp:
                index.to_parquet(tmp, index=False)
            status.set(state=DONE, message="complete", event="done")
        except ValueError as e:
            if dist.main and new_run and not paths.config.exists():
                _forget(paths)  # a refused configuration (bad data folder, no images): no run to list
            else:
                status.set(state="failed", message=f"{type(e).__name__}: {e}")
            raise
        except BaseException as e:
            status.set(state="failed", message=f"{type(e).__name__}: {e}")
            raise
    return Run(path)  # fresh: its cached meta reflects the config.json written above


def _forget(paths: RunPaths) -> None:
    """Remove what this call wrote into a run folder it created (status, lock), then the folder."""
    for p in (paths.status, paths.lock):
        p.unlink(missing_ok=True)
    try:
        paths.folder.rmdir()
    except OSError:  # someone else's files are in it: leave them
        pass


def _train_only(cfg: RunConfig, data, paths: RunPaths, trainer_cls) -> Run:
    """What a DDP rank other than 0 does: its share of the training, nothing written."""
    train_rows, val_rows = _split_rows(data.index, cfg.data.seed, cfg.data.val_fraction)
    trainer_cls(cfg.model, cfg.train, data.images, train_rows, val_rows, ckpt_path=paths.checkpoint).fit()
    return Run(paths.folder)


def _encode_bar(progress: bool, n: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n, desc="encoding", file=sys.stderr, unit="img")


def _manifest_summary(m: dict) -> dict:
    """Keep the run's config small: counts and the first skipped files, not every path."""
    out = {k: v for k, v in m.items() if k != "skipped"}
    out["skipped"] = list(m.get("skipped", []))[:50]
    return out
