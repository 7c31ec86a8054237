"""Procedural face images: the built-in demo dataset (no download).

Every face is drawn from a vector of generating factors, and every factor is returned as a
column so a user can colour latent-space plots by it and check that the analysis recovers
known structure (smile, glasses, hair length, skin tone, ...).

Determinism: image ``i`` depends only on ``(seed, i)``. Its factors come from
``np.random.default_rng([seed, i])``, so rendering in chunks (in parallel processes) gives
exactly the bytes of one big call. Each image draws a fixed number (``_N_UNIFORMS``) of
uniforms; new factors must use the spare slots so existing faces never change.

Drawing: polygons in face coordinates (image spans [-1, 1], y down), mapped through the
head pose (roll + shift) onto a canvas ``ss`` times larger than the output, then box-reduced:
cheap anti-aliasing with PIL's C drawing code (well under 1 ms per 64x64 face).
"""
from __future__ import annotations

import colorsys
import math

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

_N_UNIFORMS = 32          # per-image random numbers; fixed so adding factors keeps old faces

# name, RGB; weights give a plausible mix. Index order is the `hair_color` code.
HAIR_COLORS = [("black", (28, 22, 22)), ("dark_brown", (66, 42, 28)), ("brown", (118, 78, 44)),
               ("auburn", (146, 66, 34)), ("blond", (214, 178, 108)), ("gray", (172, 170, 168))]
_HAIR_WEIGHTS = [0.25, 0.20, 0.17, 0.10, 0.18, 0.10]
IRIS_COLORS = [("brown", (102, 62, 30)), ("dark", (48, 34, 26)), ("blue", (66, 118, 190)),
               ("green", (76, 128, 78)), ("gray", (118, 128, 140))]
GLASSES_COLORS = [("black", (20, 20, 22)), ("brown", (90, 52, 28)), ("silver", (150, 150, 158)),
                  ("red", (150, 30, 36))]
# skin_tone 0 (light) .. 1 (dark), piecewise-linear through these stops
_SKIN_STOPS = np.array([(255, 226, 206), (236, 194, 160), (204, 152, 112),
                        (152, 100, 68), (92, 58, 40)], dtype=np.float64)

# Generating factors, then CelebA-style 0/1 convenience columns derived from them.
_GENERATING = [
    "face_width",      # half-width of the face ellipse (image half-size = 1)
    "face_height",     # half-height of the face ellipse
    "skin_tone",       # 0 light .. 1 dark
    "hair_color",      # index into HAIR_COLORS
    "hair_shade",      # lightness multiplier on the hair colour
    "hair_length",     # <0.06 bald, <0.5 short cap (volume grows), >=0.5 long, falling beside the face
    "hair_fringe",     # 0 high hairline .. 1 low fringe
    "eye_size",        # multiplier, 1 = average
    "eye_spacing",     # eye centre distance from the midline, fraction of face half-width
    "iris_color",      # index into IRIS_COLORS
    "brow_thickness",  # 0 thin .. 1 bushy
    "brow_tilt",       # -1 outer ends down .. 1 outer ends up
    "mouth_curve",     # -1 frown .. 1 smile
    "mouth_width",     # half-width of the mouth, fraction of face half-width
    "glasses",         # 0/1
    "glasses_color",   # index into GLASSES_COLORS
    "bg_hue", "bg_saturation", "bg_value",   # background colour (HSV)
    "shirt_hue",       # clothing colour hue
    "light_angle",     # direction the light comes from, degrees (0 = from the right, 90 = from below)
    "light_strength",  # brightness gradient amplitude (0 = flat lighting)
    "shift_x", "shift_y",  # head offset, fraction of the image size
    "roll",            # head rotation, degrees (positive = clockwise on screen)
    "yaw",             # -1..1 horizontal offset of the features inside the face (turning head)
]
_BINARY = ["Smiling", "Eyeglasses", "Long_Hair", "Bald", "Black_Hair", "Brown_Hair",
           "Blond_Hair", "Gray_Hair", "Pale_Skin", "Bushy_Eyebrows"]
FACTOR_COLUMNS: list[str] = _GENERATING + _BINARY


