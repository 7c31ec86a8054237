"""CelebA label files read strictly, line by line, before any image is decoded.

A label file with a problem costs only the rows that have it, each reported with its line
number: a duplicate row keeps the first one of its image, a malformed row is skipped (its
image gets <NA> labels), an empty file gets a note. Nothing here fails a run after minutes
of decoding (pandas' ``reindex`` used to, on duplicate image names).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PARTITION_CODES = {0: "train", 1: "valid", 2: "test"}
_SHOW = 8   # problems listed by line in a note; the rest are counted


def _lines(path: Path) -> list[str]:
    return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()


def _note_rows(name: str, what: str, items: list[str], tail: str = "") -> str:
    shown = "; ".join(items[:_SHOW]) + (f"; and {len(items) - _SHOW} more" if len(items) > _SHOW else "")
    return f"{name}: {len(items)} {what}{tail}: {shown}"


def _dedupe(ids: list[str], lines: list[int], name: str, notes: list[str]) -> np.ndarray:
    """Mask of the rows to keep (first row of each image); a note names the duplicates."""
    first: dict[str, int] = {}
    keep = np.ones(len(ids), bool)
    dups: dict[str, list[int]] = {}
    for i, image_id in enumerate(ids):
        if image_id in first:
            keep[i] = False
            dups.setdefault(image_id, [lines[first[image_id]]]).append(lines[i])
        else:
            first[image_id] = i
    if dups:
        items = [f"{k} on lines {', '.join(map(str, v))}" for k, v in dups.items()]
        notes.append(_note_rows(name, "images listed more than once", items, " (the first row of each kept)"))
    return keep


def read_attrs(path: Path, notes: list[str]) -> pd.DataFrame | None:
    """``list_attr_celeba.txt``: a count line, the attribute names, then ``000001.jpg -1 1 ...``
    rows. Returns int8 0/1 columns indexed by image_id, or None (with a note) when unusable."""
    name = Path(path).name
    lines = _lines(path)
    content = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not content:
        notes.append(f"{name} is empty: no attribute columns")
        return None
    first = content[0][1].split()
    if len(first) == 1 and first[0].lstrip("-").isdigit():
        head, rows = content[1] if len(content) > 1 else (2, ""), content[2:]
        names = head[1].split()
    else:  # no count line: the names come first
        names, rows = first, content[1:]
    if not names:
        notes.append(f"{name} has no attribute names on its header line: no attribute columns")
        return None
    if len(set(names)) != len(names):
        notes.append(f"{name}: attribute names repeat on the header line: no attribute columns")
        return None
    ids, vals, at, bad = [], [], [], []
    for lineno, ln in rows:
        parts = ln.split()
        if len(parts) != len(names) + 1:
            bad.append(f"line {lineno} has {len(parts)} fields, not {len(names) + 1}")
        elif not all(v in ("1", "-1") for v in parts[1:]):
            bad.append(f"line {lineno} has values other than -1 and 1")
        else:
            ids.append(parts[0]), vals.append(parts[1:]), at.append(lineno)
    if bad:
        notes.append(_note_rows(name, "malformed rows skipped", bad, " (their images get <NA> attributes)"))
    if not ids:
        notes.append(f"{name} has no usable rows: no attribute columns")
        return None
    keep = _dedupe(ids, at, name, notes)
    arr = (np.array(vals, dtype="U2")[keep] == "1").astype(np.int8)
    return pd.DataFrame(arr, index=pd.Index(np.array(ids, dtype=object)[keep], name="image_id"), columns=names)


def read_pairs(path: Path, column: str, notes: list[str], codes: dict[int, str] | None = None) -> pd.Series | None:
    """Two-column files (``000001.jpg 0``): partition (mapped through ``codes``) or identity."""
    name = Path(path).name
    ids, vals, at, bad = [], [], [], []
    for lineno, ln in enumerate(_lines(path), start=1):
        parts = ln.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            bad.append(f"line {lineno} is not 'IMAGE NUMBER'")
        elif codes is not None and int(parts[1]) not in codes:
            bad.append(f"line {lineno} has code {parts[1]} (not {', '.join(map(str, codes))})")
        else:
            ids.append(parts[0]), vals.append(int(parts[1])), at.append(lineno)
    if bad:
        notes.append(_note_rows(name, "malformed rows skipped", bad))
    if not ids:
        notes.append(f"{name} is empty or has no usable rows: ignored")
        return None
    keep = _dedupe(ids, at, name, notes)
    s = pd.Series(np.array(vals)[keep], index=pd.Index(np.array(ids, dtype=object)[keep], name="image_id"),
                  name=column)
    return s.map(codes) if codes is not None else s.astype(np.int32)
