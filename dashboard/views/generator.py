"""Generator: pick a sampler and its parameters, see the decoded faces, judge the batch.

Everything below the title lives in one ``st.fragment``: moving the ``fact`` slider reruns
only this fragment (not the sidebar or other pages), recomputes the batch, decodes the grid,
places the new points on the map and re-sends a light thumbnail (a density image of all
z-points plus the new points), never the 200,000-point scatter. The same batch is what the
Projections and UMAP pages overlay.
"""
from __future__ import annotations

import io
import time
from contextlib import nullcontext

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import AtlasError
from core.jobs import launch
from core.model.grid import to_png
from core.sampling.registry import data_inputs
from core.store.paths import RunPaths
from dashboard import batch, cached, state, widgets
from dashboard.charts_maps import thumbnail_jpeg
from dashboard.sampler_ui import batch_controls


def _diagnostics_table(d: dict) -> pd.DataFrame:
    rows = [("Mahalanobis radius, mean", "sample_mahalanobis_mean", "real_mahalanobis_mean"),
            ("Mahalanobis radius, median", "sample_mahalanobis_median", "real_mahalanobis_median"),
            ("distance to nearest real z-point, mean", "sample_nn_mean", "real_nn_mean"),
            ("distance to nearest real z-point, median", "sample_nn_median", "real_nn_median")]
    out = [(label, d.get(a), d.get(b)) for label, a, b in rows if a in d]
    if "sample_nn_beyond_real_p95" in d:
        out.append(("share farther from the data than 95% of real points",
                    d["sample_nn_beyond_real_p95"], 0.05))
    return pd.DataFrame(out, columns=["measure", "batch", "real"])


def _diagnostics(b) -> None:
    d = b.diagnostics
    if not widgets.need(bool(d), "No diagnostics for this batch."):
        return
    st.dataframe(_diagnostics_table(d), hide_index=True, width="stretch",
                 column_config={"batch": st.column_config.NumberColumn("this batch", format="%.3f"),
                                "real": st.column_config.NumberColumn(
                                    "real (held-out)", format="%.3f",
                                    help="the same measures for real held-out z-points")})
    gm = d.get("gaussian_mahalanobis_mean")
    st.caption("Good vectors look like real held-out z-points: a similar Mahalanobis radius (how far "
               "out in the cloud, in its own units" + (f"; a Gaussian cloud gives ≈ {gm:.1f}" if gm else "")
               + ") and a similar distance to their nearest real z-point (landing where data is).")


def _npy(z: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, z.astype(np.float32), allow_pickle=False)
    return buf.getvalue()


def _downloads(b, rid: str) -> None:
    """Files are made only when a button is clicked (callables), not on every slider move."""
    c1, c2, _ = st.columns([1, 1, 2])
    c1.download_button("Download grid (PNG)", lambda: to_png(b.images, cols=7), on_click="ignore",
                       file_name=f"{rid}-{b.sampler}-grid.png", mime="image/png", key="gen_png")
    c2.download_button("Download vectors (.npy)", lambda: _npy(b.z), on_click="ignore",
                       file_name=f"{rid}-{b.sampler}-z.npy", mime="application/octet-stream", key="gen_npy")


@st.fragment
@widgets.guarded
def _workbench(rid: str, root: str, run_path, d: int) -> None:
    t0 = time.perf_counter()
    spec = batch_controls(d, st.columns([1.2, 2, 1.4, 0.8, 0.8]))
    batch.set_spec(spec)
    slow = "gmm" in data_inputs(spec.sampler, spec.kwargs).values()   # a mixture fit, once per run
    try:
        with st.spinner("fitting what this sampler needs (once per run)") if slow else nullcontext():
            b = batch.current(rid)
    except AtlasError as e:
        st.error(f"sampler {spec.sampler!r} failed: {widgets.describe(e)}")
        return
    widgets.show_faces(b.images, caption=f"decoded faces: {spec.label()}", cols=7)
    _downloads(b, rid)
    left, right = st.columns(2)
    with left:
        ready = launch.umap_ready(RunPaths(run_path))
        bg, extent = cached.density_rgb(rid, root, ready)
        what = "UMAP" if ready else "PCA plane (first two main axes; UMAP still being fitted)"
        st.image(thumbnail_jpeg(bg, extent, batch.placement(rid)), width=bg.shape[1], output_format="JPEG",
                 caption=f"{what} of all z-points as a density image (darker = more points); orange "
                 "diamonds: this batch, placed by its nearest real z-points. The interactive map with "
                 "every point is on the UMAP page.")
    with right:
        _diagnostics(b)
    st.caption(f"server time for this update: {1000 * (time.perf_counter() - t0):.0f} ms "
               "(sample, decode, diagnostics, placement on the map, images)")


@widgets.guarded
def render() -> None:
    opened = widgets.stats_page("Generator")
    if opened is None:
        return
    run, s = opened
    rid, root = run.run_id, state.root()
    _workbench(rid, root, run.path, s.d)


if __name__ == "__main__":
    render()
