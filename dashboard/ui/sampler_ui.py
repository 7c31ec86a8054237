"""Widgets for a sampler's parameters, built from core's sampler registry (defaults, bounds, slider
ranges, docs, which base sampler a wrapper forwards to), so a new sampler in core shows up here
without UI code. The widgets start from the session's batch (dashboard.state.batches) and return the
new one."""
from __future__ import annotations

from typing import Any

import streamlit as st

from core import api
from dashboard.state import batches


def _seed_widget(key: str, value: Any) -> str:
    """Give a widget its starting value before it is drawn (Streamlit drops the values of
    widgets a page did not draw, so coming back to the Generator starts from the batch)."""
    if key not in st.session_state:
        st.session_state[key] = value
    return key


def _clamp(key: str, kind, lo, hi) -> None:
    """Bring a remembered value into the widget's range. Writes the key only when the value
    changes: any write makes the rerun force its value onto the browser's widget, which
    then drops the key presses made while that rerun was running."""
    v = st.session_state[key]
    c = min(max(kind(v), lo), hi)
    if c != v or type(v) is not kind:
        st.session_state[key] = c


def _widget(sampler: str, name: str, p: api.Param, d: int, start: dict):
    key = _seed_widget(f"gen_{sampler}_{name}", start.get(name, p.default))
    if p.kind == "choice":
        return st.selectbox(name, list(p.choices), key=key, help=p.doc)
    lo, hi, step = p.widget_range(d)
    if p.kind == "int":
        _clamp(key, int, lo, hi)
        return st.number_input(name, lo, hi, step=1, key=key, help=p.doc)
    _clamp(key, float, lo, hi)
    return st.slider(name, lo, hi, step=step, key=key, help=p.doc)


def batch_controls(d: int, cols) -> batches.BatchSpec:
    """Sampler, its parameters, seed and number of faces over ``cols`` (at least 5): the new batch."""
    now = batches.spec()
    names = list(api.SAMPLERS)
    key = _seed_widget("gen_sampler", now.sampler if now.sampler in names else "box")
    name = cols[0].selectbox("sampler", names, key=key, help="how the latent vectors are drawn")
    st.caption(api.SAMPLERS[name].doc.replace("*", "·"))   # '*' would start markdown italics
    start = batches.remembered(name)
    spec = api.SAMPLERS[name]
    if spec.wraps:   # the base sampler decides which other parameters get widgets
        start.setdefault(spec.wraps, st.session_state.get(f"gen_{name}_{spec.wraps}",
                                                           spec.params[spec.wraps].default))
    params: dict = {}
    for i, (pname, p) in enumerate(api.widget_params(name, start).items()):
        with cols[1 + i % 2]:
            params[pname] = _widget(name, pname, p, d, start)
    seed = cols[3].number_input("seed", 0, 1_000_000, key=_seed_widget("gen_seed", now.seed))
    n = cols[4].number_input("faces", 1, 98, step=7, key=_seed_widget("gen_n", now.n))
    return batches.BatchSpec.of(name, params, seed, n)
