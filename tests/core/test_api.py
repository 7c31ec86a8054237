"""core.api, the public surface: the calls README.md shows ("Using core from Python"), run as
written on the tiny run (the cache given by AE_CACHE_DIR, as a notebook would)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from core import api
from core.store.paths import REPO_ROOT as ROOT
from tests.fakes import PixelFeatures


@pytest.fixture()
def run(tiny_run, monkeypatch):
    monkeypatch.setenv("AE_CACHE_DIR", str(tiny_run.path.parents[1]))
    return api.open_run("tiny")


def test_every_name_resolves():
    """The table of homes is right: a name core moved fails here, not in a page."""
    missing = [n for n in api.__all__ if getattr(api, n, None) is None]
    assert not missing
    with pytest.raises(AttributeError):
        api.no_such_name  # noqa: B018


def test_importing_the_surface_loads_nothing_heavy():
    code = "import sys, core.api; print(sorted(m for m in ('pandas', 'scipy', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


def test_open_and_list_runs(run):
    assert run.complete and run.run_id == "tiny"
    assert "tiny" in [r.run_id for r in api.list_runs()]
    z, index = run.z(), run.index()
    assert z.shape == (300, 16) and len(index) == 300 and "partition" in index
    with pytest.raises(api.UnknownRunError, match="no run 'nope'"):
        api.open_run("nope")


def test_run_paths(run):
    paths = api.run_paths("tiny")
    assert paths.z.is_file() and paths.index.is_file() and paths.folder == run.path
    assert not api.run_paths("not-yet").exists()


def test_statistics(run):
    s = api.run_stats(run)
    assert s.center.shape == s.half_width.shape == (16,) and s.corr.shape == (16, 16)
    np.testing.assert_allclose(api.latent_stats(run.z()).center, s.center, rtol=1e-5, atol=1e-6)
    assert isinstance(api.normality_verdict(s)["headline"], str)


def test_sample(run):
    s = api.run_stats(run)
    z_new = api.sample("box", s, 21, seed=0, fact=1.0)
    assert z_new.shape == (21, 16) and z_new.dtype == np.float32
    assert {"box", "cube", "full_gauss", "gmm"} <= set(api.SAMPLERS)
    b = api.RunSampler(run).batch("gmm", 7, seed=0)
    assert b.z.shape == (7, 16) and b.images.shape == (7, 32, 32, 3) and "sample_nn" in b.diagnostics


def test_decode(run):
    z_new = api.sample("box", api.run_stats(run), 21, seed=0, fact=1.0)
    faces = api.decode(run, z_new)
    assert faces.shape == (21, 32, 32, 3) and faces.dtype == np.uint8
    assert api.face_grid_png(faces, cols=7)[:4] == b"\x89PNG"


def test_quality_table(run, copy_tiny, tmp_path, monkeypatch):
    from core.jobs.quality import quality_report
    from core.quality import inception
    from core.quality.table import RowSpec

    # a copy of the run without quality rows (other tests may have made some in the shared one)
    copy_tiny(tmp_path, skip=("quality", ".*lock"))
    run = api.open_run("tiny", tmp_path)
    assert api.quality_table(api.quality_rows(run)).empty          # no quality job yet
    # the job's rows, with pixel features standing in for Inception
    monkeypatch.setattr(inception, "InceptionFeatures", PixelFeatures)
    quality_report("tiny", tmp_path, n=10, n_ref=20, device="cpu", rows=[RowSpec("REAL"), RowSpec("box")],
                   progress=False)
    table = api.quality_table(api.quality_rows(run))
    assert sorted(table["row"]) == ["REAL", "box"]                  # rows in file order
    assert {"FID real", "KID real", "precision rec", "recall rec", "face rate", "N"} <= set(table.columns)


def test_jobs(run):
    paths = api.run_paths("tiny")
    assert api.run_status(paths)["state"] == "done" and not api.training_active(paths)
    assert "tiny" in api.run_ids()
    assert api.derive_state(paths)["state"] in ("missing", "done")
    assert api.quality_state(paths)["state"] in ("missing", "done")


def test_errors():
    from core import errors

    assert api.AtlasError is errors.AtlasError and issubclass(api.UnknownRunError, api.AtlasError)
