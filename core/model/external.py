"""Autoencoders trained elsewhere: ONNX files, TorchScript files, a PyTorch class plus weights,
or precomputed z-points (with or without a decoder), behind the same ``Codec`` as our own.

``ExternalConfig`` is what the user declares (files, methods, conventions); it is stored in the
imported run's config.json with its files copied into ``<run>/model/``, so the run reopens the
same model later. ONNX and safetensors are data; TorchScript and Python classes are code.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import BadInputError
from core.model.codec import Codec
from core.model.conventions import ImageSpec, parse_range

from typing import Any

MEAN_NAMES = ("mean", "mu", "z_mean", "mean_z", "z_mu", "loc", "latent_mean")
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".torchscript", ".zip")


@dataclass(frozen=True)
class ExternalConfig:
    encoder: str | None = None          # ONNX or TorchScript file
    decoder: str | None = None          # ONNX or TorchScript file (may be the encoder's file)
    model: str | None = None            # "package.module:ClassName": a PyTorch class ...
    weights: str | None = None          # ... and its weights (safetensors or a weights-only state_dict)
    model_args: dict = field(default_factory=dict)   # constructor arguments of the class
    code_dir: str | None = None         # folder to import the class's package from
    encode_method: str | None = None    # method or sub-module that encodes (class: "encode")
    decode_method: str | None = None    # ... that decodes (class: "decode")
    encoder_output: str | None = None   # which output is the latent: an index or a name (VAE: the mean)
    z_points: str | None = None         # precomputed z-points .npy [N, d] instead of an encoder
    z_ids: str | None = None            # text file: the image id of each z-point row, in order
    image_size: int | None = None       # None: read off an ONNX input, else 64
    channels: int | None = None         # 3 (RGB) or 1 (grey); None: ONNX input, else 3
    layout: str | None = None           # "nchw" / "nhwc"; None: ONNX input, else found by the probe
    value_range: str | None = None      # "0,1", "-1,1" or "0,255"; None: found by the probe
    device: str = "cpu"
    trust_code: bool = False            # --trust-code / the form's "I trust this code": code may run

    def __post_init__(self):
        if self.value_range not in (None, ""):
            object.__setattr__(self, "value_range", parse_range(self.value_range))
        else:
            object.__setattr__(self, "value_range", None)
        if self.layout is not None and self.layout not in ("nchw", "nhwc"):
            raise BadInputError(f"--layout must be nchw (channels first) or nhwc (channels last), got {self.layout!r}")

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d: dict) -> "ExternalConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def route(self) -> str:
        """onnx, torchscript, class or z_points: how the z-points come about."""
        if self.z_points:
            return "z_points"
        if self.model:
            return "class"
        return part_kind(self.encoder) if self.encoder else "none"

    def is_code(self) -> bool:
        """True when importing runs someone's program (TorchScript, a Python class)."""
        files = [f for f in (self.encoder, self.decoder) if f]
        return bool(self.model) or any(part_kind(f) == "torchscript" for f in files)

    def check(self) -> None:
        """Refuse impossible combinations, code not trusted, a device that is not here and missing
        files before anything is loaded."""
        if not (self.encoder or self.model or self.z_points):
            raise BadInputError("give an encoder (--encoder FILE or --model package.module:Class) or "
                                "precomputed z-points (--z-points z.npy)")
        self.require_trust()
        from core.model.autoencoder import pick_device

        pick_device(self.device)
        if self.model and (self.encoder or self.decoder):
            raise BadInputError("--model (a PyTorch class) replaces --encoder/--decoder files: give one or the other")
        if self.model and not self.weights:
            raise BadInputError(f"--model {self.model} needs its weights: --weights FILE.safetensors (or a state_dict)")
        for opt, f in (("--encoder", self.encoder), ("--decoder", self.decoder), ("--weights", self.weights),
                       ("--z-points", self.z_points), ("--z-ids", self.z_ids)):
            if f and not Path(f).is_file():
                raise BadInputError(f"{opt} {f} does not exist")
        if self.z_points and self.encoder:
            raise BadInputError("--z-points replaces the encoder: give --z-points or --encoder, not both")

    def require_trust(self) -> None:
        """TorchScript files and Python classes are programs: none runs (not even a class's module
        import) unless the user said so (DESIGN.md, "Safety")."""
        if self.trust_code:
            return
        what = ([f"--model {self.model} (a Python class: importing its module runs it)"] if self.model else []) + \
            [f"{opt} {f} (a TorchScript file: a compiled program)" for opt, f in
             (("--encoder", self.encoder), ("--decoder", self.decoder)) if f and part_kind(f) == "torchscript"]
        if what:
            raise BadInputError(f"{'; '.join(what)} is code that would run with your permissions: pass "
                                "--trust-code (in the dashboard: tick “I trust this code”) to import it. "
                                "ONNX files, safetensors weights and .npy z-points are data and need no trust")

    def with_paths(self, base: Path) -> "ExternalConfig":
        """Relative file names resolved against ``base`` (a run folder's stored copies)."""
        fix = {k: str(base / v) for k in ("encoder", "decoder", "weights", "z_points", "z_ids")
               if (v := getattr(self, k)) and not Path(v).is_absolute()}
        return dataclasses.replace(self, **fix)


