"""One registry of samplers for new latent vectors: `sample(name, stats, n, *, seed, **params)`.

Each entry names its function (sampler_fns.py), its parameters with defaults, kinds and a
short description (enough for a UI to build its widgets), and a one-line doc. `sample`
checks names and parameters with clear errors, seeds one numpy Generator per call (same
seed, same points) and returns float32 [n, d].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from core.errors import BadInputError, NonFiniteError
from core.sampling import functions as fns

if TYPE_CHECKING:
    from core.analysis.latent_stats import LatentStats


@dataclass(frozen=True)
class Param:
    default: Any
    doc: str
    kind: str = "float"          # float | int | choice | data (arrays / models, not a widget)
    lo: float | None = None      # inclusive bounds for float / int
    hi: float | None = None
    choices: tuple = ()
    positive: bool = False       # strictly > 0
    ui: tuple[float, float, float] | None = None   # slider (lo, hi, step) where bounds are open
    per_component: bool = False  # an int naming a latent component / main axis: at most d - 1
    source: str | None = None    # kind data: what a run supplies ("z", "gmm", "index"), None: the user

    def widget_range(self, d: int) -> tuple[float, float, float]:
        """(lo, hi, step) of this parameter's widget for latents of dimension d."""
        if self.kind == "int":
            lo = int(self.lo) if self.lo is not None else 0
            hi = d - 1 if self.per_component else int(self.hi) if self.hi is not None else 1000
            return lo, hi, 1
        if self.ui is not None:
            return self.ui
        if self.lo is not None and self.hi is not None:
            return float(self.lo), float(self.hi), (float(self.hi) - float(self.lo)) / 100
        return (0.05 if self.positive else 0.0), max(3.0, 4 * float(self.default)), 0.05


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    fn: Callable
    doc: str
    params: dict[str, Param] = field(default_factory=dict)
    # A sampler that post-processes another's points names the parameter that picks that base
    # sampler; its fn is then fn(x [n, d], **own params) and every other parameter goes to the base.
    wraps: str | None = None

    def base(self, params: dict) -> "SamplerSpec | None":
        return spec_of(params.get(self.wraps, self.params[self.wraps].default), f"--param {self.wraps}") if self.wraps else None


_FACT = Param(1.0, "interval half width in units of the fitted half width", positive=True, ui=(0.05, 3.0, 0.05))
_SCALE = Param(1.0, "multiplies the standard deviations", positive=True, ui=(0.05, 3.0, 0.05))
_Z = Param(None, "the real z-points [N, d]", kind="data", source="z")

SAMPLERS: dict[str, SamplerSpec] = {s.name: s for s in [
    SamplerSpec("box", fns.box, "uniform in [center - fact*hw, center + fact*hw] per component (the blog's method)",
                {"fact": _FACT}),
    SamplerSpec("cube", fns.cube, "uniform in one common interval [-b, b] (the naive method)",
                {"b": Param(None, "half width of the common interval (default: naive_cube_b, wide enough "
                                 "for every component)", positive=True, ui=(0.1, 6.0, 0.1))}),
    SamplerSpec("diag_gauss", fns.diag_gauss, "independent Gaussians per component (center, std)",
                {"scale": _SCALE}),
    SamplerSpec("full_gauss", fns.full_gauss, "multivariate normal with the full covariance",
                {"scale": _SCALE}),
    SamplerSpec("pca_box", fns.pca_box, "uniform box in the main-axis (PCA) frame, mapped back",
                {"fact": _FACT}),
    SamplerSpec("gmm", fns.gmm, "Gaussian mixture fitted to the z-points (Ghosh et al. 2020)",
                {"gmm": Param(None, "fitted GaussianMixtureModel (core.sampling.mixture.cached_gmm)", kind="data",
                              source="gmm"),
                 "z": _Z}),
    SamplerSpec("path", fns.path, "equally spaced points on a straight line through the core", {
        "mode": Param("axis", "axis: main axis; coord: coordinate axis; points: z-point a to b",
                      kind="choice", choices=("axis", "coord", "points")),
        "axis": Param(0, "main axis (mode axis) or component (mode coord)", kind="int", lo=0, per_component=True),
        "axis2": Param(-1, "mode coord: tilt toward this component (-1: none)", kind="int", lo=-1,
                       per_component=True),
        "angle": Param(0.0, "mode coord: tilt angle in degrees toward axis2", lo=-360.0, hi=360.0,
                       ui=(-180.0, 180.0, 1.0)),
        "extent": Param(3.0, "half length in standard deviations (modes axis, coord)", positive=True,
                        ui=(0.5, 6.0, 0.25)),
        "steps": Param(None, "points on the path (default n)", kind="int", lo=1),
        "a": Param(None, "mode points: start (row of z or [d] vector; random row if None)", kind="data"),
        "b": Param(None, "mode points: end (row of z or [d] vector; random row if None)", kind="data"),
        "z": _Z}),
    SamplerSpec("nudge", fns.nudge_points, "draw with `base`, then move each point toward the mean of its k "
                "nearest real z-points by alpha (micro-correlations); other params go to the base sampler", {
        "base": Param("box", "sampler that draws the points first", kind="choice",
                      choices=("box", "cube", "diag_gauss", "full_gauss", "pca_box", "gmm", "path")),
        "k": Param(10, "real neighbours per point", kind="int", lo=1),
        "alpha": Param(0.5, "0: no move, 1: onto the neighbours' mean", lo=0.0, hi=1.0, ui=(0.0, 1.0, 0.05)),
        "z": _Z,
        "index": Param(None, "prebuilt neighbour index over z (.query(q, k))", kind="data", source="index")},
                wraps="base"),
]}


