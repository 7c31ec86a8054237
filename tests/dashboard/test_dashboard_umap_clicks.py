"""The UMAP page's reactions to a selection, run through AppTest without a browser: a click
on a real point, on a sampled point, and a box selection (the browser test clicks for real)."""
from __future__ import annotations


import pytest
from streamlit.testing.v1 import AppTest
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT


def _click(root: str, curve: int, i: int, rows: list | None = None) -> None:
    # AppTest runs this function's source as a script: it needs its own imports
    import streamlit as st

    from dashboard.views import umap

    st.session_state["run_id"] = "tiny"
    if rows is not None:
        umap._show_selection("tiny", root, rows, 0)
    else:
        umap._show_point("tiny", root, curve, i)


@pytest.fixture()
def app(tiny_run, monkeypatch):
    root = str(tiny_run.path.parents[1])
    monkeypatch.setenv("AE_CACHE_DIR", root)
    monkeypatch.setenv("AE_REPO_ROOT", str(ROOT))
    return lambda *a: AppTest.from_function(_click, args=(root, *a), default_timeout=120).run()


def captions(at) -> list[str]:
    return [c for el in at.get("image") for c in el.captions]


def test_click_on_real_point_shows_original_reconstruction_neighbours(app):
    at = app(0, 5)
    assert not at.exception, [e.value for e in at.exception]
    caps = captions(at)
    assert caps[0] == "original image #5"
    assert any(c.value.startswith("image id ") for c in at.caption)        # the file, not only the row
    assert "decoded" in caps[1]
    assert caps[2].startswith("nearest real z-points") and "#5 " not in caps[2]   # itself excluded


def test_click_on_sampled_point_shows_decoded_face(app):
    at = app(1, 2)
    assert not at.exception
    caps = captions(at)
    assert caps[0] == "decoded sample #2" and caps[1].startswith("nearest real z-points")


def test_box_selection_grid_and_csv(app):
    at = app(0, 0, [7, 3, 3, 11])
    assert not at.exception
    assert "3 of 3 shown" in captions(at)[0]
    assert at.get("download_button")
