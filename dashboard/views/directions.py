"""Directions: move one face along the cloud's main axes (sliders in units of each axis's σ,
GANSpace-style, the face updating live) or along an attribute's direction (this face, more or
less Smiling), with every attribute ranked by how linearly the latent space encodes it and a
map whose x-axis is the chosen attribute (Latent Space Cartography's custom axis)."""
from __future__ import annotations

import time

import numpy as np
import streamlit as st

from core import api
from dashboard.charts import nav as charts_nav
from dashboard.state import resources, session
from dashboard.ui import nav_ui, widgets

N_SLIDERS = 6
METHODS = {"mean_diff": "difference of class means", "logistic": "logistic-regression normal"}


@st.fragment
@widgets.guarded
def axis_sliders(rid: str, root: str, s, base: np.ndarray, label: str) -> None:
    """Only this fragment reruns on a slider move: one vector, one decode, one small JPEG."""
    n = min(N_SLIDERS, s.pca_rank)
    left, right = st.columns([2, 1])
    with left:
        cols = st.columns(3)
        offsets = {k: cols[k % 3].slider(f"main axis {k} ({100 * s.pca_explained[k]:.1f}%)", -3.0, 3.0, 0.0, 0.25,
                                         key=f"dir_ax{k}", help="offset from the base face in σ of this axis")
                   for k in range(n)}
    t0 = time.perf_counter()
    v = api.move_along_axes(s, base, offsets)
    img = nav_ui.decode(rid, root, v)
    with right:
        widgets.show_faces(img, caption=f"{label} moved by " + (", ".join(
            f"{o:+g}σ on axis {k}" for k, o in offsets.items() if o) or "nothing yet"), cols=1, face_px=160)
        st.caption(f"server time for this face: {1000 * (time.perf_counter() - t0):.0f} ms "
                   f"(move, decode, image); Mahalanobis radius {s.mahalanobis(v[None])[0]:.2f}")


def axis_strips(rid: str, root: str, s, base: np.ndarray, label: str) -> None:
    n = st.slider("main axes to show as strips", 1, min(12, s.pca_rank), min(5, s.pca_rank), key="dir_n_strips")
    pts = np.concatenate([api.axis_strip(s, base, k, 3.0, 7) for k in range(int(n))])
    nav_ui.show_strip(nav_ui.decode(rid, root, pts), cols=7, face_px=96,
                      caption=f"one row per main axis 0 … {int(n) - 1}: {label} moved −3σ, −2σ, …, +3σ along it "
                               "(the middle column is the base face)")


def _default_attribute(names: list[str], top: str) -> int:
    for pref in ("Smiling", "Smiling > median"):
        if pref in names:
            return names.index(pref)
    return names.index(top)


def attributes(rid: str, root: str, s, base: np.ndarray, label: str) -> None:
    method = st.radio("direction", list(METHODS), format_func=METHODS.get, horizontal=True, key="dir_method",
                      help="the classifier's normal also corrects for correlated components (slower to fit)")
    try:
        res = resources.attribute_directions(rid, root, method)
    except ValueError as e:
        st.info(f"No attribute directions for this run: {e}")
        return
    left, right = st.columns([3, 2])
    with right:
        st.dataframe(res.table, hide_index=True, height=420, width="stretch", key="dir_table",
                     column_config={"share": st.column_config.NumberColumn(format="%.2f"),
                                    "held-out AUC": st.column_config.ProgressColumn(
                                        format="%.3f", min_value=0.5, max_value=1.0),
                                    "separation (σ)": st.column_config.NumberColumn(format="%.2f"),
                                    "|cos| with it": st.column_config.NumberColumn(format="%.2f")})
        st.caption("Attributes ranked by how linearly the latent space encodes them: the ROC AUC of the "
                   "projection onto the direction, on held-out rows the direction never saw (0.5 = not at "
                   "all, 1 = perfectly). Separation: distance of the class means along it in σ of the data.")
    names = list(res.table["attribute"])
    with left:
        c1, c2 = st.columns([2, 1])
        name = c1.selectbox("attribute", names, index=_default_attribute(names, names[0]), key="dir_attr")
        extent = c2.slider("reach (σ)", 1.0, 6.0, 3.0, 0.5, key="dir_extent")
        u, sigma = res.get(name)
        pts = api.direction_strip(base, u, sigma, float(extent), 7)
        m = nav_ui.strip(rid, root, s, pts, f"{label}: less {name} ← → more {name} "
                         f"(−{extent:g}σ … +{extent:g}σ along its direction)",
                         steps_label=np.linspace(-extent, extent, 7), x_title="σ along the direction", key="attr")
    xy = resources.attribute_plane(rid, root, method, name)
    groups = resources.attribute_groups(rid, root)
    walk = api.attribute_plane(pts, u, s)
    st.plotly_chart(charts_nav.attribute_map(xy, groups[name], name, "main spread orthogonal to it (σ)",
                                             {"this strip": walk}), width="stretch", key="dir_map")
    auc = float(res.table.set_index("attribute").loc[name, "held-out AUC"])
    st.caption(f"Every z-point placed by its position along the {name} direction (x) and the largest "
               f"remaining spread (y); held-out AUC {auc:.3f}. Black: the strip above, which ends at "
               f"{m.maha[-1]:.1f} Mahalanobis radius.")


@widgets.guarded
def render() -> None:
    opened = widgets.stats_page("Directions", min_d=2, decodes=True)
    if opened is None:
        return
    run, s = opened
    rid, root = run.run_id, session.root()
    c1, c2 = st.columns([2, 3])
    with c1:
        picked = nav_ui.vector_picker("base face", "dir_base", rid, root, s, default="row")
    with c2:
        section = st.radio("move along", ["main axes", "attributes"], horizontal=True, key="dir_section")
    if picked is None:
        return
    base, label = picked
    if section == "main axes":
        axis_sliders(rid, root, s, base, label)
        axis_strips(rid, root, s, base, label)
    else:
        attributes(rid, root, s, base, label)


if __name__ == "__main__":
    render()