def _uniforms(n: int, seed: int, start: int) -> np.ndarray:
    """[n, _N_UNIFORMS] uniforms; row i comes only from (seed, start + i)."""
    if n < 0 or seed < 0 or start < 0:
        raise ValueError("n, seed and start must be non-negative")
    u = np.empty((n, _N_UNIFORMS))
    for i in range(n):
        u[i] = np.random.default_rng([seed, start + i]).random(_N_UNIFORMS)
    return u


def face_factors(n: int, seed: int = 0, start: int = 0) -> pd.DataFrame:
    """Generating factors of faces start .. start+n-1 (cheap: no drawing)."""
    u = _uniforms(n, seed, start)
    lin = lambda j, lo, hi: lo + (hi - lo) * u[:, j]  # noqa: E731
    f = {
        "face_width": lin(0, 0.43, 0.57),
        "face_height": lin(1, 0.55, 0.67),
        "skin_tone": u[:, 2],
        "hair_color": np.searchsorted(np.cumsum(_HAIR_WEIGHTS) / sum(_HAIR_WEIGHTS), u[:, 3]),
        "hair_shade": lin(4, 0.85, 1.15),
        "hair_length": u[:, 5],
        "hair_fringe": u[:, 6],
        "eye_size": lin(7, 0.75, 1.3),
        "eye_spacing": lin(8, 0.34, 0.48),
        "iris_color": np.minimum((u[:, 9] * len(IRIS_COLORS)).astype(int), len(IRIS_COLORS) - 1),
        "brow_thickness": u[:, 10],
        "brow_tilt": lin(11, -1, 1),
        # 2*u^p - 1 with p = ln 0.6 / ln 0.5 covers [-1, 1] smoothly and puts exactly half
        # of the faces above the Smiling threshold 0.2
        "mouth_curve": 2 * u[:, 12] ** (math.log(0.6) / math.log(0.5)) - 1,
        "mouth_width": lin(13, 0.3, 0.5),
        "glasses": (u[:, 14] < 0.3).astype(int),
        "glasses_color": np.minimum((u[:, 15] * len(GLASSES_COLORS)).astype(int), len(GLASSES_COLORS) - 1),
        "bg_hue": u[:, 16],
        "bg_saturation": lin(17, 0.08, 0.6),
        "bg_value": lin(18, 0.35, 0.95),
        "shirt_hue": u[:, 19],
        "light_angle": lin(20, 0, 360),
        "light_strength": lin(21, 0, 0.35),
        "shift_x": lin(22, -0.04, 0.04),
        "shift_y": lin(23, -0.04, 0.04),
        "roll": lin(24, -10, 10),
        "yaw": lin(25, -1, 1),
    }
    f["hair_color"] = np.minimum(f["hair_color"], len(HAIR_COLORS) - 1)
    hc = f["hair_color"]
    b = {
        "Smiling": f["mouth_curve"] > 0.2,
        "Eyeglasses": f["glasses"] == 1,
        "Long_Hair": f["hair_length"] >= 0.5,
        "Bald": f["hair_length"] < 0.06,
        "Black_Hair": hc == 0,
        "Brown_Hair": (hc == 1) | (hc == 2),
        "Blond_Hair": hc == 4,
        "Gray_Hair": hc == 5,
        "Pale_Skin": f["skin_tone"] < 0.15,
        "Bushy_Eyebrows": f["brow_thickness"] > 0.7,
    }
    bald = b["Bald"]
    for k in ("Black_Hair", "Brown_Hair", "Blond_Hair", "Gray_Hair"):
        b[k] = b[k] & ~bald          # a bald head shows no hair colour
    cols = {k: np.asarray(v, dtype=np.int64 if k in ("hair_color", "iris_color", "glasses",
                                                      "glasses_color") else np.float64)
            for k, v in f.items()}
    cols.update({k: v.astype(np.int64) for k, v in b.items()})
    return pd.DataFrame(cols, columns=FACTOR_COLUMNS, index=pd.RangeIndex(start, start + n))


def _skin_rgb(tone: float) -> np.ndarray:
    x = tone * (len(_SKIN_STOPS) - 1)
    k = min(int(x), len(_SKIN_STOPS) - 2)
    return _SKIN_STOPS[k] + (x - k) * (_SKIN_STOPS[k + 1] - _SKIN_STOPS[k])


def _rgb(c, mult: float = 1.0) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, round(v * mult)))) for v in c)


_T = np.linspace(0, 2 * np.pi, 40, endpoint=False)
_COS, _SIN = np.cos(_T), np.sin(_T)


