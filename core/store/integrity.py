"""Checks that a run's files are whole and agree with each other, and readers that cannot be
killed by a file that shrinks under them.

A memory-mapped file that another process truncates kills the reader with SIGBUS on the next
touch of a lost page (for a Streamlit server: every user at once). So a long-lived process
reads z-points into memory, and reads image rows with ``pread`` (:class:`NpyRows`): a short
read is an error we can report, never a signal. Our own writers replace files by rename (a
new inode), so a file that was complete when opened stays complete for whoever opened it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from core.errors import BrokenArtifactError


def npy_header(path: str | os.PathLike, repair: str = "") -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a ``.npy`` file, after checking that the file holds all
    the bytes its header promises (a truncated file is named, never mapped)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            offset = f.tell()
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise BrokenArtifactError(path, f"not a readable .npy file ({type(e).__name__}: {e})", repair) from None
    if dtype.hasobject or fortran:
        raise BrokenArtifactError(path, "holds objects or a Fortran-order array, not plain numbers", repair)
    want = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size != want:
        raise BrokenArtifactError(path, f"{'truncated' if size < want else 'too long'}: {size:,} bytes where its "
                                  f"header {tuple(shape)} {dtype} needs {want:,}", repair)
    return tuple(shape), dtype, offset


def load_npy_whole(path: str | os.PathLike, repair: str = "") -> np.ndarray:
    """Read a whole ``.npy`` into memory (no mapping), with its size checked first."""
    shape, dtype, offset = npy_header(path, repair)
    with open(path, "rb") as f:
        f.seek(offset)
        buf = f.read()
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(buf) != n:  # shrank between the check and the read
        raise BrokenArtifactError(path, f"changed while being read ({len(buf):,} of {n:,} bytes)", repair)
    return np.frombuffer(buf, dtype=dtype).reshape(shape).copy()


def nonfinite_rows(path: str | os.PathLike, repair: str = "", block: int = 1 << 26) -> tuple[np.ndarray, int]:
    """(rows holding NaN or inf, number of rows) of a float ``.npy`` [N, ...], read in blocks of
    about ``block`` bytes (never mapped, so a file truncated meanwhile is an error, not SIGBUS)."""
    shape, dtype, offset = npy_header(path, repair)
    n, row = shape[0], int(np.prod(shape[1:], dtype=np.int64))
    step, bad = max(1, block // max(1, row * dtype.itemsize)), []
    with open(path, "rb") as f:
        f.seek(offset)
        for start in range(0, n, step):
            k = min(step, n - start)
            a = np.fromfile(f, dtype=dtype, count=k * row)
            if a.size != k * row:
                raise BrokenArtifactError(path, "changed while being read", repair)
            bad.append(start + np.flatnonzero(~np.isfinite(a.reshape(k, row)).all(axis=1)))
    return (np.concatenate(bad) if bad else np.zeros(0, np.int64)), n


def nonfinite_rows_cached(path: Path, memo: Path, repair: str = "") -> tuple[list[int], int, int]:
    """(first 20 rows holding NaN/inf, how many rows do, number of rows) of ``path``; the verdict is
    kept in the JSON file ``memo`` keyed by the file's size, mtime and inode (a changed file, or a
    damaged memo, is scanned again)."""
    from core.store import atomic

    st = Path(path).stat()
    key = [st.st_size, st.st_mtime_ns, st.st_ino]
    try:
        m = atomic.read_json(memo)
        if m["key"] == key:
            return [int(r) for r in m["rows"]], int(m["count"]), int(m["n"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    bad, n = nonfinite_rows(path, repair)
    out = ([int(r) for r in bad[:20]], len(bad), n)
    try:
        atomic.write_json(memo, {"key": key, "rows": out[0], "count": out[1], "n": n})
    except OSError:     # a read-only cache: scan again next time
        pass
    return out


def pair_intact(folder: str | os.PathLike, names: list[str] | None, cols: int) -> bool:
    """Cheap check (headers only) that a derived artifact stored as (a float [N, cols] ``.npy``, a
    JSON sidecar with its ``params``) is whole: every byte the header promises, a sidecar that
    parses. ``names`` None: the files were not recorded, nothing to check."""
    import json

    if names is None:
        return True
    try:
        npy, side = (Path(folder) / n for n in names)
        shape, dtype, _ = npy_header(npy)
        return (len(shape) == 2 and shape[1] == cols and dtype.kind == "f"
                and isinstance(json.loads(side.read_text()).get("params"), dict))
    except (OSError, ValueError, TypeError, AttributeError, BrokenArtifactError):
        return False


def parquet_rows(path: str | os.PathLike, repair: str = "") -> int:
    import pyarrow.parquet as pq

    try:
        return int(pq.read_metadata(str(path)).num_rows)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure means the file is damaged
        raise BrokenArtifactError(path, f"not a readable parquet table ({type(e).__name__}: {e})", repair) from None


class NpyRows:
    """Rows of a C-order ``.npy`` read on demand with ``pread`` (``len``, ``shape``, ``dtype``,
    ``[i]``, ``[list]``, ``[array]``, ``[slice]``): memory-map-like access without a mapping,
    so a file truncated by someone else gives a BrokenArtifactError, not SIGBUS."""

    def __init__(self, path: str | os.PathLike, repair: str = ""):
        self.path, self.repair = Path(path), repair
        self.shape, self.dtype, self._offset = npy_header(self.path, repair)
        self.ndim = len(self.shape)
        self._row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self[np.arange(len(self))]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        rows = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key, dtype=np.int64).ravel()
        if len(rows) and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"row out of range for {len(self)} rows of {self.path.name}")
        rows = np.where(rows < 0, rows + len(self), rows)
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        with open(self.path, "rb") as f:
            fd = f.fileno()
            for i, r in enumerate(rows):
                b = os.pread(fd, self._row, self._offset + int(r) * self._row)
                if len(b) != self._row:
                    raise BrokenArtifactError(self.path, f"truncated while in use: row {int(r)} is cut short",
                                              self.repair)
                flat[i] = np.frombuffer(b, np.uint8)
        return out


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 4 MB blocks (model files run to hundreds of MB)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
