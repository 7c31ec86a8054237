"""Background work outside the Streamlit process: training runs and per-run derivations.

Training is ``python -m core train ...`` started as its own session (``start_new_session``),
its output appended to ``<run>/train.log``: closing or reloading the page never kills it,
and the run's lock (core.jobs.train_run) guarantees one training per run; a second attempt exits
at once with code 2. Between the spawn and the moment the child takes the lock (torch
imports take seconds) a launch record ``<run>/job.json`` says "starting", so a rerun in
that window does not spawn a twin.

Derivation (``python -m core derive RUN_ID``, core/jobs/derive.py) computes the run's statistics,
UMAP embedding and mixture (minutes for a big run) into ``derived/``, reporting progress in
``derived/derive_status.json``; this module launches it and reads that status. It never
imports streamlit.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from core.store import atomic
from core.jobs.derive import UMAP_PARAMS
from core.jobs.train_run import is_file_locked, is_locked
from core.store.runs import REPO_ROOT, cache_root, runs_dir

DEMO_RUN_ID = "demo"
# The first-launch run: built-in synthetic faces, a few minutes on 2 CPU cores.
DEMO_OPTIONS = dict(dataset="synthetic", synthetic_n=6000, image_size=64, z_dim=256, epochs=8)
STARTING_GRACE_S = 180      # a launch record younger than this counts as "starting"
_children: dict[int, subprocess.Popen] = {}   # reaped on every query so none stays a zombie


def auto_jobs() -> bool:
    """Whether the app starts jobs by itself (demo training, derivations); tests turn it off
    with AE_DASHBOARD_AUTO_JOBS=0 and start what they need explicitly."""
    return os.environ.get("AE_DASHBOARD_AUTO_JOBS", "1") != "0"


def _reap() -> None:
    """Collect our finished children so none lingers as a zombie."""
    for pid, p in list(_children.items()):
        if p.poll() is not None:
            del _children[pid]


def _alive(pid: int | None) -> bool:
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


def _launch(cmd: list[str], folder: Path, log_name: str, record: str, kind: str) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(folder / log_name, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        log.flush()
        p = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    _children[p.pid] = p
    atomic.write_json(folder / record, {"pid": p.pid, "kind": kind, "cmd": cmd, "started": time.time()})
    return p.pid


def _starting(folder: Path, record: str) -> bool:
    try:
        rec = atomic.read_json(folder / record)
    except (OSError, ValueError):
        return False
    return time.time() - rec.get("started", 0) < STARTING_GRACE_S and _alive(rec.get("pid"))


# -- training -------------------------------------------------------------------------------
def train_command(run_id: str, cache_dir=None, *, dataset: str = "synthetic", data_dir: str | None = None,
                  image_size: int = 64, z_dim: int = 256, epochs: int = 10, synthetic_n: int | None = None,
                  limit: int | None = None, widths: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "core", "train", "--dataset", dataset, "--image-size", str(image_size),
           "--z-dim", str(z_dim), "--epochs", str(epochs), "--run-id", run_id,
           "--cache-dir", str(cache_root(cache_dir)), "--quiet"]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    if synthetic_n:
        cmd += ["--synthetic-n", str(synthetic_n)]
    if limit:
        cmd += ["--limit", str(limit)]
    if widths:
        cmd += ["--widths", widths]
    return cmd


def training_active(run_path: Path) -> bool:
    """A process holds the run's lock, or one was launched moments ago and is still starting."""
    _reap()
    return is_locked(run_path) or _starting(run_path, "job.json")


def start_training(run_id: str, cache_dir=None, **options) -> bool:
    """Spawn the training of ``run_id`` unless it is already being trained; True if spawned."""
    path = runs_dir(cache_dir) / run_id
    if training_active(path):
        return False
    _launch(train_command(run_id, cache_dir, **options), path, "train.log", "job.json", "train")
    return True


def resume_training(run_id: str, cache_dir=None) -> bool:
    """Start an interrupted run again with the options it was created with (it resumes from
    its last checkpoint): the dashboard's launch record, else the run's config.json."""
    path = runs_dir(cache_dir) / run_id
    if training_active(path):
        return False
    try:
        cmd = atomic.read_json(path / "job.json")["cmd"]
    except (OSError, ValueError, KeyError):
        try:
            c = atomic.read_json(path / "config.json")["config"]
        except (OSError, ValueError, KeyError):
            return False
        d, m, t = c["data"], c["model"], c["train"]
        cmd = train_command(run_id, cache_dir, dataset=d["dataset"], data_dir=d.get("data_dir"),
                            image_size=m["image_size"], z_dim=m["z_dim"], epochs=t["epochs"],
                            synthetic_n=d.get("synthetic_n"), limit=d.get("limit"),
                            widths=",".join(map(str, m["widths"])))
    _launch(cmd, path, "train.log", "job.json", "train")
    return True


def ensure_demo(cache_dir=None) -> bool:
    """First launch: an empty cache trains the demo run. True if a training was spawned."""
    d = runs_dir(cache_dir)
    if not auto_jobs() or (d.is_dir() and any(p.is_dir() for p in d.iterdir())):
        return False
    return start_training(DEMO_RUN_ID, cache_dir, **DEMO_OPTIONS)


def run_folders(cache_dir=None) -> list[Path]:
    """Every run folder, including runs still preparing (status.json but no config.json yet)."""
    d = runs_dir(cache_dir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_dir() and any(
        (p / f).exists() for f in ("config.json", "status.json", "job.json")))


def read_status(run_path: Path) -> dict:
    try:
        return atomic.read_json(Path(run_path) / "status.json")
    except (OSError, ValueError):
        return {"state": "starting" if training_active(run_path) else "unknown"}


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# -- derivation: statistics + UMAP ------------------------------------------------------------
def derive_status(run_path: Path) -> dict:
    folder = Path(run_path) / "derived"
    try:
        st = atomic.read_json(folder / "derive_status.json")
    except (OSError, ValueError):
        st = {"state": "missing"}
    if st.get("state") == "running" and not is_file_locked(folder / ".derive.lock"):
        st = {**st, "state": "interrupted"}   # the job died without writing a final state
    if st.get("state") != "done" and _starting(folder, "derive_job.json"):
        st = {**st, "state": "running", "message": st.get("message", "starting")}
    return st


def umap_ready(run_path: Path) -> bool:
    st = derive_status(run_path)
    return st.get("state") == "done" and st.get("umap_params") == UMAP_PARAMS


def start_derive(run_id: str, cache_dir=None) -> bool:
    """Spawn the derivation of a complete run unless it is done or running; True if spawned."""
    path = runs_dir(cache_dir) / run_id
    st = derive_status(path)
    if umap_ready(path) or st.get("state") == "running":
        return False
    cmd = [sys.executable, "-m", "core", "derive", run_id, "--cache-dir", str(cache_root(cache_dir))]
    _launch(cmd, path / "derived", "derive.log", "derive_job.json", "derive")
    return True
