"""The floor under the UMAP page: a Streamlit app holding only the same figure (the map's
own builder, the same st.plotly_chart call with selection), nothing else. Used by
browser_timing.floor_paint; the coordinates come from the .npy file in $BARE_MAP_COORDS."""
import os

import numpy as np
import streamlit as st


from dashboard.charts.maps import color_marker, umap_figure

coords = np.load(os.environ["BARE_MAP_COORDS"], mmap_mode="r")
fig = umap_figure(np.asarray(coords), color_marker(None, None, "none"), ("UMAP 1", "UMAP 2"))
st.plotly_chart(fig, width="stretch", key="umap_chart", on_select="rerun", theme=None,
                selection_mode=("points", "box", "lasso"))
