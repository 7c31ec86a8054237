"""One registry of samplers for new latent vectors: `sample(name, stats, n, *, seed, **params)`.

Each entry names its function (sampler_fns.py), its parameters with defaults, kinds and a
short description (enough for a UI to build its widgets), and a one-line doc. `sample`
checks names and parameters with clear errors, seeds one numpy Generator per call (same
seed, same points) and returns float32 [n, d].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from core.sampling import functions as fns
from core.sampling.mixture import GaussianMixtureModel, cached_gmm, fit_gmm  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Param:
    default: Any
    doc: str
    kind: str = "float"          # float | int | choice | data (arrays / models, not a widget)
    lo: float | None = None      # inclusive bounds for float / int
    hi: float | None = None
    choices: tuple = ()
    positive: bool = False       # strictly > 0


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    fn: Callable
    doc: str
    params: dict[str, Param] = field(default_factory=dict)


_FACT = Param(1.0, "interval half width in units of the fitted half width", positive=True)
_SCALE = Param(1.0, "multiplies the standard deviations", positive=True)
_Z = Param(None, "the real z-points [N, d]", kind="data")

SAMPLERS: dict[str, SamplerSpec] = {s.name: s for s in [
    SamplerSpec("box", fns.box, "uniform in [center - fact*hw, center + fact*hw] per component (the blog's method)",
                {"fact": _FACT}),
    SamplerSpec("cube", fns.cube, "uniform in one common interval [-b, b] (the naive method)",
                {"b": Param(None, "half width of the common interval (default: naive_cube_b, wide enough "
                                 "for every component)", positive=True)}),
    SamplerSpec("diag_gauss", fns.diag_gauss, "independent Gaussians per component (center, std)",
                {"scale": _SCALE}),
    SamplerSpec("full_gauss", fns.full_gauss, "multivariate normal with the full covariance",
                {"scale": _SCALE}),
    SamplerSpec("pca_box", fns.pca_box, "uniform box in the main-axis (PCA) frame, mapped back",
                {"fact": _FACT}),
    SamplerSpec("gmm", fns.gmm, "Gaussian mixture fitted to the z-points (Ghosh et al. 2020)",
                {"gmm": Param(None, "fitted GaussianMixtureModel (core.sampling.mixture.cached_gmm)", kind="data"),
                 "z": _Z}),
    SamplerSpec("path", fns.path, "equally spaced points on a straight line through the core", {
        "mode": Param("axis", "axis: main axis; coord: coordinate axis; points: z-point a to b",
                      kind="choice", choices=("axis", "coord", "points")),
        "axis": Param(0, "main axis (mode axis) or component (mode coord)", kind="int", lo=0),
        "axis2": Param(-1, "mode coord: tilt toward this component (-1: none)", kind="int", lo=-1),
        "angle": Param(0.0, "mode coord: tilt angle in degrees toward axis2", lo=-360.0, hi=360.0),
        "extent": Param(3.0, "half length in standard deviations (modes axis, coord)", positive=True),
        "steps": Param(None, "points on the path (default n)", kind="int", lo=1),
        "a": Param(None, "mode points: start (row of z or [d] vector; random row if None)", kind="data"),
        "b": Param(None, "mode points: end (row of z or [d] vector; random row if None)", kind="data"),
        "z": _Z}),
    SamplerSpec("nudge", None, "draw with `base`, then move each point toward the mean of its k nearest "
                "real z-points by alpha (micro-correlations); other params go to the base sampler", {
        "base": Param("box", "sampler that draws the points first", kind="choice",
                      choices=("box", "cube", "diag_gauss", "full_gauss", "pca_box", "gmm", "path")),
        "k": Param(10, "real neighbours per point", kind="int", lo=1),
        "alpha": Param(0.5, "0: no move, 1: onto the neighbours' mean", lo=0.0, hi=1.0),
        "z": _Z,
        "index": Param(None, "prebuilt neighbour index over z (.query(q, k))", kind="data")}),
]}


def _check(sampler: str, spec: dict[str, Param], params: dict) -> dict:
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ValueError(f"sampler {sampler!r} has no parameter(s) {unknown}; "
                         f"it takes {sorted(spec)}")
    out = {k: p.default for k, p in spec.items()}
    for k, v in params.items():
        p = spec[k]
        if p.kind in ("float", "int") and v is not None:
            try:
                v = int(v) if p.kind == "int" and float(v) == int(v) else float(v)
            except (TypeError, ValueError):
                raise ValueError(f"{sampler}: {k} must be a number, got {v!r}") from None
            if p.kind == "int" and not isinstance(v, int):
                raise ValueError(f"{sampler}: {k} must be an integer, got {v!r}")
            if not np.isfinite(v) or (p.lo is not None and v < p.lo) or (p.hi is not None and v > p.hi):
                raise ValueError(f"{sampler}: {k}={v} outside [{p.lo}, {p.hi}]")
            if p.positive and v <= 0:
                raise ValueError(f"{sampler}: {k} must be > 0, got {v}")
        elif p.kind == "choice" and v not in p.choices:
            raise ValueError(f"{sampler}: {k} must be one of {p.choices}, got {v!r}")
        out[k] = v
    return out


def sample(name: str, stats, n: int, *, seed: int, **params) -> np.ndarray:
    """n new latent vectors from sampler `name` -> float32 [n, d] (path: [steps, d])."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose from {sorted(SAMPLERS)}")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    rng = np.random.default_rng(seed)
    if name == "nudge":
        own = {k: params.pop(k) for k in list(params) if k in SAMPLERS["nudge"].params}
        p = _check("nudge", SAMPLERS["nudge"].params, own)
        base = SAMPLERS[p["base"]]
        for shared in ("z",):                      # the base may need the z-points too
            if shared in base.params and p[shared] is not None:
                params.setdefault(shared, p[shared])
        x = base.fn(stats, n, rng, **_check(p["base"], base.params, params))
        out = fns.nudge_points(np.asarray(x, np.float64), p["z"], k=p["k"], alpha=p["alpha"],
                               index=p["index"])
    else:
        out = SAMPLERS[name].fn(stats, n, rng, **_check(name, SAMPLERS[name].params, params))
    out = np.ascontiguousarray(out, dtype=np.float32)
    if out.ndim != 2 or out.shape[1] != stats.d:
        raise RuntimeError(f"sampler {name!r} returned shape {out.shape}, expected [*, {stats.d}]")
    if not np.isfinite(out).all():
        raise RuntimeError(f"sampler {name!r} produced NaN/inf (check the statistics)")
    return out
