"""Correlations: the full correlation matrix in clustered order, the strongest pairs, and the
2-D projection of any pair (tilted ellipses where components correlate)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.charts import stats as charts
from dashboard.state import batches
from dashboard.ui import planes, widgets


def _pairs_table(s) -> tuple[int, int] | None:
    df = pd.DataFrame({"i": s.top_pairs_i, "j": s.top_pairs_j, "r": s.top_pairs_r,
                       "|r|": np.abs(s.top_pairs_r)})
    ev = st.dataframe(df, hide_index=True, height=560, key="corr_pairs", on_select="rerun",
                      selection_mode="single-row", width="stretch",
                      column_config={"r": st.column_config.NumberColumn("r", format="%.3f"),
                                     "|r|": st.column_config.ProgressColumn(
                                         "|r|", format="%.2f", min_value=0.0, max_value=1.0)})
    st.caption("The most strongly correlated pairs (by |r|); click a row to open its projection.")
    rows = ev.selection.rows if ev is not None else []
    return (int(df.iloc[rows[0]]["i"]), int(df.iloc[rows[0]]["j"])) if rows else None


@widgets.guarded
def render() -> None:
    opened = widgets.stats_page("Correlations", min_d=2)
    if opened is None:
        return
    run, s = opened
    rid = run.run_id
    left, right = st.columns([5, 2])
    with left:
        st.plotly_chart(charts.corr_heatmap(s.corr, s.corr_order), width="stretch")
        off = np.abs(s.corr[np.triu_indices(s.d, 1)])
        st.caption(f"Pearson correlation of every pair of the {s.d} components, rows and columns "
                   "reordered by hierarchical clustering so correlated groups form blocks; red = "
                   f"positive, blue = negative. Hover for the pair and value. Median |r| off the "
                   f"diagonal: {np.median(off):.3f}; {int((off > 0.3).sum())} pairs with |r| > 0.3.")
    with right:
        picked = _pairs_table(s)
    if picked is not None and picked != st.session_state.get("corr_last_pick"):
        st.session_state["corr_last_pick"] = picked        # a new row click sets the indices
        st.session_state["corr_i"], st.session_state["corr_j"] = picked
    st.session_state.setdefault("corr_i", int(s.top_pairs_i[0]))
    st.session_state.setdefault("corr_j", int(s.top_pairs_j[0]))
    st.subheader("Projection of a pair")
    c1, c2, c3 = st.columns([1, 1, 4])
    i = c1.number_input("component i", 0, s.d - 1, key="corr_i")
    j = c2.number_input("component j", 0, s.d - 1, key="corr_j")
    if i == j:
        st.info("Pick two different components to see their joint distribution.")
        return
    fig, shown, total, r = planes.plane_figure(rid, "coord", int(i), int(j))
    st.plotly_chart(fig, width="stretch")
    st.caption(f"z-points projected onto the plane (z{i}, z{j}), {shown:,} of {total:,} drawn; lines are "
               f"density contours and the 1-, 2-, 3-σ ellipses of the fitted 2-D Gaussian (tilted as "
               f"r = {r:.3f} says); orange diamonds are the current sample batch ({batches.label()}).")


if __name__ == "__main__":
    render()
