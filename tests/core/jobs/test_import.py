"""`python -m core import`: external autoencoders become runs that give what the model gives."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.cli import main
from core.model.codec import OwnCodec
from core.store.runs import open_run
from tests.extmodels import (GreyBlocks, KerasLikeDecoder, KerasLikeEncoder, TinyVAE, _Call, do_import, export_own,
                             keras_like_answer, to_onnx, write_class_module)

TINY_DATA = ["--dataset", "synthetic", "--synthetic-n", "300", "--seed", "0", "--quiet"]


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """The tiny run's own model exported to ONNX and TorchScript."""
    return export_own(tiny_run.load_model(), tmp_path_factory.mktemp("exported"))


@pytest.fixture(scope="module")
def own(tiny_run):
    return OwnCodec(tiny_run.load_model())


def _same_faces(a: np.ndarray, b: np.ndarray) -> None:
    # float round-off between runtimes may move a pixel across a rounding boundary: at most 1 of 255
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_onnx_export_of_our_model_imports_back(tiny_run, exported, own, tmp_path):
    run = do_import(tmp_path, "onnx", encoder=str(exported["encoder"]), decoder=str(exported["decoder"]))
    assert run.complete and run.external["route"] == "onnx" and run.config.model.image_size == 32
    np.testing.assert_allclose(run.z(), tiny_run.z(), atol=1e-4)
    z = tiny_run.z()[:21]
    _same_faces(run.codec().decode(z), own.decode(z))
    np.testing.assert_allclose(run.index()["recon_mse"], tiny_run.index()["recon_mse"], atol=1e-5)
    assert (run.path / "model" / "enc.onnx").exists() is False        # copies get the run's own names
    assert (run.path / "model" / "encoder.onnx").exists() and run.external["sources"]["encoder"]["sha256"]


