"""Components: each latent component's histogram with its fitted Gaussian, a sortable table of
all components, and small multiples of the components that sit farthest off the origin."""
from __future__ import annotations

import streamlit as st

from dashboard.charts import stats as charts
from dashboard.ui import normality_panel, widgets


def _table(s) -> int | None:
    """Sortable table of every component; selecting a row picks the component shown above."""
    df = charts.components_table(s).sort_values("off_origin", ascending=False)
    ev = st.dataframe(
        df, hide_index=True, height=360, key="comp_table", on_select="rerun", selection_mode="single-row",
        column_config={
            "component": st.column_config.NumberColumn("component", help="index j of z_j"),
            "center": st.column_config.NumberColumn("center", format="%.4f", help="fitted Gaussian center"),
            "half_width": st.column_config.NumberColumn("half-width", format="%.4f",
                                                        help="half width at half maximum = 1.1774 σ"),
            "off_origin": st.column_config.NumberColumn("off-origin", format="%.2f",
                                                        help="|center| / half-width"),
            "mean": st.column_config.NumberColumn(format="%.4f"),
            "std": st.column_config.NumberColumn(format="%.4f"),
            "skew": st.column_config.NumberColumn(format="%.3f"),
            "kurtosis": st.column_config.NumberColumn("excess kurtosis", format="%.3f"),
            "fit_r2": st.column_config.NumberColumn("fit R²", format="%.3f",
                                                    help="how well the Gaussian fits the histogram"),
            "fit_ok": st.column_config.CheckboxColumn("fit converged"),
        })
    st.caption("One row per component, sorted by off-origin score (|center| / half-width): the "
               "components that move the cloud's center away from the origin come first. Click a "
               "header to sort, a row to show that component above.")
    rows = ev.selection.rows if ev is not None else []
    return int(df.iloc[rows[0]]["component"]) if rows else None


@widgets.guarded
def render() -> None:
    opened = widgets.stats_page("Components")
    if opened is None:
        return
    run, s = opened
    picked = st.session_state.get("comp_pick")
    if picked is not None:   # a table click from the last run: select it before the widget is drawn
        st.session_state["comp_j"] = picked
        st.session_state["comp_pick"] = None
    if "comp_j" not in st.session_state:
        st.session_state["comp_j"] = int(s.off_origin_rank[0])
    c1, c2 = st.columns([1, 4])
    j = c1.number_input("component j", 0, s.d - 1, key="comp_j", help=f"any of the {s.d} components")
    c1.metric("center", f"{s.center[j]:.4f}")
    c1.metric("half-width", f"{s.half_width[j]:.4f}")
    c1.metric("off-origin", f"{s.off_origin[j]:.2f}", help="|center| / half-width; rank "
              f"{int((s.off_origin > s.off_origin[j]).sum()) + 1} of {s.d}")
    c1.metric("skew / ex. kurtosis", f"{s.skew[j]:.2f} / {s.kurtosis[j]:.2f}")
    c1.metric("D'Agostino p (core)", f"{s.norm_p[j]:.2g}", help="normality test of this component on the "
              "points inside the 3σ-equivalent radius; with thousands of points judge skew/kurtosis too")
    with c2:
        st.plotly_chart(charts.component_hist(s.hist_edges[j], s.hist_counts[j], float(s.center[j]),
                                              float(s.half_width[j]), float(s.fit_amplitude[j]), j),
                        width="stretch")
        st.caption(f"Number distribution of component z{j} over all {s.n:,} z-points (bars) with the "
                   "Gaussian fitted to it (black); the solid red line is its center, the dashed lines "
                   "center ± half-width, the dotted grey line the origin.")
    normality_panel.show(s)
    st.subheader("All components")
    sel = _table(s)
    if sel != st.session_state.get("comp_last_sel"):   # react to a new click only, not a kept one
        st.session_state["comp_last_sel"] = sel
        if sel is not None and sel != j:
            st.session_state["comp_pick"] = sel
            st.rerun()
    st.subheader("Components farthest off the origin")
    k = st.slider("how many", 4, min(24, s.d), min(12, s.d), step=4, key="comp_k")
    top = [int(c) for c in s.off_origin_rank[:k]]
    st.plotly_chart(charts.small_multiples(s, top), width="stretch")
    st.caption("Histograms (bars), fitted Gaussians (black) and centers (red) of the components with "
               "the largest off-origin score; the dotted line marks 0. A center far from 0 relative "
               "to the width means vectors drawn around the origin miss the cloud along that axis.")


if __name__ == "__main__":
    render()
