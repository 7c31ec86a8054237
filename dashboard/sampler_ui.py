"""Widgets for a sampler's parameters, built from core.sampling.registry.SAMPLERS (defaults, bounds,
docs), so a new sampler in core shows up here without UI code."""
from __future__ import annotations

import streamlit as st

from dashboard import state

# Slider ranges for float parameters without bounds in the registry (name -> lo, hi, step).
FLOAT_RANGES = {"fact": (0.05, 3.0, 0.05), "scale": (0.05, 3.0, 0.05), "b": (0.1, 6.0, 0.1),
                "extent": (0.5, 6.0, 0.25), "angle": (-180.0, 180.0, 1.0), "alpha": (0.0, 1.0, 0.05)}


def widget_params(spec, d: int) -> dict:
    """The parameters of a SamplerSpec that get a widget (not data, not 'None means auto')."""
    return {k: p for k, p in spec.params.items() if p.kind != "data" and p.default is not None}


def _clamp(key: str, kind, lo, hi) -> None:
    """Bring a remembered value into the widget's range. Writes the key only when the value
    changes: any write makes the rerun force its value onto the browser's widget, which
    then drops the key presses made while that rerun was running."""
    v = st.session_state[key]
    c = min(max(kind(v), lo), hi)
    if c != v or type(v) is not kind:
        st.session_state[key] = c


def _widget(sampler: str, name: str, p, d: int, remembered: dict):
    key = state.seeded(f"gen_{sampler}_{name}", remembered.get(name, p.default))
    label, help_ = name, p.doc
    if p.kind == "choice":
        return st.selectbox(label, list(p.choices), key=key, help=help_)
    if p.kind == "int":
        lo = int(p.lo) if p.lo is not None else 0
        hi = int(p.hi) if p.hi is not None else (d - 1 if "axis" in name else 1000)
        _clamp(key, int, lo, hi)
        return st.number_input(label, lo, hi, step=1, key=key, help=help_)
    if name in FLOAT_RANGES:
        lo, hi, step = FLOAT_RANGES[name]
    elif p.lo is not None and p.hi is not None:
        lo, hi, step = float(p.lo), float(p.hi), (float(p.hi) - float(p.lo)) / 100
    else:
        lo, hi, step = (0.0 if not p.positive else 0.05), max(3.0, 4 * float(p.default)), 0.05
    _clamp(key, float, lo, hi)
    return st.slider(label, lo, hi, step=step, key=key, help=help_)


def sampler_controls(d: int, cols) -> tuple[str, dict]:
    """Sampler choice plus its parameter widgets laid out over ``cols``; returns (name, params)."""
    from core.sampling.registry import SAMPLERS

    spec_now = state.batch_spec()
    names = list(SAMPLERS)
    key = state.seeded("gen_sampler", spec_now["sampler"] if spec_now["sampler"] in names else "box")
    name = cols[0].selectbox("sampler", names, key=key, help="how the latent vectors are drawn",
                             format_func=lambda s: s)
    st.caption(SAMPLERS[name].doc.replace("*", "·"))   # '*' would start markdown italics
    remembered = spec_now["params"] if spec_now["sampler"] == name else {}
    params: dict = {}
    widgets = list(widget_params(SAMPLERS[name], d).items())
    if name == "nudge":   # nudge forwards the other parameters to its base sampler
        base = remembered.get("base", SAMPLERS["nudge"].params["base"].default)
        base = st.session_state.get("gen_nudge_base", base)
        widgets += [(k, p) for k, p in widget_params(SAMPLERS[base], d).items()
                    if k not in SAMPLERS["nudge"].params]
    for i, (pname, p) in enumerate(widgets):
        with cols[1 + i % (len(cols) - 1)]:
            params[pname] = _widget(name, pname, p, d, remembered)
    for pname, _ in widgets:
        state.remember(f"gen_{name}_{pname}")
    state.remember(key)
    return name, params
