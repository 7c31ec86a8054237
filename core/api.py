"""The public surface of core: everything the dashboard and a notebook use, in one module.

    from core import api
    run = api.open_run("tiny")                       # api.list_runs(): every run of the cache
    s = api.run_stats(run)                           # LatentStats: .center, .half_width, .corr, PCA
    z = api.sample("box", s, 21, seed=0, fact=1.0)   # float32 [21, d]
    faces = api.decode(run, z)                       # uint8 [21, S, S, 3]

README.md ("Using core from Python") has an example per entry point. Code outside core calls
these names, never core's modules: core can then move its internals and only the table below
changes. ``core.stats``, ``core.samplers`` and ``core.runs`` stay as the documented short cuts.

Names resolve on first use (a module ``__getattr__``, PEP 562), from where they live, at every
access: importing this module costs nothing, so the dashboard's sidebar never pays for scipy,
pandas or torch, and a cold UMAP page draws its map before the model is loaded.
"""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from core.analysis.latent_stats import LatentStats
    from core.maps.embedding import Embedding
    from core.model.codec import Codec
    from core.store.paths import RunPaths
    from core.store.runs import Run

# name here -> "module" (same name there) or "module:name there"
_HOMES: dict[str, str] = {
    # errors: what a user can meet, each with a message that says what to do
    **dict.fromkeys(("AtlasError", "BadInputError", "UnknownRunError", "BrokenArtifactError",
                     "NotReadyError", "BusyError", "NonFiniteError"), "core.errors"),
    # runs, their files and configurations
    **dict.fromkeys(("Run", "open_run", "list_runs", "summary_line"), "core.store.runs"),
    **dict.fromkeys(("RunPaths", "cache_root", "runs_dir", "check_cache_dir"), "core.store.paths"),
    "check_run_id": "core.store.run_id",
    **dict.fromkeys(("RunConfig", "DataConfig", "make_config", "RESIZE_FILTERS"), "core.config"),
    "default_run_id": "core.jobs.train_run",
    "ExternalConfig": "core.model.external",
    "VALUE_RANGES": "core.model.conventions:RANGES",
    "default_import_id": "core.jobs.import_run",
    "import_request_json": "core.jobs.import_run:request_json",
    # background jobs (`python -m core train|derive|import|quality` in their own processes)
    **dict.fromkeys(("run_ids", "run_status", "training_active", "start_training", "resume_training",
                     "derive_state", "umap_ready", "start_derive", "start_import", "imports",
                     "dismiss_import", "quality_state", "start_quality", "log_tail"), "core.jobs.launch"),
    "derive_status": "core.jobs.derive",
    # statistics, sampling, decoding
    **dict.fromkeys(("LatentStats", "latent_stats"), "core.analysis.latent_stats"),
    "normality_verdict": "core.analysis.normality:verdict",
    "open_knn_index": "core.analysis.fast_knn",
    **dict.fromkeys(("SAMPLERS", "Param", "sample", "widget_params", "data_inputs"), "core.sampling.registry"),
    "naive_cube_b": "core.sampling.functions",
    **dict.fromkeys(("RunSampler", "Batch"), "core.sampling.session"),
    "face_grid": "core.model.grid:tile",
    "face_grid_png": "core.model.grid:to_png",
    # 2-D maps
    "stats_plane": "core.maps.plane",
    "Placer": "core.maps.embedding",
    "MapInverse": "core.navigation.inverse",
    # navigation: paths between vectors, traversals, attribute directions
    **dict.fromkeys(("PATH_KINDS", "PATH_LABELS", "make_path", "step_measures", "StepMeasures"),
                    "core.navigation.paths"),
    "path_endpoint": "core.navigation.paths:endpoint",
    **dict.fromkeys(("move_along_axes", "axis_strip", "nudge_strip"), "core.navigation.traverse"),
    "direction_strip": "core.navigation.traverse:strip",
    **dict.fromkeys(("attribute_directions", "attribute_plane", "label_groups"), "core.navigation.attributes"),
    # quality: the job's table (FID, KID, precision/recall, face rate) and the live batch checks
    "quality_rows": "core.quality.table:read_rows",
    "quality_lookup": "core.quality.table:lookup",
    "quality_flat": "core.quality.table:flat",
    "quality_row_arrays": "core.quality.table:row_arrays",
    "quality_damaged_rows": "core.quality.table:damaged_rows",
    "quality_default_rows": "core.quality.table:default_rows",
    "QUALITY_REFERENCES": "core.quality.table:REFERENCES",
    **dict.fromkeys(("LiveJudge", "off_data"), "core.quality.live"),
    "has_face": "core.quality.faces",
    "inception_device": "core.quality.inception:pick_device",
    "inception_default_n": "core.quality.inception:default_n",
    # used by the helpers below only
    "_cached_latent_stats": "core.analysis.latent_stats:cached_latent_stats",
    "_load_embedding": "core.maps.embedding:load_embedding",
    "_UMAP_PARAMS": "core.jobs.derive:UMAP_PARAMS",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, there = home.partition(":")
    return getattr(importlib.import_module(module), there or name)


# -- helpers that core does not have as one call ----------------------------------------------
def run_paths(run_id: str, cache_dir: str | os.PathLike | None = None) -> RunPaths:
    """Every file of a run, by name (``.z``, ``.index``, ``.weights``, ``.derived``, ...),
    whether or not the run exists yet."""
    return __getattr__("RunPaths").of(run_id, cache_dir)


def run_stats(run: Run) -> LatentStats:
    """The statistics of a run's z-points, computed once and kept in its ``derived/`` folder
    (what the pages and ``derive`` use); ``latent_stats(z)`` computes them for any array."""
    import numpy as np

    return __getattr__("_cached_latent_stats")(np.asarray(run.z()), run.derived())


def codec(run: Run, device: str = "cpu", threads: int | None = None) -> Codec:
    """The run's autoencoder, own or imported: ``encode(uint8 images) -> z``, ``decode(z) ->
    uint8 images``, ``has_decoder``. Loading takes a moment: keep it for many calls."""
    return run.codec(device, threads)


def decode(run: Run, z: np.ndarray) -> np.ndarray:
    """Latent vectors [n, d] -> uint8 faces [n, S, S, 3] (loads the model on every call; a
    ``RunSampler(run)`` keeps it). A run imported without a decoder raises NotReadyError."""
    import numpy as np

    return codec(run).decode(np.asarray(z, np.float32))


def derived_umap(run: Run, z: np.ndarray, z_key: str) -> Embedding | None:
    """The UMAP of the z-points with fingerprint ``z_key`` as ``derive`` saved it, or None when
    there is none with the job's parameters (never fits one: ``start_derive`` does)."""
    return __getattr__("_load_embedding")(z, run.derived(), z_key, **__getattr__("_UMAP_PARAMS"))


def quality_table(rows: list[dict]) -> pd.DataFrame:
    """Quality rows (``quality_rows(run)``) as one flat table: a row per sampler, FID / KID /
    precision / recall per reference, face rate, N."""
    import pandas as pd

    return pd.DataFrame([__getattr__("quality_flat")(r) for r in rows])


__all__ = sorted([n for n in _HOMES if not n.startswith("_")]
                 + ["run_paths", "run_stats", "codec", "decode", "derived_umap", "quality_table"])


def __dir__() -> list[str]:
    return __all__
