"""Trainer: seeded Adam on MSE/BCE, per-epoch checkpoints that resume, callbacks for UIs, DDP.

The trainer knows nothing of any UI: it reports through ``callback(event, info)`` (events
``start``, ``batch``, ``epoch``, ``end``) so the CLI prints a progress bar and the dashboard
reads a status file, without this module importing either.

Under ``torchrun --nproc_per_node=N`` (``WORLD_SIZE`` > 1) it trains with
DistributedDataParallel: gloo on the CPU, nccl on CUDA. Each rank takes every N-th sample
of the same seeded permutation; only rank 0 writes files.
"""
from __future__ import annotations

import math
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import NonFiniteError
from core.store import atomic
from core.config import ModelConfig, TrainConfig
from core.model.autoencoder import ConvAutoencoder, pick_device, save_model, to_tensor

Callback = Callable[[str, dict], None]


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> DistInfo:
    """Join the process group torchrun set up; a plain launch is a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local)


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _prefetch(it: Iterator, depth: int = 2) -> Iterator:
    """Run a batch iterator in a thread so memmap gathering overlaps with compute."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def work():
        for item in it:
            q.put(item)
        q.put(done)

    threading.Thread(target=work, daemon=True).start()
    while (item := q.get()) is not done:
        yield item


def _batches(images: np.ndarray, rows: np.ndarray, bs: int) -> Iterator[np.ndarray]:
    for i in range(0, len(rows), bs):
        sel = np.sort(rows[i:i + bs])  # sorted reads are kinder to a memmap
        yield images[sel]


