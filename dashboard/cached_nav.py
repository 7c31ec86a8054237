"""The navigation pages' st.cache_* wrappers (kept beside cached.py, which holds the rest, so
the pages that others change in parallel share no lines with these): attribute directions,
the attribute map and the decode-anywhere inverse of the 2-D map, keyed by run and options."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import api
from core.errors import AtlasError
from dashboard import cached


@st.cache_resource(max_entries=8, show_spinner="fitting a direction for every attribute (once per run)")
def attribute_directions(run_id: str, root: str, method: str):
    gen = cached.generator(run_id, root)
    return api.attribute_directions(gen.z, cached.index(run_id, root), cached.stats(run_id, root), method=method)


@st.cache_data(max_entries=16, show_spinner="projecting the z-points onto the attribute direction")
def attribute_plane(run_id: str, root: str, method: str, name: str) -> np.ndarray:
    u, _ = attribute_directions(run_id, root, method).get(name)
    return api.attribute_plane(cached.generator(run_id, root).z, u, cached.stats(run_id, root))


@st.cache_data(max_entries=8, show_spinner=False)
def attribute_groups(run_id: str, root: str) -> dict[str, np.ndarray]:
    return api.label_groups(cached.index(run_id, root))


@st.cache_resource(max_entries=4, show_spinner=False)
def map_inverse(run_id: str, root: str, umap_ready: bool):
    layout = cached.map_layout(run_id, root, umap_ready)
    # plain blend: re-scaling it to the neighbours' Mahalanobis radius measured less faithful
    # on held-out faces (bench/bench_inverse.py)
    return api.MapInverse(layout.coords, cached.generator(run_id, root).z)


@st.cache_data(max_entries=4, show_spinner=False)
def probes(run_id: str, root: str, umap_ready: bool) -> np.ndarray:
    from dashboard.charts.nav import probe_grid

    return probe_grid(cached.map_layout(run_id, root, umap_ready).coords)


@st.cache_resource(show_spinner=False)
def face_detector():
    """api.has_face (OpenCV's Haar cascade) when OpenCV is installed, else None: the strips
    then show no face column."""
    try:
        has_face = api.has_face
        has_face(np.zeros((1, 64, 64, 3), np.uint8))          # loads the cascade once
    except (ImportError, AtlasError, AttributeError):
        return None
    return has_face
