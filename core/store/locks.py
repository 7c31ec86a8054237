"""Advisory file locks (flock): the kernel releases them when the holder dies, so a killed
training or derivation never leaves a stale lock behind. One mechanism for every job that
must run once at a time: training a run, deriving its artifacts, building a dataset cache."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from core.errors import BusyError  # noqa: F401  (re-exported: the error of a held lock)


@contextlib.contextmanager
def exclusive(path: str | os.PathLike, *, wait: bool = False, busy: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed). ``wait=False`` raises
    ``BusyError(busy)`` at once when another process holds it; ``wait=True`` blocks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise BusyError(busy or f"{path} is locked by another process") from None
        try:
            f.seek(0), f.truncate(), f.write(str(os.getpid())), f.flush()  # who holds it, for people
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_locked(path: str | os.PathLike) -> bool:
    """True while some process holds the lock on ``path``."""
    path = Path(path)
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False
