"""One face of every run's autoencoder, whoever trained it: numpy images in, numpy z-points out.

``Codec`` is what sampling, reconstruction and the pages use, so they do not care whether the
run holds the project's own ``ConvAutoencoder`` (``OwnCodec``) or a model imported from ONNX,
TorchScript, a PyTorch class or precomputed z-points (``core.model.external.ExternalCodec``):

    codec.encode(images uint8 [B, S, S, 3]) -> float32 [B, d]
    codec.decode(z float [B, d])            -> uint8 [B, S, S, 3] RGB
    codec.decode_unit(z)                    -> float32 [B, S, S, 3] in [0, 1] (before rounding)
    codec.z_dim, codec.image_size, codec.kind, codec.has_encoder, codec.has_decoder

Every decode of every kind of model goes through ``decode_unit``, which is where the decoder's
output is checked: NaN/inf raises ``DecoderOutputError`` naming the vectors, never black pixels.
"""
from __future__ import annotations

import numpy as np

from core.errors import BadInputError, DecoderOutputError, NonFiniteError, NotReadyError

BATCH = 256


class Codec:
    kind = "abstract"
    z_dim: int
    image_size: int
    has_encoder = True
    has_decoder = True
    why_no_decoder = ""

    def _encode_batch(self, images_u8: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _decode_batch(self, z: np.ndarray) -> np.ndarray:
        """float32 [B, d] -> float32 [B, S, S, 3] RGB in [0, 1]."""
        raise NotImplementedError

    def encode(self, images_u8: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """uint8 [n, S, S, 3] -> float32 [n, z_dim]; deterministic (a VAE gives its mean)."""
        if not self.has_encoder:
            raise NotReadyError("this run's model has no encoder (it was imported from z-points)")
        out = [self._encode_batch(np.asarray(images_u8[i:i + batch])) for i in range(0, len(images_u8), batch)]
        z = np.concatenate(out) if out else np.zeros((0, self.z_dim), np.float32)
        if not np.isfinite(z).all():
            raise NonFiniteError("the encoder produced NaN or inf")
        return z.astype(np.float32, copy=False)

    def decode(self, z: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """float [n, z_dim] -> uint8 [n, S, S, 3] RGB."""
        return to_u8(self.decode_unit(z, batch))

    def decode_unit(self, z: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """float [n, z_dim] -> float32 [n, S, S, 3] RGB in [0, 1], not yet rounded to 8 bits."""
        if not self.has_decoder:
            raise NotReadyError(self.why_no_decoder or "this run's model has no decoder")
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"latent vectors of shape {list(z.shape)} do not fit z_dim {self.z_dim}")
        bad_z = np.flatnonzero(~np.isfinite(z).all(axis=1))
        if len(bad_z):
            raise BadInputError(f"latent vectors contain NaN or inf (rows {bad_z[:12].tolist()} of {len(z)})")
        out = [self._decode_batch(z[i:i + batch]) for i in range(0, len(z), batch)]
        x = np.concatenate(out) if out else np.zeros((0, self.image_size, self.image_size, 3), np.float32)
        bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        if len(bad):
            raise DecoderOutputError(bad, len(z))
        return x

    def reconstruct(self, images_u8: np.ndarray) -> np.ndarray:
        """uint8 [n, S, S, 3] -> its reconstruction, uint8 [n, S, S, 3]."""
        return self.decode(self.encode(images_u8))


def to_u8(x: np.ndarray) -> np.ndarray:
    """float [..] in [0, 1] -> uint8, rounded (as core.model.autoencoder.to_uint8)."""
    return np.clip(np.rint(np.asarray(x, np.float32) * 255.0), 0, 255).astype(np.uint8)


class OwnCodec(Codec):
    """The project's ``ConvAutoencoder`` (weights.safetensors of a trained run)."""
    kind = "own"

    def __init__(self, model):
        self.model = model.eval()
        self.z_dim, self.image_size = model.cfg.z_dim, model.cfg.image_size

    def _device(self):
        return next(self.model.parameters()).device

    def _encode_batch(self, images_u8: np.ndarray) -> np.ndarray:
        import torch

        from core.model.autoencoder import to_tensor

        with torch.no_grad():
            return self.model.encode(to_tensor(images_u8, self._device())).cpu().numpy()   # [B, d]

    def _decode_batch(self, z: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = self.model.decode(torch.from_numpy(np.array(z, np.float32)).to(self._device()))   # [B, 3, S, S]
        return x.permute(0, 2, 3, 1).float().cpu().numpy()                                  # [B, S, S, 3]
