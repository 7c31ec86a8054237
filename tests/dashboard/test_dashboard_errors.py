"""Broken runs on every page: a damaged file of one run gives a message naming the file and the
repair on the pages that need it (never a traceback or a server path), and the other pages and
runs keep working. Also the sidebar's New-run form keeps its 'already being trained' message."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.store import atomic
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT
APP = str(ROOT / "dashboard" / "app.py")
PAGES = ["overview", "components", "correlations", "projections", "umap", "generator"]


def _break(folder: Path, how: str) -> None:
    if how == "weights":
        (folder / "weights.safetensors").write_bytes(np.random.default_rng(0).bytes(5000))
    elif how == "z":
        (folder / "z.npy").write_bytes(b"\x93NUMPY garbage")
    elif how == "index":
        (folder / "index.parquet").write_bytes(b"PAR1 not really")
    elif how == "config":
        (folder / "config.json").write_text('{"config": {"data": ')
    elif how == "history":
        (folder / "history.json").write_text('[{"epoch": 1, "val_')
    elif how == "images":
        meta = atomic.read_json(folder / "config.json")
        atomic.write_json(folder / "config.json", {**meta, "data_path": str(folder / "gone")})


# which page must name what (the others must simply not crash)
BROKEN = {"weights": ("generator", "weights.safetensors"), "z": ("components", "z.npy"),
          "index": ("generator", "index.parquet"), "config": ("overview", "config.json"),
          "history": ("overview", "history.json"), "images": ("overview", "images.npy"),
          "small": ("generator", "at least 8")}


@pytest.fixture(scope="module")
def broken_cache(copy_tiny, tmp_path_factory):
    cache = tmp_path_factory.mktemp("broken")
    (cache / "runs").mkdir()
    for how in BROKEN:
        if how == "small":                     # a complete run of 6 images: too few for statistics
            subprocess.run([sys.executable, "-m", "core", "train", "--dataset", "synthetic", "--synthetic-n", "6",
                            "--image-size", "32", "--widths", "8,16,16,32", "--z-dim", "8", "--epochs", "1",
                            "--run-id", "bad-small", "--quiet", "--cache-dir", str(cache)],
                           cwd=ROOT, check=True, capture_output=True, timeout=600)
            continue
        _break(copy_tiny(cache, f"bad-{how}", skip=("derived",)), how)
    return cache


def _page(cache: Path, rid: str, page: str, app_env) -> AppTest:
    app_env(cache)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["run_id"] = rid
    at.run()
    at.switch_page(f"views/{page}.py").run()
    return at


def _messages(at: AppTest) -> str:
    return " ".join(m.value for kind in ("error", "info", "warning") for m in getattr(at, kind))


@pytest.mark.slow
@pytest.mark.parametrize("how", list(BROKEN))
def test_every_page_names_the_broken_file(broken_cache, how, app_env):
    must_page, words = BROKEN[how]
    for page in PAGES:
        at = _page(broken_cache, f"bad-{how}", page, app_env)
        assert not at.exception, (how, page, [e.value for e in at.exception])
        text = _messages(at)
        assert "Traceback" not in text and 'File "' not in text, (how, page, text)   # no stack, no source paths
        if page == must_page:
            assert words in text, (how, page, text)
    assert at.sidebar.selectbox(key="run_id").options == sorted(f"bad-{h}" for h in BROKEN)


def test_resubmitting_a_training_run_keeps_the_message(tmp_path, monkeypatch, app_env):
    from core.jobs import launch

    app_env(tmp_path)
    monkeypatch.setattr(launch, "training_active", lambda paths: True)    # that run is being trained
    at = AppTest.from_file(APP, default_timeout=120).run()
    submit = [b for b in at.sidebar.button if "Start training" in str(b.label)]
    assert submit, [b.label for b in at.sidebar.button]
    submit[0].click().run()
    assert not at.exception
    assert any("already being trained" in i.value for i in at.sidebar.info), [i.value for i in at.sidebar.info]
