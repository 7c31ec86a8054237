"""Finding images and their labels: CelebA (official or torchvision layout), any folder, synthetic.

Discovery is cheap (a directory walk and a ``stat`` per file) so that it can run on every
``prepare()`` call to fingerprint the source; parsing the label files happens only when the
cache is (re)built.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
CELEBA_IMG_DIR = "img_align_celeba"
CELEBA_ATTR_FILE = "list_attr_celeba.txt"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
CELEBA_IDENTITY_FILE = "identity_CelebA.txt"
# official split by image number, used when list_eval_partition.txt is missing
CELEBA_RANGES = ((1, 162770, "train"), (162771, 182637, "valid"), (182638, 202599, "test"))
PARTITION_CODES = {0: "train", 1: "valid", 2: "test"}


@dataclass
class Listing:
    """What a source holds, before any decoding."""
    source: str                       # 'celeba' | 'folder'
    root: Path                        # resolved folder the user pointed at
    layout: str                       # how the folder was recognised (for the manifest)
    files: list[tuple[str, Path, int, int]]  # (image_id, path, size, mtime_ns), sorted by image_id
    label_files: dict[str, Path] = field(default_factory=dict)  # CelebA list files that exist
    n_ignored: int = 0                # files without an image extension, or hidden ones

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
        return Listing(self.source, self.root, self.layout, self.files[:limit], self.label_files, self.n_ignored)


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTS


def _stat_entry(e: os.DirEntry) -> tuple[int, int]:
    st = e.stat()
    return st.st_size, st.st_mtime_ns


# ------------------------------------------------------------------------------- folder
def list_folder(data_dir: str | os.PathLike) -> Listing:
    """Every image under ``data_dir`` (recursive, extension case-insensitive, hidden files and
    folders such as ``.cache`` or macOS ``._x.jpg`` ignored); image_id is the relative POSIX path."""
    root = Path(data_dir).expanduser().resolve()
    if not root.is_dir():
        raise ValueError(f"folder source: {root} does not exist or is not a folder")
    files, ignored = [], 0
    stack = [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.name.startswith("."):
                    ignored += 1
                elif e.is_dir(follow_symlinks=True):
                    stack.append(Path(e.path))
                elif e.is_file() and _is_image_name(e.name):
                    size, mtime = _stat_entry(e)
                    rel = Path(e.path).relative_to(root).as_posix()
                    files.append((rel, Path(e.path), size, mtime))
                else:
                    ignored += 1
    files.sort(key=lambda t: t[0])
    if not files:
        raise ValueError(f"folder source: no images ({', '.join(sorted(IMAGE_EXTS))}) found under {root}")
    return Listing("folder", root, "folder", files, n_ignored=ignored)


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
    files, ignored = [], 0
    with os.scandir(img_dir) as it:
        for e in it:
            if not e.name.startswith(".") and e.is_file() and _is_image_name(e.name):
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
    return Listing("celeba", Path(data_dir).expanduser().resolve(), layout, files, labels, ignored)


def read_celeba_attrs(path: Path) -> pd.DataFrame:
    """``list_attr_celeba.txt``: a count line, the 40 names, then ``000001.jpg -1  1 ...`` rows
    with variable spacing. Returns int8 0/1 columns indexed by image_id."""
    with open(path, encoding="utf-8") as f:
        f.readline()  # count line; the rows themselves are the truth
        names = f.readline().split()
    df = pd.read_csv(path, sep=r"\s+", skiprows=2, header=None, names=["image_id", *names],
                     index_col=0, dtype={"image_id": str})
    vals = df.to_numpy()
    if not np.isin(vals, (-1, 1)).all():
        raise ValueError(f"{path}: attribute values must be -1 or 1")
    return pd.DataFrame((vals > 0).astype(np.int8), index=df.index.astype(str), columns=names)


def _read_two_columns(path: Path, name: str) -> pd.Series:
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["image_id", name], dtype={"image_id": str})
    return df.set_index("image_id")[name]


def read_celeba_partition(path: Path) -> pd.Series:
    codes = _read_two_columns(path, "partition")
    bad = ~codes.isin(list(PARTITION_CODES))
    if bad.any():
        raise ValueError(f"{path}: partition codes must be 0, 1 or 2 (first bad row: {codes[bad].index[0]})")
    return codes.map(PARTITION_CODES)


def read_celeba_identity(path: Path) -> pd.Series:
    return _read_two_columns(path, "identity").astype(np.int32)


def celeba_partition_from_ids(image_ids) -> np.ndarray:
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


def celeba_labels(listing: Listing, image_ids: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Partition, attributes and identity for ``image_ids`` (rows in that order) plus notes on
    anything that had to fall back (missing files, images absent from a list)."""
    notes: list[str] = []
    out = pd.DataFrame(index=pd.Index(image_ids, name="image_id"))
    fallback = celeba_partition_from_ids(image_ids)
    part = _read_label(listing, CELEBA_PARTITION_FILE, read_celeba_partition, notes)
    if part is None:
        notes[-1] += ": partitions from the official id ranges"
        out["partition"] = fallback
    else:
        part = part.reindex(out.index)
        missing = part.isna().to_numpy()
        if missing.any():
            notes.append(f"{int(missing.sum())} images not in {CELEBA_PARTITION_FILE}: official id ranges used")
        out["partition"] = np.where(missing, fallback, part.to_numpy(dtype=object))
    attrs = _read_label(listing, CELEBA_ATTR_FILE, read_celeba_attrs, notes)
    if attrs is not None:
        attrs = attrs.reindex(out.index)
        n_missing = int(attrs.isna().any(axis=1).sum())
        if n_missing:
            # nullable ints keep 0/1 semantics without inventing a value for unknown rows
            notes.append(f"{n_missing} images not in {CELEBA_ATTR_FILE}: their attributes are <NA>")
        out = out.join(attrs.astype("Int8" if n_missing else np.int8))
    ident = _read_label(listing, CELEBA_IDENTITY_FILE, read_celeba_identity, notes, optional=True)
    if ident is not None:
        ident = ident.reindex(out.index)
        out["identity"] = ident.astype("Int32" if ident.isna().any() else np.int32)
    for n in notes:
        warnings.warn(f"celeba: {n}", stacklevel=3)
    return out, notes


def _read_label(listing: Listing, name: str, reader, notes: list[str], optional: bool = False):
    """A label file is a bonus, not a requirement: a missing or malformed one costs its columns
    (with a note), never the run."""
    path = listing.label_files.get(name)
    if path is None:
        if not optional:
            notes.append(f"no {name}")
        return None
    try:
        return reader(path)
    except Exception as e:  # noqa: BLE001 - any parse failure means "unusable file"
        notes.append(f"{name} unreadable, ignored ({type(e).__name__}: {e})")
        return None


# ------------------------------------------------------------------------------- splits
def seeded_split(image_ids, seed: int, val_fraction: float) -> np.ndarray:
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
