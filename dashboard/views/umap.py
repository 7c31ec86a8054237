"""UMAP: every z-point of the run as one WebGL scatter, the current batch on top; click a point
to decode it, box/lasso to see (and download) the selected faces.

The 200,000-point figure is sent only when this page (or its fragment) reruns: the batch it
overlays changes on the Generator page, whose slider re-sends a light thumbnail instead.
Clicks rerun just the fragment below, which re-sends the same figure (same id, so the
selection survives) and the small detail panel under it.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import api
from core.errors import AtlasError
from dashboard.charts.maps import color_marker, umap_figure
from dashboard.state import batches, maps, resources, session
from dashboard.ui import widgets

FIXED_COLORS = ["none", "partition", "radius", "Mahalanobis distance", "recon_mse"]
SKIP_COLUMNS = {"row", "image_id", "path", "partition", "recon_mse"}
K_NEIGHBOURS = 7
OVERLAY_DELAY_S = 1.5        # after the map is sent, before the overlay's model load starts


@st.fragment(run_every=5.0)
@widgets.guarded
def _wait_for_umap(run_path) -> None:
    """Swap the PCA preview for the UMAP as soon as the background job has written it."""
    paths = api.RunPaths(run_path)
    ds = api.derive_state(paths)
    if api.umap_ready(paths):
        st.rerun()
    msg = {"running": f"being fitted in the background: {ds.get('message', '')} "
                      f"({100 * ds.get('fraction', 0):.0f}%)",
           "failed": f"could not be fitted: {ds.get('message')} (retry from the sidebar)",
           "done": "out of date or damaged on disk (derived/umap-*): it is fitted again in the background"}
    st.info(f"The UMAP embedding of this run is {msg.get(ds.get('state'), 'not computed yet')}. "
            "Meanwhile the map shows the plane of the first two PCA main axes; this page switches "
            "to UMAP by itself when it is ready.")
    if ds.get("state") in ("missing", "interrupted", "failed", "done") and st.button("Fit the UMAP now",
                                                                                    key="umap_fit"):
        api.start_derive(paths.run_id)


def _neighbours(rid: str, root: str, q: np.ndarray, skip_row: int | None = None) -> None:
    gen = resources.run_sampler(rid, root)
    try:
        resources.images(rid, root)
    except AtlasError as e:
        st.info(f"No images to show the nearest real z-points: {widgets.describe(e)}")
        return
    dist, idx = gen.neighbors(q[None], K_NEIGHBOURS + (skip_row is not None))
    keep = (idx[0] != skip_row) & (idx[0] < len(resources.images(rid, root)))
    rows, dist = idx[0][keep][:K_NEIGHBOURS], dist[0][keep][:K_NEIGHBOURS]
    widgets.show_faces(np.asarray(resources.images(rid, root)[rows]),
                       caption="nearest real z-points (latent distance): " + ", ".join(
                           f"#{r} ({d:.2f})" for r, d in zip(rows, dist)), cols=K_NEIGHBOURS, face_px=96)


def _show_point(rid: str, root: str, curve: int, i: int) -> None:
    if curve == 0:
        st.markdown(f"**real z-point #{i}**")
        idx = resources.index(rid, root)
        if i < len(idx) and "image_id" in idx:
            where = f" · {idx['path'].iloc[i]}" if "path" in idx else ""
            st.caption(f"image id {idx['image_id'].iloc[i]}{where} · {idx['partition'].iloc[i]}"
                       if "partition" in idx else f"image id {idx['image_id'].iloc[i]}{where}")
        try:
            n_img = len(resources.images(rid, root))
        except AtlasError as e:
            st.info(f"The images of this run are not available: {widgets.describe(e)}")
            return
        if i >= n_img:
            st.info(f"No preprocessed image for z-point #{i}: the run's image cache holds {n_img:,}.")
            return
        c1, c2, _ = st.columns([1, 1, 4])
        with c1:
            widgets.show_faces(np.asarray(resources.images(rid, root)[i:i + 1]), caption=f"original image #{i}", cols=1)
        with c2:
            if resources.run_sampler(rid, root).model.has_decoder:
                _, rec = resources.reconstructions(rid, root, (i,))
                widgets.show_faces(rec, caption="reconstruction, decoded from its z-point", cols=1)
            else:
                st.caption("no reconstruction: this run has no decoder")
        _neighbours(rid, root, np.asarray(resources.run_sampler(rid, root).z[i], np.float32), skip_row=i)
    else:
        b = batches.current(rid)
        if i >= len(b.z):
            return
        st.markdown(f"**sampled vector #{i}** of the current batch ({batches.label()})")
        c1, _ = st.columns([1, 5])
        with c1:
            if b.images is not None:
                widgets.show_faces(b.images[i:i + 1], caption=f"decoded sample #{i}", cols=1)
        _neighbours(rid, root, b.z[i])


def _show_selection(rid: str, root: str, rows: list[int], n_samples: int) -> None:
    rows = sorted(set(rows))
    st.markdown(f"**{len(rows):,} real z-points selected**" + (f" and {n_samples} sampled" if n_samples else ""))
    if not rows:
        return
    shown = rows[:35]
    try:
        shown = [r for r in shown if r < len(resources.images(rid, root))]
        widgets.show_faces(np.asarray(resources.images(rid, root)[shown]), face_px=96,
                           caption=f"selected faces ({len(shown)} of {len(rows):,} shown, by row)")
    except AtlasError as e:
        st.info(f"The images of this run are not available: {widgets.describe(e)}")
    idx = resources.index(rid, root)
    csv = idx.iloc[rows][["row", "image_id", "partition"]].to_csv(index=False).encode()
    st.download_button("Download the selected ids (CSV)", csv, file_name=f"{rid}-selection.csv",
                       mime="text/csv", key="umap_csv")


@st.fragment
@widgets.guarded
def _explorer(rid: str, root: str, ready: bool, color: str, overlay: bool) -> None:
    kind, coords = maps.map_coords(rid, root, ready)
    values, cats = maps.color_values(rid, root, color) if color != "none" else (None, None)
    # The first paint needs only the 2-D coordinates: on a cold server the batch overlay
    # (model, neighbour index, statistics) is loaded after the map is drawn (_load_overlay).
    later = overlay and not resources.is_loaded(rid, root)
    bxy = batches.placement(rid) if overlay and not later else None
    off = api.off_data(batches.current(rid).diagnostics) if bxy is not None else None
    fig = umap_figure(coords, color_marker(values, cats, color), maps.axis_titles(kind), bxy, off=off)
    ev = st.plotly_chart(fig, width="stretch", key="umap_chart", on_select="rerun", theme=None,
                         selection_mode=("points", "box", "lasso"))   # theme: see umap_figure
    if later:
        st.caption(st.session_state.get(f"umap_overlay_failed_{rid}") or
                   "The current batch is placed on the map in a moment (loading the model and the "
                   "neighbour index, once per run).")
    what = "UMAP" if kind == "umap" else "first two PCA main axes (UMAP not ready yet)"
    coloured = "" if color == "none" else f", coloured by {color}"
    st.caption(f"All {len(coords):,} z-points on the {what}{coloured}; orange "
               f"diamonds: the current batch ({batches.label()}), placed by its nearest z-points "
               "(hollow: off the data, so the place is only its neighbours'). "
               "Click a point to decode it; use box or lasso select (toolbar) for a face grid.")
    sel = ev.selection if ev is not None else None
    points = list(sel.points) if sel else []
    if not points:
        st.caption("Nothing selected yet.")
        return
    if sel.box or sel.lasso or len(points) > 1:
        real = [int(p["point_index"]) for p in points if p.get("curve_number", 0) == 0]
        _show_selection(rid, root, real, len(points) - len(real))
    else:
        p = points[0]
        _show_point(rid, root, int(p.get("curve_number", 0)), int(p.get("point_index", p.get("point_number", 0))))


@st.fragment(run_every=OVERLAY_DELAY_S)
def _load_overlay(rid: str, root: str) -> None:
    """Loads what placing the batch needs, then reruns the page with the overlay. Not in the
    page's own run: on a cold server that load (torch, 200,000 z-points, the index) competed
    with the browser drawing the map, whose first paint took 1 s longer (5.1 vs 4.1 s, median
    of 5 cold starts each, 2 cores). The first timer tick comes after the map was sent."""
    armed = f"umap_overlay_armed_{rid}"
    if not st.session_state.get(armed):
        st.session_state[armed] = True
        return
    st.session_state.pop(armed, None)
    try:
        with st.spinner("loading the model and the neighbour index to place the current batch"):
            resources.run_sampler(rid, root)
    except AtlasError as e:   # said under the map, and never retried every tick
        st.session_state[f"umap_overlay_failed_{rid}"] = f"The current batch cannot be placed: {widgets.describe(e)}"
        return
    st.rerun()


@widgets.guarded
def render() -> None:
    run = widgets.open_page("UMAP")
    if run is None:
        return
    rid, root = run.run_id, session.root()
    ready = api.umap_ready(run.paths)
    if not ready:
        _wait_for_umap(run.path)
    columns = resources.index_columns(rid, root)
    extra = [c for c in columns if c not in SKIP_COLUMNS]
    fixed = [c for c in FIXED_COLORS if c != "recon_mse" or c in columns]   # no decoder: no error
    c1, c2 = st.columns([2, 1])
    color = c1.selectbox("colour by", fixed + extra, key="umap_color",
                         help="an attribute column of the index, the split, or a distance of each point")
    overlay = c2.toggle("show current batch", True, key="umap_overlay")
    _explorer(rid, root, ready, color, overlay)
    if overlay and not resources.is_loaded(rid, root) and not st.session_state.get(f"umap_overlay_failed_{rid}"):
        _load_overlay(rid, root)


if __name__ == "__main__":
    render()
