"""The Quality page (AppTest) on the tiny run, its rows computed by the real quality job with
a cheap stand-in for Inception (pixel features), so the page test needs no 0.15 s/image CNN."""
from __future__ import annotations


import pytest
from streamlit.testing.v1 import AppTest
from core.store.paths import REPO_ROOT
from tests.fakes import PixelFeatures

ROOT = REPO_ROOT
APP = str(ROOT / "dashboard" / "app.py")


@pytest.fixture(scope="module")
def quality_env(copy_tiny, tmp_path_factory):

    from core.jobs.quality import quality_report
    from core.quality import inception
    from core.quality.table import RowSpec

    # a copy of the run in a cache of its own: the stand-in's rows must not mix with real ones
    cache = tmp_path_factory.mktemp("qcache")
    copy_tiny(cache, skip=("quality", ".*lock"))
    mp = pytest.MonkeyPatch()
    mp.setattr(inception, "InceptionFeatures", PixelFeatures)
    rows = [RowSpec("REC"), RowSpec("REAL"), RowSpec("box", {"fact": 0.5}), RowSpec("box", {"fact": 1.0}),
            RowSpec("pca_box", {"fact": 1.0}), RowSpec("full_gauss"), RowSpec("cube")]
    recs = quality_report("tiny", cache, n=10, n_ref=20, device="cpu", rows=rows,
                          progress=False)
    mp.undo()
    mp.setenv("AE_CACHE_DIR", str(cache))
    mp.setenv("AE_DASHBOARD_AUTO_JOBS", "0")
    yield recs
    mp.undo()


def test_quality_job_rows_with_stand_in_features(quality_env):
    by = {r["label"]: r for r in quality_env}
    assert set(by) == {"REC", "REAL", "box fact=0.5", "box fact=1", "pca_box fact=1", "full_gauss", "cube"}
    # the naive cube decodes to something far from the held-out images in any feature space
    assert by["cube"]["metrics"]["real"]["fid"] > by["REAL"]["metrics"]["real"]["fid"]
    assert by["cube"]["mahalanobis_mean"] > 3 * by["REAL"]["mahalanobis_mean"]


def test_quality_page_shows_leaderboard_curve_and_job(quality_env):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("views/quality.py").run()
    assert not at.exception, [e.value for e in at.exception]
    board = at.dataframe[0].value
    assert list(board["row"])[:2] == ["REC", "REAL"] and len(board) == 7
    assert {"FID real", "KID real", "precision rec", "recall rec", "face rate", "Mahalanobis"} <= set(board.columns)
    assert any("N = 10" in c.value and "N_ref = 20" in c.value for c in at.caption)
    assert at.button(key="q_start").label.startswith("Compute quality")
    assert at.radio(key="q_ref").options == ["held-out real images", "held-out reconstructions"]
    at.radio(key="q_ref").set_value("rec").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
