"""The probe suite's helpers (issue 8): hostile inputs tried the way a user would meet them,
each outcome classified and tallied, so a run of ``tests/probes/`` ends with counts.

Outcomes:
    clear    refused with one ``error:`` line (or a typed AtlasError) that names the problem
    handled  accepted and done right (a bad entry skipped and reported, a run rebuilt, ...)
    unclear  refused, but with a message that does not say what is wrong
    crash    a traceback, a signal (SIGBUS, ...), or a hang
    silent   exit 0 / no error while the result is wrong
    lost     user data overwritten or deleted
Every probe asserts it ended ``clear`` or ``handled``; the tally is printed at the end of the
session (conftest.py) so the counts in the issue can be reproduced.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

OK = ("clear", "handled")
TALLY: list[tuple[str, str, str]] = []     # (probe, outcome, detail)


def record(probe: str, outcome: str, detail: str = "") -> str:
    TALLY.append((probe, outcome, detail[-400:]))
    return outcome


def check(probe: str, outcome: str, detail: str = "") -> None:
    """Record and assert a good outcome."""
    record(probe, outcome, detail)
    assert outcome in OK, f"probe {probe}: {outcome}\n{detail}"


def summary() -> str:
    if not TALLY:
        return ""
    c = Counter(o for _, o, _ in TALLY)
    head = (f"probes: {len(TALLY)} inputs tried, {c['clear']} clear errors, {c['handled']} handled right, "
            f"{c['unclear']} unclear errors, {c['crash']} crashes, {c['silent']} silent failures, "
            f"{c['lost']} data lost")
    bad = [f"  {o:8s} {p}" for p, o, _ in TALLY if o not in OK]
    return "\n".join([head, *bad])


# -- the CLI, in process ---------------------------------------------------------------------
def run_cli(*argv: str) -> tuple[int | None, str, str, BaseException | None]:
    """``python -m core ARGV`` in this process: (exit code, stdout, stderr, escaped exception)."""
    from core.cli import main

    out, err = io.StringIO(), io.StringIO()
    rc, exc = None, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # noqa: BLE001 - an escaping exception is a traceback for the user
            exc = e
    return rc, out.getvalue(), err.getvalue(), exc


def classify_refusal(rc, err: str, exc, match: str | None) -> str:
    if exc is not None or "Traceback" in err or (rc is not None and rc < 0):
        return "crash"
    if rc == 0:
        return "silent"
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    if not lines or not lines[-1].lstrip().startswith(("error:", "python -m core")) or "error:" not in lines[-1]:
        return "unclear"
    if match and not re.search(match, lines[-1], re.I):
        return "unclear"
    return "clear"


def expect_refused(probe: str, *argv: str, match: str | None = None) -> str:
    """The command must fail with exit code 1 or 2 and one ``error:`` line matching ``match``."""
    rc, out, err, exc = run_cli(*argv)
    outcome = classify_refusal(rc, err, exc, match)
    if outcome == "clear" and rc not in (1, 2):
        outcome = "unclear"
    check(probe, outcome, f"rc={rc} exc={exc!r}\n{err}")
    return err


def refused(probe: str, fn, exc_type, match: str | None = None):
    """A Python call must raise ``exc_type`` whose message matches ``match``."""
    try:
        fn()
    except exc_type as e:
        ok = match is None or re.search(match, str(e), re.I)
        check(probe, "clear" if ok else "unclear", str(e))
        return e
    except BaseException as e:  # noqa: BLE001
        check(probe, "crash" if not isinstance(e, Exception) or "Error" in type(e).__name__ else "unclear",
              f"{type(e).__name__}: {e}")
    else:
        check(probe, "silent", "no error raised")


# -- a complete run built by hand (seconds, no training) -----------------------------------------
def make_run(cache: Path, run_id: str = "r", n: int = 40, size: int = 32, z_dim: int = 8, seed: int = 0):
    """A complete, consistent run folder: untrained weights, random z-points, an index, images
    in a data folder of its own. Probes then break one file at a time."""
    import pandas as pd

    from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from core.model.autoencoder import ConvAutoencoder, save_model
    from core.store import atomic
    from core.store.runs import open_run
    import torch

    cfg = RunConfig(DataConfig("synthetic", None, size, None, n, seed),
                    ModelConfig(size, 3, z_dim, (4, 8, 8, 16), True), TrainConfig(epochs=1, batch_size=16))
    rng = np.random.default_rng(seed)
    data = Path(cache) / "data" / f"fake-{run_id}"
    atomic.save_npy(data / "images.npy", rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))
    path = Path(cache) / "runs" / run_id
    atomic.write_json(path / "config.json", {"config": cfg.to_dict(), "fingerprint": "f" * 64,
                                             "data_path": str(data), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                             "manifest": {"n_ok": n, "n_found": n, "n_skipped": 0}})
    torch.manual_seed(seed)
    save_model(ConvAutoencoder(cfg.model).eval(), path / "weights.safetensors")
    atomic.save_npy(path / "z.npy", rng.normal(size=(n, z_dim)).astype(np.float32))
    part = np.where(np.arange(n) % 5 == 0, "valid", "train")
    index = pd.DataFrame({"row": np.arange(n), "image_id": [f"{i:06d}" for i in range(n)], "path": "",
                          "partition": part, "recon_mse": rng.random(n).astype(np.float32)})
    with atomic.atomic_path(path / "index.parquet") as tmp:
        index.to_parquet(tmp, index=False)
    atomic.write_json(path / "history.json", [{"epoch": 1, "train_loss": 0.1, "val_loss": 0.1,
                                               "images_per_s": 1.0, "seconds": 1.0}])
    atomic.write_json(path / "status.json", {"state": "done", "message": "complete"})
    return open_run(run_id, cache)


def json_of(path: Path):
    return json.loads(Path(path).read_text())
