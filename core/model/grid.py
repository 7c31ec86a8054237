"""Face grids: tile uint8 images [n, S, S, 3] into one picture (PNG for the CLI and pages)."""
from __future__ import annotations

import io

import numpy as np


def tile(images: np.ndarray, cols: int = 7, pad: int = 2, fill: int = 255) -> np.ndarray:
    """[n, S, S, 3] -> [rows*(S+pad)+pad, cols*(S+pad)+pad, 3], row-major, padded with ``fill``."""
    n, s = len(images), images.shape[1]
    cols = max(1, min(cols, n)) if n else cols
    rows = max(1, -(-n // cols))
    out = np.full((rows * (s + pad) + pad, cols * (s + pad) + pad, 3), fill, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        y, x = pad + r * (s + pad), pad + c * (s + pad)
        out[y:y + s, x:x + s] = img
    return out


def to_png(images: np.ndarray, cols: int = 7, scale: int = 1) -> bytes:
    """PNG bytes of a tiled grid; ``scale`` enlarges with nearest-neighbour (sharp pixels)."""
    from PIL import Image

    im = Image.fromarray(tile(images, cols))
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
