"""Which images a list of ids names: precomputed z-points come with the file name of each row
(``--z-ids``), written however the user's own pipeline wrote them.

An id names an image by its image id (CelebA: ``000001.jpg``; a folder: the path relative to the
folder), by an absolute path under the source's root, by its file name or by its stem
(``000001``), the last two only where they are unique in the source.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Sequence

from core.errors import BadInputError

if TYPE_CHECKING:
    from core.data.sources import Listing

SHOW = 5      # ids quoted in an error


def read_ids(path: str | os.PathLike) -> list[str]:
    """One id a line (blank lines skipped), as in ``--z-ids FILE``."""
    try:
        return [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"--z-ids {path} is not a readable text file of image names ({e})") from e


def _unique_keys(image_ids: Sequence[str], key) -> dict[str, str]:
    seen: dict[str, str | None] = {}
    for i in image_ids:
        k = key(i)
        seen[k] = None if k in seen else i      # None: two images share it, so it names neither
    return {k: v for k, v in seen.items() if v is not None}


def match_ids(ids: Sequence[str], image_ids: Sequence[str], root: str | os.PathLike | None = None) -> list[str]:
    """The image id each of ``ids`` names, in the same order; refuses ids that name no image (or
    an image named twice) with a few of them and what the source's ids look like."""
    exact = set(image_ids)
    by_name = _unique_keys(image_ids, lambda i: PurePosixPath(i).name)
    by_stem = _unique_keys(image_ids, lambda i: PurePosixPath(i).stem)
    base = Path(root).resolve() if root else None

    def find(raw: str) -> str | None:
        i = raw.replace("\\", "/").removeprefix("./")
        if i in exact:
            return i
        if base is not None and os.path.isabs(raw):
            try:
                rel = Path(raw).resolve().relative_to(base).as_posix()
            except ValueError:
                rel = None
            if rel in exact:
                return rel
        p = PurePosixPath(i)
        return by_name.get(p.name) or by_stem.get(p.stem) or by_stem.get(p.name)

    found = [find(i) for i in ids]
    unknown = [i for i, f in zip(ids, found) if f is None]
    if unknown:
        raise BadInputError(
            f"{len(unknown):,} of the {len(ids):,} ids in --z-ids name no image of the dataset (first: "
            f"{unknown[:SHOW]}); the dataset's images are named like {list(image_ids[:3])} "
            "(a file name, a path relative to the folder, or a file name without its extension)")
    first: dict[str, int] = {}
    for r, f in enumerate(found):
        if f in first:
            raise BadInputError(f"--z-ids names image {f!r} twice (rows {first[f]} and {r}): "
                                "one z-point an image")
        first[f] = r
    return found


def select(listing: Listing, ids: Sequence[str]) -> Listing:
    """``listing`` cut to the images ``ids`` name, in the order of
    ``ids``: the prepared images then line up with the z-points row by row."""
    from dataclasses import replace

    file_of = {f[0]: f for f in listing.files}
    named = match_ids(ids, [f[0] for f in listing.files], listing.root)
    return replace(listing, files=[file_of[i] for i in named])
