"""Attribute directions (Latent Space Cartography's custom axes): for every label column of
a run, the latent direction between its two groups and how linearly the latent space
encodes it (held-out ROC AUC of the projection onto that direction).

Columns become two groups like this: 0/1 (or -1/1, True/False) columns as they are;
numeric columns with many values split at their median ("name > median"); columns with a
few levels (codes, strings) one group per level against the rest ("name = level").
Directions are fitted on the training rows and judged on the held-out rows (partition
valid/test; a seeded 20% split when the run has none), so an AUC is never flattered by
the points that made its direction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from core.errors import BadInputError

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.analysis.latent_stats import LatentStats

NOT_ATTRIBUTES = {"row", "image_id", "path", "partition", "recon_mse", "identity"}
MAX_LEVELS = 12          # a column with more distinct values than this is treated as numeric
MIN_GROUP = 5            # fewer members than this in either group: no direction
METHODS = ("mean_diff", "logistic")


def label_groups(index: pd.DataFrame) -> dict[str, np.ndarray]:
    """{name: bool [N]} for every attribute column of the index (see the module doc)."""
    out: dict[str, np.ndarray] = {}
    for col in index.columns:
        if col in NOT_ATTRIBUTES:
            continue
        s = index[col]
        if s.isna().all():
            continue
        values = pd.unique(s.dropna())
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if len(values) == 2:
            hi = max(values) if numeric else max(map(str, values))
            out[col] = (s == hi).to_numpy() if numeric else (s.astype(str) == hi).to_numpy()
        elif numeric and len(values) > MAX_LEVELS:
            med = float(s.median())
            out[f"{col} > median"] = (s > med).to_numpy()
        elif len(values) <= MAX_LEVELS:
            for v in sorted(values, key=str):
                out[f"{col} = {v}"] = (s == v).to_numpy()
    return out


def heldout_mask(index: pd.DataFrame, seed: int = 0, share: float = 0.2) -> np.ndarray:
    """bool [N]: rows that judge the directions (not used to fit them)."""
    n = len(index)
    if "partition" in index:
        held = (index["partition"].astype(str) != "train").to_numpy()
        if 20 <= held.sum() <= n - 20:
            return held
    held = np.zeros(n, bool)
    held[np.random.default_rng(seed).choice(n, max(1, int(share * n)), replace=False)] = True
    return held


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank sum (ties count half); NaN without both groups."""
    labels = np.asarray(labels, bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(scores)
    return float((r[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def mean_diff_directions(z: np.ndarray, groups: np.ndarray, chunk: int = 32768) -> np.ndarray:
    """Difference of class means (positive minus negative) for each column of groups
    [N, m] bool, in one chunked pass over z [N, d]: -> [m, d] (not normalised)."""
    g = np.asarray(groups, np.float64)
    n_pos = g.sum(0)
    n_neg = len(g) - n_pos
    if (n_pos == 0).any() or (n_neg == 0).any():
        raise BadInputError("every attribute needs members in both groups")
    pos_sum, total = np.zeros((g.shape[1], z.shape[1])), np.zeros(z.shape[1])
    for i in range(0, len(g), chunk):
        zb = np.asarray(z[i:i + chunk], np.float64)
        pos_sum += g[i:i + chunk].T @ zb
        total += zb.sum(0)
    mu_pos = pos_sum / n_pos[:, None]
    mu_neg = (total[None] - pos_sum) / n_neg[:, None]
    return mu_pos - mu_neg


def logistic_direction(z: np.ndarray, labels: np.ndarray, seed: int = 0,
                       max_rows: int = 20000) -> np.ndarray:
    """Normal of an L2 logistic regression (on standardised components, mapped back to
    latent units), fitted on at most ``max_rows`` seeded rows: [d] (not normalised)."""
    from sklearn.linear_model import LogisticRegression

    z = np.asarray(z, np.float64)
    labels = np.asarray(labels, bool)
    if len(z) > max_rows:
        pick = np.random.default_rng(seed).choice(len(z), max_rows, replace=False)
        z, labels = z[pick], labels[pick]
    mu, sd = z.mean(0), z.std(0) + 1e-12
    clf = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    clf.fit((z - mu) / sd, labels)
    return clf.coef_[0] / sd


@dataclass
class AttributeDirections:
    names: list[str]
    directions: np.ndarray     # [m, d] unit vectors, pointing toward the positive group
    sigma: np.ndarray          # [m] std of all z-points' projections on each direction
    table: pd.DataFrame        # one row per attribute, best held-out AUC first

    def get(self, name: str) -> tuple[np.ndarray, float]:
        if name not in self.names:
            raise BadInputError(f"no attribute direction {name!r}; known: {', '.join(self.names[:8])} ...")
        i = self.names.index(name)
        return self.directions[i], float(self.sigma[i])


def attribute_directions(z: np.ndarray, index: pd.DataFrame, stats: LatentStats, *, method: str = "mean_diff",
                         seed: int = 0) -> AttributeDirections:
    """Directions, held-out AUC and separation for every attribute of the run."""
    if method not in METHODS:
        raise BadInputError(f"method must be one of {METHODS}, got {method!r}")
    if len(index) != len(z):
        raise BadInputError(f"the index has {len(index)} rows, z has {len(z)}")
    groups = label_groups(index)
    held = heldout_mask(index, seed)
    train = np.flatnonzero(~held)
    names = [n for n, g in groups.items()
             if min(g[train].sum(), (~g[train]).sum(), g[held].sum(), (~g[held]).sum()) >= MIN_GROUP]
    if not names:
        raise BadInputError("this run has no attribute column with at least "
                            f"{MIN_GROUP} members in each group (train and held-out)")
    G = np.stack([groups[n] for n in names], 1)                      # [N, m]
    zt = np.asarray(z[train], np.float64) if len(train) < len(z) else np.asarray(z, np.float64)
    diff = mean_diff_directions(zt, G[train])                          # [m, d]
    raw = diff if method == "mean_diff" else \
        np.stack([logistic_direction(zt, G[train, j], seed) for j in range(len(names))])
    unit = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-300)
    sigma = np.sqrt(np.einsum("md,de,me->m", unit, stats.cov, unit))  # u^T C u
    proj_h = np.asarray(z[np.flatnonzero(held)], np.float64) @ unit.T  # [n_held, m]
    aucs = np.array([auc(proj_h[:, j], G[held, j]) for j in range(len(names))])
    # separation of the class means along the direction, in units of the cloud's spread there
    sep = (diff * unit).sum(1) / np.maximum(sigma, 1e-300)
    cos = np.abs(unit @ stats.pca_components[:min(stats.d, 50)].T)      # [m, <=50]
    table = pd.DataFrame({
        "attribute": names, "positives": G.sum(0), "share": G.mean(0), "held-out AUC": aucs,
        "separation (σ)": sep, "closest main axis": cos.argmax(1), "|cos| with it": cos.max(1)})
    table = table.sort_values("held-out AUC", ascending=False, kind="stable").reset_index(drop=True)
    return AttributeDirections(names, unit, sigma, table)


def attribute_plane(z: np.ndarray, direction: np.ndarray, stats: LatentStats, chunk: int = 32768) -> np.ndarray:
    """Map coordinates [N, 2]: x = position along the attribute direction, y = along the
    first main axis made orthogonal to it (the largest remaining spread), both in sigma
    units about the mean."""
    u = np.asarray(direction, np.float64)
    u = u / np.linalg.norm(u)
    v = None
    for k in range(min(stats.d, 3)):     # the first main axis not (nearly) parallel to u
        cand = stats.pca_components[k] - (stats.pca_components[k] @ u) * u
        if np.linalg.norm(cand) > 1e-3:
            v = cand / np.linalg.norm(cand)
            break
    if v is None:                          # d == 1: only one direction exists
        v = np.zeros_like(u)
    frame = np.stack([u, v], 1)                                       # [d, 2]
    scale = np.sqrt(np.maximum(np.einsum("dk,de,ek->k", frame, stats.cov, frame), 1e-300))
    out = np.empty((len(z), 2), np.float32)
    for i in range(0, len(z), chunk):
        out[i:i + chunk] = (np.asarray(z[i:i + chunk], np.float64) - stats.pca_mean) @ frame / scale
    return out
