"""Run store: ``<cache>/runs/<run_id>/`` folders that describe themselves.

Layout of a run folder::

    config.json          RunConfig, dataset fingerprint and key, created time
    status.json          state (preparing|training|encoding|done|failed), progress, message
    history.json         per-epoch train/validation loss, images/s
    checkpoint.pt        last epoch's model+optimizer (torch.save, loaded weights_only)
    weights.safetensors  final weights, model config in the metadata
    z.npy                float32 [N, z_dim] z-points, one per image of the dataset
    index.parquet        one row per z-point: row, image_id, path, partition, attributes, recon_mse
    derived/             stats, UMAP, mixtures: keyed by the z-points they came from
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from core.store import atomic
from core.config import RunConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
DONE = "done"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Explicit argument, else ``AE_CACHE_DIR``, else ``cache/`` at the repository root."""
    root = cache_dir or os.environ.get("AE_CACHE_DIR") or REPO_ROOT / "cache"
    return Path(root).expanduser().resolve()


def runs_dir(cache_dir=None) -> Path:
    return cache_root(cache_dir) / "runs"


@dataclass
class Run:
    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    # -- metadata ----------------------------------------------------------------------
    @cached_property
    def meta(self) -> dict:
        return atomic.read_json(self.path / "config.json")

    @property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(self.meta["config"])

    def status(self) -> dict:
        try:
            return atomic.read_json(self.path / "status.json")
        except (OSError, ValueError):
            return {"state": "unknown"}

    @property
    def complete(self) -> bool:
        return self.status().get("state") == DONE and (self.path / "z.npy").exists()

    def history(self) -> list[dict]:
        p = self.path / "history.json"
        return atomic.read_json(p) if p.exists() else []

    def manifest(self) -> dict:
        return self.meta.get("manifest", {})

    # -- artifacts ---------------------------------------------------------------------
    def z(self, mmap: bool = True) -> np.ndarray:
        z = atomic.load_npy(self.path / "z.npy", mmap=mmap)
        if z.ndim != 2 or z.dtype != np.float32:
            raise ValueError(f"{self.path / 'z.npy'} is not a float32 [N, d] array")
        return z

    def index(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "index.parquet")

    def load_model(self, device="cpu"):
        from core.model.autoencoder import load_model  # torch is heavy: import only when a model is needed

        return load_model(self.path / "weights.safetensors", self.config.model, device=device)

    def images(self) -> np.ndarray:
        """The preprocessed uint8 images [N, S, S, 3] the z-points were encoded from."""
        p = Path(self.meta["data_path"]) / "images.npy"
        if not p.exists():
            raise FileNotFoundError(f"preprocessed images of run {self.run_id} are gone ({p}); "
                                    f"re-run `python -m core train` with the same options to rebuild them")
        return atomic.load_npy(p, mmap=True)

    def derived(self, name: str = "") -> Path:
        d = self.path / "derived"
        d.mkdir(exist_ok=True)
        return d / name if name else d

    def summary(self) -> dict:
        st, cfg = self.status(), self.meta.get("config", {})
        hist = self.history()
        return {"run_id": self.run_id, "state": st.get("state"), "dataset": cfg.get("data", {}).get("dataset"),
                "image_size": cfg.get("model", {}).get("image_size"), "z_dim": cfg.get("model", {}).get("z_dim"),
                "epochs": len(hist), "val_loss": hist[-1]["val_loss"] if hist else None,
                "n_images": self.manifest().get("n_ok"), "created": self.meta.get("created")}


def open_run(run_id: str, cache_dir=None) -> Run:
    p = runs_dir(cache_dir) / run_id
    if not (p / "config.json").exists():
        known = ", ".join(r.run_id for r in list_runs(cache_dir)) or "none"
        raise FileNotFoundError(f"no run {run_id!r} in {p.parent} (known runs: {known})")
    return Run(p)


def list_runs(cache_dir=None, complete_only: bool = False) -> list[Run]:
    d = runs_dir(cache_dir)
    if not d.is_dir():
        return []
    runs = []
    for p in sorted(d.iterdir()):
        if not (p / "config.json").exists():
            continue
        try:
            r = Run(p)
            r.meta  # unreadable config -> not a run
        except (OSError, ValueError):
            continue
        if complete_only and not r.complete:
            continue
        runs.append(r)
    return runs
