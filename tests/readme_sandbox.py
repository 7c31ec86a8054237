"""The world README.md's examples assume, built small: a CelebA folder, a folder of images, and
the model files the import examples name, each a tiny model with a known answer.

Every model here reconstructs an image as its 8x8-block means (z = the means, 192 numbers at
64 px), clamped to the value range it was "trained" on. A known answer matters: an import
probes value ranges and layouts by how well the model reconstructs, so the files must
reconstruct well under the right convention and clearly worse under a wrong one.
"""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tests import fakes
from tests.extmodels import to_onnx

SIZE, BLOCK = 64, 8
Z_DIM = 3 * (SIZE // BLOCK) ** 2          # 192


class BlockAE(nn.Module):
    """[B, 3, S, S] in [lo, hi] -> 8x8-block means [B, 192] -> blocky image, clamped to [lo, hi]."""

    def __init__(self, lo: float = 0.0, hi: float = 1.0):
        super().__init__()
        self.lo, self.hi = lo, hi
        self.block, self.grid = BLOCK, SIZE // BLOCK      # attributes: TorchScript reads no globals

    @torch.jit.export
    def encode(self, x):                                             # [B, 3, S, S] -> [B, 192]
        return nn.functional.avg_pool2d(x, self.block).flatten(1)

    @torch.jit.export
    def decode(self, z):                                             # [B, 192] -> [B, 3, S, S]
        g = z.view(-1, 3, self.grid, self.grid)
        return nn.functional.interpolate(g, scale_factor=float(self.block), mode="nearest").clamp(self.lo, self.hi)

    def forward(self, x):
        return self.decode(self.encode(x))


class _Method(nn.Module):
    def __init__(self, model: nn.Module, decode: bool):
        super().__init__()
        self.model, self.dec = model, decode

    def forward(self, x):
        return self.model.decode(x) if self.dec else self.model.encode(x)


# README's class example: a VAE trained on [-1, 1] images whose encode returns a dict with the
# mean under "mu" (as many VAE code bases do); z_dim is a constructor argument. Its decoder has
# 16 output levels over [-1, 1]: fed [0, 1] images it reconstructs with half the levels, so
# the import can tell from the reconstruction error which range it was trained on.
VAE_MODULE = '''
    """A VAE defined outside the project (README's class example)."""
    import torch
    from torch import nn


    class ConvVAE(nn.Module):
        def __init__(self, z_dim=192, size=64, block=8):
            super().__init__()
            assert z_dim == 3 * (size // block) ** 2, "this test VAE keeps 8x8-block means"
            self.size, self.block = size, block
            self.gain = nn.Parameter(torch.ones(1))

        def encode(self, x):                              # [B, 3, S, S] in [-1, 1]
            mu = nn.functional.avg_pool2d(x, self.block).flatten(1)
            return {"mu": mu, "logvar": torch.zeros_like(mu)}

        def decode(self, z):
            g = z.view(-1, 3, self.size // self.block, self.size // self.block) * self.gain
            out = nn.functional.interpolate(g, scale_factor=self.block, mode="nearest").clamp(-1, 1)
            return torch.round((out + 1) * 7.5) / 7.5 - 1
'''


def build(root: Path) -> dict[str, Path]:
    """Lay README's world under ``root``: returns the folders the commands run in and with."""
    work, home = root / "work", root / "home"
    work.mkdir(parents=True)
    celeba = root / "celeba"
    names = fakes.make_celeba(celeba, bad=False)["names"]
    images = root / "images"                                   # a plain folder of 14 face crops
    images.mkdir()
    for n in names[:14]:
        shutil.copy(celeba / "img_align_celeba" / n, images / n)

    own = BlockAE().eval()                                     # ours: [0, 1], NCHW
    x, z = torch.rand(2, 3, SIZE, SIZE), torch.rand(2, Z_DIM)
    to_onnx(_Method(own, False), x, work / "enc.onnx")
    to_onnx(_Method(own, True), z, work / "dec.onnx")
    torch.jit.save(torch.jit.script(own), str(work / "ae.pt"))

    code = home / "src" / "myrepo" / "mymodels"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("")
    (code / "vae.py").write_text(textwrap.dedent(VAE_MODULE))
    from safetensors.torch import save_file

    save_file({"gain": torch.ones(1)}, str(work / "vae.safetensors"))

    # precomputed z-points of 14 images (the block means a [0, 1] model would give), named by
    # file in ids.txt; the same 14 images make the plain image folder
    rng = np.random.default_rng(0)
    np.save(work / "z.npy", rng.uniform(0.2, 0.8, size=(14, Z_DIM)).astype(np.float32))
    (work / "ids.txt").write_text("".join(f"{n}\n" for n in names[:14]))
    return {"work": work, "home": home, "celeba": celeba, "images": images}
