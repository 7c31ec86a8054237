"""The quality report's rows, their cache keys and cached files (read by the job and the UI).

A row is one batch judged against the references: a sampler with its parameters, or the run's
own held-out images ("REAL", the noise floor of the metrics at this N) or their reconstructions
("REC", RAE's row: the decoder's ceiling). Its files live in
``<run>/derived/quality/<extractor>/``, keyed by (sampler, parameters, seed, N, extractor):

    row-<key>.npz    features [N, 2048], has_face [N], mahalanobis [N], a few images for a grid
    row-<key>.json   label, sampler, params, seed, n, face_rate, mahalanobis, metrics per reference
    ref-<key>.npz    the features of a reference (held-out real images or their reconstructions)
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import BrokenArtifactError
from core.store import atomic
from core.store.derived import load_valid

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.store.runs import Run

FACTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)     # the fact sweep of box and pca_box
SWEPT = ("box", "pca_box")
REFERENCES = ("real", "rec")                  # held-out real images, their reconstructions
GRID_N = 14                                   # images kept per row for the page's face grid


@dataclass(frozen=True)
class RowSpec:
    sampler: str                  # a registered sampler, or "REC" / "REAL"
    params: dict = field(default_factory=dict, hash=False)

    @property
    def label(self) -> str:
        return self.sampler + "".join(f" {k}={v:g}" if isinstance(v, float) else f" {k}={v}"
                                      for k, v in sorted(self.params.items()))

    def key(self, seed: int, n: int, extractor: str) -> str:
        blob = json.dumps([self.sampler, sorted(self.params.items()), seed, n, extractor])
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


def default_rows() -> list[RowSpec]:
    """REC, REAL, every sampler at its defaults, then the fact sweep of box and pca_box."""
    from core.sampling.registry import SAMPLERS

    rows = [RowSpec("REC"), RowSpec("REAL")]
    rows += [RowSpec(name, {"fact": 1.0} if name in SWEPT else {}) for name in SAMPLERS]
    rows += [RowSpec(s, {"fact": f}) for s in SWEPT for f in FACTS if f != 1.0]
    return rows


def folder(run: Run, extractor: str) -> Path:
    d = run.paths.quality / extractor
    d.mkdir(parents=True, exist_ok=True)
    return d


def status_path(run: Run) -> Path:
    return run.paths.quality_status


REPAIR = "run the quality job again (`python -m core quality RUN_ID`, or the page's button): it recomputes it"


def _is_record(r, key: str | None = None) -> bool:
    return isinstance(r, dict) and isinstance(r.get("metrics"), dict) and "label" in r and "n" in r \
        and (key is None or r.get("key") == key)


def _arrays_ok(a: dict) -> bool:
    return "feats" in a and np.ndim(a["feats"]) == 2 and bool(np.isfinite(a["feats"]).all())


def load_record(out_dir: Path, key: str) -> dict | None:
    """Row ``key``'s record if it and its arrays are whole, else None: the job computes it again."""
    rec = load_valid(out_dir / f"row-{key}.json", atomic.read_json, lambda r: _is_record(r, key))
    arrays = load_valid(out_dir / f"row-{key}.npz", atomic.load_npz, _arrays_ok) if rec is not None else None
    return rec if arrays is not None else None


def load_ref(path: Path) -> np.ndarray | None:
    """A reference's cached features [N, 2048], or None when missing or damaged (recomputed)."""
    a = load_valid(path, atomic.load_npz, _arrays_ok)
    return None if a is None else a["feats"]


def _rows_dir(run: Run, extractor: str | None) -> Path:
    from core.quality.inception import EXTRACTOR_ID

    return run.paths.quality / (extractor or EXTRACTOR_ID)


def read_rows(run: Run, extractor: str | None = None) -> list[dict]:
    """Every finished row cached for this run (any seed and N), in file order; damaged ones are
    left out here and named by ``damaged_rows`` (a half-written row has no json yet)."""
    d = _rows_dir(run, extractor)
    found = [load_valid(p, atomic.read_json, _is_record) for p in (sorted(d.glob("row-*.json")) if d.is_dir() else [])]
    return [r for r in found if r is not None]


def damaged_rows(run: Run, extractor: str | None = None) -> list[str]:
    """File names of cached rows whose json cannot be read (the page says so; the job recomputes)."""
    d = _rows_dir(run, extractor)
    return [p.name for p in (sorted(d.glob("row-*.json")) if d.is_dir() else [])
            if load_valid(p, atomic.read_json, _is_record) is None]


def row_arrays(run: Run, key: str, extractor: str | None = None) -> dict:
    """A row's arrays (features, face hits, Mahalanobis radii, grid); BrokenArtifactError if damaged."""
    p = _rows_dir(run, extractor) / f"row-{key}.npz"
    a = load_valid(p, atomic.load_npz)
    if a is None:
        raise BrokenArtifactError(p, "missing or unreadable", REPAIR)
    return a


def lookup(rows: list[dict], sampler: str, params: dict) -> dict | None:
    """The cached row of this sampler with these parameters (largest N), if the job made one.
    Parameters compare after filling the sampler's defaults, so {} matches {"fact": 1.0}."""
    want = _with_defaults(sampler, params)
    hits = [r for r in rows if r["sampler"] == sampler and _with_defaults(sampler, r["params"]) == want]
    return max(hits, key=lambda r: r["n"]) if hits else None


def _with_defaults(sampler: str, params: dict) -> dict:
    try:
        from core.sampling.registry import SAMPLERS
    except ImportError:
        return dict(params)
    spec = SAMPLERS.get(sampler)
    base = {k: p.default for k, p in spec.params.items() if p.kind != "data"} if spec else {}
    out = {**base, **params}
    return {k: (round(float(v), 6) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
            for k, v in out.items() if v is not None}


def flat(row: dict) -> dict:
    """One leaderboard line: figures against both references, flattened for a table."""
    out = {"row": row["label"], "N": row["n"], "face rate": row["face_rate"],
           "Mahalanobis": row["mahalanobis_mean"]}
    for ref in REFERENCES:
        m = row["metrics"].get(ref)
        if not m:
            continue
        out.update({f"FID {ref}": m["fid"], f"KID {ref}": m["kid"], f"KID {ref} ±": m["kid_std"],
                    f"precision {ref}": m["precision"], f"recall {ref}": m["recall"],
                    f"N_ref {ref}": m["n_ref"]})
    return out