def spec_of(name: str, option: str = "--sampler") -> SamplerSpec:
    """The registered sampler ``name``, else an error naming the option and every valid name."""
    if name not in SAMPLERS:
        raise BadInputError(f"unknown sampler {name!r} ({option}); choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def _all_params(name: str, params: dict) -> dict[str, Param]:
    """A sampler's parameters, then (for a wrapper) its base sampler's that it does not share."""
    spec = spec_of(name)
    base = spec.base(params)
    return {**spec.params, **({k: p for k, p in base.params.items() if k not in spec.params} if base else {})}


def widget_params(name: str, params: dict | None = None) -> dict[str, Param]:
    """The parameters of sampler ``name`` a UI gives a widget (not data, not 'None means auto'),
    the base sampler's included for a wrapper (given ``params`` picking the base)."""
    return {k: p for k, p in _all_params(name, params or {}).items() if p.kind != "data" and p.default is not None}


def data_inputs(name: str, params: dict | None = None) -> dict[str, str]:
    """{parameter: what the run supplies} for sampler ``name`` (and its base): e.g. nudge over
    gmm needs {"gmm": "gmm", "z": "z", "index": "index"}; box needs nothing."""
    return {k: p.source for k, p in _all_params(name, params or {}).items() if p.kind == "data" and p.source}


def _valid(p: Param) -> str:
    """The values a number parameter takes, in words (for its error message)."""
    if p.lo is not None and p.hi is not None:
        return f"between {p.lo:g} and {p.hi:g}"
    if p.positive:
        return "> 0"
    return f">= {p.lo:g}" if p.lo is not None else f"<= {p.hi:g}" if p.hi is not None else "finite"


def _check(sampler: str, spec: dict[str, Param], params: dict) -> dict:
    unknown = sorted(set(params) - set(spec))
    if unknown:
        settable = [f"{k} (default {p.default})" for k, p in spec.items() if p.kind != "data"]
        takes = (f"its parameters: {', '.join(settable)}" if settable else
                 "it takes no parameters (what it needs comes from the run's z-points)")
        raise BadInputError(f"sampler {sampler!r} has no parameter {', '.join(unknown)} (--param); {takes}")
    out = {k: p.default for k, p in spec.items()}
    for k, v in params.items():
        p = spec[k]
        if p.kind in ("float", "int") and v is not None:
            try:
                v = int(v) if p.kind == "int" and float(v) == int(v) else float(v)
            except (TypeError, ValueError):
                raise BadInputError(f"{sampler}: {k} must be a number, got {v!r}") from None
            if p.kind == "int" and not isinstance(v, int):
                raise BadInputError(f"{sampler}: {k} must be an integer, got {v!r}")
            if (not np.isfinite(v) or (p.lo is not None and v < p.lo) or (p.hi is not None and v > p.hi)
                    or (p.positive and v <= 0)):
                raise BadInputError(f"sampler {sampler!r}: {k} must be a finite number {_valid(p)}, got {v}")
        elif p.kind == "choice" and v not in p.choices:
            raise BadInputError(f"{sampler}: {k} must be one of {p.choices}, got {v!r}")
        out[k] = v
    return out


def sample(name: str, stats: LatentStats, n: int, *, seed: int, **params: Any) -> np.ndarray:
    """n new latent vectors from sampler `name` -> float32 [n, d] (path: [steps, d])."""
    spec_of(name)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise BadInputError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    rng = np.random.default_rng(seed)
    spec = SAMPLERS[name]
    if spec.wraps:
        own = _check(name, spec.params, {k: params.pop(k) for k in list(params) if k in spec.params})
        base = spec_of(own[spec.wraps], f"--param {spec.wraps}")
        for k, v in own.items():                  # data the base needs too (z) is given once
            if k in base.params and base.params[k].kind == "data" and v is not None:
                params.setdefault(k, v)
        x = base.fn(stats, n, rng, **_check(base.name, base.params, params))
        out = spec.fn(np.asarray(x, np.float64), **{k: v for k, v in own.items() if k != spec.wraps})
    else:
        out = spec.fn(stats, n, rng, **_check(name, spec.params, params))
    out = np.ascontiguousarray(out, dtype=np.float32)
    if out.ndim != 2 or out.shape[1] != stats.d:
        raise RuntimeError(f"sampler {name!r} returned shape {out.shape}, expected [*, {stats.d}]")
    if not np.isfinite(out).all():
        raise NonFiniteError(f"sampler {name!r} produced NaN/inf (check the run's statistics and z.npy)")
    return out
