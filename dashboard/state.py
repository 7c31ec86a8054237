"""Session state shared by the pages: the selected run and the current sample batch.

Widget values vanish from ``st.session_state`` when a page that does not draw the widget
runs, so the batch parameters live under a plain key (``batch_spec``) that every page reads;
the Generator page's widgets are seeded from it and write back to it.
"""
from __future__ import annotations

import streamlit as st

from core.errors import AtlasError
from core.jobs import launch
from core.store.paths import RunPaths, cache_root
from core.store.runs import Run, open_run
from dashboard import cached

DEFAULT_SPEC = {"sampler": "box", "params": {"fact": 1.0}, "seed": 0, "n": 21}


def root() -> str:
    return str(cache_root())


def run_id() -> str | None:
    return st.session_state.get("run_id")


def select_run(rid: str) -> None:
    """Make ``rid`` the picked run on the next rerun (the picker's key cannot be set once drawn)."""
    st.session_state["_select_run"] = rid


def current_run() -> Run | None:
    rid = run_id()
    if not rid:
        return None
    try:
        return open_run(rid)
    except AtlasError:
        return None


def batch_spec() -> dict:
    spec = st.session_state.get("batch_spec")
    if spec is None:
        spec = st.session_state["batch_spec"] = {**DEFAULT_SPEC, "params": dict(DEFAULT_SPEC["params"])}
    return spec


def set_batch_spec(sampler: str, params: dict, seed: int, n: int) -> None:
    st.session_state["batch_spec"] = {"sampler": sampler, "params": dict(params), "seed": int(seed), "n": int(n)}


def current_batch(rid: str):
    """The batch the Generator page shows, computed (or taken from the cache) for any page."""
    s = batch_spec()
    return cached.batch(rid, root(), s["sampler"], cached.params_key(s["params"]), s["seed"], s["n"])


def current_placement(rid: str):
    s = batch_spec()
    return cached.placed(rid, root(), launch.umap_ready(RunPaths.of(rid)), s["sampler"],
                         cached.params_key(s["params"]), s["seed"], s["n"])


def batch_label() -> str:
    s = batch_spec()
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in s["params"].items())
    return f"{s['sampler']}({params}) seed {s['seed']}, {s['n']} vectors"


def seeded(key: str, default):
    """Give a widget key its remembered value before the widget is drawn (no value= clash)."""
    store = st.session_state.setdefault("_remembered", {})
    if key not in st.session_state:
        st.session_state[key] = store.get(key, default)
    return key


def remember(key: str) -> None:
    st.session_state.setdefault("_remembered", {})[key] = st.session_state.get(key)
