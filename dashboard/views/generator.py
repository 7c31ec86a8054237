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

from core import api
from core.errors import AtlasError
from dashboard.charts.maps import thumbnail_jpeg
from dashboard.state import batches, jobs, maps, resources, session
from dashboard.ui import widgets
from dashboard.ui.sampler_ui import batch_controls


def _diagnostics_table(d: dict, live: dict | None = None, q: tuple | None = None) -> pd.DataFrame:
    rows = [("Mahalanobis radius, mean", "sample_mahalanobis_mean", "real_mahalanobis_mean"),
            ("Mahalanobis radius, median", "sample_mahalanobis_median", "real_mahalanobis_median"),
            ("nearest real z-point, mean distance", "sample_nn_mean", "real_nn_mean"),
            ("nearest real z-point, median distance", "sample_nn_median", "real_nn_median")]
    out = [(label, d.get(a), d.get(b)) for label, a, b in rows if a in d]
    if "sample_nn_beyond_real_p95" in d:
        out.append(("nearest-real distance alone beyond 95% of real", d["sample_nn_beyond_real_p95"], 0.05))
    if "sample_mahalanobis" in d:
        out.append(("share off the data (hollow on the maps)", float(api.off_data(d).mean()), 0.10))
    if live:
        out += [("face rate (OpenCV Haar)", live["sample_face_rate"], live["real_face_rate"]),
                ("diversity: mean pairwise pixel distance", live["sample_diversity"], live["real_diversity"]),
                ("diversity relative to real batches", live["sample_diversity_ratio"], 1.0)]
    if q:
        row, floors = q
        for ref, name in (("real", "real"), ("rec", "recon.")):
            m, f = row["metrics"].get(ref), (floors.get(ref) or {}).get("metrics", {}).get(ref)
            if not m:
                continue
            tag = f"vs {name} (N {row['n']}/{m['n_ref']})"
            out += [(f"FID {tag}", m["fid"], f["fid"] if f else None),
                    (f"KID×1000 {tag}", 1e3 * m["kid"], 1e3 * f["kid"] if f else None),
                    (f"precision {tag}", m["precision"], f["precision"] if f else None),
                    (f"recall {tag}", m["recall"], f["recall"] if f else None)]
    return pd.DataFrame(out, columns=["measure", "batch", "real"])


def _quality_row(rid: str, root: str, b) -> tuple | None:
    """The quality job's row for this sampler and parameters, with the rows that are the "real"
    column for each reference: REAL (held-out images) for real, REC for the reconstructions."""
    rows = jobs.quality_rows(rid, root)
    row = api.quality_lookup(rows, b.sampler, b.params)
    if row is None:
        return None
    same_n = {r["sampler"]: r for r in rows if r["n"] == row["n"]}
    return row, {"real": same_n.get("REAL"), "rec": same_n.get("REC")}


def _diagnostics(b, rid: str, root: str) -> None:
    d = b.diagnostics
    if not widgets.need(bool(d), "No diagnostics for this batch."):
        return
    live = batches.live_check(rid, root, batches.spec())
    q = _quality_row(rid, root, b)
    table = _diagnostics_table(d, live, q)
    st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3,   # no scrolling
                 column_config={"measure": st.column_config.TextColumn("measure", width="medium"),
                                "batch": st.column_config.NumberColumn("this batch", format="%.3f", width="small"),
                                "real": st.column_config.NumberColumn(
                                    "real", format="%.3f", width="small",
                                    help="held-out real z-points (decoded, for face rate and diversity); for the "
                                    "quality job's figures: its REAL row (held-out images) against the real "
                                    "reference and its REC row (reconstructions) against the reconstructions")})
    warn = []
    if live and live["sample_face_rate"] < 0.5 * live["real_face_rate"]:
        warn.append(f"few faces ({live['sample_face_rate']:.0%} vs {live['real_face_rate']:.0%} for real z-points)")
    ratio = live["sample_diversity_ratio"] if live else 1.0
    if ratio < 0.6:   # celeba30: box fact 0.25 / 0.5 / 1 give 0.10 / 0.20 / 0.37, full_gauss and gmm ~1
        warn.append(f"{'collapsed' if ratio < 0.3 else 'low variety'}: {ratio:.2f}x the pixel variety of "
                    "real batches")
    if "sample_mahalanobis" in d:
        share = float(api.off_data(d).mean())
        if share > 0.5:
            warn.append(f"{share:.0%} of the vectors lie off the data")
    if warn:
        st.warning("This batch is not like real faces: " + "; ".join(warn) + ".")
    gm = d.get("gaussian_mahalanobis_mean")
    st.caption("Good vectors look like real held-out z-points: a similar Mahalanobis radius (how far "
               "out in the cloud, in its own units" + (f"; a Gaussian cloud gives ≈ {gm:.1f}" if gm else "")
               + "), a similar distance to their nearest real z-point, faces found as often, and as much "
               "variety as real batches of the same size (a collapsed batch can sit close to real points). "
               + ("FID/KID/precision/recall: the Quality page's job for this sampler and parameters."
                  if q else "FID/KID/precision/recall appear here once the Quality page's job has computed "
                  "this sampler and parameters."))


