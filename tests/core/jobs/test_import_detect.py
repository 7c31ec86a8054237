"""What a user's model does not declare is found (value range, channels first/last), outputs are
picked by name, images are resized with the model's own filter, z-points of some of a folder's
images import exactly those, and every import holds images out for ``quality``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.cli import main
from core.config import DataConfig
from core.errors import BadInputError
from core.store.runs import open_run
from tests.extmodels import (TinyVAE, _Call, do_import, synthetic_data, to_onnx, trained_minus_one_vae,
                             write_face_folder)

S = 32


@pytest.fixture(scope="module")
def vae_files(tmp_path_factory):
    """A [-1, 1] VAE (dict outputs mu / logvar) trained on the tiny synthetic faces, as its
    author ships it: the class in a module folder and the weights as safetensors."""
    from safetensors.torch import save_file

    from core.data.prepare import prepare

    root = tmp_path_factory.mktemp("vae")
    images = np.asarray(prepare(synthetic_data(), root / "prep", progress=False).images)
    model = trained_minus_one_vae(root / "code", images)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(root / "vae.safetensors"))
    return {"model": model, "code": root / "code", "weights": root / "vae.safetensors"}


def _class_args(vae_files, cache, run_id: str, *extra: str) -> list[str]:
    return ["import", "--model", "user_vae:MinusOneVAE", "--trust-code", "--code-dir", str(vae_files["code"]), "--weights",
            str(vae_files["weights"]), "--model-args", '{"z_dim": 8}', "--encoder-output", "mu", "--image-size",
            str(S), "--dataset", "synthetic", "--synthetic-n", "300", "--run-id", run_id, "--cache-dir", str(cache),
            "--quiet", *extra]


def test_minus_one_vae_class_imports_with_the_range_found_and_mu_by_name(vae_files, tmp_path, capsys):
    assert main(_class_args(vae_files, tmp_path, "vae")) == 0
    err = capsys.readouterr().err
    assert "value range not declared: -1,1 reconstructs best" in err
    run = open_run("vae", tmp_path)
    assert run.external["spec"]["value_range"] == "-1,1"
    found = run.external["probe"]["detected"]
    assert found["value_range"] == "-1,1" and found["tried"]["nchw -1,1"]["mse"] < found["tried"]["nchw 0,1"]["mse"] / 2
    assert "layout not declared: nchw" in err                  # nhwc does not fit a [B, 3*S*S] linear layer
    x = torch.from_numpy(np.asarray(run.images())).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        np.testing.assert_allclose(run.z(), vae_files["model"].encode(x)["mu"].numpy(), atol=1e-4)
    assert run.external["probe"]["encoder_output"] == "output 'mu'"


def test_minus_one_vae_as_torchscript_with_dict_outputs(vae_files, tmp_path):
    torch.jit.save(torch.jit.script(vae_files["model"]), str(tmp_path / "vae.pt"))
    ts = str(tmp_path / "vae.pt")
    run = do_import(tmp_path / "c", "ts", encoder=ts, decoder=ts, encoder_output="mu", image_size=S)
    assert run.external["spec"]["value_range"] == "-1,1" and run.config.to_dict()["model"]["z_dim"] == 8
    with pytest.raises(BadInputError, match=r"has outputs \['mu', 'logvar'\]; --encoder-output 'mean' is none"):
        do_import(tmp_path / "c", "ts2", encoder=ts, decoder=ts, encoder_output="mean", image_size=S)


def test_a_declared_range_is_still_checked(vae_files, tmp_path, capsys):
    assert main(_class_args(vae_files, tmp_path, "vae01", "--value-range", "0,1")) == 2
    err = capsys.readouterr().err
    assert "outside the declared range [0, 1]" in err and "by value range: {" in err and "'-1,1': 0.0" in err
    assert "(not declared, --layout: tried nchw, nhwc)" in err


def test_a_tuple_has_no_names(tmp_path):
    vae = TinyVAE()                                            # encode returns (mean, logvar)
    ts = torch.jit.trace_module(vae, {"encode": torch.rand(2, 3, S, S), "decode": torch.randn(2, 8)})
    torch.jit.save(ts, str(tmp_path / "vae.pt"))
    with pytest.raises(BadInputError, match=r"tuple of 2 outputs, which have no names: --encoder-output 'mu' "
                                            r"must be an index, 0 to 1"):
        do_import(tmp_path / "c", "t", encoder=str(tmp_path / "vae.pt"), decoder=str(tmp_path / "vae.pt"),
                  encoder_output="mu", image_size=S, value_range="0,1")


def test_onnx_outputs_by_name(tmp_path):
    vae = TinyVAE()
    enc = to_onnx(_Call(vae, "encode"), torch.rand(2, 3, S, S), tmp_path / "enc.onnx", names=["mu", "logvar"])
    images = None
    for name, index in (("logvar", 1), ("mu", 0)):
        run = do_import(tmp_path / "c", f"by-{name}", encoder=str(enc), encoder_output=name)
        images = torch.from_numpy(np.asarray(run.images())).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            np.testing.assert_allclose(run.z(), vae.encode(images)[index].numpy(), atol=1e-5)
    with pytest.raises(BadInputError, match=r"has outputs \['mu', 'logvar'\]; --encoder-output 'sigma' is none"):
        do_import(tmp_path / "c", "by-sigma", encoder=str(enc), encoder_output="sigma")


def test_named_outputs_of_torch_code_become_names():
    from collections import namedtuple
    from dataclasses import dataclass

    from core.model.external import select_output
    from core.model.torch_part import TorchPart

    Out = namedtuple("Out", "mean logvar")

    @dataclass
    class DOut:
        latent: torch.Tensor
        kl: torch.Tensor

    x = np.ones((2, 3), np.float32)
    nt = TorchPart(lambda t: Out(t * 2, t * 3)).run(x)
    assert select_output(nt, None)[0][0, 0] == 2 and select_output(nt, "logvar")[0][0, 0] == 3
    dc = TorchPart(lambda t: DOut(t * 4, t.sum())).run(x)
    assert select_output(dc, "latent")[0][0, 0] == 4
    with pytest.raises(BadInputError, match=r"outputs \['latent', 'kl'\]; --encoder-output 'mu' is none"):
        select_output(dc, "mu")


def test_the_resize_filter_of_the_model_is_used(tmp_path):
    """A model fed Pillow-bilinear images: importing with --resize bilinear gives its own encoding."""
    import onnxruntime as ort

    src = tmp_path / "faces"
    names = write_face_folder(src, 24)
    enc = to_onnx(torch.nn.Sequential(torch.nn.Flatten(), TinyVAE().enc), torch.rand(2, 3, S, S),
                  tmp_path / "enc.onnx")                      # any encoder will do: [B, 3, S, S] -> [B, 16]
    sess = ort.InferenceSession(str(enc), providers=["CPUExecutionProvider"])
    x = np.stack([np.asarray(Image.open(src / n).convert("RGB").resize((S, S), Image.BILINEAR)) for n in names])
    want = sess.run(None, {"x": x.transpose(0, 3, 1, 2).astype(np.float32) / 255})[0]   # the author's pipeline
    off = {}
    for resize in ("lanczos", "bilinear"):
        run = do_import(tmp_path / "c", resize, DataConfig("folder", str(src), S, resize=resize), encoder=str(enc),
                        value_range="0,1")
        assert run.config.data.resize == resize and run.index()["image_id"].tolist() == names
        off[resize] = float(np.abs(run.z() - want).mean() / np.abs(want).mean())
    assert off["bilinear"] < 1e-5 and off["lanczos"] > 0.005, off


def test_a_default_lanczos_config_keeps_its_keys(tmp_path):
    """Runs and data caches made before --resize keep their ids and keys."""
    import hashlib

    from core.data import image_files, sources
    from core.data.prepare import _fingerprint

    cfg = DataConfig("folder", str(tmp_path), 32)
    assert "resize" not in cfg.to_dict() and DataConfig.from_dict(cfg.to_dict()) == cfg
    assert DataConfig.from_dict({**cfg.to_dict(), "resize": "nearest"}).to_dict()["resize"] == "nearest"
    write_face_folder(tmp_path, 2)
    listing = sources.list_folder(tmp_path)
    before = hashlib.sha256(b"prep-v1\nsize=32\n")            # the key's recipe before the option existed
    before.update(f"{image_files.CROP_TEXT['center']}\n{listing.signature()}".encode())
    assert _fingerprint(cfg, listing) == before.hexdigest()
    assert _fingerprint(DataConfig("folder", str(tmp_path), 32, resize="bicubic"), listing) != before.hexdigest()


def test_z_points_of_some_of_a_folder_import_exactly_those(tmp_path):
    src = tmp_path / "faces"
    names = write_face_folder(src, 30, size=S)
    picked = [names[i] for i in np.random.default_rng(0).permutation(30)[:12]]       # 12 of 30, shuffled
    z = np.random.default_rng(1).normal(size=(12, 4)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    ids = [Path(n).stem if k % 2 else str(src / n) for k, n in enumerate(picked)]       # stems and full paths
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    run = do_import(tmp_path / "c", "sub", DataConfig("folder", str(src), S), z_points=str(tmp_path / "z.npy"),
                    z_ids=str(tmp_path / "ids.txt"), image_size=S)
    assert run.index()["image_id"].tolist() == picked                # exactly those, in the z-points' order
    np.testing.assert_array_equal(run.z(), z)
    want = np.stack([np.asarray(Image.open(src / n).convert("RGB")) for n in picked])
    np.testing.assert_array_equal(np.asarray(run.images()), want)   # 32 px files: the resize keeps them
    assert (run.path / "model" / "z_ids.txt").read_text() == (tmp_path / "ids.txt").read_text()
    (tmp_path / "ids.txt").write_text("\n".join([*ids[:10], "nobody.png", "ghost"]) + "\n")
    with pytest.raises(BadInputError, match=r"2 of the 12 ids in --z-ids name no image of the dataset "
                                            r"\(first: \['nobody.png', 'ghost'\]\)"):
        do_import(tmp_path / "c", "sub2", DataConfig("folder", str(src), S), z_points=str(tmp_path / "z.npy"),
                  z_ids=str(tmp_path / "ids.txt"), image_size=S)


def test_every_import_holds_images_out_for_quality(tmp_path):
    """CelebA with no partition file and only training-range ids (as --limit gives): a seeded
    --heldout fraction, so ``quality`` finds its reference rows; official partitions are kept."""
    from core.jobs.quality import _split
    from core.sampling.session import RunSampler
    from tests.fakes import celeba_jpeg, file_partition, make_celeba

    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    jpeg = celeba_jpeg(1)
    for k in range(1, 201):
        (root / "img_align_celeba" / f"{k:06d}.jpg").write_bytes(jpeg)
    np.save(tmp_path / "z.npy", np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32))
    assert main(["import", "--z-points", str(tmp_path / "z.npy"), "--image-size", "32", "--dataset", "celeba",
                 "--data-dir", str(root), "--heldout", "0.15", "--run-id", "zp", "--cache-dir", str(tmp_path / "c"),
                 "--quiet"]) == 0
    run = open_run("zp", tmp_path / "c")
    assert run.index()["partition"].value_counts().to_dict() == {"train": 170, "valid": 30}
    ref, own = _split(RunSampler(run), 5, None, 0, 1000)
    assert len(ref) >= 10 and not set(ref) & set(own)

    official = make_celeba(tmp_path / "official", bad=False)      # a partition file: its rows stay as they are
    np.save(tmp_path / "z20.npy", np.zeros((len(official["names"]), 4), np.float32))
    run = do_import(tmp_path / "c", "zp20", DataConfig("celeba", str(tmp_path / "official"), 32),
                    z_points=str(tmp_path / "z20.npy"), image_size=32)
    want = [("train", "valid", "test")[file_partition(int(i[:6]))] for i in run.index()["image_id"]]
    assert run.index()["partition"].tolist() == want
