"""Derived artifacts of a run, computed once out of any UI process: statistics, the UMAP
embedding and the mixture of the ``gmm`` sampler, cached in the run's ``derived/`` folder.

``python -m core derive RUN_ID`` runs it; progress goes to ``derived/derive_status.json`` so a
dashboard can show it; an flock on ``derived/.derive.lock`` keeps it to one process a run.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from core.store import atomic
from core.store.locks import exclusive
from core.store.locks import is_locked
from core.store.paths import RunPaths
from core.store.runs import open_run

# UMAP of every run: fit on at most 50k points (minutes on 2 cores), the rest placed by kNN.
UMAP_PARAMS = dict(n_neighbors=15, min_dist=0.1, seed=0, max_fit_points=50_000)

STRAY_AGE_S = 120   # a .tmp-* file untouched this long has no live writer (writes take seconds)


def _clean_strays(folder) -> None:
    """``.tmp-*`` files that killed writers left in ``derived/``. Other processes (a page
    computing statistics) may write here without our lock, so only old ones go."""
    now = time.time()
    for stray in folder.glob(".tmp-*"):
        try:
            if now - stray.stat().st_mtime > STRAY_AGE_S:
                stray.unlink()
        except OSError:
            pass


def derive_status(paths: RunPaths) -> dict:
    """The derive job's status; ``interrupted`` when it says running but holds no lock (killed)."""
    try:
        st = atomic.read_json(paths.derive_status)
    except (OSError, ValueError):
        st = None
    if not isinstance(st, dict):
        return {"state": "missing"}
    if st.get("state") == "running" and not is_locked(paths.derive_lock):
        st = {**st, "state": "interrupted"}   # the job died without writing a final state
    return st


def derive(run_id: str, cache_dir: str | os.PathLike | None = None, umap_params: dict | None = None) -> dict:
    """Statistics, UMAP and mixture of one run (idempotent: cached files are reused)."""
    from core.sampling.mixture import cached_gmm
    from core.maps.embedding import cached_embedding, embedding_files
    from core.analysis.latent_stats import cached_latent_stats

    params = dict(UMAP_PARAMS if umap_params is None else umap_params)
    run = open_run(run_id, cache_dir)
    folder = run.derived()
    status_path = run.paths.derive_status

    def report(state: str, message: str, fraction: float, **kw) -> dict:
        st = {"state": state, "message": message, "fraction": fraction,
              "updated": time.time(), "pid": os.getpid(), **kw}
        atomic.write_json(status_path, st)
        return st

    with exclusive(run.paths.derive_lock, busy=f"run {run_id} is being derived by another process"):
        _clean_strays(run.paths.derived)
        try:
            z = run.z(mmap=True)
            report("running", f"statistics of {len(z):,} z-points", 0.02)
            stats = cached_latent_stats(np.asarray(z), folder)
            report("running", "neighbour index for the slider", 0.06)
            from core.analysis.fast_knn import open_knn_index
            open_knn_index(z, folder, stats.z_key)    # persisted: the dashboard only loads it
            report("running", "UMAP embedding", 0.1)
            emb = cached_embedding(z, folder, stats.z_key,
                                   progress=lambda f, m: report("running", f"UMAP: {m}", 0.1 + 0.85 * f),
                                   **params)
            # the gmm sampler's mixture (the Generator's defaults), so choosing it never waits
            report("running", "Gaussian mixture for the gmm sampler", 0.95)
            note = "statistics, UMAP and mixture ready"
            try:
                cached_gmm(np.asarray(z), folder, key=stats.z_key)
            except (ValueError, ArithmeticError) as e:  # optional: the sampler can fit it on demand
                note = f"statistics and UMAP ready (mixture failed: {type(e).__name__}: {e})"
                print(f"warning: {note}", file=sys.stderr)
            # the files are named so that a reader can tell a damaged UMAP from a done one
            return report("done", note, 1.0, z_key=stats.z_key, umap_params=params, embedding=emb.params,
                          umap_files=embedding_files(z, folder, stats.z_key, **params))
        except BaseException as e:
            report("failed", f"{type(e).__name__}: {e}", 0.0)
            raise
