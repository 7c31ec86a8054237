"""Every dashboard page, run by streamlit's AppTest against the tiny run: no exception, the
key widgets exist, and the Generator's `fact` slider changes the face grid."""
from __future__ import annotations


import pytest
from streamlit.testing.v1 import AppTest

from core.jobs.derive import derive
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT

APP = str(ROOT / "dashboard" / "app.py")


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def keys(at: AppTest) -> set[str]:
    return {w.key for kind in ("number_input", "slider", "selectbox", "radio", "toggle")
            for w in getattr(at, kind) if w.key}


def image_urls(at: AppTest) -> list[str]:
    """Media URLs of every st.image (content-addressed: new bytes, new URL) with captions."""
    return [(img.url, img.caption) for el in at.get("image") for img in el.proto.imgs]


def test_sidebar_lists_the_run(tiny_app):
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception
    picker = at.sidebar.selectbox(key="run_id")
    assert picker.value == "tiny" and picker.options == ["tiny"]
    assert any(c.value.startswith("**done** · synthetic · 32 px · z_dim 16") for c in at.sidebar.caption)
    assert at.sidebar.radio(key="new_dataset").options == ["synthetic faces (built in)", "CelebA folder",
                                                            "image folder"]


def test_overview(tiny_app):
    at = open_page("overview")
    assert {"ov_seed"} <= keys(at)
    assert [m.label for m in at.metric][:4] == ["dataset", "images", "image size", "z_dim"]
    (url, caption), = image_urls(at)
    assert "reconstructions" in caption


def test_components_table_and_histogram(tiny_app):
    at = open_page("components")
    assert {"comp_j", "comp_k"} <= keys(at)
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 16
    at.number_input(key="comp_j").set_value(3).run()
    assert not at.exception
    assert any("component z3" in c.value for c in at.caption)


def test_correlations_pair_projection(tiny_app):
    at = open_page("correlations")
    assert {"corr_i", "corr_j"} <= keys(at)
    at.number_input(key="corr_i").set_value(0).run()
    at.number_input(key="corr_j").set_value(5).run()
    assert not at.exception
    assert any("(z0, z5)" in c.value for c in at.caption)


def test_projections_planes(tiny_app):
    at = open_page("projections")
    assert {"proj_kind", "proj_i", "proj_j", "proj_overlay"} <= keys(at)
    at.radio(key="proj_kind").set_value("pca").run()
    assert not at.exception and {"proj_a", "proj_b"} <= keys(at)
    assert any("main axes (0, 1)" in c.value for c in at.caption)


def test_umap_colourings(tiny_app):
    at = open_page("umap")
    assert {"umap_color", "umap_overlay"} <= keys(at)
    assert any("PCA" in i.value for i in at.info)        # no UMAP fitted: the preview, explained
    for colour in ("partition", "Mahalanobis distance", "Smiling", "skin_tone"):
        at.selectbox(key="umap_color").set_value(colour).run()
        assert not at.exception, colour


def test_generator_fact_changes_the_grid(tiny_app):
    at = open_page("generator")
    assert {"gen_sampler", "gen_box_fact", "gen_seed", "gen_n"} <= keys(at)
    fact = at.slider(key="gen_box_fact")
    assert fact.value == 1.0
    before = [u for u, c in image_urls(at) if "decoded faces" in c]
    fact.set_value(0.5).run()
    assert not at.exception
    after = [u for u, c in image_urls(at) if "decoded faces" in c]
    assert len(before) == len(after) == 1 and before != after
    assert len(at.dataframe) == 1                          # the diagnostics table


def test_generator_reruns_never_force_the_slider_value(tiny_app):
    """A rerun that re-sends the slider's value (set_value) overwrites what the user pressed
    since that rerun began: fast key presses are then dropped (tests/dashboard/test_browser.py checks
    the same in Chromium). Only a value outside the slider's range may be forced back."""
    at = open_page("generator")
    for fact in (1.05, 1.1, 1.15):
        at.slider(key="gen_box_fact").set_value(fact).run()
        assert not at.exception
        assert not at.slider(key="gen_box_fact").proto.set_value, fact
    assert any("decoded faces: box(fact=1.15)" in c for _, c in image_urls(at))


def test_generator_batch_is_shared_with_other_pages(tiny_app):
    at = open_page("generator")
    at.slider(key="gen_box_fact").set_value(0.3).run()
    at.switch_page("views/projections.py").run()
    assert not at.exception
    assert any("fact=0.3" in c.value for c in at.caption)
    at.switch_page("views/generator.py").run()
    assert at.slider(key="gen_box_fact").value == 0.3     # remembered across pages


@pytest.mark.parametrize("sampler", ["cube", "diag_gauss", "full_gauss", "pca_box", "gmm", "path", "nudge"])
def test_generator_other_samplers(tiny_app, sampler):
    at = open_page("generator")
    at.selectbox(key="gen_sampler").set_value(sampler).run()
    assert not at.exception, sampler
    assert [c for u, c in image_urls(at) if sampler in c]


@pytest.mark.slow
def test_umap_page_uses_the_fitted_embedding(tiny_app, tmp_path, monkeypatch):
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(tiny_app.path.parents[1], cache, symlinks=True)
    derive("tiny", cache)                                   # what the background job runs
    monkeypatch.setenv("AE_CACHE_DIR", str(cache))
    at = open_page("umap")
    assert not any("PCA" in i.value for i in at.info)
    assert any("z-points on the UMAP" in c.value for c in at.caption)
    at = open_page("generator")
    assert any(c.startswith("UMAP of all z-points") for u, c in image_urls(at))


@pytest.mark.slow
def test_umap_cold_server_draws_the_map_first_and_the_batch_after(tiny_app, tmp_path, monkeypatch):
    """With the UMAP derived and nothing loaded (a cold server) the map goes out with the real
    points only; the model and index load on the fragment's next run (its timer; here a
    rerun), which reruns the page with the current batch on top."""
    import json
    import shutil

    from dashboard.state import resources

    cache = tmp_path / "cache"
    shutil.copytree(tiny_app.path.parents[1], cache, symlinks=True)
    derive("tiny", cache)
    monkeypatch.setenv("AE_CACHE_DIR", str(cache))
    at = AppTest.from_file(APP, default_timeout=180).run()        # Overview loads the model
    resources.run_sampler.clear()
    resources._LOADED.clear()
    at.switch_page("views/umap.py").run()
    assert not at.exception, [e.value for e in at.exception]

    def traces(at) -> list[str]:
        return [t.get("name", "") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]

    assert len(traces(at)) == 1 and traces(at)[0].startswith("real z-points")
    assert any("placed on the map in a moment" in c.value for c in at.caption)
    assert not resources.is_loaded("tiny", str(cache))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "current batch" in traces(at)
    assert not any("placed on the map in a moment" in c.value for c in at.caption)
