import json

import numpy as np
import pytest
import torch

from core.config import ModelConfig, RunConfig
from core.model.autoencoder import ConvAutoencoder, decode_numpy, load_model, save_model


@pytest.mark.parametrize("size,widths", [(64, (8, 16, 16, 32)), (96, (8, 16, 16, 32)), (128, (8, 8, 16, 16, 32))])
def test_shapes(size, widths):
    m = ConvAutoencoder(ModelConfig(image_size=size, z_dim=12, widths=widths)).eval()
    x = torch.rand(3, 3, size, size)
    with torch.no_grad():
        z = m.encode(x)
        y = m.decode(z)
    assert z.shape == (3, 12)
    assert y.shape == x.shape
    assert float(y.min()) >= 0 and float(y.max()) <= 1  # sigmoid output


def test_encode_is_deterministic():
    m = ConvAutoencoder(ModelConfig(image_size=32, z_dim=8, widths=(8, 8, 16, 16))).eval()
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(m.encode(x), m.encode(x))


def test_bad_config_rejected():
    with pytest.raises(ValueError):
        ModelConfig(image_size=40, widths=(8, 8, 8, 8))  # 40 not divisible by 16


def test_safetensors_round_trip_carries_config(tmp_path):
    cfg = ModelConfig(image_size=32, z_dim=6, widths=(4, 8, 8, 16), batch_norm=False)
    m = ConvAutoencoder(cfg).eval()
    save_model(m, tmp_path / "w.safetensors")
    m2 = load_model(tmp_path / "w.safetensors")  # no cfg given: it comes from the file
    assert m2.cfg == cfg
    z = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_array_equal(decode_numpy(m, z), decode_numpy(m2, z))


def test_decode_rejects_nan():
    m = ConvAutoencoder(ModelConfig(image_size=32, z_dim=4, widths=(4, 4, 4, 4))).eval()
    with pytest.raises(ValueError, match="NaN"):
        decode_numpy(m, np.full((1, 4), np.nan, np.float32))


def test_run_config_json_round_trip():
    cfg = RunConfig()
    back = RunConfig.from_json(cfg.to_json())
    assert back == cfg
    assert isinstance(back.model.widths, tuple)
    assert json.loads(cfg.to_json())["model"]["z_dim"] == 256