class _Canvas:
    """Maps face coordinates (face centre at origin, image half-size = 1, y down) through
    the head pose onto a supersampled PIL canvas."""

    def __init__(self, im: Image.Image, cx: float, cy: float, roll_deg: float):
        self.d = ImageDraw.Draw(im)
        self.half = im.size[0] / 2
        r = math.radians(roll_deg)
        self.c, self.s = math.cos(r), math.sin(r)
        self.ox, self.oy = cx, cy

    def _px(self, x, y) -> list:
        xy = np.empty((len(x), 2))   # PIL wants a flat [x0, y0, x1, y1, ...] list
        xy[:, 0] = (self.c * x - self.s * y + self.ox + 1) * self.half
        xy[:, 1] = (self.s * x + self.c * y + self.oy + 1) * self.half
        return xy.ravel().tolist()

    def w(self, width: float) -> int:
        return max(1, round(width * self.half))

    def ellipse(self, x, y, rx, ry, fill=None, outline=None, width=0.0, tilt=0.0):
        ex, ey = rx * _COS, ry * _SIN
        if tilt:
            ct, st = math.cos(tilt), math.sin(tilt)
            ex, ey = ct * ex - st * ey, st * ex + ct * ey
        self.poly(x + ex, y + ey, fill, outline, width)

    def poly(self, xs, ys, fill=None, outline=None, width=0.0):
        self.d.polygon(self._px(xs, ys), fill=fill, outline=outline,
                       width=self.w(width) if outline is not None else 1)

    def line(self, xs, ys, fill, width):
        self.d.line(self._px(xs, ys), fill=fill, width=self.w(width), joint="curve")


