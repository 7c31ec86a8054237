"""Widgets shared by the navigation pages: picking a latent vector (a real z-point by row or
image id, the map spot clicked, a vector of the current batch, the center, a main axis) and
showing a decoded strip with its per-step measures under it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import api
from dashboard.charts import nav as charts_nav
from dashboard.state import batches, resources
from dashboard.ui import widgets

KINDS = {"row": "real z-point (row or image id)", "map": "spot picked on the map",
         "batch": "vector of the current batch", "center": "the cloud's center",
         "axis": "± k·σ along a main axis"}
MAP_PICK = "nav_map_pick"        # session key: {"label", "z"} of the last map click


def image_label(rid: str, root: str, row: int) -> str:
    """'#row · image_id' so a researcher can find the file, not just the row."""
    idx = resources.index(rid, root)
    if "image_id" in idx and 0 <= row < len(idx):
        return f"#{row} · {idx['image_id'].iloc[row]}"
    return f"#{row}"


def _row_from_text(rid: str, root: str, text: str, n: int) -> int:
    text = text.strip()
    if text.isdigit() and int(text) < n:
        return int(text)
    idx = resources.index(rid, root)
    hits = np.flatnonzero(idx["image_id"].astype(str).to_numpy() == text) if "image_id" in idx else []
    if not len(hits):
        raise ValueError(f"{text!r} is neither a row in [0, {n}) nor an image id of this run")
    return int(hits[0])


def vector_picker(label: str, key: str, rid: str, root: str, s, default: str = "row",
                  default_row: int = 0, kinds=tuple(KINDS)) -> tuple[np.ndarray, str] | None:
    """A latent vector chosen in a few widgets: (vector [d], its description) or None."""
    kinds = list(kinds)
    kind = st.selectbox(label, kinds, index=kinds.index(default) if default in kinds else 0,
                        format_func=KINDS.get, key=f"{key}_kind")
    gen = resources.run_sampler(rid, root)
    try:
        if kind == "row":
            row = _row_from_text(rid, root, st.text_input("row or image id", str(default_row), key=f"{key}_row"),
                                 len(gen.z))
            return api.path_endpoint("row", s, z=gen.z, row=row), f"real {image_label(rid, root, row)}"
        if kind == "map":
            pick = st.session_state.get(MAP_PICK)
            if pick is None:
                st.info("Nothing picked yet: click a point or an empty spot of the map on the Navigate page.")
                return None
            return np.asarray(pick["z"], np.float64), pick["label"]
        if kind == "batch":
            b = batches.current(rid)
            i = st.number_input("vector #", 0, len(b.z) - 1, 0, key=f"{key}_batch")
            return np.asarray(b.z[int(i)], np.float64), f"batch vector #{i} ({batches.label()})"
        if kind == "center":
            return api.path_endpoint("center", s), "the center"
        c1, c2 = st.columns(2)
        ax = c1.number_input("main axis", 0, s.d - 1, 0, key=f"{key}_axis")
        k = c2.number_input("k (σ)", -6.0, 6.0, 2.0, 0.5, key=f"{key}_k")
        return api.path_endpoint("axis", s, axis=int(ax), k_sigma=float(k)), f"{k:+g}σ on main axis {ax}"
    except ValueError as e:
        st.error(str(e))
        return None


def decode(rid: str, root: str, points: np.ndarray) -> np.ndarray:
    p = np.ascontiguousarray(np.atleast_2d(points), np.float32)
    return resources.decode(rid, root, p.tobytes(), p.shape[1])


def show_strip(images: np.ndarray, caption: str, cols: int | None = None, face_px: int = 96) -> None:
    """A row (or grid) of faces that fills the page width instead of running past it."""
    jpeg, width = widgets.face_jpeg(images, cols or len(images), face_px)
    st.image(jpeg, caption=caption, width="stretch" if width > 900 else width, output_format="JPEG")


def reference(rid: str, root: str) -> dict[str, float]:
    ref = resources.run_sampler(rid, root).heldout_reference
    return {"Mahalanobis radius": ref["real_mahalanobis_median"],
            "nearest real distance": ref["real_nn_median"]}


def strip(rid: str, root: str, s, points: np.ndarray, caption: str, steps_label=None,
          x_title: str = "step", key: str = "") -> api.StepMeasures:
    """Decoded faces of points [n, d] in one row, then Mahalanobis radius and nearest-real
    distance per step against the held-out real points' medians."""
    images = decode(rid, root, points)
    show_strip(images, caption)
    m = api.step_measures(points, s, resources.knn(rid, root), images, resources.face_detector())
    x = np.arange(len(points)) if steps_label is None else np.asarray(steps_label)
    series = {"Mahalanobis radius": m.maha, "nearest real distance": m.nn_dist}
    if m.face_rate is not None:
        series["face found (Haar)"] = m.face_rate
    st.plotly_chart(charts_nav.measures_figure(x, series, reference(rid, root), x_title), width="stretch",
                    key=f"measures_{key}")
    if m.face_rate is None:
        st.caption("No face column: the Haar face detector (core.quality.faces, OpenCV) is not installed.")
    return m


def measures_table(m: api.StepMeasures, rid: str, root: str) -> pd.DataFrame:
    df = pd.DataFrame(m.table())
    df["nearest real"] = [image_label(rid, root, int(r)) for r in m.nn_row]
    return df.drop(columns=["nearest real row"])
