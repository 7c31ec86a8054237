"""One call from an external autoencoder to a complete run: open the model, prepare the images
at its size, probe it with one batch, encode every image, index, and publish the run.

Everything is written into ``<cache>/imports/<run_id>.partial/`` and renamed to
``<cache>/runs/<run_id>/`` only when complete, so a refused or killed import never leaves a
half run in the listing. Progress and the final state (with the refusal's message) live in
``<cache>/logs/<run_id>.import-status.json`` for the dashboard; a lock keeps one import per run
id (file names: core.store.paths.RunPaths). The request (ExternalConfig + DataConfig) crosses
process boundaries as JSON: ``python -m core import --request FILE``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.errors import BadInputError, NonFiniteError
from core.model.external import ExternalConfig, part_kind
from core.store import atomic
from core.store.integrity import file_digest
from core.store.locks import exclusive
from core.store.paths import RunPaths
from core.store.run_id import check_run_id
from core.store.runs import DONE, Run

def import_status(run_id: str, cache_dir: str | os.PathLike | None = None) -> dict:
    """What an import of ``run_id`` is doing or how it ended (``missing`` if never started)."""
    try:
        st = atomic.read_json(RunPaths.of(run_id, cache_dir).import_status)
    except (OSError, ValueError):
        return {"state": "missing"}
    return st if isinstance(st, dict) else {"state": "missing"}


def request_json(ext: ExternalConfig, data: DataConfig) -> str:
    return json.dumps({"external": ext.to_dict(), "data": data.to_dict()}, indent=2, sort_keys=True)


def load_request(path: str | Path) -> tuple[ExternalConfig, DataConfig]:
    """The (ExternalConfig, DataConfig) of a request file written by ``request_json``."""
    try:
        d = json.loads(Path(path).read_text())
        return ExternalConfig.from_dict(d["external"]), DataConfig.from_dict(d["data"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BadInputError(f"--request {path}: not an import request ({type(e).__name__}: {e})") from None


def default_import_id(ext: ExternalConfig, data: DataConfig) -> str:
    """Same model files and data -> same id (repeating the command returns the finished run)."""
    files = [ext.encoder, ext.decoder, ext.weights, ext.z_points, ext.model]
    stem = Path(next(f for f in files if f)).stem.replace(":", "-") if any(files) else "model"
    h = hashlib.sha1(json.dumps([_request(ext, data)["external"], data.to_dict()], sort_keys=True).encode()
                     ).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"import-{stem}-{data.dataset}-{h}")


def _copy_model(ext: ExternalConfig, stage: Path) -> tuple[ExternalConfig, dict]:
    """The model's files, copied into the run (``model/``), and where they came from."""
    (stage / "model").mkdir()
    sources, fix = {}, {}
    for key in ("encoder", "decoder", "weights"):
        src = getattr(ext, key)
        if not src:
            continue
        sources[key] = {"path": str(Path(src).resolve()), "sha256": file_digest(src)}
        if key == "weights":      # stored as safetensors, so reopening never calls torch.load
            from safetensors.torch import save_file

            from core.model.torch_part import read_state_dict

            state = {k: v.detach().cpu().contiguous().clone() for k, v in read_state_dict(src).items()}
            save_file(state, str(stage / "model" / "weights.safetensors"))
            fix[key] = "model/weights.safetensors"
        elif key == "decoder" and ext.encoder and Path(src).resolve() == Path(ext.encoder).resolve():
            fix[key] = fix["encoder"]
        else:
            name = f"{key}{'.onnx' if part_kind(src) == 'onnx' else '.pt'}"
            shutil.copyfile(src, stage / "model" / name)
            fix[key] = f"model/{name}"
    if ext.z_points:
        sources["z_points"] = {"path": str(Path(ext.z_points).resolve()), "sha256": file_digest(ext.z_points)}
    if ext.z_ids:           # which images the run holds: kept so the selection can be made again
        sources["z_ids"] = {"path": str(Path(ext.z_ids).resolve()), "sha256": file_digest(ext.z_ids)}
        shutil.copyfile(ext.z_ids, stage / "model" / "z_ids.txt")
    if ext.code_dir or ext.model:
        fix["code_dir"] = str(Path(ext.code_dir or ".").resolve())
    return dataclasses.replace(ext, **fix, z_ids="model/z_ids.txt" if ext.z_ids else None, device="cpu"), sources