def part_kind(path: str | None) -> str:
    p = Path(path or "")
    if p.suffix.lower() == ".onnx":
        return "onnx"
    if p.suffix.lower() in TORCHSCRIPT_SUFFIXES:
        return "torchscript"
    raise BadInputError(f"{path}: not an .onnx or TorchScript (.pt, .pth, .ts) file name")


def select_output(out: Any, choice: str | None, what: str = "the encoder") -> tuple[np.ndarray, str]:
    """The latent among an encoder's outputs: a tensor as is; a tuple's element ``choice`` (0);
    a dict's key ``choice`` (ONNX output names; a namedtuple's or dataclass's fields, which
    core.model.torch_part hands over as a dict), else its mean-like key (VAE: mean, never a random
    draw), else the first."""
    if isinstance(out, np.ndarray):
        return out, "the output"
    if isinstance(out, (tuple, list)):
        if choice not in (None, "") and not str(choice).lstrip("-").isdigit():
            raise BadInputError(
                f"{what} returns a tuple of {len(out)} outputs, which have no names: --encoder-output {choice!r} "
                f"must be an index, 0 to {len(out) - 1} (a VAE's (mean, log-variance): 0), or the model must "
                "return a dict, namedtuple or dataclass whose field names the outputs")
        k = int(choice) if choice not in (None, "") else 0
        if not -len(out) <= k < len(out):
            raise BadInputError(f"{what} returns {len(out)} outputs; --encoder-output {choice} is not one of them")
        return np.asarray(out[k]), f"output {k} of {len(out)}"
    if isinstance(out, dict):
        keys = list(out)
        if choice not in (None, ""):
            if choice in out:
                return np.asarray(out[choice]), f"output {choice!r}"
            if str(choice).lstrip("-").isdigit() and -len(keys) <= int(choice) < len(keys):
                return np.asarray(out[keys[int(choice)]]), f"output {keys[int(choice)]!r}"
            raise BadInputError(f"{what} has outputs {keys}; --encoder-output {choice!r} is none of them")
        lower = {str(k).lower(): k for k in keys}
        key = next((lower[m] for m in MEAN_NAMES if m in lower), keys[0])
        return np.asarray(out[key]), f"output {key!r}" + (f" of {keys}" if len(keys) > 1 else "")
    raise BadInputError(f"{what} returned {type(out).__name__}, not a tensor, tuple or dict of tensors")


class ExternalCodec(Codec):
    def __init__(self, cfg: ExternalConfig, spec: ImageSpec, encoder, decoder, z_dim: int | None = None):
        self.cfg, self.spec, self.encoder, self.decoder = cfg, spec, encoder, decoder
        self.kind, self.image_size = cfg.route, spec.image_size
        self.z_dim = z_dim
        self.has_encoder, self.has_decoder = encoder is not None, decoder is not None
        self.why_no_decoder = ("this run was imported without a decoder: pages and commands that decode "
                               "latent vectors need one (import again with --decoder)")

    def encode_raw(self, images_u8: np.ndarray) -> Any:
        """What the encoder returns for a batch, before picking the latent."""
        return self.encoder.run(self.spec.to_model(images_u8))

    def _encode_batch(self, images_u8: np.ndarray) -> np.ndarray:
        z, _ = select_output(self.encode_raw(images_u8), self.cfg.encoder_output)
        return z.astype(np.float32, copy=False)

    def decode_raw(self, z: np.ndarray) -> np.ndarray:
        y, _ = select_output(self.decoder.run(np.ascontiguousarray(z, np.float32)), None, "the decoder")
        return y

    def _decode_batch(self, z: np.ndarray) -> np.ndarray:
        return self.spec.from_model(self.decode_raw(z))


