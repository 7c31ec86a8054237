"""Each mismatch between a model and what was declared is refused with a message that says what
to change, after one probe batch, and leaves no half run behind."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.errors import AtlasError, BadInputError, NonFiniteError
from core.jobs.import_run import import_status
from core.store.paths import RunPaths
from tests.extmodels import KerasLikeEncoder, do_import, to_onnx

S, D = 32, 8


class Enc(nn.Module):
    def __init__(self, out: str = "flat"):
        super().__init__()
        self.out = out
        self.conv = nn.Conv2d(3, D, 4, 4)                 # [B, D, S/4, S/4]
        self.lin = nn.Linear(D * (S // 4) ** 2, D)        # only S px images fit

    def forward(self, x):
        h = self.conv(x)
        if self.out == "spatial":
            return h                                      # not [N, d]
        z = self.lin(h.flatten(1))                        # [B, D]
        return z * float("nan") if self.out == "nan" else z


class Dec(nn.Module):
    def __init__(self, size: int = S):
        super().__init__()
        self.size = size
        self.lin = nn.Linear(D, 3 * size * size)

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 3, self.size, self.size)


def _ts(module: nn.Module, example: torch.Tensor, path) -> str:
    torch.jit.save(torch.jit.trace(module.eval(), example, check_trace=False), str(path))
    return str(path)


@pytest.fixture
def good(tmp_path):
    torch.manual_seed(0)
    return {"enc": _ts(Enc(), torch.rand(2, 3, S, S), tmp_path / "enc.pt"),
            "dec": _ts(Dec(), torch.randn(2, D), tmp_path / "dec.pt")}


def _refused(cache, match: str, error=BadInputError, **ext) -> None:
    with pytest.raises(error, match=match) as info:
        do_import(cache, "bad", **ext)
    assert isinstance(info.value, AtlasError)
    assert not (cache / "runs" / "bad").exists()                      # no half run
    assert not RunPaths.of("bad", cache).import_stage.exists()
    st = import_status("bad", cache)
    assert st["state"] == "failed" and st["message"]                  # the dashboard can say why


def test_a_good_pair_imports(good, tmp_path):
    assert do_import(tmp_path, "ok", encoder=good["enc"], decoder=good["dec"], image_size=S).complete


def test_files_that_are_not_models(tmp_path):
    text = tmp_path / "enc.onnx"
    text.write_text("not a model\n")
    _refused(tmp_path / "c", "not a readable ONNX model", encoder=str(text))
    text.rename(tmp_path / "enc.pt")
    _refused(tmp_path / "c", "not a TorchScript file", encoder=str(tmp_path / "enc.pt"))


def test_a_pickled_model_is_never_loaded(tmp_path):
    torch.save(Enc(), tmp_path / "whole.pt")            # pickled module: code that would run on load
    _refused(tmp_path / "c", r"checkpoint \(pickled Python objects\), which is never loaded",
             encoder=str(tmp_path / "whole.pt"))
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "pickled_ae.py").write_text("from torch import nn\nclass AE(nn.Module):\n    pass\n")
    _refused(tmp_path / "c", "never loaded", model="pickled_ae:AE", weights=str(tmp_path / "whole.pt"),
             code_dir=str(tmp_path / "code"))


def test_wrong_input_size(good, tmp_path):
    _refused(tmp_path / "c", r"encoder failed on one batch of input \[8, 3, 48, 48\]",
             encoder=good["enc"], decoder=good["dec"], image_size=48)


def test_onnx_input_contradicts_the_declaration(tmp_path):
    enc = to_onnx(KerasLikeEncoder(), torch.rand(2, S, S, 3), tmp_path / "enc.onnx")
    _refused(tmp_path / "c", r"takes input of shape \['batch', 32, 32, 3\] \(--layout nhwc\), but --layout nchw",
             encoder=str(enc), layout="nchw")


def test_encoder_output_not_flat(tmp_path):
    enc = _ts(Enc("spatial"), torch.rand(2, 3, S, S), tmp_path / "e.pt")
    _refused(tmp_path / "c", r"shape \[8, 8, 8, 8\] for a batch of 8; expected \[8, d\] \(a spatial latent",
             encoder=enc, image_size=S)


def test_encoder_returns_nan(tmp_path):
    enc = _ts(Enc("nan"), torch.rand(2, 3, S, S), tmp_path / "e.pt")
    _refused(tmp_path / "c", "NaN", error=NonFiniteError, encoder=enc, image_size=S)


def test_decoder_image_size_differs(good, tmp_path):
    dec = _ts(Dec(16), torch.randn(2, D), tmp_path / "d16.pt")
    _refused(tmp_path / "c", r"decoder returned shape \[8, 3, 16, 16\], not the declared \[8, 3, 32, 32\]",
             encoder=good["enc"], decoder=dec, image_size=S)


def test_declared_range_contradicted_by_the_decoder(good, tmp_path):
    class Tanh(Dec):                                      # a decoder trained on [-1, 1] images
        def forward(self, z):
            return torch.tanh(self.lin(z)).view(-1, 3, self.size, self.size)

    dec = _ts(Tanh(), torch.randn(2, D), tmp_path / "tanh.pt")
    _refused(tmp_path / "c", r"outside the declared range \[0, 1\].*--value-range", encoder=good["enc"],
             decoder=dec, image_size=S, value_range="0,1")


class Blocks(nn.Module):
    """A model that knows its range: it reconstructs [0, 1] images as 4x4-pixel block means and
    cuts everything outside [0, 1] (as a sigmoid-trained model effectively does)."""

    def forward(self, x):                                 # [B, 3, S, S]
        return nn.functional.avg_pool2d(x.clamp(0, 1), 4).flatten(1)          # [B, 3 * (S/4)^2]


class Unblocks(nn.Module):
    def forward(self, z):
        g = z.view(-1, 3, S // 4, S // 4)
        return nn.functional.interpolate(g, scale_factor=4, mode="nearest").clamp(0, 1)


def test_a_range_under_which_the_model_reconstructs_worse_is_refused(tmp_path):
    enc = _ts(Blocks(), torch.rand(2, 3, S, S), tmp_path / "b.pt")
    dec = _ts(Unblocks(), torch.rand(2, 3 * (S // 4) ** 2), tmp_path / "u.pt")
    _refused(tmp_path / "c", r"declared value range \[-1,1\].*with \[0,1\] 0\.0.*pass --value-range 0,1",
             encoder=enc, decoder=dec, image_size=S, value_range="-1,1")
    run = do_import(tmp_path / "c", "ok", encoder=enc, decoder=dec, image_size=S)
    assert run.external["probe"]["recon_mse"] < 0.03


def test_channels_last_decoder_declared_channels_first(good, tmp_path):
    class Last(Dec):
        def forward(self, z):
            return super().forward(z).permute(0, 2, 3, 1)

    dec = _ts(Last(), torch.randn(2, D), tmp_path / "last.pt")
    _refused(tmp_path / "c", "looks channels-last: pass --layout nhwc", encoder=good["enc"], decoder=dec,
             image_size=S)


def test_z_points_that_do_not_fit(tmp_path):
    np.save(tmp_path / "z.npy", np.zeros((7, D), np.float32))
    _refused(tmp_path / "c", "has 7 rows but the dataset has 300 images", z_points=str(tmp_path / "z.npy"))
    z = np.zeros((300, D), np.float32)
    z[3, 1] = np.nan
    np.save(tmp_path / "z.npy", z)
    _refused(tmp_path / "c", "NaN", error=NonFiniteError, z_points=str(tmp_path / "z.npy"))
    np.save(tmp_path / "z.npy", np.zeros((300, D), np.int64))
    _refused(tmp_path / "c", r"int64 \[300, 8\]; expected float", z_points=str(tmp_path / "z.npy"))


def test_option_mistakes_fail_before_anything_loads(good, tmp_path):
    _refused(tmp_path / "c", "give an encoder")
    _refused(tmp_path / "c", "does not exist", encoder=str(tmp_path / "missing.onnx"))
    _refused(tmp_path / "c", "needs its weights", model="x:Y")
    with pytest.raises(BadInputError, match="not one of"):
        do_import(tmp_path / "c", "range", encoder=good["enc"], value_range="0,2")
    with pytest.raises(BadInputError, match="is a path"):
        do_import(tmp_path / "c", "../escape", encoder=good["enc"])
