"""Tiny external autoencoders for the import tests: exports of our own model, a Keras-layout
model with a known answer, a VAE, broken models, and a class in a module written to a folder."""
from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.config import DataConfig
from core.model.external import ExternalConfig

GRID = 4      # the Keras-like model averages each colour over a GRID x GRID grid of blocks


def synthetic_data(n: int = 300, size: int = 32) -> DataConfig:
    """The tiny run's data (tests/conftest.py TINY_TRAIN): same images, same split."""
    return DataConfig("synthetic", None, size, None, n, 0)


def do_import(cache, run_id: str, data: DataConfig | None = None, **ext):
    """Import as a user who trusts the code the tests wrote (TorchScript, classes)."""
    from core.jobs.import_run import import_run

    ext.setdefault("trust_code", True)
    return import_run(ExternalConfig(**ext), data or synthetic_data(), cache, run_id, progress=False)


class _Call(nn.Module):
    """forward = one method of a model (ONNX export needs a forward)."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x):
        return getattr(self.model, self.method)(x)


def to_onnx(module: nn.Module, example: torch.Tensor, path: Path, n_out: int = 1, dynamic: bool = True,
            names: list[str] | None = None) -> Path:
    """``dynamic=False`` fixes the batch size to the example's (as some Keras exports do);
    ``names``: the outputs' names (default out0, out1, ...)."""
    outs = names or [f"out{i}" for i in range(n_out)]
    axes = {"x": {0: "batch"}, **{o: {0: "batch"} for o in outs}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # the legacy (TorchScript-based) exporter warns that it is legacy
        # eval() on the wrapper too: the exporter restores the wrapper's train flag on every child
        torch.onnx.export(module.eval(), (example,), str(path), dynamo=False, input_names=["x"],
                          output_names=outs, dynamic_axes=axes)
    return path


def export_own(model, folder: Path) -> dict[str, Path]:
    """Our ConvAutoencoder as ONNX encoder + decoder files and as one TorchScript file."""
    folder.mkdir(parents=True, exist_ok=True)
    s, d = model.cfg.image_size, model.cfg.z_dim
    x, z = torch.rand(2, 3, s, s), torch.randn(2, d)
    model.eval()
    ts = torch.jit.trace_module(model, {"encode": x, "decode": z})
    torch.jit.save(ts, str(folder / "ae.pt"))
    return {"encoder": to_onnx(_Call(model, "encode"), x, folder / "enc.onnx"),
            "decoder": to_onnx(_Call(model, "decode"), z, folder / "dec.onnx"), "torchscript": folder / "ae.pt"}


class KerasLikeEncoder(nn.Module):
    """NHWC input in [-1, 1] -> the mean of each colour in each of GRID x GRID blocks, flattened
    in NHWC order: z = [B, GRID*GRID*3], a known answer for any image."""

    def forward(self, x):                                     # [B, S, S, 3]
        s = x.shape[1]
        m = nn.functional.avg_pool2d(x.permute(0, 3, 1, 2), s // GRID)   # [B, 3, G, G]
        return m.permute(0, 2, 3, 1).reshape(x.shape[0], -1)              # [B, G*G*3]


class KerasLikeDecoder(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, z):                                     # [B, G*G*3]
        g = z.reshape(z.shape[0], GRID, GRID, 3).permute(0, 3, 1, 2)      # [B, 3, G, G]
        up = nn.functional.interpolate(g, scale_factor=self.size // GRID, mode="nearest")
        return up.clamp(-1, 1).permute(0, 2, 3, 1)                        # [B, S, S, 3]


def keras_like_answer(images_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z, decoded images in [0, 1]) the Keras-like model must give, computed in numpy."""
    x = images_u8.astype(np.float64) / 127.5 - 1.0                       # [B, S, S, 3] in [-1, 1]
    b, s = len(x), x.shape[1]
    k = s // GRID
    blocks = x.reshape(b, GRID, k, GRID, k, 3).mean(axis=(2, 4))         # [B, G, G, 3]
    up = np.repeat(np.repeat(blocks, k, axis=1), k, axis=2)              # [B, S, S, 3]
    return blocks.reshape(b, -1), (up + 1) / 2


class GreyBlocks(nn.Module):
    """Grey [B, 1, S, S] -> 4x4-pixel block means (encoder) and back (decoder): a known answer."""

    def __init__(self, decode: bool = False, size: int = 32):
        super().__init__()
        self.decode, self.size = decode, size

    def forward(self, x):
        if self.decode:                                       # [B, (S/4)^2] -> [B, 1, S, S]
            g = x.view(-1, 1, self.size // 4, self.size // 4)
            return nn.functional.interpolate(g, scale_factor=4, mode="nearest")
        return nn.functional.avg_pool2d(x, 4).flatten(1)      # [B, (S/4)^2]


class TinyVAE(nn.Module):
    """encode -> (mean, log-variance); ``sample`` draws z = mean + sigma * eps (never to be imported)."""

    def __init__(self, size: int = 32, d: int = 8):
        super().__init__()
        torch.manual_seed(1)
        self.size = size
        self.enc = nn.Linear(3 * size * size, 2 * d)
        self.dec = nn.Linear(d, 3 * size * size)

    def encode(self, x):                                      # [B, 3, S, S]
        h = self.enc(x.flatten(1))
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar

    def sample(self, x):
        mean, logvar = self.encode(x)
        return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)

    def decode(self, z):
        return torch.sigmoid(self.dec(z)).view(-1, 3, self.size, self.size)


CLASS_MODULE = '''
    """A user's own autoencoder, defined outside the project."""
    import torch
    from torch import nn


    class {name}(nn.Module):
        def __init__(self, z_dim=8, size=32):
            super().__init__()
            self.size = size
            self.body = nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                                      nn.Linear(4 * (size // 2) ** 2, z_dim))
            self.head = nn.Linear(z_dim, 3 * size * size)

        def embed(self, x):
            return self.body(x)

        def generate(self, z):
            return torch.sigmoid(self.head(z)).view(-1, 3, self.size, self.size)
'''


def write_class_module(folder: Path, module: str, cls: str = "UserAE") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}.py"
    path.write_text(textwrap.dedent(CLASS_MODULE.format(name=cls)))
    return path


VAE_MODULE = '''
    """A user's VAE trained on images in [-1, 1] (tanh output); encode returns named outputs."""
    import torch
    from torch import nn


    class MinusOneVAE(nn.Module):
        def __init__(self, z_dim=8, size=32):
            super().__init__()
            self.size = size
            self.enc = nn.Linear(3 * size * size, 2 * z_dim)
            self.dec = nn.Linear(z_dim, 3 * size * size)

        @torch.jit.export
        def encode(self, x):                                  # [B, 3, S, S] in [-1, 1]
            mu, logvar = self.enc(x.flatten(1)).chunk(2, dim=1)
            return {"mu": mu, "logvar": logvar}

        @torch.jit.export
        def decode(self, z):
            return torch.tanh(self.dec(z)).view(-1, 3, self.size, self.size)

        def forward(self, x):
            return self.decode(self.encode(x)["mu"])
'''


def trained_minus_one_vae(folder: Path, images_u8: np.ndarray):
    """``MinusOneVAE`` written to ``folder/user_vae.py`` and fitted to ``images_u8`` scaled to
    [-1, 1], the convention its author trained in: the mean is the top-8 PCA projection, the
    decoder a least-squares fit before its tanh (closed form: no training loop in a test)."""
    import importlib
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "user_vae.py").write_text(textwrap.dedent(VAE_MODULE))
    sys.path.insert(0, str(folder))
    try:
        model = importlib.import_module("user_vae").MinusOneVAE(z_dim=8, size=images_u8.shape[1])
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("user_vae", None)
    x = np.asarray(images_u8).transpose(0, 3, 1, 2).reshape(len(images_u8), -1) / 127.5 - 1.0   # [N, 3*S*S]
    mean = x.mean(axis=0)
    val, vec = np.linalg.eigh((x - mean) @ (x - mean).T)                 # Gram matrix: [N, N], cheap
    axes = (vec[:, -8:].T @ (x - mean)) / np.sqrt(val[-8:])[:, None]     # [8, 3*S*S] principal axes
    mu = (x - mean) @ axes.T                                              # [N, 8]
    pre = np.arctanh(np.clip(x, -0.98, 0.98))                             # what the decoder's tanh must see
    fit, *_ = np.linalg.lstsq(np.c_[mu, np.ones(len(mu))], pre, rcond=None)   # [9, 3*S*S]
    with torch.no_grad():
        model.enc.weight.zero_()
        model.enc.bias.zero_()
        model.enc.weight[:8] = torch.from_numpy(axes).float()
        model.enc.bias[:8] = torch.from_numpy(-axes @ mean).float()
        model.dec.weight.copy_(torch.from_numpy(fit[:8].T).float())
        model.dec.bias.copy_(torch.from_numpy(fit[8]).float())
    return model.eval()


def write_face_folder(folder: Path, n: int, size: int = 96) -> list[str]:
    """``n`` synthetic faces at ``size`` px as PNG files (a folder source with detail a resize
    filter changes); returns their file names, sorted."""
    from PIL import Image

    from core.data.synthetic import render_faces

    folder.mkdir(parents=True, exist_ok=True)
    faces, _ = render_faces(n, size=size, seed=3)
    names = [f"face{i:03d}.png" for i in range(n)]
    for name, face in zip(names, faces):
        Image.fromarray(face).save(folder / name)
    return names


class NanBeyond(nn.Module):
    """A decoder [B, d] -> [B, 3, S, S] in [0, 1] that returns NaN wherever z[:, 0] > ``limit``:
    what a model can do far off its training data (the hardening probes' NaN decoder)."""

    def __init__(self, d: int, size: int, limit: float):
        super().__init__()
        torch.manual_seed(0)
        self.lin, self.size, self.limit = nn.Linear(d, 3 * size * size), size, float(limit)

    def forward(self, z):
        x = torch.sigmoid(self.lin(z)).view(-1, 3, self.size, self.size)
        off = (z[:, :1] > self.limit).view(-1, 1, 1, 1)                     # [B, 1, 1, 1]
        return torch.where(off, torch.full_like(x, float("nan")), x)


def nan_decoder_files(folder: Path, n: int = 200, d: int = 8, size: int = 32, limit: float | None = None) -> dict:
    """z-points [n, d] (component 0 narrow, so samplers easily leave it) and an ONNX decoder that
    is NaN above the largest real z[:, 0] (or above ``limit``)."""
    folder.mkdir(parents=True, exist_ok=True)
    z = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    z[:, 0] *= 0.1
    np.save(folder / "z.npy", z)
    lim = float(z[:, 0].max()) if limit is None else limit
    dec = to_onnx(NanBeyond(d, size, lim), torch.zeros(2, d), folder / f"dec-{lim:g}.onnx")
    return {"z": folder / "z.npy", "decoder": dec, "limit": lim}
