"""The Navigate and Directions pages under AppTest against the tiny run: paths decode their
endpoints, a typed map location decodes a face, the nudge strip, main-axis sliders change the
face, and attribute directions rank the synthetic factors and draw their strip."""
from __future__ import annotations


import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT
APP = str(ROOT / "dashboard" / "app.py")


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def images(at: AppTest) -> list[tuple[str, str]]:
    return [(img.url, img.caption) for el in at.get("image") for img in el.proto.imgs]


def test_navigate_paths(tiny_app):
    at = open_page("navigate")
    caps = [c for _, c in images(at)]
    for label in ("straight line", "through the center", "on the data's Mahalanobis shell"):
        assert any(c.startswith(f"{label}: 9 steps") for c in caps), caps
    at.text_input(key="nav_b_row").set_value("5").run()
    at.selectbox(key="nav_a_kind").set_value("axis").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("**through the center** from +2σ on main axis 0 to real #5" in m.value for m in at.markdown)
    at.slider(key="nav_steps").set_value(5).run()
    assert any(c.startswith("straight line: 5 steps") for _, c in images(at))


def test_navigate_endpoint_by_image_id_and_bad_input(tiny_app):
    import pandas as pd

    image_id = str(pd.read_parquet(tiny_app.path / "index.parquet")["image_id"].iloc[7])
    at = open_page("navigate")
    at.text_input(key="nav_a_row").set_value(image_id).run()
    assert any(f"from real #7 · {image_id}" in m.value for m in at.markdown)
    at.text_input(key="nav_a_row").set_value("no-such-image").run()
    assert not at.exception and any("neither a row" in e.value for e in at.error)


def test_navigate_decode_typed_location_and_use_it(tiny_app):
    at = open_page("navigate")
    at.number_input(key="nav_x").set_value(0.1).run()
    at.button(key="nav_decode_xy").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(c.startswith("decoded: map spot (0.10,") for _, c in images(at))
    assert any("point spacings" in c.value for c in at.caption)
    at.selectbox(key="nav_a_kind").set_value("map").run()
    assert any("from map spot (0.10," in m.value for m in at.markdown)


def test_navigate_micro_correlations(tiny_app):
    at = open_page("navigate")
    at.radio(key="nav_section").set_value("nudge").run()
    assert not at.exception, [e.value for e in at.exception]
    caps = [c for _, c in images(at)]
    assert any(c.startswith("the 10 nearest real z-points of batch vector #0") for c in caps), caps
    assert any("nudged toward their mean, alpha = 0.00" in c for c in caps)
    assert any("Moving the whole way" in c.value for c in at.caption)


def test_directions_sliders_change_the_face(tiny_app):
    at = open_page("directions")
    face = [u for u, c in images(at) if "moved by nothing yet" in c]
    assert len(face) == 1
    at.slider(key="dir_ax0").set_value(2.0).run()
    assert not at.exception
    moved = [u for u, c in images(at) if "moved by +2σ on axis 0" in c]
    assert len(moved) == 1 and moved != face
    assert any(c.startswith("one row per main axis") for _, c in images(at))


def test_directions_attributes(tiny_app):
    at = open_page("directions")
    at.radio(key="dir_section").set_value("attributes").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert {"attribute", "held-out AUC"} <= set(table.columns) and len(table) > 10
    assert at.selectbox(key="dir_attr").value == "Smiling"
    assert any("less Smiling ← → more Smiling" in c for _, c in images(at))
    aucs = table["held-out AUC"].to_numpy()
    assert np.all(np.diff(aucs) <= 1e-12) and np.nanmax(aucs) > 0.6


@pytest.mark.parametrize("page", ["components", "projections"])
def test_normality_verdict_is_shown(tiny_app, page):
    at = open_page(page)
    labels = [e.label for e in at.expander]
    assert any(lab.startswith("Is the core a multivariate normal? ") for lab in labels), labels
    assert any("Mardia's kurtosis" in m.value for m in at.markdown)


def test_navigate_decodes_on_the_main_axis_plane_too(tiny_app):
    at = open_page("navigate")
    at.radio(key="nav_plane_kind").set_value("main axes 0, 1").run()
    at.button(key="nav_decode_xy").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(c.startswith("decoded: map spot") for _, c in images(at))
    assert any("plane of the first two PCA main axes;" in c.value for c in at.caption)