@dataclass
class Trainer:
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    images: np.ndarray                  # uint8 [N, S, S, 3], may be a memmap
    train_rows: np.ndarray              # indices into images
    val_rows: np.ndarray
    ckpt_path: Path | None = None       # per-epoch checkpoint (resume)
    callbacks: list[Callback] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    # also checkpoint within an epoch when this many seconds passed since the last one, so a
    # kill loses minutes, not a long epoch (0: after every batch)
    checkpoint_every_s: float = 300.0

    def __post_init__(self):
        self.dist = init_distributed(self.train_cfg.device)
        if self.dist.world > 1 and torch.cuda.is_available() and self.train_cfg.device in ("auto", "cuda"):
            self.device = torch.device("cuda", self.dist.local_rank)
        else:
            self.device = pick_device(self.train_cfg.device)
        torch.manual_seed(self.train_cfg.seed)
        self.model = ConvAutoencoder(self.model_cfg).to(self.device)
        if self.device.type == "cpu":
            # channels_last is ~1.7x faster for these convs on CPU (measured in bench/)
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.train_cfg.lr,
                                    weight_decay=self.train_cfg.weight_decay)
        self.start_epoch = 0
        self._partial = {"step": 0, "seen": 0, "loss_sum": 0.0}   # progress within start_epoch
        if self.ckpt_path is not None and Path(self.ckpt_path).exists():
            self._load_checkpoint()
        self.net = self.model
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DDP(self.model, device_ids=ids)

    # -- checkpoints -------------------------------------------------------------------
    def _save_checkpoint(self, epoch: int, step: int = 0, seen: int = 0, loss_sum: float = 0.0) -> None:
        """``epoch`` epochs done, plus ``step`` batches of the next (the permutation of an epoch
        is fixed by the seed, so a resume skips exactly those batches)."""
        state = {"model": self.model.state_dict(), "optim": self.opt.state_dict(),
                 "epoch": epoch, "step": step, "seen": seen, "loss_sum": loss_sum,
                 "history": atomic.json.dumps(self.history),
                 "model_config": atomic.json.dumps(self.model_cfg.to_dict())}
        with atomic.atomic_path(self.ckpt_path) as tmp:
            torch.save(state, tmp)

    def _load_checkpoint(self) -> None:
        try:
            # weights_only: a checkpoint is data, never code
            state = torch.load(self.ckpt_path, map_location=self.device, weights_only=True)
            if atomic.json.loads(state["model_config"]) != atomic.json.loads(atomic.json.dumps(self.model_cfg.to_dict())):
                raise ValueError("checkpoint was made for another model config")
            bad = [k for k, v in state["model"].items() if v.is_floating_point() and not torch.isfinite(v).all()]
            if bad:     # resuming from it would only end in "loss became nan"
                raise ValueError(f"{len(bad)} weight tensors hold NaN/inf (first: {bad[0]})")
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optim"])
        except Exception as e:  # noqa: BLE001  (any broken checkpoint must not block training: start over)
            self._emit("warning", {"message": f"ignoring unreadable checkpoint {self.ckpt_path} ({e}): "
                                              "training starts over from epoch 1"})
            return
        self.start_epoch = int(state["epoch"])
        self._partial = {"step": int(state.get("step", 0)), "seen": int(state.get("seen", 0)),
                         "loss_sum": float(state.get("loss_sum", 0.0))}
        self.history = atomic.json.loads(state["history"])
        self._emit("resume", {"epoch": self.start_epoch, "step": self._partial["step"], "history": self.history})

    # -- loop --------------------------------------------------------------------------
    def _emit(self, event: str, info: dict) -> None:
        if self.dist.main:
            for cb in self.callbacks:
                cb(event, info)

    def _loss(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        if self.train_cfg.loss == "bce":
            return F.binary_cross_entropy(y, x)
        return F.mse_loss(y, x)

    def _to_device(self, batch_u8: np.ndarray) -> torch.Tensor:
        x = to_tensor(batch_u8, self.device)
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @torch.no_grad()
    def evaluate(self, rows: np.ndarray | None = None) -> float:
        rows = self.val_rows if rows is None else rows
        if len(rows) == 0:
            return float("nan")
        self.model.eval()
        total, count = 0.0, 0
        for b in _batches(self.images, rows, 256):
            x = self._to_device(b)
            y = self.model(x)
            total += F.mse_loss(y, x, reduction="sum").item() / (x[0].numel())
            count += len(b)
        return total / count

    def fit(self) -> list[dict]:
        cfg = self.train_cfg
        n_local = len(self.train_rows) // self.dist.world
        steps = math.ceil(n_local / cfg.batch_size)
        self._emit("start", {"epochs": cfg.epochs, "start_epoch": self.start_epoch, "steps": steps,
                             "n_train": len(self.train_rows), "n_val": len(self.val_rows),
                             "device": str(self.device), "world": self.dist.world})
        t_run = time.perf_counter()
        for epoch in range(self.start_epoch, cfg.epochs):
            # a permutation fixed by (seed, epoch) makes a resumed run see the same order
            perm = np.random.default_rng([cfg.seed, epoch]).permutation(self.train_rows)
            # equal shares: DDP ranks must run the same number of steps or they deadlock
            perm = perm[: len(perm) - len(perm) % self.dist.world] if self.dist.world > 1 else perm
            mine = perm[self.dist.rank::self.dist.world]
            self.model.train()
            t0, seen, loss_sum, skip = time.perf_counter(), 0, 0.0, 0
            if epoch == self.start_epoch and self._partial["step"]:
                # resume mid-epoch: the same permutation minus the batches already trained on
                skip = self._partial["step"]
                seen, loss_sum = self._partial["seen"], self._partial["loss_sum"]
                mine = mine[skip * cfg.batch_size:]
            seen0, t_ckpt = seen, time.monotonic()   # speed counts only what this process trained
            for step, b in enumerate(_prefetch(_batches(self.images, mine, cfg.batch_size)), start=skip):
                x = self._to_device(b)
                loss = self._loss(x)
                if not torch.isfinite(loss):
                    raise NonFiniteError(
                        f"training loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                        f"lower the learning rate (now {cfg.lr}) or try --loss bce")
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                seen += len(b) * self.dist.world
                loss_sum += loss.item() * len(b)
                if (self.ckpt_path is not None and step + 1 < steps
                        and time.monotonic() - t_ckpt >= self.checkpoint_every_s):
                    if self.dist.main:
                        self._save_checkpoint(epoch, step + 1, seen, loss_sum)
                    t_ckpt = time.monotonic()
                dt = time.perf_counter() - t0
                ips = (seen - seen0) / max(dt, 1e-9)
                left = (steps - step - 1) * cfg.batch_size * self.dist.world + \
                    (cfg.epochs - epoch - 1) * len(self.train_rows)
                self._emit("batch", {"epoch": epoch + 1, "epochs": cfg.epochs, "step": step + 1, "steps": steps,
                                     "loss": loss.item(), "images_per_s": ips, "eta_s": left / max(ips, 1e-9)})
            train_loss = loss_sum / max(seen / self.dist.world, 1)
            val_loss = self.evaluate()
            row = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                   "images_per_s": (seen - seen0) / (time.perf_counter() - t0), "seconds": time.perf_counter() - t0}
            self.history.append(row)
            if self.dist.main and self.ckpt_path is not None:
                self._save_checkpoint(epoch + 1)
            self._emit("epoch", dict(row, epochs=cfg.epochs, history=list(self.history)))
            self._barrier()
        self._emit("end", {"seconds": time.perf_counter() - t_run, "history": self.history})
        return self.history

    def _barrier(self) -> None:
        barrier()

    def save_weights(self, path: Path) -> None:
        if self.dist.main:
            save_model(self.model.to(memory_format=torch.contiguous_format), path)
