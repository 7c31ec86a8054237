"""Every dashboard page on imported runs: an ONNX model with d = 16 at 32 px, z-points without a
decoder (pages that need none work, the others say why), and d / image sizes other than 256 / 64."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.extmodels import do_import, export_own, synthetic_data
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT
APP = str(ROOT / "dashboard" / "app.py")
PAGES = sorted(p.stem for p in (ROOT / "dashboard" / "views").glob("*.py") if p.stem != "__init__")


@pytest.fixture(scope="module")
def cache(tiny_run, tmp_path_factory):
    """A cache with the tiny run's model imported from ONNX (d = 16) and its z-points alone."""
    root = tmp_path_factory.mktemp("imported")
    files = export_own(tiny_run.load_model(), root / "files")
    do_import(root, "ext16", encoder=str(files["encoder"]), decoder=str(files["decoder"]))
    np.save(root / "files" / "z.npy", np.asarray(tiny_run.z()))
    do_import(root, "zonly", z_points=str(root / "files" / "z.npy"), image_size=32)
    do_import(root, "zdec", z_points=str(root / "files" / "z.npy"), decoder=str(files["decoder"]))
    return root


@pytest.fixture
def env(cache, app_env):
    return app_env(cache)


def open_page(run_id: str, page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["_select_run"] = run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["run_id"] == run_id
    return at


def _texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("info", "caption", "markdown", "error", "warning")
                    for e in getattr(at, kind))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_an_imported_run(env, page):
    at = open_page("ext16", page)
    assert not at.error, [e.value for e in at.error]


def test_overview_says_what_was_imported(env):
    at = open_page("ext16", "overview")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["z_dim"] == "16" and metrics["image size"] == "32 px" and metrics["imported model"] == "onnx"
    assert "Imported model" in _texts(at) and "trained elsewhere and imported" in _texts(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_without_a_decoder(env, page):
    at = open_page("zonly", page)
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", ["overview", "generator"])
def test_z_points_with_a_decoder_reconstruct_and_generate(env, page):
    at = open_page("zdec", page)
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert any(("reconstructions" if page == "overview" else "decoded faces") in c for c in captions)


def test_cli_on_z_points_runs(env, tmp_path, capsys):
    from core.cli import main

    assert main(["recon", "zdec", "--out", str(tmp_path / "r.png"), "--cache-dir", str(env)]) == 0
    assert main(["sample", "zonly", "--out", str(tmp_path / "s.png"), "--cache-dir", str(env)]) == 2
    assert "without a decoder" in capsys.readouterr().err and not (tmp_path / "s.png").exists()


def test_pages_that_decode_say_why_not(env):
    assert "without a decoder" in _texts(open_page("zonly", "generator"))
    assert "no decoder" in _texts(open_page("zonly", "overview"))


@pytest.mark.slow
@pytest.mark.parametrize("size,d", [(64, 512), (128, 64)])
def test_pages_with_other_sizes_and_dimensions(tmp_path, app_env, size, d):
    from core.config import ModelConfig
    from core.model.autoencoder import ConvAutoencoder

    torch.manual_seed(0)
    model = ConvAutoencoder(ModelConfig(size, 3, d, (8, 16, 16, 32), True))
    files = export_own(model, tmp_path / "files")
    run = do_import(tmp_path, "big", synthetic_data(n=600, size=size), encoder=str(files["encoder"]),
                    decoder=str(files["decoder"]))
    assert run.z().shape == (600, d) and run.config.model.image_size == size
    app_env(tmp_path)
    for page in PAGES:
        at = open_page("big", page)
        assert not at.error, (page, [e.value for e in at.error])
