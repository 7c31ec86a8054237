"""Background jobs: a training or a derivation started as its own ``python -m core ...``
process (``start_new_session``), so closing or reloading a page never kills it. Never imports
streamlit; the dashboard's jobs module only adds its switches around this.

A run's configuration crosses the process boundary as its JSON (``train --config FILE``),
never as a rebuilt argument list: a new run's RunConfig is written to ``logs/<run>.config.json``
and a resume hands the child the run's own ``config.json``, so every option survives.

Between the spawn and the moment the child takes the run's lock (torch imports take seconds) a
launch record says "starting", so a rerun in that window does not spawn a twin; the run's lock
(core.jobs.train_run) guarantees one training a run in any case.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.jobs.derive import UMAP_PARAMS, derive_status
from core.store import atomic
from core.store.locks import is_locked
from core.store.run_id import is_valid_run_id
from core.store.paths import REPO_ROOT, RunPaths, cache_root, logs_dir
from core.store.runs import DONE, list_runs, read_status

STARTING_GRACE_S = 180      # a launch record younger than this counts as "starting"
_children: dict[int, subprocess.Popen] = {}   # reaped on every query so none stays a zombie


def _reap() -> None:
    """Collect our finished children so none lingers as a zombie."""
    for pid, p in list(_children.items()):
        if p.poll() is not None:
            del _children[pid]


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    _reap()
    if pid in _children:
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def launch(cmd: list[str], log: Path, record: Path, kind: str) -> int:
    """Start ``cmd`` detached, output appended to ``log``; write its launch record; its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as f:
        f.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        f.flush()
        p = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    _children[p.pid] = p
    atomic.write_json(record, {"pid": p.pid, "kind": kind, "cmd": cmd, "started": time.time()})
    return p.pid


def starting(record: Path) -> bool:
    """A launch recorded moments ago whose process is still alive."""
    try:
        rec = atomic.read_json(record)
    except (OSError, ValueError):
        return False
    return isinstance(rec, dict) and time.time() - rec.get("started", 0) < STARTING_GRACE_S \
        and pid_alive(rec.get("pid"))


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# -- training -------------------------------------------------------------------------------
def train_command(paths: RunPaths, config_file: Path) -> list[str]:
    """``python -m core train --config FILE`` for the run at ``paths``."""
    return [sys.executable, "-m", "core", "train", "--config", str(config_file), "--run-id", paths.run_id,
            "--cache-dir", str(paths.cache), "--quiet"]


def training_active(paths: RunPaths) -> bool:
    """A process holds the run's lock, or one was launched moments ago and is still starting."""
    _reap()
    return is_locked(paths.lock) or starting(paths.train_launch)


def run_status(paths: RunPaths) -> dict[str, Any]:
    """The run's status (core.store.runs.read_status), ``starting`` while a launch is under way."""
    st = read_status(paths)
    if st.get("state") in ("unknown", "interrupted", "failed") and starting(paths.train_launch):
        st = {**st, "state": "starting", "message": "starting"}
    return st


def start_training(run_id: str, cfg: RunConfig, cache_dir: str | os.PathLike | None = None) -> bool:
    """Spawn the training of a run from its configuration unless it is already being trained;
    True if spawned."""
    paths = RunPaths.of(run_id, cache_dir)
    if training_active(paths):
        return False
    paths.launch_config.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(paths.launch_config, cfg.to_json())
    launch(train_command(paths, paths.launch_config), paths.train_log, paths.train_launch, "train")
    return True


def resume_training(run_id: str, cache_dir: str | os.PathLike | None = None) -> bool:
    """Start an interrupted run again from its own config.json (it resumes from its last
    checkpoint); False when it is being trained already or has no configuration to resume."""
    paths = RunPaths.of(run_id, cache_dir)
    if training_active(paths):
        return False
    source = paths.config if paths.config.exists() else paths.launch_config
    if not source.exists():
        return False
    launch(train_command(paths, source), paths.train_log, paths.train_launch, "train")
    return True


def starting_runs(cache_dir: str | os.PathLike | None = None) -> list[str]:
    """Runs launched moments ago whose process has not created the run folder yet."""
    d = logs_dir(cache_dir)
    if not d.is_dir():
        return []
    out = []
    for rec in sorted(d.glob("*.train.json")):
        rid = rec.name[: -len(".train.json")]
        if is_valid_run_id(rid) and not RunPaths.of(rid, cache_dir).exists() and starting(rec):
            out.append(rid)
    return out


def run_ids(cache_dir: str | os.PathLike | None = None) -> list[str]:
    """Every run of the cache, including runs still starting (sorted)."""
    return sorted({r.run_id for r in list_runs(cache_dir)} | set(starting_runs(cache_dir)))


