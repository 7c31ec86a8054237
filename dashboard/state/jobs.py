"""Background jobs and run status as the app sees them (core.api launches the jobs and reads
their status files): whether the app starts jobs by itself, the first-launch demo run, the
derivation every complete run gets, each run's state for the picker, and the quality job's
rows so far."""
from __future__ import annotations

import os

import streamlit as st

from core import api

# The first launch trains two runs of built-in synthetic faces. "demo" is a first look, small
# enough that its atlas (histograms, map, face grid) is on screen within a minute on 2 CPU
# cores; as soon as it is complete "demo-full" starts (64 px, z 256: the blog's setting, some
# minutes), and a page that opened on the first look switches to it when it is done.
DEMO_RUN_ID = "demo"
DEMO_CONFIG = api.make_config(dataset="synthetic", synthetic_n=2000, image_size=32, z_dim=32, epochs=3,
                              widths=(16, 32, 64))
FULL_DEMO_RUN_ID = "demo-full"
FULL_DEMO_CONFIG = api.make_config(dataset="synthetic", synthetic_n=6000, image_size=64, z_dim=256, epochs=8)


def auto_jobs() -> bool:
    """Whether the app starts jobs by itself (demo training, derivations); tests turn it off
    with AE_DASHBOARD_AUTO_JOBS=0 and start what they need explicitly."""
    return os.environ.get("AE_DASHBOARD_AUTO_JOBS", "1") != "0"


def ensure_demo(cache_dir: str | None = None) -> bool:
    """First launch: an empty cache trains the demo run. True if a training was spawned."""
    d = api.runs_dir(cache_dir)
    if not auto_jobs() or (d.is_dir() and any(p.is_dir() for p in d.iterdir())):
        return False
    return api.start_training(DEMO_RUN_ID, DEMO_CONFIG, cache_dir)


def ensure_full_demo(cache_dir: str | None = None) -> bool:
    """Once the first look is complete, the fuller demo trains (only in a cache that holds
    nothing else: a user's own runs are never joined by a demo). True if it was spawned."""
    if not auto_jobs():
        return False
    d = api.runs_dir(cache_dir)
    others = {p.name for p in d.iterdir() if p.is_dir()} - {DEMO_RUN_ID} if d.is_dir() else {"?"}
    if others or api.run_status(api.RunPaths.of(DEMO_RUN_ID, cache_dir)).get("state") != "done":
        return False
    if FULL_DEMO_RUN_ID in api.run_ids(cache_dir):
        return False
    return api.start_training(FULL_DEMO_RUN_ID, FULL_DEMO_CONFIG, cache_dir)


def full_demo_done(cache_dir: str | None = None) -> bool:
    return api.run_status(api.RunPaths.of(FULL_DEMO_RUN_ID, cache_dir)).get("state") == "done"


def ensure_derived(rid: str) -> dict:
    """Statistics and UMAP are fitted once per run by a background job: start it when it is
    missing, interrupted or made with other parameters (if the app starts jobs); its state."""
    paths = api.RunPaths.of(rid)
    ds = api.derive_state(paths)
    stale = ds.get("state") in ("missing", "interrupted") or (
        ds.get("state") == "done" and not api.umap_ready(paths))
    if stale and auto_jobs():
        api.start_derive(rid)
        ds = api.derive_state(paths)
    return ds


def run_summary(rid: str) -> dict:
    """The store's one description of a run, with the launcher's 'starting' state."""
    paths = api.RunPaths.of(rid)
    s = api.Run(paths.folder).summary() if paths.exists() else {"run_id": rid, "problem": None}
    st_ = api.run_status(paths)
    if st_.get("state") == "starting" or not paths.exists():
        s["state"] = "starting"
    return s


def default_run(rids: list[str]) -> str:
    """The run the picker opens on: the latest finished one (by its status file), else the latest."""
    def mtime(rid: str) -> float:
        p = api.RunPaths.of(rid).status
        return p.stat().st_mtime if p.exists() else 0.0

    done = [r for r in rids if api.run_status(api.RunPaths.of(r)).get("state") == "done"]
    return max(done or rids, key=mtime)


@st.cache_data(ttl=10, show_spinner=False)
def quality_rows(run_id: str, root: str) -> list[dict]:
    """Rows the quality job has cached so far (re-read at most every 10 s)."""
    return api.quality_rows(api.open_run(run_id, root))
