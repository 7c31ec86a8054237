"""The one place that knows the file names of the cache: a run folder's files, the derived/
folder's job files and the background-job logs. Everything else asks a ``RunPaths``.

    <cache>/runs/<run_id>/     config.json, status.json, history.json, checkpoint.pt,
                               weights.safetensors, z.npy, index.parquet, .lock, derived/
    <cache>/data/<key>/        images.npy, index.parquet, manifest.json, .lock (DataPaths)
    <cache>/logs/              <run_id>.train.log, .train.json (launch record), .config.json
                               (the configuration handed to a launched training)

Launch logs live outside the run folder so that a training refused before it wrote anything
leaves no run folder behind, yet its log still says why.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Explicit argument, else ``AE_CACHE_DIR``, else ``cache/`` at the repository root."""
    root = cache_dir or os.environ.get("AE_CACHE_DIR") or REPO_ROOT / "cache"
    return Path(root).expanduser().resolve()


def check_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_root``, refused when it cannot be a cache: a file (or under one), a folder this
    user cannot read, or one whose ``runs`` is a file. A missing folder is fine (created on write)."""
    from core.errors import BadInputError

    root = cache_root(cache_dir)
    source = "--cache-dir" if cache_dir else "AE_CACHE_DIR" if os.environ.get("AE_CACHE_DIR") else "the cache folder"
    fix = "give a folder (it is created when missing)"
    for p in (root, *root.parents):
        if p.exists():
            if not p.is_dir():
                where = f"{source} {root}" + (f": {p}" if p != root else "")
                raise BadInputError(f"{where} is a file, not a folder; {fix}")
            break
    if root.is_dir() and not os.access(root, os.R_OK | os.X_OK):
        raise BadInputError(f"{source} {root} is not readable by this user; {fix} you can read and write")
    if (root / "runs").exists() and not (root / "runs").is_dir():
        raise BadInputError(f"{source} {root}: its runs/ is a file, not a folder of runs; {fix}")
    return root


def runs_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "runs"


def logs_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "logs"


@dataclass(frozen=True)
class RunPaths:
    """Every file of one run. ``folder`` is ``<cache>/runs/<run_id>``."""

    folder: Path

    @classmethod
    def of(cls, run_id: str, cache_dir: str | os.PathLike | None = None) -> "RunPaths":
        from core.store.run_id import check_run_id  # a run id is a plain name, never a path

        return cls(runs_dir(cache_dir) / check_run_id(run_id))

    @property
    def run_id(self) -> str:
        return self.folder.name

    @property
    def cache(self) -> Path:
        return self.folder.parent.parent

    # -- the run folder -----------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.folder / "config.json"

    @property
    def status(self) -> Path:
        return self.folder / "status.json"

    @property
    def history(self) -> Path:
        return self.folder / "history.json"

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint.pt"

    @property
    def weights(self) -> Path:
        return self.folder / "weights.safetensors"

    @property
    def z(self) -> Path:
        return self.folder / "z.npy"

    @property
    def index(self) -> Path:
        return self.folder / "index.parquet"

    @property
    def z_check(self) -> Path:
        """The last NaN/inf scan of z.npy, keyed by the file's size, mtime and inode."""
        return self.derived / "z-check.json"

    @property
    def lock(self) -> Path:
        """Held (flock) by the process training the run."""
        return self.folder / ".lock"

    @property
    def derived(self) -> Path:
        return self.folder / "derived"

    # -- the derive job (inside derived/) ------------------------------------------------
    @property
    def derive_status(self) -> Path:
        return self.derived / "derive_status.json"

    @property
    def derive_lock(self) -> Path:
        return self.derived / ".derive.lock"

    @property
    def derive_log(self) -> Path:
        return self.derived / "derive.log"

    @property
    def derive_launch(self) -> Path:
        return self.derived / "derive_job.json"

    # -- the quality job (core.jobs.quality; rows in core.quality.table) -------------------
    @property
    def quality(self) -> Path:
        return self.derived / "quality"

    @property
    def quality_status(self) -> Path:
        return self.quality / "status.json"

    @property
    def quality_lock(self) -> Path:
        return self.derived / ".quality.lock"

    @property
    def quality_log(self) -> Path:
        return self.quality / "quality.log"

    @property
    def quality_launch(self) -> Path:
        return self.quality / "quality_job.json"

    # -- a launched training (outside the run folder) ------------------------------------
    @property
    def train_log(self) -> Path:
        return self.cache / "logs" / f"{self.run_id}.train.log"

    @property
    def train_launch(self) -> Path:
        """Launch record: pid, command, start time of a training spawned in the background."""
        return self.cache / "logs" / f"{self.run_id}.train.json"

    @property
    def launch_config(self) -> Path:
        """The RunConfig JSON a background training of a new run is started from."""
        return self.cache / "logs" / f"{self.run_id}.config.json"

    # -- an import (core.jobs.import_run): outside the run folder until it is complete ---------
    @property
    def import_stage(self) -> Path:
        """Where an import writes the run before renaming it to ``folder`` (same file system)."""
        return self.cache / "imports" / f"{self.run_id}.partial"

    @property
    def import_status(self) -> Path:
        """Progress and final state of an import, with the refusal's message when it failed."""
        return self.cache / "logs" / f"{self.run_id}.import-status.json"

    @property
    def import_lock(self) -> Path:
        return self.cache / "logs" / f"{self.run_id}.import.lock"

    @property
    def import_log(self) -> Path:
        return self.cache / "logs" / f"{self.run_id}.import.log"

    @property
    def import_launch(self) -> Path:
        return self.cache / "logs" / f"{self.run_id}.import.json"

    @property
    def import_request(self) -> Path:
        """The import's options as JSON, handed to a background ``python -m core import --request``."""
        return self.cache / "logs" / f"{self.run_id}.import-request.json"

    def exists(self) -> bool:
        """A folder that is (or is becoming) a run: it has a config, a status or a lock."""
        return self.folder.is_dir() and any(p.exists() for p in (self.config, self.status, self.lock))


@dataclass(frozen=True)
class DataPaths:
    """Every file of one preprocessed-images cache ``<cache>/data/<key>/`` (core.data.prepare)."""

    folder: Path

    @property
    def images(self) -> Path:
        """uint8 [N, S, S, 3], memory-mappable."""
        return self.folder / "images.npy"

    @property
    def index(self) -> Path:
        return self.folder / "index.parquet"

    @property
    def manifest(self) -> Path:
        """Written last: its presence marks the cache complete."""
        return self.folder / "manifest.json"

    @property
    def lock(self) -> Path:
        return self.folder / ".lock"
