"""Convolutional autoencoder: strided convs down to a flat latent vector, transposed convs back.

The config (``core.config.ModelConfig``) travels with the weights, so a run folder can rebuild
the exact network. ``encode`` is deterministic (no sampling, eval-mode batch norm).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.errors import BadInputError, BrokenArtifactError
from core.store import atomic
from core.config import ModelConfig


def _down(cin: int, cout: int, bn: bool) -> nn.Sequential:
    # k4 s2 p1 halves the size exactly; bias is redundant in front of batch norm
    layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int, bn: bool) -> nn.Sequential:
    layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class ConvAutoencoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if not cfg.widths:
            raise BadInputError("widths () marks an imported model: there is no ConvAutoencoder to build "
                                "(open the run's model with Run.codec())")
        self.cfg = cfg
        w = list(cfg.widths)
        self.feat = cfg.image_size // 2 ** len(w)          # spatial size at the bottleneck
        chans = [cfg.channels] + w
        self.encoder = nn.Sequential(*[_down(a, b, cfg.batch_norm) for a, b in zip(chans[:-1], chans[1:])])
        flat = w[-1] * self.feat * self.feat
        self.to_z = nn.Linear(flat, cfg.z_dim)
        self.from_z = nn.Linear(cfg.z_dim, flat)
        rev = w[::-1]
        ups = [_up(a, b, cfg.batch_norm) for a, b in zip(rev[:-1], rev[1:])]
        # last layer maps to image channels; sigmoid keeps pixels in [0, 1]
        ups.append(nn.Sequential(nn.ConvTranspose2d(rev[-1], cfg.channels, 4, 2, 1), nn.Sigmoid()))
        self.decoder = nn.Sequential(*ups)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)                                  # [B, C, f, f]
        return self.to_z(h.flatten(1))                       # [B, z_dim]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_z(z).view(z.shape[0], self.cfg.widths[-1], self.feat, self.feat)
        return self.decoder(torch.relu(h))                   # [B, 3, S, S]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; a named device must exist here."""
    if name != "auto":
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise BadInputError(f"--device {name!r} is not a device name; use auto, cpu, cuda, cuda:N or mps") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BadInputError(f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
                                f"{'built without CUDA' if torch.version.cuda is None else 'no GPU visible'}); "
                                f"use --device cpu or auto")
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise BadInputError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise BadInputError(f"--device {name}: Apple MPS is not available here; use --device cpu or auto")
        if dev.type not in ("cpu", "cuda", "mps"):
            raise BadInputError(f"--device {name}: unsupported device type; use auto, cpu, cuda or mps")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def save_model(model: ConvAutoencoder, path: str | Path) -> None:
    """Weights as safetensors with the model config embedded in the metadata."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"model_config": atomic.json.dumps(model.cfg.to_dict())}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_model(path: str | Path, cfg: ModelConfig | None = None, device: str | torch.device = "cpu") -> ConvAutoencoder:
    """Rebuild from safetensors (no unpickling). The embedded config wins over ``cfg``.
    A file that does not parse, does not fit the config or holds NaN/inf weights raises
    BrokenArtifactError naming it: broken weights must never decode to a black grid."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path), device="cpu")
        if "model_config" in meta:
            cfg = ModelConfig.from_dict(atomic.json.loads(meta["model_config"]))
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for bad bytes
        raise BrokenArtifactError(path, f"not a readable safetensors file ({type(e).__name__}: {e})") from None
    if cfg is None:
        raise BrokenArtifactError(path, "carries no model config and none was given")
    model = ConvAutoencoder(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise BrokenArtifactError(path, f"its tensors do not fit the model config ({str(e)[:300]})") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise BrokenArtifactError(path, f"{len(bad)} weight tensors hold NaN/inf (first: {bad[0]})")
    return model.to(device).eval()


def to_tensor(images_u8: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 [B, S, S, 3] -> float [B, 3, S, S] in [0, 1]."""
    a = np.ascontiguousarray(images_u8)
    if not a.flags.writeable:  # memmap views are read-only; torch wants to own writable memory
        a = a.copy()
    t = torch.from_numpy(a).to(device)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float [B, 3, S, S] in [0, 1] -> uint8 [B, S, S, 3]."""
    return (x.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy())


def decode_numpy(model: ConvAutoencoder, z: np.ndarray, batch: int = 256) -> np.ndarray:
    """Decode latent vectors [n, d] into uint8 images [n, S, S, 3] (``model``: ours, or any Codec),
    through ``Codec.decode``: the one place where the decoder's output is checked for NaN/inf."""
    from core.model.codec import OwnCodec

    return (OwnCodec(model) if isinstance(model, nn.Module) else model).decode(z, batch)