def _aligned_z(ext: ExternalConfig, index) -> np.ndarray:
    """Precomputed z-points in the order of the prepared images: by --z-ids (which selected and
    ordered the images of a folder or CelebA, see ``_build``), else as given."""
    from core.data.subset import match_ids, read_ids

    try:
        z = np.load(ext.z_points, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BadInputError(f"--z-points {ext.z_points} is not a readable .npy array ({e})") from e
    if z.ndim != 2 or z.dtype.kind != "f" or z.shape[1] < 1:
        raise BadInputError(f"--z-points {ext.z_points} holds {z.dtype} {list(z.shape)}; expected float [N, d]")
    if not ext.z_ids:
        if len(z) != len(index):
            raise BadInputError(f"--z-points has {len(z):,} rows but the dataset has {len(index):,} images; give "
                                "--z-ids FILE (one image file name per z-point row) or --limit")
        return np.asarray(z, np.float32)
    ids = read_ids(ext.z_ids)
    if len(ids) != len(z):
        raise BadInputError(f"--z-ids lists {len(ids):,} ids for {len(z):,} z-point rows")
    have = index["image_id"].astype(str).tolist()
    row_of = {i: r for r, i in enumerate(match_ids(ids, have))}
    missing = [i for i in have if i not in row_of]
    if missing:            # synthetic faces only: a folder or CelebA was cut to the named images
        raise BadInputError(f"{len(missing):,} synthetic faces have no z-point in --z-ids (first: {missing[:5]}): "
                            "z-points of synthetic faces must cover --synthetic-n of them (or --limit N)")
    return np.asarray(z[[row_of[i] for i in have]], np.float32)


def _z_dim(path: str) -> int | None:
    try:
        z = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BadInputError(f"--z-points {path} is not a readable .npy array ({e})") from e
    return int(z.shape[1]) if z.ndim == 2 else None


def _heldout(index, data: DataConfig) -> np.ndarray:
    """The partition column with held-out rows, by the rule of trained runs (core.jobs.train_run):
    official valid/test rows where the source has them, else a seeded --heldout fraction; so
    ``quality`` and ``recon --partition valid`` work on every imported run."""
    from core.jobs.train_run import _split_rows, _used_partition

    if len(index) < 2 or not (index["partition"] == "train").any():
        return index["partition"].to_numpy()
    train, val = _split_rows(index, data.seed, data.val_fraction)
    return _used_partition(index, train, val)


def _model_config(spec, z_dim: int) -> ModelConfig:
    # widths=() marks "no architecture of ours"; the model itself is described under "external"
    return ModelConfig(image_size=spec.image_size, channels=spec.channels, z_dim=z_dim, widths=(), batch_norm=False)


def import_run(ext: ExternalConfig, data: DataConfig, cache_dir: str | os.PathLike | None = None, run_id: str | None = None, *,
               progress: bool = True) -> Run:
    """Import ``ext`` on ``data`` as run ``run_id``; returns the complete run. See module doc."""
    run_id = check_run_id(run_id or default_import_id(ext, data))
    paths = RunPaths.of(run_id, cache_dir)
    final, stage = paths.folder, paths.import_stage
    with exclusive(paths.import_lock, busy=f"run {run_id} is being imported by another process"):
        if paths.exists():     # checked before any status is written: that run stays as it is
            old = Run(final)
            if old.complete and (old.external or {}).get("request") == _request(ext, data):
                return old
            raise BadInputError(f"run {run_id!r} already exists in {final.parent}; pick another --run-id")
        status = _Status(paths.import_status, run_id)
        stage.parent.mkdir(parents=True, exist_ok=True)
        try:
            status.set(state="loading", message="checking the options", error=None)
            ext.check()
            shutil.rmtree(stage, ignore_errors=True)
            _build(ext, data, paths.cache, stage, status, progress)
            final.parent.mkdir(parents=True, exist_ok=True)
            stage.rename(final)
        except BaseException as e:
            shutil.rmtree(stage, ignore_errors=True)
            status.set(state="failed", message=f"{type(e).__name__}: {e}", event="failed")
            raise
        status.set(state=DONE, message="complete", event="done")
    return Run(final)


def _request(ext: ExternalConfig, data: DataConfig) -> dict:
    """What was asked for, as stored and compared; trust is a permission, not part of the model."""
    ext_d = {k: v for k, v in ext.to_dict().items() if k != "trust_code"}
    return json.loads(json.dumps({"external": ext_d, "data": data.to_dict()}))


def _build(ext: ExternalConfig, data_cfg: DataConfig, root: Path, stage: Path, status, progress: bool) -> None:
    from core.data.prepare import prepare
    from core.model.encode import encode_codec_to_npy
    from core.model.external import ExternalCodec, open_parts, resolve_spec
    from core.model.probe import probe

    request = _request(ext, data_cfg)      # as asked, before the image size is filled in
    status.set(state="loading", message="opening the model")
    enc, dec = open_parts(ext)
    z_dim = _z_dim(ext.z_points) if ext.z_points else None
    spec, open_ = resolve_spec(ext, enc, dec, z_dim)
    try:
        data_cfg = dataclasses.replace(data_cfg, image_size=spec.image_size)
    except ValueError as e:
        raise BadInputError(f"the model's image size {spec.image_size} px cannot be prepared: {e}") from e
    status.set(state="preparing", message=f"preparing {data_cfg.dataset} images at {spec.image_size} px")
    # z-points of some of a folder's (or CelebA's) images: exactly those, in the z-points' order
    ids = None
    if ext.z_points and ext.z_ids and data_cfg.dataset != "synthetic":
        from core.data.subset import read_ids

        ids = read_ids(ext.z_ids)
    data = prepare(data_cfg, root, progress=progress, ids=ids)
    if len(data.images) == 0:
        raise BadInputError(f"the dataset {data_cfg.dataset} {data_cfg.data_dir or ''} has no readable images")
    z = _aligned_z(ext, data.index) if ext.z_points else None
    if z is not None and not np.isfinite(z).all():
        raise NonFiniteError(f"--z-points {ext.z_points} contains NaN or inf")
    codec = ExternalCodec(ext, spec, enc, dec)
    status.set(state="probing", message="trying the model on one batch")
    seen = probe(codec, data.images, z, open_)
    spec = codec.spec                      # with the conventions the probe found
    for note in (seen.get("detected") or {}).get("notes", []):
        status.set(message=note)
    stage.mkdir(parents=True)
    stored, sources = _copy_model(ext, stage)
    status.set(state="encoding", message=f"encoding {len(data.images):,} images", encoded=0,
               total=len(data.images))
    bar = _bar(progress, len(data.images))
    errs = encode_codec_to_npy(codec, data.images, stage / "z.npy", z=z, progress=lambda i, n: (
        bar and bar.update(i - bar.n), status.tick(encoded=i, total=n)))
    if bar:
        bar.close()
    index = data.index.copy()
    index.insert(0, "row", np.arange(len(index)))
    index["partition"] = _heldout(index, data_cfg)
    if errs is not None:
        index["recon_mse"] = errs
    with atomic.atomic_path(stage / "index.parquet") as tmp:
        index.to_parquet(tmp, index=False)
    from core.jobs.train_run import _manifest_summary

    cfg = RunConfig(data_cfg, _model_config(spec, seen["z_dim"]), TrainConfig())
    external = {"route": ext.route, "is_code": ext.is_code(), "config": stored.to_dict(), "spec": spec.to_dict(),
                "z_dim": seen["z_dim"], "has_encoder": enc is not None, "has_decoder": dec is not None,
                "sources": sources, "probe": seen, "request": request}
    config = json.loads(cfg.to_json())
    config["train"] = {}               # trained elsewhere: nothing of ours to record
    atomic.write_json(stage / "config.json", {
        "config": config, "external": external, "fingerprint": data.fingerprint,
        "data_path": str(data.path), "manifest": _manifest_summary(data.manifest),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    atomic.write_json(stage / "status.json", {"state": DONE, "message": f"imported ({ext.route})",
                                              "updated": time.time(), "pid": os.getpid()})


class _Status:
    """``imports/<run_id>.json``: what the import is doing, throttled while encoding."""

    def __init__(self, path: Path, run_id: str):
        self.path, self.state, self.last = path, {"run_id": run_id}, 0.0

    def set(self, **kw: object) -> None:
        self.state.update(kw, updated=time.time(), pid=os.getpid())
        atomic.write_json(self.path, self.state)
        self.last = time.monotonic()

    def tick(self, **kw: object) -> None:
        if time.monotonic() - self.last >= 1.0 or kw.get("encoded") == kw.get("total"):
            self.set(**kw)


def _bar(progress: bool, n: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n, desc="encoding", file=sys.stderr, unit="img")