# -- derivation: statistics + UMAP + mixture ---------------------------------------------------
def derive_state(paths: RunPaths) -> dict[str, Any]:
    """core.jobs.derive.derive_status, ``running`` while a launch is under way."""
    st = derive_status(paths)
    if st.get("state") != "done" and starting(paths.derive_launch):
        st = {**st, "state": "running", "message": st.get("message", "starting")}
    return st


def umap_ready(paths: RunPaths) -> bool:
    """Derived with today's parameters, and its files still whole (a damaged UMAP is fitted again)."""
    from core.store.integrity import pair_intact

    st = derive_status(paths)
    return (st.get("state") == "done" and st.get("umap_params") == UMAP_PARAMS
            and pair_intact(paths.derived, st.get("umap_files"), cols=2))


def start_derive(run_id: str, cache_dir: str | os.PathLike | None = None) -> bool:
    """Spawn the derivation of a complete run unless it is done or running; True if spawned."""
    paths = RunPaths.of(run_id, cache_dir)
    if read_status(paths).get("state") != DONE or umap_ready(paths) \
            or derive_state(paths).get("state") == "running":
        return False
    cmd = [sys.executable, "-m", "core", "derive", run_id, "--cache-dir", str(cache_root(cache_dir))]
    paths.derived.mkdir(exist_ok=True)
    launch(cmd, paths.derive_log, paths.derive_launch, "derive")
    return True


# -- importing an external model (core.jobs.import_run) ---------------------------------------
def import_active(paths: RunPaths) -> bool:
    """A process holds the import's lock, or one was launched moments ago and is still starting."""
    _reap()
    return is_locked(paths.import_lock) or starting(paths.import_launch)


def start_import(run_id: str, request_json: str, cache_dir: str | os.PathLike | None = None) -> bool:
    """Spawn ``python -m core import --request FILE`` (the request as JSON: core.jobs.import_run.
    request_json) unless that run exists or is being imported; True if spawned."""
    paths = RunPaths.of(run_id, cache_dir)
    if paths.exists() or import_active(paths):
        return False
    paths.import_request.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(paths.import_request, request_json)
    cmd = [sys.executable, "-m", "core", "import", "--request", str(paths.import_request), "--run-id", run_id,
           "--cache-dir", str(paths.cache), "--quiet"]
    launch(cmd, paths.import_log, paths.import_launch, "import")
    return True


def imports(cache_dir: str | os.PathLike | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(run id, status) of every import that has not completed: running, starting or failed."""
    d = logs_dir(cache_dir)
    out = []
    for p in sorted(d.glob("*.import.json")) if d.is_dir() else []:
        rid = p.name[: -len(".import.json")]
        paths = RunPaths.of(rid, cache_dir)
        if paths.exists():
            continue                                   # complete: it is a run now
        try:
            st = atomic.read_json(paths.import_status)
        except (OSError, ValueError):
            st = {"state": "starting", "message": "starting"}
        active = import_active(paths)
        if st.get("state") not in ("failed", "done") and not active:
            st = {**st, "state": "failed", "message": f"the import stopped while {st.get('state')} "
                                                      "(see its log)"}
        out.append((rid, st))
    return out


def dismiss_import(run_id: str, cache_dir: str | os.PathLike | None = None) -> None:
    """Forget a failed import (its launch record and status; the log stays)."""
    paths = RunPaths.of(run_id, cache_dir)
    if not import_active(paths):
        for p in (paths.import_launch, paths.import_status, paths.import_request):
            p.unlink(missing_ok=True)


# -- quality: FID / KID / precision-recall / face rate per sampler -----------------------------
def quality_state(paths: RunPaths) -> dict[str, Any]:
    """The quality job's progress (derived/quality/status.json): ``interrupted`` when it says
    running but nobody holds its lock, ``running`` while a launch is under way."""
    try:
        st = atomic.read_json(paths.quality_status)
    except (OSError, ValueError):
        st = {"state": "missing"}
    if st.get("state") == "running" and not is_locked(paths.quality_lock):
        st = {**st, "state": "interrupted"}
    if st.get("state") != "running" and starting(paths.quality_launch):
        st = {**st, "state": "running", "message": "starting (loading Inception-v3)", "fraction": 0.0}
    return st


def start_quality(run_id: str, cache_dir: str | os.PathLike | None = None, n: int | None = None) -> bool:
    """Spawn ``python -m core quality RUN_ID`` unless it is running; True if spawned. Finished
    rows are cached, so a second start only computes what is missing."""
    paths = RunPaths.of(run_id, cache_dir)
    if read_status(paths).get("state") != DONE or quality_state(paths).get("state") == "running":
        return False
    cmd = [sys.executable, "-m", "core", "quality", run_id, "--cache-dir", str(cache_root(cache_dir)), "--quiet"]
    if n:
        cmd += ["--n", str(int(n))]
    paths.quality.mkdir(parents=True, exist_ok=True)
    launch(cmd, paths.quality_log, paths.quality_launch, "quality")
    return True
