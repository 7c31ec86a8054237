"""The sidebar's "Import a model" form: says what is code, refuses bad input before launching,
imports in the background with progress, picks the finished run, and shows a refusal."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import launch
from core.jobs.import_run import import_status
from core.store.paths import RunPaths
from core.store.paths import REPO_ROOT
from tests.extmodels import export_own

APP = str(REPO_ROOT / "dashboard" / "app.py")


@pytest.fixture
def env(tmp_path, app_env):
    return app_env(tmp_path / "cache")


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def submit(at: AppTest, route: str, widgets: dict | None = None, **text) -> AppTest:
    """``text``: text inputs by key; ``widgets``: {key: (kind, value)} for the other inputs."""
    at.sidebar.radio(key="imp_route").set_value(route).run()
    for key, value in text.items():
        at.sidebar.text_input(key=key).set_value(value)
    for key, (kind, value) in (widgets or {}).items():
        getattr(at.sidebar, kind)(key=key).set_value(value)
    at.sidebar.number_input(key="imp_nsyn").set_value(500)
    if route in ("torchscript", "class"):
        at.sidebar.checkbox(key="imp_trust").check()
    next(b for b in at.sidebar.button if b.label == "Import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_until_finished(rid: str, cache: Path, timeout: float = 240) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = import_status(rid, cache)
        if st.get("state") in ("done", "failed") and not launch.import_active(RunPaths.of(rid, cache)):
            return st
        time.sleep(0.5)
    raise AssertionError(f"import {rid} did not finish: {import_status(rid, cache)}")


def test_the_form_says_what_is_code(env):
    at = app()
    assert at.sidebar.radio(key="imp_route").options == [
        "ONNX files (also Keras / TensorFlow via tf2onnx)", "TorchScript file(s)", "PyTorch class + weights",
        "precomputed z-points (.npy)"]
    assert any("are data" in i.value for i in at.sidebar.info)
    for route in ("torchscript", "class"):
        at.sidebar.radio(key="imp_route").set_value(route).run()
        assert any("**code**" in w.value for w in at.sidebar.warning), route


def test_bad_input_is_refused_before_anything_starts(env, tmp_path):
    at = submit(app(), "onnx", imp_encoder=str(tmp_path / "missing.onnx"))
    assert any("does not exist" in e.value for e in at.sidebar.error)
    (tmp_path / "ae.pt").write_bytes(b"x")
    at.sidebar.radio(key="imp_route").set_value("torchscript").run()
    at.sidebar.text_input(key="imp_encoder").set_value(str(tmp_path / "ae.pt"))
    next(b for b in at.sidebar.button if b.label == "Import").click().run()   # trust not ticked
    assert any("I trust this code" in e.value for e in at.sidebar.error)
    assert not (env / "logs").exists() or not list((env / "logs").glob("*.import.json"))


def test_the_form_hands_over_resize_heldout_and_an_output_name(env, tmp_path, monkeypatch):
    import json

    asked = []
    monkeypatch.setattr(launch, "start_import", lambda rid, request: asked.append(json.loads(request)) or False)
    (tmp_path / "enc.onnx").write_bytes(b"x")
    submit(app(), "onnx", imp_encoder=str(tmp_path / "enc.onnx"), imp_out="mu",
           widgets={"imp_resize": ("selectbox", "bilinear"), "imp_heldout": ("number_input", 0.2)})
    (req,) = asked
    assert req["data"]["resize"] == "bilinear" and req["data"]["val_fraction"] == 0.2
    assert req["external"]["encoder_output"] == "mu" and req["external"]["value_range"] is None   # found by the probe


@pytest.mark.slow
def test_an_import_runs_in_the_background_and_is_picked(env, tiny_run, tmp_path):
    files = export_own(tiny_run.load_model(), tmp_path / "files")
    at = submit(app(), "onnx", imp_encoder=str(files["encoder"]), imp_decoder=str(files["decoder"]),
                imp_rid="mine")
    assert launch.import_active(RunPaths.of("mine", env)) or RunPaths.of("mine", env).exists()
    assert wait_until_finished("mine", env)["state"] == "done"
    at.run()                                   # the panel sees the finished import and picks it
    at.run()
    assert not at.exception and at.session_state["run_id"] == "mine"
    assert any("imported onnx" in c.value for c in at.sidebar.caption)


@pytest.mark.slow
def test_a_refused_import_says_why_and_can_be_dismissed(env, tmp_path):
    (tmp_path / "enc.onnx").write_text("not a model\n")
    at = submit(app(), "onnx", imp_encoder=str(tmp_path / "enc.onnx"), imp_rid="broken")
    assert wait_until_finished("broken", env)["state"] == "failed"
    at.run()
    assert any("refused" in e.value and "not a readable ONNX model" in e.value for e in at.sidebar.error)
    assert not RunPaths.of("broken", env).exists()
    next(b for b in at.sidebar.button if b.label == "Dismiss").click().run()
    assert launch.imports(env) == []
