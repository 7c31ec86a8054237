"""What an external model expects: image size, channels first or last, value range, colour.

The atlas keeps every image as uint8 [N, S, S, 3] RGB. A model trained elsewhere may want
[B, 3, S, S] in [0, 1] (PyTorch), [B, S, S, 3] in [-1, 1] (Keras), grey images or [0, 255].
``ImageSpec`` converts both ways and checks what a decoder returns, so one declared, recorded
convention is applied the same way at import time and whenever the run's decoder is used.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from core.errors import BadInputError, NonFiniteError

RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}
LAYOUTS = ("nchw", "nhwc")
# ITU-R BT.601 luma: what PIL's convert("L") uses, so a grey model sees what a grey export saw
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def parse_range(text: str) -> str:
    """'0,1', '[-1, 1]', '-1..1', '0-255' -> the canonical key of RANGES."""
    t = text.strip().strip("[]()").replace("..", ",").replace(" ", "")
    if t == "0-255":
        t = "0,255"
    if t == "0-1":
        t = "0,1"
    if t not in RANGES:
        raise BadInputError(f"value range {text!r} is not one of {', '.join(RANGES)} "
                            f"(the pixel values the model was trained on)")
    return t


@dataclass(frozen=True)
class ImageSpec:
    image_size: int = 64
    channels: int = 3                 # 3: RGB, 1: grey
    layout: str = "nchw"              # "nchw" (PyTorch) or "nhwc" (Keras / TensorFlow)
    value_range: str = "0,1"          # a key of RANGES

    def __post_init__(self):
        if self.channels not in (1, 3):
            raise BadInputError(f"channels must be 3 (RGB) or 1 (grey), got {self.channels}")
        if self.layout not in LAYOUTS:
            raise BadInputError(f"layout must be 'nchw' (channels first) or 'nhwc' (channels last), "
                                f"got {self.layout!r}")
        if self.value_range not in RANGES:
            raise BadInputError(f"value range must be one of {', '.join(RANGES)}, got {self.value_range!r}")
        if self.image_size < 8:
            raise BadInputError(f"image size must be at least 8 px, got {self.image_size}")

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d: dict) -> "ImageSpec":
        return cls(**{k: d[k] for k in ("image_size", "channels", "layout", "value_range") if k in d})

    def input_shape(self, batch: int | str = "B") -> list:
        s, c = self.image_size, self.channels
        return [batch, c, s, s] if self.layout == "nchw" else [batch, s, s, c]

    def describe(self) -> str:
        colour = "RGB" if self.channels == 3 else "grey"
        return (f"{self.image_size} px {colour}, channels {'first' if self.layout == 'nchw' else 'last'} "
                f"{self.input_shape()}, values in [{self.value_range.replace(',', ', ')}]")

    # -- atlas images -> model input ---------------------------------------------------------
    def to_model(self, images_u8: np.ndarray) -> np.ndarray:
        """uint8 [B, S, S, 3] RGB -> float32 in the model's layout, channels and range."""
        x = np.asarray(images_u8)
        if x.ndim != 4 or x.shape[1:] != (self.image_size, self.image_size, 3):
            raise BadInputError(f"images of shape {list(x.shape)} do not match the model's "
                                f"{self.image_size} px RGB input (preprocess the dataset at --image-size "
                                f"{self.image_size})")
        x = x.astype(np.float32) / 255.0                               # [B, S, S, 3] in [0, 1]
        if self.channels == 1:
            x = (x @ _LUMA)[..., None]                                 # [B, S, S, 1]
        lo, hi = RANGES[self.value_range]
        if (lo, hi) != (0.0, 1.0):
            x = x * (hi - lo) + lo
        if self.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)                                # [B, C, S, S]
        return np.ascontiguousarray(x, dtype=np.float32)

    # -- model output -> atlas images --------------------------------------------------------
    def check_decoded(self, y: np.ndarray, what: str = "the decoder") -> None:
        """Refuse an output that is not an image batch of the declared size, layout and range."""
        want = self.input_shape(y.shape[0] if getattr(y, "ndim", 0) else "B")
        if y.ndim != 4 or list(y.shape[1:]) != want[1:]:
            other = ImageSpec(self.image_size, self.channels, "nhwc" if self.layout == "nchw" else "nchw",
                              self.value_range)
            hint = (f"; it looks channels-{'last' if self.layout == 'nchw' else 'first'}: pass --layout "
                    f"{other.layout}" if y.ndim == 4 and list(y.shape[1:]) == other.input_shape()[1:] else "")
            raise BadInputError(f"{what} returned shape {list(y.shape)}, not the declared {want} "
                                f"({self.describe()}){hint}")
        if not np.isfinite(y).all():
            raise NonFiniteError(f"{what} returned NaN or inf for finite latent vectors")
        lo, hi = RANGES[self.value_range]
        span = hi - lo
        below, above = float(np.mean(y < lo - 0.05 * span)), float(np.mean(y > hi + 0.05 * span))
        if below > 0.01 or above > 0.01:
            raise BadInputError(
                f"{what} returned values in [{y.min():.3g}, {y.max():.3g}], outside the declared range "
                f"[{lo:g}, {hi:g}] ({100 * below:.0f}% below, {100 * above:.0f}% above): pass the range the "
                f"model was trained on with --value-range ({', '.join(RANGES)})")
        if self.value_range == "0,255" and float(y.max()) <= 1.5:
            raise BadInputError(f"{what} returned values in [{y.min():.3g}, {y.max():.3g}] but the declared "
                                "range is [0, 255]: the model works in [0, 1] (pass --value-range 0,1)")

    def from_model(self, y: np.ndarray) -> np.ndarray:
        """The decoder's output in the model's convention -> float32 [B, S, S, 3] RGB in [0, 1]."""
        y = np.asarray(y, np.float32)
        if self.layout == "nchw":
            y = y.transpose(0, 2, 3, 1)                                # [B, S, S, C]
        lo, hi = RANGES[self.value_range]
        y = (y - lo) / (hi - lo)                                       # [0, 1]
        if self.channels == 1:
            y = np.repeat(y, 3, axis=-1)                               # grey shown as RGB
        return np.clip(y, 0.0, 1.0)
