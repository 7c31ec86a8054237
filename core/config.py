"""Typed, frozen configuration for data, model and training.

Every config round-trips through JSON (``to_dict`` / ``from_dict``) so that a run folder
describes itself and can be rebuilt without unpickling anything.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Type, TypeVar

from core.errors import BadInputError

T = TypeVar("T")

DATASETS = ("synthetic", "celeba", "folder")


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
    val_fraction: float = 0.1           # used when the source has no partition file

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.dataset != "synthetic" and not self.data_dir:
            raise ValueError(f"dataset {self.dataset!r} needs a data_dir")
        if self.image_size < 16 or self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16 and >= 16, got {self.image_size}")

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d):
        return _from_dict(cls, d)


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 64
    channels: int = 3
    z_dim: int = 256
    widths: tuple[int, ...] = (32, 64, 128, 256)   # one strided conv layer per width
    batch_norm: bool = True

    def __post_init__(self):
        if self.image_size % (2 ** len(self.widths)):
            raise ValueError("image_size must be divisible by 2**len(widths)")
        if self.z_dim < 1:
            raise ValueError("z_dim must be positive")

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d):
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
            raise ValueError(f"loss must be 'mse' or 'bce', got {self.loss!r}")
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch_size >= 1")

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d):
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
