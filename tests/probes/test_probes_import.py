"""Probes (issue 18, items 3 and 4): code is never run without ``--trust-code`` (a class's module
is not even imported; a TorchScript file is not loaded), and ``--device`` is checked by every
command that has it, before any work."""
from __future__ import annotations

import json
import textwrap

import pytest
import torch

from tests.extmodels import NanBeyond
from tests.probes import tally as probes

SIDE_EFFECT = '''
    from pathlib import Path
    Path({marker!r}).write_text("module code ran")    # what a hostile module could do instead
    import torch
    class AE(torch.nn.Module):
        def encode(self, x):
            return x.flatten(1)[:, :8]
        def decode(self, z):
            return torch.zeros(len(z), 3, 32, 32)
'''
DATA = ["--dataset", "synthetic", "--synthetic-n", "40", "--image-size", "32", "--quiet"]


@pytest.fixture
def sidefx(tmp_path):
    """A class whose module writes a marker file when imported, and weights that are not weights."""
    code = tmp_path / "code"
    code.mkdir()
    marker = tmp_path / "marker"
    (code / "sidefx.py").write_text(textwrap.dedent(SIDE_EFFECT.format(marker=str(marker))))
    (tmp_path / "evil.pt").write_bytes(b"not a state_dict")
    return tmp_path, marker


def _untouched(tmp_path, marker) -> bool:
    cache = tmp_path / "cache"
    return not marker.exists() and not (cache / "runs").exists() and not (cache / "data").exists()


def test_class_module_never_imported_without_trust(sidefx):
    tmp_path, marker = sidefx
    err = probes.expect_refused("import --model sidefx:AE without --trust-code", "import", "--model", "sidefx:AE",
                                "--code-dir", tmp_path / "code", "--weights", tmp_path / "evil.pt", *DATA,
                                "--cache-dir", tmp_path / "cache", match="--trust-code")
    probes.check("class module not imported without trust", "handled" if _untouched(tmp_path, marker) else "lost",
                 err)


def test_request_file_without_trust_is_refused(sidefx):
    """What the dashboard's form hands over when "I trust this code" is not ticked."""
    from core.config import DataConfig
    from core.jobs.import_run import request_json
    from core.model.external import ExternalConfig

    tmp_path, marker = sidefx
    ext = ExternalConfig(model="sidefx:AE", code_dir=str(tmp_path / "code"), weights=str(tmp_path / "evil.pt"))
    (tmp_path / "req.json").write_text(request_json(ext, DataConfig("synthetic", None, 32, None, 40, 0)))
    probes.expect_refused("import --request (class, trust not given)", "import", "--request", tmp_path / "req.json",
                          "--cache-dir", tmp_path / "cache", "--quiet", match="I trust this code")
    assert _untouched(tmp_path, marker)
    assert json.loads((tmp_path / "req.json").read_text())["external"]["trust_code"] is False


@pytest.mark.parametrize("route", ["torchscript encoder", "z-points + torchscript decoder"])
def test_torchscript_never_loaded_without_trust(tmp_path, route, monkeypatch):
    import numpy as np

    loaded = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: loaded.append(a) or None)
    torch.jit.save(torch.jit.script(NanBeyond(8, 32, 99.0)), str(tmp_path / "dec.pt"))
    np.save(tmp_path / "z.npy", np.zeros((40, 8), np.float32))
    model = (["--encoder", tmp_path / "dec.pt", "--decoder", tmp_path / "dec.pt"] if route.startswith("torch")
             else ["--z-points", tmp_path / "z.npy", "--decoder", tmp_path / "dec.pt"])
    probes.expect_refused(f"import {route} without --trust-code", "import", *model, *DATA,
                          "--cache-dir", tmp_path / "cache", match="TorchScript.*--trust-code")
    assert not loaded and not (tmp_path / "cache" / "runs").exists()


def test_dashboard_form_without_trust(sidefx, app_env):
    from streamlit.testing.v1 import AppTest

    from core.store.paths import REPO_ROOT

    tmp_path, marker = sidefx
    app_env(tmp_path / "cache")
    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    at.sidebar.radio(key="imp_route").set_value("class").run()
    for key, value in {"imp_class": "sidefx:AE", "imp_code_dir": str(tmp_path / "code"),
                       "imp_weights": str(tmp_path / "evil.pt")}.items():
        at.sidebar.text_input(key=key).set_value(value)
    next(b for b in at.sidebar.button if b.label == "Import").click().run()
    said = any("I trust this code" in e.value for e in at.sidebar.error)
    launched = (tmp_path / "cache" / "logs").exists() and list((tmp_path / "cache" / "logs").glob("*.import.json"))
    probes.check("dashboard import form, class, trust not ticked",
                 "clear" if said and not launched and not marker.exists() and not at.exception else "silent",
                 str([e.value for e in at.sidebar.error]))


# -- item 4: --device wherever the option exists ------------------------------------------------
BAD_DEVICES = ["banana", "gpu0"] + ([] if torch.cuda.is_available() else ["cuda"])


@pytest.mark.parametrize("device", BAD_DEVICES)
def test_import_device_is_checked(tmp_path, device):
    from tests.extmodels import nan_decoder_files

    files = nan_decoder_files(tmp_path / "files", n=40)
    probes.expect_refused(f"import --device {device}", "import", "--z-points", files["z"], "--decoder",
                          files["decoder"], *DATA, "--device", device, "--cache-dir", tmp_path / "cache",
                          match=f"--device '?{device}'?.*(not a device name|not available|unsupported)")
    assert not (tmp_path / "cache" / "data").exists()     # refused before any preprocessing


@pytest.mark.parametrize("device", BAD_DEVICES)
def test_quality_device_is_checked(tmp_path, device):
    probes.make_run(tmp_path / "cache", "r")
    probes.expect_refused(f"quality --device {device}", "quality", "r", "--device", device, "--quiet",
                          "--cache-dir", tmp_path / "cache",
                          match=f"--device '?{device}'?.*(not a device name|not available|unsupported)")
    assert not (tmp_path / "cache" / "runs" / "r" / "derived" / "quality").exists()
