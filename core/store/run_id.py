"""What a run id may be: a plain folder name under ``<cache>/runs/``, never a path.

A user-given id becomes a folder name, so ``../x``, ``a/b``, ``.`` or an absolute path would
write (or read) outside the run store, or over the user's own files. Every entry point (CLI,
``open_run``, ``train_run``, the dashboard's jobs) checks the id here before building a path.
"""
from __future__ import annotations

import re

from core.errors import BadInputError

MAX_LEN = 128
_PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def is_valid_run_id(run_id: object) -> bool:
    return (isinstance(run_id, str) and 0 < len(run_id) <= MAX_LEN
            and _PLAIN.fullmatch(run_id) is not None)


def check_run_id(run_id: object) -> str:
    """Return ``run_id`` if it is a plain name (letters, digits, ``-``, ``_``, ``.``; not
    starting with a dot; at most 128 characters), else raise a BadInputError that says so."""
    if is_valid_run_id(run_id):
        return run_id  # type: ignore[return-value]
    what = "a path" if isinstance(run_id, str) and ("/" in run_id or "\\" in run_id) else "not a plain name"
    raise BadInputError(f"run id {run_id!r} is {what}: a run id may only contain letters, digits, '-', '_' "
                        f"and '.', must not start with a dot and has at most {MAX_LEN} characters "
                        f"(e.g. --run-id celeba64-try2)")