def _open_part(path: str, method: str | None, default: str, device: str, threads: int | None):
    if part_kind(path) == "onnx":
        from core.model.onnx_part import OnnxPart

        return OnnxPart(path, device, threads)
    from core.model.torch_part import TorchPart, load_torchscript, method_of

    module = load_torchscript(path, device)
    return TorchPart(method_of(module, method or default, "method"), device)


def open_parts(cfg: ExternalConfig, threads: int | None = None) -> tuple[object | None, object | None]:
    """(encoder, decoder) objects with ``.run(numpy) -> outputs``; either may be None."""
    cfg.require_trust()            # the last gate before a module import or torch.jit.load
    from core.model.autoencoder import pick_device

    cfg = dataclasses.replace(cfg, device=str(pick_device(cfg.device)))     # "auto" -> what is here
    if cfg.model:
        from core.model.torch_part import TorchPart, build_class, method_of

        m = build_class(cfg.model, cfg.weights, cfg.model_args, cfg.code_dir, cfg.device)
        enc = None if cfg.z_points else TorchPart(method_of(m, cfg.encode_method or "encode", "encode method"),
                                                  cfg.device)
        return enc, TorchPart(method_of(m, cfg.decode_method or "decode", "decode method"), cfg.device)
    same = cfg.encoder and cfg.decoder and Path(cfg.encoder).resolve() == Path(cfg.decoder).resolve()
    enc = _open_part(cfg.encoder, cfg.encode_method, "encode" if same else "forward", cfg.device, threads) \
        if cfg.encoder else None
    dec = _open_part(cfg.decoder, cfg.decode_method, "decode" if same else "forward", cfg.device, threads) \
        if cfg.decoder else None
    return enc, dec


def resolve_spec(cfg: ExternalConfig, encoder: Any, decoder: Any = None,
                 z_dim: int | None = None) -> tuple[ImageSpec, tuple[str, ...]]:
    """The declared conventions, completed and checked by what the model says about its images:
    an ONNX encoder's input shape, else an ONNX decoder's output shape, else (z-points) the shape
    a decoder returns for one latent vector. Also which conventions are still open ("layout",
    "value_range"): declared by nobody, so the probe tries them (core.model.detect)."""
    from core.model.onnx_part import image_layout

    seen, where = None, ""
    if hasattr(encoder, "image_layout"):
        seen, where = encoder.image_layout(), f"{cfg.encoder} takes input of shape {encoder.shape}"
    elif encoder is None and hasattr(decoder, "output_layout"):
        seen, where = decoder.output_layout(), f"{cfg.decoder} returns images"
    elif encoder is None and decoder is not None and z_dim:
        y, _ = select_output(decoder.run(np.zeros((1, z_dim), np.float32)), None, "the decoder")
        seen, where = image_layout(list(np.shape(y))), f"the decoder returns images of shape {list(np.shape(y))}"
    # without a decoder, z-points meet no model: nothing to find out
    used = encoder is not None or decoder is not None
    open_ = tuple(k for k, v in (("layout", cfg.layout if not seen else seen[0]), ("value_range", cfg.value_range))
                  if v is None and used)
    vrange = cfg.value_range or "0,1"          # provisional while open
    if seen:
        layout, size, ch = seen
        for name, declared, actual in (("--layout", cfg.layout, layout), ("--image-size", cfg.image_size, size),
                                       ("--channels", cfg.channels, ch)):
            if declared is not None and declared != actual:
                raise BadInputError(f"{where} ({name} {actual}), but {name} {declared} was declared")
        return ImageSpec(size, ch, layout, vrange), open_
    return ImageSpec(cfg.image_size or 64, cfg.channels or 3, cfg.layout or "nchw", vrange), open_


def load_external(stored: dict, run_path: Path, device: str = "cpu", threads: int | None = None) -> ExternalCodec:
    """Reopen an imported run's model from its config.json ``external`` entry."""
    # the run exists because its import was trusted; its model files are copies inside the run
    cfg = ExternalConfig.from_dict({**stored["config"], "device": device, "trust_code": True}).with_paths(run_path)
    enc, dec = open_parts(cfg, threads)
    return ExternalCodec(cfg, ImageSpec.from_dict(stored["spec"]), enc, dec, int(stored["z_dim"]))
