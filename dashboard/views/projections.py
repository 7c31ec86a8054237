"""Projections: the z-points on any coordinate plane or PCA main-axis plane with density
contours and confidence ellipses, the current batch on top; radii of real vs sampled vectors."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import api
from core.errors import AtlasError
from dashboard.charts import stats as charts
from dashboard.state import batches, session
from dashboard.ui import normality_panel, planes, widgets

PLANES = {"coord": "coordinate plane (z_i, z_j)", "pca": "PCA main axes (a, b)"}


def _radii(rid: str, root: str, s) -> None:
    spec = batches.spec()
    try:
        sampled = np.linalg.norm(batches.cloud(rid, root, spec.sampler, spec.params, spec.seed), axis=1)
    except AtlasError as e:  # a sampler that cannot draw this many vectors: say so
        st.caption(f"(no {spec.sampler} cloud: {widgets.describe(e)})")
        sampled = None
    b = api.naive_cube_b(s)                     # the one naive interval, as the cube sampler's default
    cube = np.linalg.norm(batches.cloud(rid, root, "cube", (), 0), axis=1)
    radii = np.linalg.norm(batches.current(rid).z, axis=1)
    st.plotly_chart(charts.radius_hist(s.radius, sampled, cube, radii, spec.sampler), width="stretch")
    st.caption(f"Lengths |z| of the real z-points (blue), of {batches.N_CLOUD:,} vectors from the "
               f"current sampler (orange) and from the naive cube, uniform in one common interval "
               f"[-b, b] with b = {b:.2f} (purple), the smallest holding every component's fitted center "
               "± 2 sigma; ticks at the bottom "
               "are the current batch. Cube vectors sit in a thin shell far from the real cloud.")


@widgets.guarded
def render() -> None:
    opened = widgets.stats_page("Projections", min_d=2)
    if opened is None:
        return
    run, s = opened
    rid, root = run.run_id, session.root()
    c = st.columns([2, 1, 1, 1])
    kind = c[0].radio("plane", list(PLANES), format_func=PLANES.get, key="proj_kind", horizontal=True)
    if kind == "pca":
        a = c[1].number_input("main axis a", 0, s.d - 1, 0, key="proj_a")
        b = c[2].number_input("main axis b", 0, s.d - 1, 1, key="proj_b")
    else:
        a = c[1].number_input("component i", 0, s.d - 1, int(s.off_origin_rank[0]), key="proj_i")
        b = c[2].number_input("component j", 0, s.d - 1, int(s.off_origin_rank[min(1, s.d - 1)]), key="proj_j")
    overlay = c[3].toggle("show current batch", True, key="proj_overlay")
    if a == b:
        st.info("Pick two different axes to see a plane.")
        return
    fig, shown, total, r = planes.plane_figure(rid, kind, int(a), int(b), overlay=overlay)
    st.plotly_chart(fig, width="stretch")
    what = "main axes" if kind == "pca" else "components"
    st.caption(f"All {total:,} z-points projected onto {what} ({a}, {b}) ({shown:,} drawn as dots); "
               f"contour lines show the point density, the solid/dashed/dotted ellipses the 1-, 2-, "
               f"3-σ confidence ellipses of the fitted 2-D Gaussian (r = {r:.3f}). Orange diamonds: "
               f"the current batch, {batches.label()}.")
    normality_panel.show(s)
    st.subheader("Radii: real vs sampled vectors")
    _radii(rid, root, s)


if __name__ == "__main__":
    render()
