"""The one load-or-compute rule for derived artifacts (statistics, mixtures, UMAP coordinates,
and whatever else a run caches in ``derived/``):

* an artifact's file name says what it was computed from (the z-points' fingerprint and the
  parameters), and its content says it again; ``valid`` checks the content against the request;
* a missing, unreadable (truncated, foreign, older format) or mismatched file is recomputed
  and written atomically; a reader that must never compute (a UI) uses ``load_valid``.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Callable, TypeVar

from core.errors import AtlasError

T = TypeVar("T")

# What a damaged or foreign file raises while being read: these mean "recompute", anything
# else (a bug, an interrupt) propagates.
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile,
               AtlasError)


def load_valid(path: Path, load: Callable[[Path], T], valid: Callable[[T], bool] = lambda _: True) -> T | None:
    """The artifact at ``path`` if it loads and ``valid`` accepts it, else None."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        obj = load(path)
    except READ_ERRORS:
        return None
    return obj if valid(obj) else None


def load_or_compute(path: Path, load: Callable[[Path], T], compute: Callable[[], T],
                    save: Callable[[T, Path], None], valid: Callable[[T], bool] = lambda _: True) -> T:
    """A valid artifact from ``path``, else ``compute()`` it and ``save`` it there (atomically:
    ``save`` must write through core.store.atomic)."""
    obj = load_valid(path, load, valid)
    if obj is None:
        obj = compute()
        save(obj, Path(path))
    return obj
