"""Conventions nobody declared, found by trying them: the value range (0,1 / -1,1 / 0,255) and,
where the model does not say it, channels first or last. A trained autoencoder reconstructs its
images well only in the convention it was trained in, so each candidate encodes and decodes the
probe batch and the one with the lowest reconstruction error wins; what was tried, and by how
much the winner won, is printed and recorded in the run's config.json.

Without a decoder nothing can be judged by reconstruction: the first layout the encoder runs on
is kept and the range is assumed to be 0,1, saying so.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from core.errors import AtlasError, BadInputError
from core.model.conventions import LAYOUTS, RANGES
from core.model.external import ExternalCodec

# within this relative margin two candidates reconstruct "equally well": the earlier one (the
# common convention: channels first, [0, 1]) is kept and the note says the choice was a toss-up
TIE = 0.05


@dataclass
class Attempt:
    """One candidate convention tried on the probe batch."""
    stage: int                          # how far it got: 0 the encoder, 1 the decoder, 2 accepted
    mse: float | None = None            # reconstruction error, wherever the decoder gave images
    error: Exception | None = None      # why the probe refuses it (its own message)

    def record(self) -> dict:
        return {"mse": None if self.mse is None else round(self.mse, 6),
                **({"refused": _short(self.error)} if self.error else {})}


def _with(codec: ExternalCodec, layout: str, value_range: str) -> ExternalCodec:
    spec = dataclasses.replace(codec.spec, layout=layout, value_range=value_range)
    return ExternalCodec(codec.cfg, spec, codec.encoder, codec.decoder, codec.z_dim)


def _mse(codec: ExternalCodec, z: np.ndarray, images: np.ndarray) -> float | None:
    """Reconstruction error in [0, 1] pixels, even where the output leaves the range (clipped)."""
    try:
        y = np.asarray(codec.decode_raw(z))
    except Exception:  # noqa: BLE001 -- the refusal itself comes from the probe's check
        return None
    if list(y.shape) != codec.spec.input_shape(len(z)) or not np.isfinite(y).all():
        return None
    return float(np.mean((codec.spec.from_model(y) - images.astype(np.float32) / 255.0) ** 2))


def _attempt(codec: ExternalCodec, images: np.ndarray, z_given: np.ndarray | None) -> Attempt:
    """The probe's own checks under ``codec.spec``, so a candidate that fails fails with the
    message the probe would give."""
    from core.model.probe import probe_decoder, probe_encoder

    stage, z = 0, None
    try:
        if codec.has_encoder:
            z, info = probe_encoder(codec, images)
            codec.z_dim = info["z_dim"]
        else:
            z = np.asarray(z_given[:len(images)], np.float32)
        stage = 1
        if not codec.has_decoder:
            return Attempt(2)
        probe_decoder(codec, z)
    except Exception as e:  # noqa: BLE001 -- an external model may raise anything; the candidate just loses
        err = e if isinstance(e, AtlasError) else BadInputError(f"{type(e).__name__}: {e}")
        return Attempt(stage, _mse(codec, z, images) if stage else None, err)
    return Attempt(2, _mse(codec, z, images))


def attempts(codec: ExternalCodec, images: np.ndarray, z_given: np.ndarray | None, layouts: list[str],
             ranges: list[str]) -> dict[tuple[str, str], Attempt]:
    """Every (layout, value range) candidate's attempt, in order of preference."""
    return {(lo, r): _attempt(_with(codec, lo, r), images, z_given) for lo in layouts for r in ranges}


def _tie(a: float, b: float) -> bool:
    return abs(a - b) <= TIE * min(a, b) + 1e-7


def detect(codec: ExternalCodec, images: np.ndarray, z_given: np.ndarray | None,
           open_: tuple[str, ...]) -> tuple[ExternalCodec, dict | None]:
    """The codec in the best candidate convention and what was found (None: nothing was open)."""
    if not open_:
        return codec, None
    layouts = list(LAYOUTS) if "layout" in open_ else [codec.spec.layout]
    judged = codec.has_decoder
    ranges = list(RANGES) if "value_range" in open_ and judged else [codec.spec.value_range]
    tried = attempts(codec, images, z_given, layouts, ranges)
    ok = {k: a.mse or 0.0 for k, a in tried.items() if a.error is None}
    record = {f"{lo} {r}": a.record() for (lo, r), a in tried.items()}
    if not ok:      # the candidate that got furthest: the probe then refuses it with its own message
        best = max(tried, key=lambda k: tried[k].stage)
        what = {"layout": f"--layout: tried {', '.join(layouts)}", "value_range": f"--value-range: tried "
                f"{', '.join(ranges)}"}
        return _with(codec, *best), {"layout": best[0], "value_range": best[1], "notes": [], "tried": record,
                                     "none_fits": "not declared, " + "; ".join(what[k] for k in open_)}
    best = None
    for k, v in ok.items():          # in order of preference: a later one must win clearly
        if best is None or (v < ok[best] and not _tie(v, ok[best])):
            best = k
    notes = []
    if "layout" in open_:
        notes.append(_note("layout", best[0], {lo: tried[(lo, best[1])] for lo in layouts}, judged))
    if "value_range" in open_:
        if judged:
            notes.append(_note("value range", best[1], {r: tried[(best[0], r)] for r in ranges}, judged))
        else:
            notes.append("value range not declared and no decoder to judge it by: assuming 0,1 "
                         "(declare --value-range if the model was trained on another)")
    found = {"layout": best[0], "value_range": best[1], "notes": notes, "tried": record}
    return _with(codec, *best), found


def _short(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]


def _note(what: str, chosen: str, by: dict[str, Attempt], judged: bool) -> str:
    """'value range not declared: -1,1 reconstructs best (MSE 0.004 vs 0.09 for 0,1)'."""
    head = f"{what} not declared: {chosen}"
    broken = [k for k, a in by.items() if a.mse is None and a.error is not None]
    tail = f"; {', '.join(broken)} {'does' if len(broken) == 1 else 'do'} not fit the model" if broken else ""
    if not judged:
        return f"{head} (the encoder runs on it){tail}"
    mine = by[chosen].mse
    rivals = sorted((k for k, a in by.items() if k != chosen and a.mse is not None), key=lambda k: by[k].mse)
    if not rivals:
        return f"{head} (MSE {mine:.3g}){tail}"
    r = rivals[0]
    if by[r].error is None and _tie(mine, by[r].mse):
        return (f"{head} and {r} reconstruct equally well (MSE {mine:.3g} vs {by[r].mse:.3g}): taking "
                f"{chosen}; declare it if the model was trained on {r}{tail}")
    left = ", whose range the decoder's output leaves" if by[r].error is not None else ""
    return f"{head} reconstructs best (MSE {mine:.3g} vs {by[r].mse:.3g} for {r}{left}){tail}"