def _npy(z: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, z.astype(np.float32), allow_pickle=False)
    return buf.getvalue()


def _downloads(b, rid: str) -> None:
    """Files are made only when a button is clicked (callables), not on every slider move."""
    c1, c2, _ = st.columns([1, 1, 2])
    if b.images is not None:
        c1.download_button("Download grid (PNG)", lambda: api.face_grid_png(b.images, cols=7), on_click="ignore",
                           file_name=f"{rid}-{b.sampler}-grid.png", mime="image/png", key="gen_png")
    c2.download_button("Download vectors (.npy)", lambda: _npy(b.z), on_click="ignore",
                       file_name=f"{rid}-{b.sampler}-z.npy", mime="application/octet-stream", key="gen_npy")


@st.fragment
@widgets.guarded
def _workbench(rid: str, root: str, run_path, d: int) -> None:
    t0 = time.perf_counter()
    spec = batch_controls(d, st.columns([1.2, 2, 1.4, 0.8, 0.8]))
    batches.set_spec(spec)
    slow = "gmm" in api.data_inputs(spec.sampler, spec.kwargs).values()   # a mixture fit, once per run
    try:
        with st.spinner("fitting what this sampler needs (once per run)") if slow else nullcontext():
            b = batches.current(rid)
    except AtlasError as e:
        st.error(f"sampler {spec.sampler!r} failed: {widgets.describe(e)}")
        return
    if b.images is None:
        st.info(f"No faces: {resources.run_sampler(rid, root).model.why_no_decoder}. The vectors, their "
                "diagnostics and their place on the map are below.")
    else:
        widgets.show_faces(b.images, caption=f"decoded faces: {spec.label()}", cols=7)
    _downloads(b, rid)
    left, right = st.columns([2, 3])      # the table needs the room: its "real" column was cut off
    with left:
        ready = api.umap_ready(api.RunPaths(run_path))
        bg, extent = maps.density_rgb(rid, root, ready)
        what = "UMAP" if ready else "PCA plane (first two main axes; UMAP still being fitted)"
        off = api.off_data(b.diagnostics)
        st.image(thumbnail_jpeg(bg, extent, batches.placement(rid), off=off), width=bg.shape[1],
                 output_format="JPEG",
                 caption=f"{what} of all z-points as a density image (darker = more points); orange "
                 "diamonds: this batch, placed by its nearest real z-points; hollow diamonds "
                 f"({int(off.sum())} of {len(off)}): off the data (nearest-real distance or Mahalanobis "
                 "radius beyond 95% of held-out real points), so their place on the map is only their "
                 "nearest neighbours'. The interactive map with every point is on the UMAP page.")
    with right:
        _diagnostics(b, rid, root)
    st.caption(f"server time for this update: {1000 * (time.perf_counter() - t0):.0f} ms "
               "(sample, decode, diagnostics, face rate and diversity, placement on the map, images)")


@widgets.guarded
def render() -> None:
    opened = widgets.stats_page("Generator")
    if opened is None:
        return
    run, s = opened
    rid, root = run.run_id, session.root()
    _workbench(rid, root, run.path, s.d)


if __name__ == "__main__":
    render()
