"""Probes (issue 18, item 1): a decoder that returns NaN for some latent vectors. Every decode
path (our own model, ONNX, TorchScript, a class) is checked once, in ``Codec.decode_unit``; the
commands and every page that decodes name the vectors instead of drawing black tiles."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import DecoderOutputError
from core.model.codec import OwnCodec
from core.model.conventions import ImageSpec
from core.model.external import ExternalCodec, ExternalConfig
from tests.extmodels import NanBeyond, nan_decoder_files, to_onnx
from tests.probes import tally as probes

D, S = 8, 32
DATA = ["--dataset", "synthetic", "--synthetic-n", "200", "--image-size", str(S), "--quiet"]
ROWS = r"decoder returned NaN or inf for \d+ of {n} latent vectors \(rows \d"


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory):
    """z-points imported with an ONNX decoder that is NaN past the largest real z[:, 0]: the
    import succeeds (every real z-point decodes), vectors off the data do not."""
    root = tmp_path_factory.mktemp("nan")
    files = nan_decoder_files(root / "files", d=D, size=S)
    rc, out, err, exc = probes.run_cli("import", "--z-points", files["z"], "--decoder", files["decoder"], *DATA,
                                       "--run-id", "nan", "--cache-dir", root / "cache")
    assert rc == 0 and exc is None, err
    return root / "cache", files


def test_sample_off_the_data_names_the_vectors(nan_run, tmp_path):
    cache, _ = nan_run
    probes.expect_refused("sample --sampler cube --param b=40 with a NaN decoder", "sample", "nan", "--sampler",
                          "cube", "--param", "b=40", "--out", tmp_path / "x.png", "--cache-dir", cache,
                          match=ROWS.format(n=21))
    assert not (tmp_path / "x.png").exists()
    rc, out, err, exc = probes.run_cli("recon", "nan", "--out", tmp_path / "r.png", "--cache-dir", cache)
    probes.check("recon of real z-points with that decoder", "handled" if rc == 0 else "crash", err)


def test_quality_names_the_vectors(nan_run, monkeypatch):
    from core.quality import inception
    from tests.dashboard.test_dashboard_quality import PixelFeatures

    cache, _ = nan_run
    monkeypatch.setattr(inception, "InceptionFeatures", PixelFeatures)
    probes.expect_refused("quality --rows cube with a NaN decoder", "quality", "nan", "--rows", "cube", "--n", "20",
                          "--n-ref", "10", "--device", "cpu", "--quiet", "--cache-dir", cache, match=ROWS.format(n=20))


def _nan_torch(tmp_path, kind: str):
    """A torch decoder part that is NaN for z[:, 0] > 0: TorchScript file or a plain module."""
    from core.model.torch_part import TorchPart, load_torchscript

    m = NanBeyond(D, S, 0.0).eval()
    if kind == "class":
        return TorchPart(m)
    torch.jit.save(torch.jit.script(m), str(tmp_path / "dec.pt"))
    return TorchPart(load_torchscript(tmp_path / "dec.pt"))


@pytest.mark.parametrize("kind", ["own", "onnx", "torchscript", "class"])
def test_every_decode_path_checks_its_output(tmp_path, kind):
    z = np.zeros((5, D), np.float32)
    z[[1, 3], 0] = 1.0                                   # rows 1 and 3 leave the data
    if kind == "own":
        run = probes.make_run(tmp_path / "cache", "r", size=S, z_dim=D)
        model, nan = run.load_model(), NanBeyond(D, S, 0.0)
        decode = model.decode                             # our model, NaN where NanBeyond is
        model.decode = lambda t: torch.where(torch.isnan(nan(t)), float("nan"), decode(t))
        codec = OwnCodec(model)
    else:
        if kind == "onnx":
            from core.model.onnx_part import OnnxPart

            dec = OnnxPart(to_onnx(NanBeyond(D, S, 0.0), torch.zeros(2, D), tmp_path / "dec.onnx"))
        else:
            dec = _nan_torch(tmp_path, kind)
        codec = ExternalCodec(ExternalConfig(decoder="x.onnx"), ImageSpec(S, 3, "nchw", "0,1"), None, dec, D)
    e = probes.refused(f"{kind} decoder returns NaN/inf", lambda: codec.decode(z), DecoderOutputError,
                       ROWS.format(n=5))
    assert e.rows == [1, 3]


DECODING_PAGES = ["overview", "generator", "navigate", "directions"]


@pytest.fixture(scope="module")
def nan_everywhere(nan_run):
    """The imported run with its stored decoder swapped for one that is NaN for z[:, 0] > 0: about
    half of every batch, real z-points included (a model gone bad after its import)."""
    cache, files = nan_run
    worse = nan_decoder_files(files["z"].parent / "worse", d=D, size=S, limit=0.0)
    (cache / "runs" / "nan" / "model" / "decoder.onnx").write_bytes(worse["decoder"].read_bytes())
    return cache


@pytest.mark.parametrize("page", DECODING_PAGES)
def test_pages_that_decode_name_the_vectors(nan_everywhere, app_env, page):
    from streamlit.testing.v1 import AppTest

    from core.store.paths import REPO_ROOT

    app_env(nan_everywhere)
    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=180)
    at.session_state["_select_run"] = "nan"
    at.run()
    at.switch_page(f"views/{page}.py").run()
    errors = [str(e.value) for e in at.error]
    ok = not at.exception and any("decoder returned NaN or inf" in e and "rows" in e for e in errors)
    probes.check(f"{page} page with a NaN decoder", "clear" if ok else ("crash" if at.exception else "silent"),
                 f"exceptions={[e.value for e in at.exception]} errors={errors}")
