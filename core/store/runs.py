"""Run store: ``<cache>/runs/<run_id>/`` folders that describe themselves (file names: paths.py).

    config.json          RunConfig, dataset fingerprint and key, created time
    status.json          state (preparing|training|encoding|done|failed), progress, message
    history.json         per-epoch train/validation loss, images/s
    checkpoint.pt        last epoch's model+optimizer (torch.save, loaded weights_only)
    weights.safetensors  final weights, model config in the metadata
    z.npy                float32 [N, z_dim] z-points, one per image of the dataset
    index.parquet        one row per z-point: row, image_id, path, partition, attributes, recon_mse
    derived/             stats, UMAP, mixtures: keyed by the z-points they came from

This module owns reading a run: its status (one reader, which also tells an interrupted run
from a live one), its description (one summary for the CLI and the dashboard) and the listing,
in which one broken folder is listed as broken instead of breaking the others. Every loader
raises a typed error (core.errors) naming the file and the repair.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.config import RunConfig
from core.errors import AtlasError, BrokenArtifactError, NotReadyError, UnknownRunError
from core.store import atomic, integrity
from core.store.locks import is_locked
from core.store.run_id import check_run_id, is_valid_run_id
from core.store.paths import REPO_ROOT, DataPaths, RunPaths, cache_root, logs_dir, runs_dir  # noqa: F401  (re-exported)

DONE = "done"
ACTIVE = ("preparing", "training", "encoding")   # states only a live (lock-holding) process writes
RETRAIN = "delete the run folder and train it again"


def read_status(paths: RunPaths) -> dict[str, Any]:
    """The run's status: status.json, with two states it cannot say itself: ``interrupted``
    (it says preparing/training/encoding but no process holds the run's lock: the training
    was killed; ``checkpoint_epoch`` says where a resume starts) and ``broken`` (unreadable)."""
    try:
        st = atomic.read_json(paths.status)
    except FileNotFoundError:
        return {"state": "unknown", "message": "no status yet"}
    except (OSError, ValueError) as e:
        return {"state": "broken", "message": f"{paths.status.name} is unreadable ({type(e).__name__})"}
    if not isinstance(st, dict):
        return {"state": "broken", "message": f"{paths.status.name} is not a JSON object"}
    if st.get("state") in ACTIVE and not is_locked(paths.lock):
        st = {**st, "state": "interrupted", "was": st.get("state"),
              "message": f"interrupted while {st.get('state')}; resume it to continue from epoch "
                         f"{int(st.get('checkpoint_epoch') or 0)}"}
    return st


@dataclass
class Run:
    path: Path

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.path)

    @property
    def run_id(self) -> str:
        return self.path.name

    # -- metadata ----------------------------------------------------------------------
    @cached_property
    def meta(self) -> dict[str, Any]:
        p = self.paths.config
        try:
            meta = atomic.read_json(p)
        except FileNotFoundError:
            raise NotReadyError(f"run {self.run_id} has no {p.name} yet: it is still being prepared") from None
        except (OSError, ValueError) as e:
            raise BrokenArtifactError(p, f"unreadable JSON ({e})", RETRAIN) from None
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise BrokenArtifactError(p, "not a run configuration (no 'config' object)", RETRAIN)
        return meta

    @cached_property
    def config(self) -> RunConfig:
        try:
            return RunConfig.from_dict(self.meta["config"])
        except (TypeError, ValueError, AttributeError) as e:
            raise BrokenArtifactError(self.paths.config, f"invalid configuration ({e})", RETRAIN) from None

    def status(self) -> dict[str, Any]:
        return read_status(self.paths)

    @property
    def complete(self) -> bool:
        return self.status().get("state") == DONE and self.paths.z.exists()

    def history(self) -> list[dict]:
        p = self.paths.history
        if not p.exists():
            return []
        try:
            h = atomic.read_json(p)
        except (OSError, ValueError) as e:
            raise BrokenArtifactError(p, f"unreadable JSON ({type(e).__name__})", RETRAIN) from None
        if not isinstance(h, list) or not all(isinstance(r, dict) and "val_loss" in r for r in h):
            raise BrokenArtifactError(p, "not a list of epochs", RETRAIN)
        return h

    def manifest(self) -> dict[str, Any]:
        m = self.meta.get("manifest", {})
        return m if isinstance(m, dict) else {}

    # -- artifacts ---------------------------------------------------------------------
    @property
    def rebuild(self) -> str:
        """The repair for damaged weights or z-points: train rebuilds them from the checkpoint
        (an imported run: import it again)."""
        if self.external:
            return ("delete the run folder and import the model again (python -m core import ...; its "
                    "options are under 'external' -> 'request' in config.json)")
        return (f"run `python -m core train --config {self.paths.config} --run-id {self.run_id}` to rebuild it (from the run's last "
                f"good checkpoint where there is one), or {RETRAIN}")

    def _need(self, p: Path) -> Path:
        if not p.exists():
            self.require_complete()
            raise BrokenArtifactError(p, "is missing", self.rebuild)
        return p

    def require_complete(self) -> None:
        """NotReadyError unless training and encoding have finished (saying what state it is in)."""
        if self.complete:
            return
        st = self.status()
        if st.get("state") == DONE:   # finished once, then a file went missing
            raise BrokenArtifactError(self.paths.z, "is missing although the run is done", self.rebuild)
        where = f" (epoch {st['epoch']}/{st['epochs']})" if st.get("epoch") and st.get("epochs") else ""
        raise NotReadyError(f"run {self.run_id!r} is not complete: its state is {st.get('state', 'unknown')!r}"
                            f"{where}; wait for its training to finish, or resume it with "
                            f"`python -m core train --config {self.paths.config} --run-id {self.run_id}`")

    def check(self) -> tuple[int, int]:
        """(N, d) of the z-points after checking the run's files against each other: z.npy
        whole and float32 [N, z_dim of the config], index.parquet with N rows, the images
        (when present) with N rows. Cheap: headers and metadata only."""
        st = self.status()
        if st.get("state") == "broken":     # files that look whole are still not used in silence
            raise BrokenArtifactError(self.paths.status, st.get("message", "unreadable"), self.rebuild)
        zp, ip = self._need(self.paths.z), self._need(self.paths.index)
        shape, dtype, _ = integrity.npy_header(zp, self.rebuild)
        if len(shape) != 2 or dtype != np.float32:
            raise BrokenArtifactError(zp, f"is {dtype} {tuple(shape)}, not a float32 [N, d] array", self.rebuild)
        n, d = shape
        if d != self.config.model.z_dim:
            raise BrokenArtifactError(zp, f"has {d} columns but the run's config says z_dim {self.config.model.z_dim}",
                                      self.rebuild)
        n_index = integrity.parquet_rows(ip, self.rebuild)
        if n_index != n:
            raise BrokenArtifactError(zp, f"has {n:,} z-points but index.parquet has {n_index:,} rows", self.rebuild)
        img = DataPaths(Path(self.meta.get("data_path", ""))).images
        if self.meta.get("data_path") and img.exists():
            n_img = integrity.npy_header(img, self.rebuild)[0][0]
            if n_img != n:
                raise BrokenArtifactError(img, f"has {n_img:,} images but the run has {n:,} z-points", self.rebuild)
        return n, d

    def check_values(self) -> None:
        """z.npy holds only finite numbers: NaN/inf would poison every statistic and every decode
        (the scan's verdict is remembered in derived/, so a listing reads a large z.npy once)."""
        rows, count, n = integrity.nonfinite_rows_cached(self.paths.z, self.paths.z_check, self.rebuild)
        if count:
            raise BrokenArtifactError(self.paths.z, f"{count:,} of {n:,} z-points hold NaN or inf (rows "
                                      f"{', '.join(map(str, rows))}{', ...' if count > len(rows) else ''})",
                                      self.rebuild)

    def z(self, mmap: bool = True) -> np.ndarray:
        """z-points float32 [N, d], checked against the run's other files first. ``mmap=False``
        reads them into memory: what a long-lived process (the dashboard) must do, since a
        mapped file truncated by someone else kills its reader (SIGBUS)."""
        self.check()
        self.check_values()
        p = self.paths.z
        try:
            return atomic.load_npy(p, mmap=True) if mmap else integrity.load_npy_whole(p, self.rebuild)
        except (OSError, ValueError) as e:
            raise BrokenArtifactError(p, f"not a readable .npy ({e})", self.rebuild) from None

    def index(self) -> pd.DataFrame:
        self.check()
        p = self.paths.index
        try:
            return pd.read_parquet(p)
        except (OSError, ValueError) as e:
            raise BrokenArtifactError(p, f"not a readable parquet table ({type(e).__name__})", self.rebuild) from None

    @property
    def external(self) -> dict | None:
        """How an imported run's model is opened (core.model.external); None for our own runs."""
        ext = self.meta.get("external")
        return ext if isinstance(ext, dict) else None

    def load_model(self, device: str = "cpu") -> Any:
        """Our own runs: the torch ConvAutoencoder. Imported runs: their ExternalCodec (numpy in
        and out). Code that should not care which uses ``codec()``."""
        if self.external:
            return self.codec(device)
        from safetensors import SafetensorError

        from core.model.autoencoder import load_model  # torch is heavy: import only when a model is needed

        p = self._need(self.paths.weights)
        try:
            model = load_model(p, self.config.model, device=device)
            if model.cfg != self.config.model:  # e.g. weights copied over from another run
                raise BrokenArtifactError(p, f"made for another model ({model.cfg}) than the run's config "
                                          f"({self.config.model})")
            return model
        except BrokenArtifactError as e:
            raise BrokenArtifactError(e.path, e.why, self.rebuild) from None
        except AtlasError:
            raise
        except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as e:
            raise BrokenArtifactError(p, f"unreadable weights ({type(e).__name__}: {e})", self.rebuild) from None

    def codec(self, device: str = "cpu", threads: int | None = None) -> Any:
        """The run's autoencoder as a ``core.model.codec.Codec``: encode(images uint8) -> z,
        decode(z) -> images uint8, whether we trained it or it was imported."""
        if self.external:
            from core.model.external import load_external

            return load_external(self.external, self.path, device, threads)
        from core.model.codec import OwnCodec

        return OwnCodec(self.load_model(device))

    def images(self) -> integrity.NpyRows:
        """The preprocessed uint8 images [N, S, S, 3] the z-points were encoded from, read by
        row on demand (never mapped: the data cache is shared with other processes)."""
        p = DataPaths(Path(self.meta.get("data_path", ""))).images
        repair = "re-run `python -m core train` with the same options to rebuild them"
        if not p.exists():
            raise BrokenArtifactError(p, f"the preprocessed images of run {self.run_id} are gone", repair)
        return integrity.NpyRows(p, repair)

    def derived(self, name: str = "") -> Path:
        d = self.paths.derived
        d.mkdir(exist_ok=True)
        return d / name if name else d

    def summary(self) -> dict[str, Any]:
        """One description of the run for every listing (CLI table, dashboard sidebar). Never
        raises: what cannot be read is named in ``problem`` and the state is ``broken``."""
        st = self.status()
        out: dict[str, Any] = {"run_id": self.run_id, "state": st.get("state"), "dataset": None,
                               "model": None, "image_size": None, "z_dim": None, "epochs": None, "val_loss": None,
                               "n_images": None, "created": None, "problem": None}
        try:
            if st.get("state") == "broken":
                out["problem"] = f"{st.get('message')}; to repair: {self.rebuild}"
            cfg = self.config
            out.update(dataset=cfg.data.dataset, image_size=cfg.model.image_size, z_dim=cfg.model.z_dim,
                       model=(self.external or {}).get("route", "own"),
                       n_images=self.manifest().get("n_ok"), created=self.meta.get("created"))
            hist = self.history()
            out["epochs"] = len(hist) if hist else int(st.get("checkpoint_epoch") or 0)
            out["val_loss"] = hist[-1]["val_loss"] if hist else None
            if out["state"] == DONE:    # a finished run whose files went bad is broken, and says how to mend it
                self.check()
                self.check_values()
        except NotReadyError:
            out["epochs"] = int(st.get("checkpoint_epoch") or 0)
        except BrokenArtifactError as e:
            out["state"] = "broken"
            out["problem"] = f"{e.path.name}: {e.why}" + (f"; to repair: {e.repair}" if e.repair else "")
        return out


def summary_line(s: dict[str, Any]) -> str:
    """A run's summary in one line of markdown (the dashboard's caption under the picker)."""
    what = [f"**{s['state']}**"]
    if s.get("dataset"):
        what += [s["dataset"], f"{s['image_size']} px", f"z_dim {s['z_dim']}"]
        if s.get("model") not in (None, "own"):
            what.append(f"imported {s['model']}")
        if s.get("n_images"):
            what.append(f"{s['n_images']:,} images")
    if s["state"] == "interrupted":
        what.append(f"last checkpoint: epoch {s.get('epochs') or 0}")
    if s.get("problem"):
        what.append(s["problem"])
    return " · ".join(what)


def open_run(run_id: str, cache_dir: str | os.PathLike | None = None) -> Run:
    p = runs_dir(cache_dir) / check_run_id(run_id)
    if not RunPaths(p).exists():
        known = ", ".join(r.run_id for r in list_runs(cache_dir)) or "none"
        raise UnknownRunError(f"no run {run_id!r} in {p.parent} (known runs: {known})")
    return Run(p)


def list_runs(cache_dir: str | os.PathLike | None = None, complete_only: bool = False) -> list[Run]:
    """Every run folder (complete, in progress, interrupted or broken), sorted by id."""
    d = runs_dir(cache_dir)
    if not d.is_dir():
        return []
    runs = [Run(p) for p in sorted(d.iterdir()) if is_valid_run_id(p.name) and RunPaths(p).exists()]
    return [r for r in runs if r.complete] if complete_only else runs
