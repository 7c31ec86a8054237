"""Try an external model on one batch before encoding a whole dataset with it.

Refuses, with what was expected and what came back, an encoder that fails on the declared input,
returns something other than [N, d], returns NaN, or samples (a VAE must give its mean); a
decoder whose images do not have the declared size, layout or range; and a declared value range
under which the model reconstructs clearly worse than under another one. What the probe saw is
recorded in the run's config.json.
"""
from __future__ import annotations

import numpy as np

from core.errors import BadInputError, NonFiniteError
from core.model.conventions import RANGES
from core.model.external import ExternalCodec, select_output

PROBE_N = 8
# a declared range loses to another when that one reconstructs this much better (and the declared
# one is not already good): a trained autoencoder reconstructs well only in its own convention
RANGE_RATIO, RANGE_GOOD_MSE, RANGE_WIN_MSE = 0.5, 0.01, 0.03


def _short(e: Exception) -> str:
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[-1][:300] if lines else ''}"


def probe_encoder(codec: ExternalCodec, images: np.ndarray) -> tuple[np.ndarray, dict]:
    spec, b = codec.spec, len(images)
    try:
        raw = codec.encode_raw(images)
    except BadInputError:
        raise
    except Exception as e:
        raise BadInputError(f"the encoder failed on one batch of input {spec.input_shape(b)} "
                            f"({spec.describe()}): {_short(e)}. Declare what the model takes with --image-size, "
                            "--layout nchw|nhwc, --channels 3|1 and --value-range") from e
    z, label = select_output(raw, codec.cfg.encoder_output)
    if z.ndim != 2 or z.shape[0] != b:
        hint = (" (a spatial latent: flatten it inside an export wrapper; the atlas analyses flat vectors)"
                if z.ndim > 2 and z.shape[0] == b else "")
        raise BadInputError(f"the encoder's {label} has shape {list(z.shape)} for a batch of {b}; "
                            f"expected [{b}, d]{hint}; pick another output with --encoder-output")
    if not np.isfinite(z).all():
        raise NonFiniteError(f"the encoder's {label} contains NaN or inf for {b} ordinary images")
    again, _ = select_output(codec.encode_raw(images), codec.cfg.encoder_output)
    spread = float(np.max(np.abs(z))) + 1.0
    if float(np.max(np.abs(again - z))) > 1e-5 * spread:
        raise BadInputError(f"the encoder's {label} differs between two encodings of the same batch (by up to "
                            f"{float(np.max(np.abs(again - z))):.3g}): it draws random samples. For a VAE, "
                            "select the mean with --encoder-output (index or name of the mean output)")
    n_out = len(raw) if isinstance(raw, (tuple, list, dict)) else 1
    return z.astype(np.float32), {"encoder_output": label, "encoder_outputs": n_out, "z_dim": int(z.shape[1])}


def probe_decoder(codec: ExternalCodec, z: np.ndarray) -> tuple[np.ndarray, dict]:
    spec = codec.spec
    try:
        y = codec.decode_raw(z)
    except Exception as e:
        raise BadInputError(f"the decoder failed on latent vectors of shape {list(z.shape)}: {_short(e)}") from e
    spec.check_decoded(np.asarray(y))        # shape, layout, finiteness, range
    return spec.from_model(y), {"decoded_shape": list(np.shape(y)),
                                "decoded_range": [float(np.min(y)), float(np.max(y))]}


def _range_mses(codec: ExternalCodec, images: np.ndarray) -> dict[str, float]:
    """Reconstruction error of the probe batch under each value range the decoder's output fits
    (the model's own range wins clearly once it is trained: nothing else maps its outputs back
    onto the images)."""
    from core.model.detect import attempts

    tried = attempts(codec, images, None, [codec.spec.layout], list(RANGES))
    return {r: round(a.mse, 6) for (_, r), a in tried.items() if a.mse is not None}


def _refuse_worse_range(declared: str, mses: dict[str, float]) -> None:
    if declared not in mses or not mses:
        return
    best = min(mses, key=mses.get)
    if mses[declared] > RANGE_GOOD_MSE and mses[best] < min(RANGE_RATIO * mses[declared], RANGE_WIN_MSE):
        raise BadInputError(f"with the declared value range [{declared}] the model reconstructs the probe images "
                            f"with MSE {mses[declared]:.4f}, with [{best}] {mses[best]:.4f}: it was probably "
                            f"trained on [{best}]; pass --value-range {best}")


def probe(codec: ExternalCodec, images: np.ndarray, z_given: np.ndarray | None = None,
          open_: tuple[str, ...] = ()) -> dict:
    """Run encoder and decoder on one batch; returns what was seen, sets ``codec.z_dim``, and
    ``codec.spec`` to the best of the conventions left ``open_`` (core.model.detect)."""
    from core.model.detect import detect

    images = np.asarray(images[:PROBE_N])
    chosen, found = detect(codec, images, z_given, open_)
    codec.spec = chosen.spec
    try:
        seen = _checks(codec, images, z_given, "value_range" not in open_)
    except (BadInputError, NonFiniteError) as e:
        if found and found.get("none_fits"):     # no undeclared convention works: say which were tried
            raise type(e)(f"{e} ({found['none_fits']})") from e
        raise
    return {**seen, "detected": found} if found else seen


def _checks(codec: ExternalCodec, images: np.ndarray, z_given: np.ndarray | None, range_declared: bool) -> dict:
    seen: dict = {"batch": len(images), "input_shape": codec.spec.input_shape(len(images))}
    if codec.has_encoder:
        z, info = probe_encoder(codec, images)
    else:
        z = np.asarray(z_given[:len(images)], np.float32)
        info = {"z_dim": int(z.shape[1])}
    seen.update(info)
    codec.z_dim = seen["z_dim"]
    if codec.has_decoder:
        # a declared range is checked against the others; an open one was chosen among them
        mses = _range_mses(codec, images) if codec.has_encoder and range_declared else {}
        try:
            rec, info = probe_decoder(codec, z)
        except BadInputError as e:
            best = min(mses, key=mses.get) if mses else None
            if best and best != codec.spec.value_range and "range" in str(e):
                raise BadInputError(f"{e}. Reconstruction MSE of the probe images by value range: {mses}") from e
            raise
        seen.update(info)
        seen["recon_mse"] = round(float(np.mean((rec - images.astype(np.float32) / 255.0) ** 2)), 6)
        if mses:
            seen["recon_mse_by_range"] = mses
            _refuse_worse_range(codec.spec.value_range, mses)
    return seen