def _draw_face(cv: _Canvas, f: dict, i: int) -> None:
    """Paint face i of the factor columns ``f``, back to front (painter's algorithm)."""
    a, b = f["face_width"][i], f["face_height"][i]
    skin = _skin_rgb(f["skin_tone"][i])
    hair = np.array(HAIR_COLORS[f["hair_color"][i]][1]) * f["hair_shade"][i]
    hl = f["hair_length"][i]
    bald, long_hair = hl < 0.06, hl >= 0.5
    vol = 0.03 + 0.08 * min(hl, 0.5)                  # hair thickness around the skull
    sr, sg, sb = colorsys.hsv_to_rgb(f["shirt_hue"][i], 0.45, 0.55)

    # body: shoulders (clothing) and neck, drawn first so the head covers them
    cv.ellipse(0, 1.28, 0.95, 0.55, fill=_rgb((sr * 255, sg * 255, sb * 255)))
    cv.poly(np.array([-0.45, 0.45, 0.5, -0.5]) * a, np.array([0.3, 0.3, 0.86, 0.86]), fill=_rgb(skin, 0.82))
    if long_hair:   # back hair: skull arc, then falling beside the face to a length set by hl
        bottom = b * (0.6 + 1.6 * (hl - 0.5))
        t = np.linspace(np.pi, 2 * np.pi, 16)
        xs = np.concatenate([(a + vol + 0.04) * np.cos(t), [a + vol + 0.1, a * 0.7, -a * 0.7, -a - vol - 0.1]])
        ys = np.concatenate([(b + vol) * np.sin(t) - 0.04, [bottom, bottom + 0.06, bottom + 0.06, bottom]])
        cv.poly(xs, ys, fill=_rgb(hair, 0.8))
    for side in (-1, 1):   # ears
        cv.ellipse(side * a * 0.97, -0.02, a * 0.16, b * 0.2, fill=_rgb(skin, 0.9))
    cv.ellipse(0, 0, a, b, fill=_rgb(skin))

    # features shift sideways with yaw (a crude head turn)
    fx = f["yaw"][i] * a * 0.12
    ey = -b * 0.08
    es = f["eye_size"][i]
    ew, eh = a * 0.17 * es, a * 0.1 * es
    ex = f["eye_spacing"][i] * a
    iris = IRIS_COLORS[f["iris_color"][i]][1]
    brow_col = _rgb(hair, 0.75) if not bald else _rgb(skin, 0.55)
    bt = 0.02 + 0.035 * f["brow_thickness"][i]
    tilt = f["brow_tilt"][i] * 0.35
    for side in (-1, 1):
        x = fx + side * ex
        cv.ellipse(x, ey, ew, eh, fill=(246, 244, 240), outline=_rgb(skin, 0.45), width=0.012)
        cv.ellipse(x + fx * 0.2, ey, eh * 0.95, eh * 0.95, fill=iris)
        cv.ellipse(x + fx * 0.2, ey, eh * 0.45, eh * 0.45, fill=(12, 10, 10))
        by = ey - eh - 0.06 - bt / 2
        dx, dy = ew * 1.1 * math.cos(tilt), ew * 1.1 * math.sin(tilt)
        # inner end at -side, outer end at +side; positive tilt lifts the outer end
        cv.line(np.array([x - side * dx, x + side * dx]), np.array([by + dy, by - dy]), brow_col, bt)

    # nose: a small shaded arc
    ny = b * 0.2
    cv.line(fx * 1.3 + np.array([-0.05, -0.02, 0.02, 0.05]) * a * 2, ny + np.array([0.0, 0.025, 0.025, 0.0]),
            _rgb(skin, 0.72), 0.02)

    # mouth: an arc; centre lower than the corners for a smile
    mw = f["mouth_width"][i] * a
    my = b * 0.5
    t = np.linspace(-1, 1, 12)
    depth = f["mouth_curve"][i] * 0.09
    lip = _rgb(skin * np.array([0.78, 0.5, 0.5]))
    cv.line(fx + t * mw, my + depth * (1 - t ** 2) - depth * 0.5, lip, 0.035)

    if not bald:   # hair cap: skull arc above a hairline that comes lower with the fringe
        t = np.linspace(np.pi * 0.96, np.pi * 2.04, 20)
        line_y = -b * (0.62 - 0.3 * f["hair_fringe"][i])
        capx = (a + vol) * np.cos(t)
        capy = (b + vol) * np.sin(t) - 0.02
        s = np.linspace(1, -1, 12)
        hx = s * a * 0.98
        hy = line_y - (1 - s ** 2) * 0.08 * (1 - f["hair_fringe"][i]) + (s ** 2) * b * 0.2
        cv.poly(np.concatenate([capx, hx]), np.concatenate([capy, hy]), fill=_rgb(hair))

    if f["glasses"][i]:
        gc = GLASSES_COLORS[f["glasses_color"][i]][1]
        gw, gh = ew * 1.45 + 0.02, eh * 1.9 + 0.03
        for side in (-1, 1):
            x = fx + side * ex
            cv.ellipse(x, ey, gw, gh, outline=gc, width=0.028)
            cv.line(np.array([x + side * gw, side * a * 0.98]), np.array([ey, ey - 0.02]), gc, 0.024)
        cv.line(np.array([fx - ex + gw, fx, fx + ex - gw]), np.array([ey, ey - 0.025, ey]), gc, 0.026)


def _light_gain(size: int, angle_deg: float, strength: float) -> np.ndarray:
    """[size, size, 1] brightness gain, brighter on the side the light comes from."""
    g = (np.arange(size) + 0.5) / size * 2 - 1
    r = math.radians(angle_deg)
    return (1 + strength * (math.cos(r) * g[None, :] + math.sin(r) * g[:, None]))[..., None]


def render_faces(n: int, size: int = 64, seed: int = 0, start: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """Draw faces start .. start+n-1. Returns uint8 [n, size, size, 3] RGB and their factors."""
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    factors = face_factors(n, seed=seed, start=start)
    f = {k: factors[k].to_numpy() for k in _GENERATING}
    ss = max(2, math.ceil(256 / size))      # draw at ~256 px, then box-reduce: anti-aliasing
    big = size * ss
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        bg = colorsys.hsv_to_rgb(f["bg_hue"][i], f["bg_saturation"][i], f["bg_value"][i])
        im = Image.new("RGB", (big, big), _rgb(np.array(bg) * 255))
        cv = _Canvas(im, f["shift_x"][i] * 2, 0.06 + f["shift_y"][i] * 2, f["roll"][i])
        _draw_face(cv, f, i)
        arr = np.asarray(im.reduce(ss), dtype=np.float32)
        arr *= _light_gain(size, f["light_angle"][i], f["light_strength"][i])
        np.clip(arr, 0, 255, out=arr)
        out[i] = (arr + 0.5).astype(np.uint8)
    return out, factors
