"""The dashboard's side of background jobs (core.jobs.launch does the launching): whether the
app starts jobs by itself, and the first-launch demo run."""
from __future__ import annotations

import os

from core import api

DEMO_RUN_ID = "demo"
# The first-launch run: built-in synthetic faces, a few minutes on 2 CPU cores.
DEMO_CONFIG = api.make_config(dataset="synthetic", synthetic_n=6000, image_size=64, z_dim=256, epochs=8)


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
