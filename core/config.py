"""Typed, frozen configuration for data, model and training.

Every config round-trips through JSON (``to_dict`` / ``from_dict``) so that a run folder
describes itself and can be rebuilt without unpickling anything.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Type, TypeVar

from core.errors import BadInputError

T = TypeVar("T")

DATASETS = ("synthetic", "celeba", "folder")
RESIZE_FILTERS = ("lanczos", "bilinear", "bicubic", "nearest")   # Pillow's filters (core.data.image_files)
# Upper bounds: past these a run takes hours and gigabytes before anything useful happens
# (4096 px images are 4,096x the memory of 64 px ones); the CLI states them in --help.
MAX_IMAGE_SIZE = 512
MAX_Z_DIM = 8192
MAX_SYNTHETIC_N = 2_000_000
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 8192
MAX_LR = 10.0


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    """``lo <= value <= hi`` for an integer option, else a BadInputError naming the option."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInputError(f"{name} must be a whole number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi:,}" if hi is not None else f">= {lo}"
        raise BadInputError(f"{name} must be {bound}, got {value:,}")


def _from_dict(cls: Type[T], d: dict[str, Any]) -> T:
    """Build a dataclass from a dict, ignoring unknown keys (forward compatible) and
    turning JSON lists back into tuples where the field is a tuple."""
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for k, v in d.items():
        if k not in known:
            continue
        if isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "synthetic"          # one of DATASETS
    data_dir: str | None = None         # celeba / folder root
    image_size: int = 64
    limit: int | None = None            # keep only the first N images (sorted order)
    synthetic_n: int = 10000            # procedural faces: a demo run in ~4 min on 2 cores
    seed: int = 0                       # synthetic faces and split seed
    val_fraction: float = 0.1           # held out when the source has no partition of its own
    resize: str = "lanczos"             # Pillow filter: match the one the model was trained with

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise BadInputError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.dataset != "synthetic" and not self.data_dir:
            raise BadInputError(f"dataset {self.dataset!r} needs a data_dir (--data-dir)")
        check_int("image_size (--image-size)", self.image_size, 16, MAX_IMAGE_SIZE)
        if self.image_size % 16:
            raise BadInputError(f"image_size (--image-size) must be a multiple of 16, got {self.image_size}")
        if self.limit is not None:
            check_int("limit (--limit)", self.limit, 1)
        check_int("synthetic_n (--synthetic-n)", self.synthetic_n, 1, MAX_SYNTHETIC_N)
        if not 0.0 <= self.val_fraction < 1.0:
            raise BadInputError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.resize not in RESIZE_FILTERS:
            raise BadInputError(f"resize (--resize) must be one of {', '.join(RESIZE_FILTERS)}, got {self.resize!r}")

    def to_dict(self) -> dict[str, Any]:
        # resize came later: left out at its default so the configurations (and so the default run
        # ids and import ids hashed from them) of runs made before it stay the same
        d = dataclasses.asdict(self)
        if d["resize"] == "lanczos":
            del d["resize"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataConfig":
        return _from_dict(cls, d)


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 64
    channels: int = 3
    z_dim: int = 256
    widths: tuple[int, ...] = (32, 64, 128, 256)   # one strided conv layer per width
    batch_norm: bool = True

    def __post_init__(self):
        check_int("z_dim (--z-dim)", self.z_dim, 1, MAX_Z_DIM)
        # widths () marks a model that is not our ConvAutoencoder: an imported run, described by
        # the "external" entry of its config.json (core.model.external)
        if not (len(self.widths) == 0 or 1 <= len(self.widths) <= 8):
            raise BadInputError(f"widths (--widths) needs 1 to 8 layers, got {len(self.widths)}")
        for w in self.widths:
            check_int("each of widths (--widths)", w, 1, 4096)
        if self.image_size % (2 ** len(self.widths)):
            raise BadInputError(f"image_size {self.image_size} must be divisible by 2**len(widths) "
                                f"= {2 ** len(self.widths)}")

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return _from_dict(cls, d)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: str = "mse"                   # "mse" or "bce"
    seed: int = 0
    num_workers: int = 0                # data already decoded in a memmap; workers rarely help
    device: str = "auto"                # auto -> cuda, mps, cpu

    def __post_init__(self):
        if self.loss not in ("mse", "bce"):
            raise BadInputError(f"loss must be 'mse' or 'bce', got {self.loss!r}")
        # 0 epochs would leave a "done" run with an untrained model
        check_int("epochs (--epochs)", self.epochs, 1, MAX_EPOCHS)
        check_int("batch_size (--batch-size)", self.batch_size, 1, MAX_BATCH_SIZE)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise BadInputError(f"learning rate (--lr) must be a finite number in (0, {MAX_LR:g}], got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise BadInputError(f"weight_decay must be finite and >= 0, got {self.weight_decay}")

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return _from_dict(cls, d)


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data.to_dict(), "model": self.model.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        return cls(DataConfig.from_dict(d.get("data", {})),
                   ModelConfig.from_dict(d.get("model", {})),
                   TrainConfig.from_dict(d.get("train", {})))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "RunConfig":
        return cls.from_dict(json.loads(s))


def make_config(*, dataset: str = "synthetic", data_dir: str | None = None, image_size: int = 64,
                z_dim: int = 256, widths: tuple[int, ...] = (32, 64, 128, 256), batch_norm: bool = True,
                epochs: int = 10, batch_size: int = 64, lr: float = 1e-3, loss: str = "mse",
                limit: int | None = None, synthetic_n: int = 10000, seed: int = 0,
                device: str = "auto") -> RunConfig:
    """The RunConfig of ``python -m core train`` with these options (one seed for data and
    training), shared by the command line and the dashboard's New-run form so the same
    options give the same configuration and so the same default run id."""
    return RunConfig(DataConfig(dataset, data_dir, image_size, limit, synthetic_n, seed),
                     ModelConfig(image_size, 3, z_dim, tuple(widths), batch_norm),
                     TrainConfig(epochs, batch_size, lr, 0.0, loss, seed, 0, device))


def load_config(path: str | Path) -> RunConfig:
    """A RunConfig from a JSON file: a bare RunConfig (``RunConfig.to_json``) or a run's own
    ``config.json`` (whose ``config`` key holds it), so a run can be resumed from its folder."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadInputError(f"--config {path}: cannot read a JSON configuration ({e})") from None
    if isinstance(d, dict) and isinstance(d.get("config"), dict):
        d = d["config"]
    if not isinstance(d, dict) or not {"data", "model", "train"} & set(d):
        raise BadInputError(f"--config {path}: not a run configuration (expected data/model/train objects)")
    try:
        return RunConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise BadInputError(f"--config {path}: {e}") from None
