"""Preprocessing cache: a source (CelebA, folder, synthetic) -> one memory-mappable uint8 array.

``prepare(cfg, cache_root)`` decodes every image once per (source content, parameters) into
``<cache_root>/data/<key>/``:

    images.npy      uint8 [N, S, S, 3] RGB, written through a memmap under a temporary name
    index.parquet   one row per kept image: image_id, path, partition, attribute columns
    manifest.json   counts, skipped files with reasons, crop, fingerprint; written last, so its
                    presence marks a complete cache

The key contains a fingerprint of the file list (names, sizes, mtimes) and the preprocessing
parameters, so a changed source or image size gets a new folder and a later call with the same
inputs loads the cache without decoding anything.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from core.store import atomic

from core.data import image_files as decode

from core.data import sources
from core.config import DataConfig
from core.store.locks import exclusive
from core.store.paths import DataPaths

PREP_VERSION = 1      # bump when decoding/cropping changes: old caches then miss
FIRST_COLUMNS = ["image_id", "path", "partition"]


@dataclass
class PreparedData:
    images: np.ndarray        # read-only np.memmap, uint8 [N, S, S, 3] RGB
    index: pd.DataFrame       # one row per image (same order): image_id, path, partition, attributes
    manifest: dict
    fingerprint: str
    path: Path                # the cache folder


# ------------------------------------------------------------------------------- keys
def _listing(cfg: DataConfig, ids: list[str] | None = None) -> sources.Listing | None:
    if cfg.dataset == "synthetic":
        return None
    lst = sources.list_celeba(cfg.data_dir) if cfg.dataset == "celeba" else sources.list_folder(cfg.data_dir)
    if ids is not None:       # the named images, in that order (before --limit: its first N of them)
        from core.data.subset import select

        lst = select(lst, ids)
    if cfg.limit is not None and cfg.limit < 1:
        raise ValueError(f"limit={cfg.limit} leaves no images of {lst.root}")
    return lst.limited(cfg.limit)


def _synthetic_n(cfg: DataConfig) -> int:
    return min(cfg.synthetic_n, cfg.limit) if cfg.limit is not None else cfg.synthetic_n


def _fingerprint(cfg: DataConfig, listing: sources.Listing | None) -> str:
    """Source content + everything that changes the pixels. Split parameters (val_fraction, and
    the seed for real images) are left out: the partition column is recomputed on load instead
    of re-decoding every image when only the split changes."""
    h = hashlib.sha256(f"prep-v{PREP_VERSION}\nsize={cfg.image_size}\n".encode())
    if listing is None:
        # the renderer's own source is part of the key: editing the faces invalidates the cache
        renderer = (Path(__file__).with_name("synthetic.py")).read_bytes()
        h.update(f"synthetic n={_synthetic_n(cfg)} seed={cfg.seed}\n".encode())
        h.update(hashlib.sha256(renderer).digest())
    else:
        h.update(f"{decode.CROP_TEXT[_crop_kind(cfg)]}\n{listing.signature()}".encode())
        if cfg.resize != "lanczos":         # only then: every cache key made before the option stays valid
            h.update(f"resize={cfg.resize}\n".encode())
    return h.hexdigest()


def _key(cfg: DataConfig, listing: sources.Listing | None, fingerprint: str) -> str:
    n = _synthetic_n(cfg) if listing is None else len(listing.files)
    return f"{cfg.dataset}-{cfg.image_size}px-n{n}-{fingerprint[:12]}"


def dataset_key(cfg: DataConfig) -> str:
    """Cache folder name for ``cfg`` as the source is now (walks the source, decodes nothing)."""
    listing = _listing(cfg)
    return _key(cfg, listing, _fingerprint(cfg, listing))


def _crop_kind(cfg: DataConfig) -> str:
    return "celeba" if cfg.dataset == "celeba" else "center"


# ------------------------------------------------------------------------------- prepare
def prepare(cfg: DataConfig, cache_root: Path, *, progress: bool = True,
            workers: int | None = None, ids: list[str] | None = None) -> PreparedData:
    """Decoded, cropped, resized images of ``cfg``'s source, from the cache when it is valid;
    ``ids``: only the images they name, in their order (a folder or CelebA; the listing's
    signature then covers the selection, so it is cached under a key of its own)."""
    listing = _listing(cfg, ids)
    fp = _fingerprint(cfg, listing)
    path = Path(cache_root) / "data" / _key(cfg, listing, fp)
    data = _load_cached(path, cfg, fp)
    if data is not None:
        return data
    path.mkdir(parents=True, exist_ok=True)
    with _build_lock(path):
        data = _load_cached(path, cfg, fp, quiet=True)  # another process may have built it meanwhile
        if data is not None:
            return data
        return _build(cfg, listing, fp, path, progress, workers or _cpu_count())


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours container/taskset limits
    except AttributeError:
        return os.cpu_count() or 1


def _build_lock(path: Path):
    """Two processes asking for the same dataset: one decodes, the other waits and loads."""
    return exclusive(DataPaths(path).lock, wait=True)


def _load_cached(path: Path, cfg: DataConfig, fp: str, quiet: bool = False) -> PreparedData | None:
    mpath = DataPaths(path).manifest
    if not mpath.exists():
        return None
    try:
        manifest = atomic.read_json(mpath)
        if manifest.get("fingerprint") != fp:
            raise ValueError("fingerprint differs from the manifest's")
        n, s = int(manifest["n_ok"]), cfg.image_size
        images = atomic.load_npy(DataPaths(path).images, mmap=True)  # raises on a truncated file
        if images.shape != (n, s, s, 3) or images.dtype != np.uint8:
            raise ValueError(f"images.npy is {images.dtype} {images.shape}, manifest says uint8 {(n, s, s, 3)}")
        index = pd.read_parquet(DataPaths(path).index)
        if len(index) != n or not set(FIRST_COLUMNS) <= set(index.columns):
            raise ValueError(f"index.parquet has {len(index)} rows / columns {list(index.columns)[:5]}")
    except Exception as e:  # noqa: BLE001 - any defect means "rebuild", never "load"
        if not quiet:
            warnings.warn(f"data cache {path} is broken ({type(e).__name__}: {e}); rebuilding it", stacklevel=3)
        return None
    _apply_split(index, manifest, cfg)
    return PreparedData(images, index, manifest, fp, path)


def _apply_split(index: pd.DataFrame, manifest: dict, cfg: DataConfig) -> None:
    """Seeded train/valid split for sources without their own partition (folder, synthetic)."""
    if cfg.dataset == "celeba":
        return
    want = {"seed": cfg.seed, "val_fraction": cfg.val_fraction}
    if manifest.get("split") != want:
        index["partition"] = sources.seeded_split(index["image_id"].tolist(), cfg.seed, cfg.val_fraction)
        manifest["split"] = want


# ------------------------------------------------------------------------------- build
def _build(cfg: DataConfig, listing, fp: str, path: Path, progress: bool, workers: int) -> PreparedData:
    t0 = time.perf_counter()
    DataPaths(path).manifest.unlink(missing_ok=True)  # from here on the folder is incomplete
    for stray in path.glob(".tmp-*"):  # leftovers of an interrupted build
        stray.unlink(missing_ok=True)
    s = cfg.image_size
    if listing is None:
        n_found = _synthetic_n(cfg)
        if n_found < 1:
            raise ValueError(f"synthetic source: needs at least one image (synthetic_n={cfg.synthetic_n}, limit={cfg.limit})")
        step = decode.chunk_size(n_found, workers)
        tasks = [(a, min(step, n_found - a), s, cfg.seed) for a in range(0, n_found, step)]
        func, desc = decode.render_chunk, "rendering synthetic faces"
    else:
        # label files are checked before minutes of decoding, never after
        parsed = sources.parse_celeba_labels(listing) if cfg.dataset == "celeba" else None
        n_found = len(listing.files)
        step = decode.chunk_size(n_found, workers)
        paths = [str(p) for _, p, _, _ in listing.files]
        tasks = [(paths[a:a + step], s, _crop_kind(cfg), cfg.resize) for a in range(0, n_found, step)]
        func, desc = decode.decode_chunk, f"preparing {cfg.dataset} images"

    # entries the listing could not use (symlink loops, dangling links, non-UTF-8 names)
    kept, skipped, factors = [], list(listing.problems) if listing is not None else [], []
    with atomic.atomic_path(DataPaths(path).images) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n_found, s, s, 3))
        bar = _progress_bar(progress, n_found, desc)
        pos = 0  # every result lands at the next free row, so kept images stay contiguous
        for t, (arr, extra) in enumerate(decode.map_chunks(func, tasks, workers)):
            a = t * step  # first image number of this chunk
            if listing is None:
                mm[pos:pos + len(arr)] = arr
                factors.append(extra)
                kept.extend(range(a, a + len(arr)))
                pos += len(arr)
            else:
                for j, reason in enumerate(extra):
                    if reason is None:
                        mm[pos] = arr[j]
                        pos += 1
                        kept.append(a + j)
                    else:
                        skipped.append({"file": listing.files[a + j][0], "reason": reason})
            if bar:
                bar.update(len(arr))
        if bar:
            bar.close()
        mm.flush()
        del mm
        if pos == 0:
            reasons = Counter(r["reason"].split(":")[0] for r in skipped)
            raise ValueError(f"{cfg.dataset} source {listing.root}: none of the {n_found} image files "
                             f"could be read ({dict(reasons)}); first: {skipped[0]}")
        if pos < n_found:
            _shrink_npy(tmp, pos)

    if listing is None:
        width = max(6, len(str(n_found - 1)))
        index = pd.concat(factors, ignore_index=True)
        index.insert(0, "image_id", [f"{i:0{width}d}" for i in range(n_found)])
        index.insert(1, "path", "")
        index.insert(2, "partition", "train")
        notes = []
    else:
        ids = [listing.files[i][0] for i in kept]
        index = pd.DataFrame({"image_id": ids, "path": [str(listing.files[i][1]) for i in kept],
                              "partition": "train"})
        notes = []
        if cfg.dataset == "celeba":
            labels, notes = sources.celeba_labels(listing, ids, parsed)
            index["partition"] = labels["partition"].to_numpy()
            index = pd.concat([index, labels.drop(columns="partition").reset_index(drop=True)], axis=1)
    manifest = {
        "source": cfg.dataset,
        "root": str(listing.root) if listing else None,
        "layout": listing.layout if listing else "synthetic",
        # entries found: image files plus the entries the listing could not use
        "n_found": n_found + (len(listing.problems) if listing else 0), "n_ok": len(kept), "n_skipped": len(skipped),
        "n_ignored": listing.n_ignored if listing else 0,
        "skipped": skipped,
        "skipped_counts": dict(Counter(r["reason"].split(":")[0] for r in skipped)),
        "notes": notes,
        "crop": "rendered at the target size (no crop)" if listing is None else decode.crop_text(_crop_kind(cfg), cfg.resize),
        "image_size": s, "limit": cfg.limit,
        "attribute_columns": [c for c in index.columns if c not in FIRST_COLUMNS],
        "fingerprint": fp, "key": path.name, "prep_version": PREP_VERSION,
        "created": datetime.now(timezone.utc).isoformat(),
        "seconds": round(time.perf_counter() - t0, 3), "workers": workers,
    }
    _apply_split(index, manifest, cfg)
    with atomic.atomic_path(DataPaths(path).index) as tmp:
        index.to_parquet(tmp, index=False)
    atomic.write_json(DataPaths(path).manifest, manifest)  # last: marks the cache complete
    if skipped:
        counts = ", ".join(f"{v} {k}" for k, v in manifest["skipped_counts"].items())
        warnings.warn(f"{cfg.dataset}: skipped {len(skipped)} of {manifest['n_found']} entries ({counts}); "
                      f"see {DataPaths(path).manifest}", stacklevel=3)
    data = _load_cached(path, cfg, fp)
    if data is None:
        raise RuntimeError(f"data cache {path} could not be read back right after writing it")
    return data


def _progress_bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, dynamic_ncols=True)


def _shrink_npy(path: Path, n_rows: int) -> None:
    """Drop the unused tail rows (skipped files) of a C-order .npy in place: rewrite the shape in
    the header (padded to the same length, as the format allows) and truncate the data. Saves
    copying gigabytes when a handful of files were unreadable."""
    with open(path, "r+b") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        data_start = f.tell()
        f.seek(0)
        head = f.read(data_start)
        old = f"'shape': {shape!r}".encode()
        new = f"'shape': {(n_rows,) + tuple(shape[1:])!r}".encode()
        if fortran or head.count(old) != 1:
            raise RuntimeError(f"unexpected .npy header in {path}: {head!r}")
        head = head.replace(old, new)
        head = head[:-1] + b" " * (data_start - len(head)) + b"\n"
        f.seek(0)
        f.write(head)
        f.truncate(data_start + n_rows * int(np.prod(shape[1:])) * dtype.itemsize)