def test_torchscript_export_imports_back_through_the_cli(tiny_run, exported, own, tmp_path, capsys):
    ts = str(exported["torchscript"])
    assert main(["import", "--encoder", ts, "--decoder", ts, "--trust-code", "--image-size", "32", "--run-id", "ts",
                 "--cache-dir", str(tmp_path), *TINY_DATA]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "ts" and "are code" in out.err
    run = open_run("ts", tmp_path)
    np.testing.assert_allclose(run.z(), tiny_run.z(), atol=1e-4)
    _same_faces(run.load_model().decode(tiny_run.z()[:7]), own.decode(tiny_run.z()[:7]))
    assert main(["runs", "--cache-dir", str(tmp_path)]) == 0
    assert "torchscript" in capsys.readouterr().out


def test_keras_layout_channels_last_minus_one_to_one(tmp_path):
    s = 32
    enc = to_onnx(KerasLikeEncoder(), torch.rand(2, s, s, 3) * 2 - 1, tmp_path / "enc.onnx")
    dec = to_onnx(KerasLikeDecoder(s), torch.rand(2, 48) * 2 - 1, tmp_path / "dec.onnx")
    run = do_import(tmp_path / "c", "keras", encoder=str(enc), decoder=str(dec), value_range="-1,1")
    spec = run.external["spec"]
    assert (spec["layout"], spec["image_size"], spec["value_range"]) == ("nhwc", 32, "-1,1")  # read off the input
    images = np.asarray(run.images())
    want_z, want_img = keras_like_answer(images)
    np.testing.assert_allclose(run.z(), want_z, atol=1e-5)
    got = run.codec().decode(run.z()[:10])
    assert np.abs(got.astype(int) - np.rint(want_img[:10] * 255)).max() <= 1


def test_grey_model_with_a_fixed_batch_size(tmp_path):
    s = 32
    enc = to_onnx(GreyBlocks(), torch.rand(3, 1, s, s), tmp_path / "enc.onnx", dynamic=False)   # batch 3 only
    dec = to_onnx(GreyBlocks(decode=True), torch.rand(3, 64), tmp_path / "dec.onnx", dynamic=False)
    run = do_import(tmp_path / "c", "grey", encoder=str(enc), decoder=str(dec))
    assert run.external["spec"]["channels"] == 1                        # read off the input [3, 1, 32, 32]
    rgb = np.asarray(run.images()).astype(np.float64) / 255                # 300 images: 100 batches of 3
    grey = rgb @ np.array([0.299, 0.587, 0.114])                         # ITU-R BT.601 luma
    want = grey.reshape(len(grey), s // 4, 4, s // 4, 4).mean(axis=(2, 4)).reshape(len(grey), -1)
    np.testing.assert_allclose(run.z(), want, atol=1e-5)
    faces = run.codec().decode(run.z()[:4])                               # 4: one padded batch
    assert faces.shape == (4, s, s, 3) and (faces[..., 0] == faces[..., 2]).all()   # grey shown as RGB
    assert np.abs(faces[..., 0] / 255 - np.repeat(np.repeat(want[:4].reshape(4, 8, 8), 4, 1), 4, 2)).max() < 1 / 255


def test_vae_mean_is_taken_and_import_is_deterministic(tmp_path):
    vae = TinyVAE()
    x = torch.rand(2, 3, 32, 32)
    enc = to_onnx(_Call(vae, "encode"), x, tmp_path / "enc.onnx", n_out=2)
    dec = to_onnx(_Call(vae, "decode"), torch.randn(2, 8), tmp_path / "dec.onnx")
    a = do_import(tmp_path / "c", "vae1", encoder=str(enc), decoder=str(dec))
    b = do_import(tmp_path / "c", "vae2", encoder=str(enc), decoder=str(dec))
    np.testing.assert_array_equal(a.z(), b.z())
    images = torch.from_numpy(np.asarray(a.images())).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        np.testing.assert_allclose(a.z(), vae.encode(images)[0].numpy(), atol=1e-5)
    assert a.external["probe"]["encoder_output"] == "output 'out0' of ['out0', 'out1']"


def test_vae_that_samples_is_refused(tmp_path):
    vae = TinyVAE()
    ts = torch.jit.trace_module(vae, {"sample": torch.rand(2, 3, 32, 32), "decode": torch.randn(2, 8)},
                                check_trace=False)
    torch.jit.save(ts, str(tmp_path / "vae.pt"))
    with pytest.raises(ValueError, match="draws random samples"):
        do_import(tmp_path / "c", "vs", encoder=str(tmp_path / "vae.pt"), decoder=str(tmp_path / "vae.pt"),
                  encode_method="sample", image_size=32)
    assert not (tmp_path / "c" / "runs" / "vs").exists()


@pytest.mark.parametrize("weights", ["safetensors", "state_dict"])
def test_class_and_weights_from_a_module_in_a_folder(tmp_path, weights):
    import importlib
    import sys

    from safetensors.torch import save_file

    module = f"user_ae_{weights}"
    write_class_module(tmp_path / "code", module)
    sys.path.insert(0, str(tmp_path / "code"))
    try:
        model = importlib.import_module(module).UserAE(z_dim=6).eval()
    finally:
        sys.path.remove(str(tmp_path / "code"))
    w = tmp_path / ("w.safetensors" if weights == "safetensors" else "w.pt")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(w)) if weights == "safetensors" else torch.save({"state_dict": state}, w)
    run = do_import(tmp_path / "c", "cls", model=f"{module}:UserAE", weights=str(w), model_args={"z_dim": 6},
                    code_dir=str(tmp_path / "code"), encode_method="embed", decode_method="generate", image_size=32)
    images = torch.from_numpy(np.asarray(run.images())).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        np.testing.assert_allclose(run.z(), model.embed(images).numpy(), atol=1e-5)
    assert run.external["is_code"] and (run.path / "model" / "weights.safetensors").exists()
    assert run.codec().decode(run.z()[:3]).shape == (3, 32, 32, 3)


def test_z_points_with_ids_and_a_decoder(tiny_run, exported, own, tmp_path):
    z = tiny_run.z()
    order = np.random.default_rng(0).permutation(len(z))     # rows shuffled, ids say which is which
    np.save(tmp_path / "z.npy", np.asarray(z)[order])
    ids = tiny_run.index()["image_id"].astype(str).to_numpy()[order]
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    run = do_import(tmp_path / "c", "zp", z_points=str(tmp_path / "z.npy"), z_ids=str(tmp_path / "ids.txt"),
                    decoder=str(exported["decoder"]))
    np.testing.assert_array_equal(run.z(), z)
    assert run.external["route"] == "z_points" and not run.external["has_encoder"]
    np.testing.assert_allclose(run.index()["recon_mse"], tiny_run.index()["recon_mse"], atol=1e-5)
    _same_faces(run.codec().decode(z[:5]), own.decode(z[:5]))


def test_z_points_without_a_decoder(tiny_run, tmp_path):
    from core.errors import NotReadyError
    from core.sampling.session import RunSampler

    np.save(tmp_path / "z.npy", np.asarray(tiny_run.z()))
    run = do_import(tmp_path / "c", "zonly", z_points=str(tmp_path / "z.npy"), image_size=32)
    assert "recon_mse" not in run.index().columns and not run.codec().has_decoder
    gen = RunSampler(run)
    assert gen.vectors("box", 5, seed=0, fact=1.0).shape == (5, 16)     # sampling needs no decoder
    with pytest.raises(NotReadyError, match="without a decoder"):
        gen.decode(gen.vectors("box", 5, seed=0, fact=1.0))


def test_the_same_import_again_returns_the_run(exported, tmp_path):
    kw = dict(encoder=str(exported["encoder"]), decoder=str(exported["decoder"]))
    first = do_import(tmp_path, "again", **kw)
    mtime = (first.path / "z.npy").stat().st_mtime_ns
    assert do_import(tmp_path, "again", **kw).path == first.path
    assert (first.path / "z.npy").stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="already exists"):
        do_import(tmp_path, "again", encoder=str(exported["encoder"]))
