"""Encode a whole dataset to z-points, streaming batches into a memory-mappable ``.npy``.

Only one batch of activations lives in memory at a time, so 200,000 images never need
their activations together; the output file appears under its real name only when complete.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from core.errors import DecoderOutputError, NonFiniteError
from core.store import atomic
from core.model.autoencoder import ConvAutoencoder, to_tensor

if TYPE_CHECKING:
    from core.model.codec import Codec


@torch.no_grad()
def encode_to_npy(model: ConvAutoencoder, images: np.ndarray, out_path: str | Path, *,
                  batch_size: int = 512, progress: Callable[[int, int], None] | None = None,
                  recon_error: bool = True) -> np.ndarray | None:
    """Encode ``images`` (uint8 [N, S, S, 3]) into ``out_path`` as float32 [N, z_dim].

    Returns the per-image reconstruction MSE [N] when ``recon_error`` (it costs one decode
    per image and lets the UMAP be coloured by how well each face is reproduced).
    """
    model.eval()
    device = next(model.parameters()).device
    n, d = len(images), model.cfg.z_dim
    errs = np.empty(n, np.float32) if recon_error else None
    with atomic.atomic_path(out_path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
        for i in range(0, n, batch_size):
            x = to_tensor(images[i:i + batch_size], device)        # [B, 3, S, S]
            z = model.encode(x)                                     # [B, z_dim]
            if not torch.isfinite(z).all():
                raise FloatingPointError(f"encoder produced NaN/inf for images {i}..{i + len(x) - 1}")
            out[i:i + len(x)] = z.cpu().numpy()
            if errs is not None:
                errs[i:i + len(x)] = ((model.decode(z) - x) ** 2).mean(dim=(1, 2, 3)).cpu().numpy()
            if progress:
                progress(min(i + batch_size, n), n)
        out.flush()
        del out
    return errs


@torch.no_grad()
def reconstruct(model: ConvAutoencoder, images: np.ndarray) -> np.ndarray:
    """uint8 [n, S, S, 3] -> reconstructed uint8 [n, S, S, 3] (``model``: ours, or any Codec)."""
    from core.model.autoencoder import to_uint8

    if not isinstance(model, torch.nn.Module):
        return model.reconstruct(images)
    device = next(model.parameters()).device
    model.eval()
    return to_uint8(model(to_tensor(images, device)))


def encode_codec_to_npy(codec: Codec, images: np.ndarray, out_path: str | Path, *, batch_size: int = 256,
                        z: np.ndarray | None = None, progress: Callable[[int, int], None] | None = None
                        ) -> np.ndarray | None:
    """``encode_to_npy`` for any ``core.model.codec.Codec`` (an imported model): z-points into
    ``out_path`` as float32 [N, d] (or the given ``z`` [N, d], copied, when there is no encoder),
    and each image's reconstruction MSE [N] when the codec can decode (else None)."""
    n = len(images)
    d = codec.z_dim if z is None else z.shape[1]
    errs = np.empty(n, np.float32) if codec.has_decoder else None
    with atomic.atomic_path(out_path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
        for i in range(0, n, batch_size):
            x = np.asarray(images[i:i + batch_size])                      # uint8 [B, S, S, 3]
            zb = codec.encode(x) if z is None else np.asarray(z[i:i + batch_size], np.float32)   # [B, d]
            if not np.isfinite(zb).all():
                raise NonFiniteError(f"z-points of images {i}..{i + len(x) - 1} contain NaN/inf")
            out[i:i + len(x)] = zb
            if errs is not None:
                try:
                    rec = codec.decode_unit(zb)                           # [B, S, S, 3] in [0, 1]
                except DecoderOutputError as e:   # name the images, not rows of this batch
                    rows = [i + r for r in e.rows]
                    raise NonFiniteError(f"the decoder returned NaN or inf for the z-points of {len(rows)} real "
                                         f"images (rows {rows[:12]}): the model is broken") from None
                errs[i:i + len(x)] = ((rec - x.astype(np.float32) / 255.0) ** 2).mean(axis=(1, 2, 3))
            if progress:
                progress(min(i + batch_size, n), n)
        out.flush()
        del out
    return errs
