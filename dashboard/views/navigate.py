"""Navigate: walk between two latent vectors (the blog's paths through the core), decode any
spot of the map, and nudge a vector toward its nearest real z-points (micro-correlations).

The map is the UMAP (the PCA plane until it exists) plus an invisible grid of probe points:
a click on a real point picks that z-point, a click on an empty spot decodes a vector for
that location (api.MapInverse: neighbour-weighted z-points around it). Either can
then be an endpoint of a path. Paths are drawn on the map and on the plane of main axes 0/1.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import api
from dashboard.charts import nav as charts_nav
from dashboard.state import maps, resources, session
from dashboard.ui import nav_ui, planes, widgets

SECTIONS = {"path": "Path between two vectors", "nudge": "Micro-correlations of one vector"}


def _points(ev) -> list:
    sel = ev.get("selection") if isinstance(ev, dict) else getattr(ev, "selection", None)
    if not sel:
        return []
    pts = sel.get("points") if isinstance(sel, dict) else getattr(sel, "points", None)
    return list(pts or [])


def pick_from_map(rid: str, root: str, layout, probes: np.ndarray) -> None:
    """Turn the map's last click (kept by streamlit under the chart's key) into MAP_PICK."""
    pts = _points(st.session_state.get(f"nav_map_{layout.kind}"))
    if len(pts) != 1:
        return
    p = pts[0]
    curve, i = int(p.get("curve_number", 0)), int(p.get("point_index", p.get("point_number", 0)))
    key = (curve, i, layout.kind)
    if st.session_state.get("nav_map_last") == key:
        return
    st.session_state["nav_map_last"] = key
    if curve == charts_nav.REAL_CURVE and i < len(layout.coords):
        z = np.asarray(resources.run_sampler(rid, root).z[i], np.float64)
        st.session_state[nav_ui.MAP_PICK] = {"label": f"real {nav_ui.image_label(rid, root, i)}", "z": z,
                                             "xy": layout.coords[i].astype(float), "row": i}
    elif curve == charts_nav.PROBE_CURVE and i < len(probes):
        decode_at(rid, root, layout, probes[i])


def decode_at(rid: str, root: str, layout, xy) -> None:
    inv = maps.map_inverse(rid, root, layout.kind == "umap")(np.asarray(xy, np.float64)[None])
    st.session_state[nav_ui.MAP_PICK] = {
        "label": f"map spot ({xy[0]:.2f}, {xy[1]:.2f})", "z": inv.z[0], "xy": np.asarray(xy, float),
        "map_dist": float(inv.map_dist[0]), "rows": inv.rows[0], "weights": inv.weights[0]}


def pick_panel(rid: str, root: str, s) -> None:
    """The decoded map pick: its face, where it came from and how far it lies from the data."""
    pick = st.session_state.get(nav_ui.MAP_PICK)
    if pick is None:
        st.caption("Click any spot of the map: a real point shows its face, an empty spot decodes a "
                   "vector for that place.")
        return
    z = pick["z"]
    widgets.show_faces(nav_ui.decode(rid, root, z), caption=f"decoded: {pick['label']}", cols=1, face_px=160)
    m = api.step_measures(z[None], s, resources.knn(rid, root))
    ref = nav_ui.reference(rid, root)
    st.markdown(f"**{pick['label']}**")
    lines = [f"Mahalanobis radius {m.maha[0]:.2f} (real median {ref['Mahalanobis radius']:.2f})",
             f"nearest real z-point {nav_ui.image_label(rid, root, int(m.nn_row[0]))} at distance "
             f"{m.nn_dist[0]:.3f} (real median {ref['nearest real distance']:.3f})"]
    if "map_dist" in pick:
        top = np.argsort(-pick["weights"])[:3]
        lines.insert(0, f"map distance to the nearest point: {pick['map_dist']:.1f} point spacings; "
                        "vector = " + " + ".join(f"{pick['weights'][j]:.2f}·z{int(pick['rows'][j])}" for j in top)
                     + (" + …" if len(pick["weights"]) > 3 else ""))
    st.caption(" · ".join(lines))


def _typed_location(rid: str, root: str, layout) -> None:
    with st.expander("or type a map location"):
        c1, c2, c3 = st.columns([1, 1, 1])
        x = c1.number_input("x", value=float(np.median(layout.coords[:, 0])), key="nav_x", format="%.3f")
        y = c2.number_input("y", value=float(np.median(layout.coords[:, 1])), key="nav_y", format="%.3f")
        if c3.button("decode here", key="nav_decode_xy"):
            decode_at(rid, root, layout, np.array([x, y]))


def path_controls(rid: str, root: str, s) -> dict[str, np.ndarray]:
    c1, c2, c3 = st.columns([2, 2, 1.4])
    with c1:
        a = nav_ui.vector_picker("endpoint A", "nav_a", rid, root, s, default="row", default_row=0)
    with c2:
        b = nav_ui.vector_picker("endpoint B", "nav_b", rid, root, s, default="row", default_row=1)
    with c3:
        steps = st.slider("steps", 3, 15, 9, key="nav_steps")
        kinds = st.multiselect("paths", api.PATH_KINDS, list(api.PATH_KINDS), key="nav_kinds",
                               format_func=api.PATH_LABELS.get)
    if a is None or b is None:
        return {}
    st.session_state["nav_labels"] = (a[1], b[1])
    return {k: api.make_path(k, a[0], b[0], s, int(steps)) for k in kinds}


def nudge_controls(rid: str, root: str, s):
    c1, c2 = st.columns([3, 2])
    with c1:
        x = nav_ui.vector_picker("vector", "nav_x0", rid, root, s, default="batch",
                                 kinds=("batch", "map", "axis", "row"))
    with c2:
        k = st.slider("k nearest real z-points", 1, 30, 10, key="nav_k")
        steps = st.slider("steps (alpha 0 → 1)", 3, 11, 7, key="nav_alpha_steps")
    if x is None:
        return None
    return x[1], api.nudge_strip(x[0], resources.run_sampler(rid, root).z, resources.knn(rid, root),
                                      k=int(k), alphas=np.linspace(0, 1, int(steps)))


def show_nudge(rid: str, root: str, s, label: str, nd) -> None:
    try:
        imgs = np.asarray(resources.images(rid, root)[nd.rows])
    except (FileNotFoundError, IndexError) as e:
        st.info(f"The images of the nearest real z-points are not available: {e}")
        imgs = None
    if imgs is not None:
        nav_ui.show_strip(imgs, cols=min(len(nd.rows), 10), face_px=72,
                          caption=f"the {len(nd.rows)} nearest real z-points of {label}: " + ", ".join(
                               f"{nav_ui.image_label(rid, root, int(r))} ({d:.2f})" for r, d in zip(nd.rows, nd.dists)))
    m = nav_ui.strip(rid, root, s, nd.points, f"{label} nudged toward their mean, alpha = "
                     + ", ".join(f"{a:.2f}" for a in nd.alphas), steps_label=nd.alphas, x_title="alpha", key="nudge")
    st.caption(f"Moving the whole way (alpha = 1) covers {np.linalg.norm(nd.target - nd.points[0]):.2f} in latent "
               f"distance; the nearest-real distance falls from {m.nn_dist[0]:.2f} to {m.nn_dist[-1]:.2f}.")


@widgets.guarded
def render() -> None:
    opened = widgets.stats_page("Navigate", min_d=2, decodes=True)
    if opened is None:
        return
    run, s = opened
    rid, root = run.run_id, session.root()
    c1, c2 = st.columns([3, 2])
    section = c1.radio("walk", list(SECTIONS), format_func=SECTIONS.get, horizontal=True, key="nav_section")
    plane = c2.radio("map", ["UMAP", "main axes 0, 1"], horizontal=True, key="nav_plane_kind",
                     help="decode anywhere on the UMAP or on the plane of the first two main axes")
    # map_layout(..., False) is the PCA plane: the same machinery decodes spots of either
    ready = api.umap_ready(run.paths) and plane == "UMAP"
    layout = maps.map_layout(rid, root, ready)
    probes = maps.probes(rid, root, ready)
    pick_from_map(rid, root, layout, probes)
    nudge = None
    if section == "path":
        walks = path_controls(rid, root, s)
        lines = {f"{k} path": layout.placer.place(p.astype(np.float32)) for k, p in walks.items()}
    else:
        nudge = nudge_controls(rid, root, s)
        walks = {"nudge": nudge[1].points} if nudge else {}
        lines = {"nudge path": layout.placer.place(nudge[1].points.astype(np.float32))} if nudge else {}
    pick = st.session_state.get(nav_ui.MAP_PICK)
    marks = {"picked": np.asarray(pick["xy"], np.float32)[None]} if pick else {}
    left, right = st.columns([3, 1.2])
    with left:
        st.plotly_chart(charts_nav.nav_map(layout.coords, layout.axis_titles, probes, lines, marks),
                        width="stretch", key=f"nav_map_{layout.kind}", on_select="rerun", selection_mode="points")
        what = "UMAP" if layout.kind == "umap" else "plane of the first two PCA main axes" + (
            " (UMAP not ready yet)" if plane == "UMAP" else "")
        st.caption(f"All {len(layout.coords):,} z-points on the {what}; coloured lines: the walks below, "
                   "placed by their nearest z-points. Click a point or any empty spot to decode it.")
        _typed_location(rid, root, layout)
    with right:
        pick_panel(rid, root, s)
    if section == "path" and walks:
        a_label, b_label = st.session_state.get("nav_labels", ("A", "B"))
        for k, p in walks.items():
            st.markdown(f"**{api.PATH_LABELS[k]}** from {a_label} to {b_label}")
            nav_ui.strip(rid, root, s, p, f"{api.PATH_LABELS[k]}: {len(p)} steps", key=k)
    elif nudge:
        show_nudge(rid, root, s, *nudge)
    if walks:
        fig, shown, total, _ = planes.plane_figure(rid, "pca", 0, 1, overlay=False, height=520)
        charts_nav.add_lines(fig, {f"{k} path": s.to_pca(p)[:, :2] for k, p in walks.items()})
        st.plotly_chart(fig, width="stretch", key="nav_plane")
        why = ("a straight path between two real points cuts inside the shell where real points live; the "
               "shell path keeps their Mahalanobis radius." if section == "path" else
               "the nudge pulls the vector toward the mean of its neighbours, which lies inside their shell.")
        st.caption(f"The same walks on the plane of main axes 0 and 1 ({shown:,} of {total:,} z-points drawn), "
                   f"with the 1-, 2-, 3-σ ellipses: {why}")


if __name__ == "__main__":
    render()
