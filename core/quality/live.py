"""Checks cheap enough for every Generator batch that collapse and texture cannot fool:
the face rate (core.quality.faces) and the batch's diversity, each next to the same figure
for decoded held-out real z-points in batches of the same size.

Diversity is the mean pairwise RMS pixel distance between the decoded images. The reference
decodes held-out z-points rather than showing real photos, so both sides carry the decoder's
blur: a batch that collapsed onto one face scores far below 1x of it, whatever its z-points'
distances to the data say.
"""
from __future__ import annotations

import numpy as np

from core.quality.faces import has_face


def mean_pairwise_distance(images: np.ndarray) -> float:
    """Mean RMS per-pixel distance over all pairs of images ([0, 1] scale); 0 for < 2 images."""
    x = np.asarray(images, np.float32).reshape(len(images), -1) / 255.0       # [n, S*S*3]
    if len(x) < 2:
        return 0.0
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0) / x.shape[1]
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(d2[iu]).mean())


class LiveJudge:
    """Reference figures per batch size, computed once from decoded held-out z-points."""

    def __init__(self, decode, z_heldout: np.ndarray, *, trials: int = 8, face_images: int = 42, seed: int = 0):
        self.decode, self.z = decode, np.asarray(z_heldout, np.float32)
        self.trials, self.face_images, self.seed = trials, face_images, seed
        self._ref: dict[int, dict] = {}

    def reference(self, n: int) -> dict:
        if n not in self._ref:
            rng = np.random.default_rng(self.seed)
            divs, faces = [], []
            for _ in range(self.trials):
                imgs = self.decode(self.z[rng.choice(len(self.z), min(n, len(self.z)), replace=False)])
                divs.append(mean_pairwise_distance(imgs))
                if sum(len(f) for f in faces) < self.face_images:
                    faces.append(has_face(imgs))
            self._ref[n] = {"real_diversity": float(np.mean(divs)), "real_diversity_std": float(np.std(divs)),
                            "real_face_rate": float(np.concatenate(faces).mean())}
        return self._ref[n]

    def judge(self, images: np.ndarray) -> dict:
        """face rate and diversity of a batch next to its reference (flat keys, like diagnostics)."""
        ref = self.reference(len(images))
        div = mean_pairwise_distance(images)
        return {**ref, "sample_face_rate": float(has_face(images).mean()), "sample_diversity": div,
                "sample_diversity_ratio": div / ref["real_diversity"] if ref["real_diversity"] > 0 else float("nan")}


def off_data(diagnostics: dict) -> np.ndarray:
    """bool [n]: samples off the data, by either test a held-out real point passes 95% of the
    time: nearest-real distance or Mahalanobis radius beyond the held-out real points' 95th
    percentile. Placement on a map by nearest real z-points hides exactly these, so maps draw
    them hollow. (The naive cube fails the first test; a box that ignores correlations, even a
    collapsed fact 0.5 one sitting between real points, fails the second.)"""
    nn, maha = diagnostics.get("sample_nn"), diagnostics.get("sample_mahalanobis")
    if nn is None or maha is None:
        return np.zeros(0, bool)
    out = np.asarray(nn) > diagnostics["real_nn_p95"]
    real_maha = diagnostics.get("real_mahalanobis")
    if real_maha is not None and len(real_maha):
        out |= np.asarray(maha) > np.percentile(real_maha, 95)
    return out
