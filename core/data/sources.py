"""Finding images and their labels: CelebA (official or torchvision layout), any folder, synthetic.

Discovery is cheap (a directory walk and a ``stat`` per file) so that it can run on every
``prepare()`` call to fingerprint the source; parsing the label files happens only when the
cache is (re)built.
"""
from __future__ import annotations

import errno
import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from core.data import labels
from core.data.labels import PARTITION_CODES

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
CELEBA_IMG_DIR = "img_align_celeba"
CELEBA_ATTR_FILE = "list_attr_celeba.txt"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
CELEBA_IDENTITY_FILE = "identity_CelebA.txt"
# official split by image number, used when list_eval_partition.txt is missing
CELEBA_RANGES = ((1, 162770, "train"), (162771, 182637, "valid"), (182638, 202599, "test"))


@dataclass
class Listing:
    """What a source holds, before any decoding."""
    source: str                       # 'celeba' | 'folder'
    root: Path                        # resolved folder the user pointed at
    layout: str                       # how the folder was recognised (for the manifest)
    files: list[tuple[str, Path, int, int]]  # (image_id, path, size, mtime_ns), sorted by image_id
    label_files: dict[str, Path] = field(default_factory=dict)  # CelebA list files that exist
    n_ignored: int = 0                # files without an image extension, or hidden ones
    problems: list[dict] = field(default_factory=list)  # entries skipped while listing: {file, reason}

    def signature(self) -> str:
        """sha256 over ids, sizes and mtimes of the images and label files: changes whenever a
        file is added, removed or rewritten, without reading any image content."""
        h = hashlib.sha256(f"{self.source}\n{self.root}\n".encode())
        for image_id, _, size, mtime in self.files:
            h.update(f"{image_id}\t{size}\t{mtime}\n".encode())
        for name, p in sorted(self.label_files.items()):
            st = p.stat()
            h.update(f"label:{name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def limited(self, limit: int | None) -> "Listing":
        if limit is None or limit >= len(self.files):
            return self
        return Listing(self.source, self.root, self.layout, self.files[:limit], self.label_files, self.n_ignored,
                       self.problems)


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTS


def _stat_entry(e: os.DirEntry) -> tuple[int, int]:
    st = e.stat()
    return st.st_size, st.st_mtime_ns


def _printable(path: str) -> str:
    """A path that may hold bytes that are not UTF-8 (kept by Python as surrogates), as text
    that can be printed and stored: the bad bytes shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _entry_problem(e: os.DirEntry) -> str | None:
    """Why a directory entry cannot be used as an image (or folder), or None if it can."""
    try:
        e.name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8: rename it"
    if e.is_symlink():
        try:
            os.stat(e.path)
        except OSError as err:
            if err.errno == errno.ELOOP:
                return "symlink loop: the link points (via other links) back to itself"
            if err.errno == errno.ENOENT:
                return f"dangling symlink: its target {_printable(os.readlink(e.path))} does not exist"
            return f"unreadable symlink: {err.strerror}"
    return None


# ------------------------------------------------------------------------------- folder
def list_folder(data_dir: str | os.PathLike) -> Listing:
    """Every image under ``data_dir`` (recursive, extension case-insensitive, hidden files and
    folders such as ``.cache`` or macOS ``._x.jpg`` ignored); image_id is the relative POSIX path."""
    root = Path(data_dir).expanduser().resolve()
    if not root.is_dir():
        raise ValueError(f"folder source: {root} does not exist or is not a folder")
    files, ignored, problems = [], 0, []
    st = root.stat()
    seen_dirs = {(st.st_dev, st.st_ino)}   # every folder once: a symlink loop is never followed
    stack = [root]

    def skip(path: str, reason: str) -> None:
        problems.append({"file": _printable(os.path.relpath(path, root)), "reason": reason})

    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as err:
            skip(str(d), f"unreadable folder: {err.strerror}")
            continue
        for e in entries:
            if e.name.startswith("."):
                ignored += 1
                continue
            why = _entry_problem(e)
            if why is None:
                try:
                    is_dir, is_file = e.is_dir(), e.is_file()
                    if is_dir:
                        dst = os.stat(e.path)
                        if (dst.st_dev, dst.st_ino) in seen_dirs:
                            why = "folder already listed (a directory symlink loop or a second link): not followed"
                        else:
                            seen_dirs.add((dst.st_dev, dst.st_ino))
                            stack.append(Path(e.path))
                            continue
                    elif is_file and _is_image_name(e.name):
                        size, mtime = _stat_entry(e)
                        files.append((Path(e.path).relative_to(root).as_posix(), Path(e.path), size, mtime))
                        continue
                    else:
                        ignored += 1
                        continue
                except OSError as err:
                    why = f"unreadable: {err.strerror}"
            skip(e.path, why)
    files.sort(key=lambda t: t[0])
    problems.sort(key=lambda p: p["file"])
    if not files:
        raise ValueError(f"folder source: no images ({', '.join(sorted(IMAGE_EXTS))}) found under {root}"
                         + (f"; skipped {len(problems)} entries, first: {problems[0]}" if problems else ""))
    return Listing("folder", root, "folder", files, n_ignored=ignored, problems=problems)


# ------------------------------------------------------------------------------- celeba
def find_celeba(data_dir: str | os.PathLike) -> tuple[Path, Path, str]:
    """(image folder, folder of the list files, layout name) for the layouts people actually have:
    official ``root/img_align_celeba``, torchvision ``root/celeba/img_align_celeba``, the
    doubly nested folder of the Kaggle zip, or ``root`` being the image folder itself."""
    root = Path(data_dir).expanduser().resolve()
    if not root.is_dir():
        raise ValueError(f"celeba source: {root} does not exist or is not a folder")
    candidates = [(root / CELEBA_IMG_DIR, root, "official"),
                  (root / "celeba" / CELEBA_IMG_DIR, root / "celeba", "torchvision")]
    if root.name == CELEBA_IMG_DIR:
        candidates.append((root, root.parent, "image-folder"))
    for img_dir, meta_dir, layout in candidates:
        nested = img_dir / CELEBA_IMG_DIR
        if nested.is_dir():  # the Kaggle zip nests the folder in a folder of the same name
            return nested, meta_dir, layout + "+nested"
        if img_dir.is_dir():
            return img_dir, meta_dir, layout
    raise ValueError(f"celeba source: no {CELEBA_IMG_DIR}/ folder in {root} (nor in {root / 'celeba'}); "
                     f"expected the official layout {root}/{CELEBA_IMG_DIR}/000001.jpg ...")


def list_celeba(data_dir: str | os.PathLike) -> Listing:
    img_dir, meta_dir, layout = find_celeba(data_dir)
    files, ignored, problems = [], 0, []
    with os.scandir(img_dir) as it:
        for e in it:
            why = None if e.name.startswith(".") else _entry_problem(e)
            if why is not None:
                problems.append({"file": _printable(e.name), "reason": why})
            elif not e.name.startswith(".") and e.is_file() and _is_image_name(e.name):
                size, mtime = _stat_entry(e)
                files.append((e.name, Path(e.path), size, mtime))
            else:
                ignored += 1
    # ids are zero-padded numbers, so name order is id order
    files.sort(key=lambda t: t[0])
    if not files:
        raise ValueError(f"celeba source: no images found in {img_dir}")
    labels = {n: meta_dir / n for n in (CELEBA_ATTR_FILE, CELEBA_PARTITION_FILE, CELEBA_IDENTITY_FILE)
              if (meta_dir / n).is_file()}
    return Listing("celeba", Path(data_dir).expanduser().resolve(), layout, files, labels, ignored, problems)


def parse_celeba_labels(listing: Listing) -> tuple[dict, list[str]]:
    """Every CelebA label file of ``listing`` parsed (core.data.labels), before any image is
    decoded: {file name: table or None} and notes on what was skipped, with line numbers."""
    notes: list[str] = []
    parsed = {}
    readers = {CELEBA_PARTITION_FILE: lambda p: labels.read_pairs(p, "partition", notes, PARTITION_CODES),
               CELEBA_ATTR_FILE: lambda p: labels.read_attrs(p, notes),
               CELEBA_IDENTITY_FILE: lambda p: labels.read_pairs(p, "identity", notes)}
    for name, read in readers.items():
        path = listing.label_files.get(name)
        if path is None:
            if name != CELEBA_IDENTITY_FILE:
                notes.append(f"no {name}" + (": partitions from the official id ranges"
                                             if name == CELEBA_PARTITION_FILE else ""))
            parsed[name] = None
            continue
        try:
            parsed[name] = read(path)
        except OSError as e:
            notes.append(f"{name} unreadable, ignored ({e.strerror})")
            parsed[name] = None
    return parsed, notes


def celeba_partition_from_ids(image_ids: Sequence[str]) -> np.ndarray:
    """Official split by image number; names that are not numbers go to 'train'."""
    out = np.full(len(image_ids), "train", dtype=object)
    for i, image_id in enumerate(image_ids):
        stem = os.path.splitext(image_id)[0]
        if stem.isdigit():
            num = int(stem)
            for lo, hi, part in CELEBA_RANGES:
                if lo <= num <= hi:
                    out[i] = part
    return out


def celeba_labels(listing: Listing, image_ids: list[str], parsed: tuple[dict, list[str]] | None = None
                  ) -> tuple[pd.DataFrame, list[str]]:
    """Partition, attributes and identity for ``image_ids`` (rows in that order) plus notes on
    anything that had to fall back (missing files, skipped rows, images absent from a list).
    ``parsed``: what parse_celeba_labels returned before decoding (else parsed now)."""
    files, notes = parsed if parsed is not None else parse_celeba_labels(listing)
    notes = list(notes)
    out = pd.DataFrame(index=pd.Index(image_ids, name="image_id"))
    fallback = celeba_partition_from_ids(image_ids)
    part = files.get(CELEBA_PARTITION_FILE)
    if part is None:
        out["partition"] = fallback
    else:
        part = part.reindex(out.index)
        missing = part.isna().to_numpy()
        if missing.any():
            notes.append(f"{int(missing.sum())} images not in {CELEBA_PARTITION_FILE}: official id ranges used")
        out["partition"] = np.where(missing, fallback, part.to_numpy(dtype=object))
    attrs = files.get(CELEBA_ATTR_FILE)
    if attrs is not None:
        attrs = attrs.reindex(out.index)
        n_missing = int(attrs.isna().any(axis=1).sum())
        if n_missing:
            # nullable ints keep 0/1 semantics without inventing a value for unknown rows
            notes.append(f"{n_missing} images not in {CELEBA_ATTR_FILE}: their attributes are <NA>")
        out = out.join(attrs.astype("Int8" if n_missing else np.int8))
    ident = files.get(CELEBA_IDENTITY_FILE)
    if ident is not None:
        ident = ident.reindex(out.index)
        out["identity"] = ident.astype("Int32" if ident.isna().any() else np.int32)
    for n in notes:
        warnings.warn(f"celeba: {n}", stacklevel=3)
    return out, notes


# ------------------------------------------------------------------------------- splits
def seeded_split(image_ids: Sequence[str], seed: int, val_fraction: float) -> np.ndarray:
    """'train' / 'valid' per id: the round(val_fraction * n) ids with the smallest seeded hash go
    to 'valid'. Hashing ids (not positions) keeps an image's partition mostly stable when files
    are added, and exact counts keep tiny datasets from ending up with an empty valid set."""
    n = len(image_ids)
    out = np.full(n, "train", dtype=object)
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    if n_val <= 0:
        return out
    keys = np.array([int.from_bytes(hashlib.blake2b(f"{seed}\0{i}".encode(), digest_size=8).digest(), "little")
                     for i in image_ids], dtype=np.uint64)
    out[np.argsort(keys, kind="stable")[:n_val]] = "valid"
    return out
