"""Everything a run needs to generate and judge new latent vectors, loaded once, used often.

The CLI's ``sample`` and the dashboard both go through :class:`RunSampler`: statistics and
mixtures are cached in the run's ``derived/`` folder, the neighbour index is built once, and
a batch (sample -> decode -> diagnostics) is then a few milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store.runs import Run

if TYPE_CHECKING:
    from core.analysis.latent_stats import LatentStats
    from core.analysis.neighbors import KNNIndex
    from core.model.codec import Codec
    from core.sampling.mixture import GaussianMixtureModel


@dataclass
class Batch:
    sampler: str
    params: dict
    seed: int
    z: np.ndarray                 # [n, d] float32
    images: np.ndarray | None     # uint8 [n, S, S, 3]; None when the run has no decoder
    diagnostics: dict = field(default_factory=dict)


class RunSampler:
    def __init__(self, run: Run, device: str = "cpu", knn=None, z: np.ndarray | None = None):
        # knn: share a prebuilt index; z: z-points already read (a server reads them into
        # memory: a mapped file truncated by another process would kill it with SIGBUS)
        self.run, self.device, self._knn = run, device, knn
        if z is not None:
            self.z = z

    @cached_property
    def z(self) -> np.ndarray:
        return self.run.z(mmap=True)                                  # [N, d]

    @cached_property
    def partition(self) -> np.ndarray:
        return self.run.index()["partition"].to_numpy()

    @cached_property
    def train_rows(self) -> np.ndarray:
        rows = np.flatnonzero(self.partition == "train")
        return rows if len(rows) else np.arange(len(self.z))

    @cached_property
    def heldout_rows(self) -> np.ndarray:
        return np.flatnonzero(self.partition != "train")

    @cached_property
    def stats(self) -> LatentStats:
        from core.analysis.latent_stats import cached_latent_stats

        return cached_latent_stats(np.asarray(self.z), self.run.derived())

    @cached_property
    def model(self) -> Codec:
        """The run's autoencoder as a ``core.model.codec.Codec`` (own or imported): numpy in and out."""
        import torch

        return self.run.codec(self.device, threads=torch.get_num_threads())

    @cached_property
    def knn(self) -> KNNIndex:
        """Exact neighbour index over every z-point (rows of z.npy)."""
        from core.analysis.neighbors import KNNIndex

        return self._knn if self._knn is not None else KNNIndex(np.asarray(self.z))

    @cached_property
    def gmm(self) -> GaussianMixtureModel:
        from core.sampling.mixture import cached_gmm

        return cached_gmm(np.asarray(self.z), self.run.derived())

    def sampler_inputs(self, name: str, params: dict) -> dict:
        """The run data a sampler needs besides the statistics (only what the registry says
        it asks for: the mixture is fitted only for a sampler that uses it)."""
        from core.sampling.registry import data_inputs

        supply = {"z": lambda: self.z, "gmm": lambda: self.gmm, "index": lambda: self.knn}
        return {k: supply[source]() for k, source in data_inputs(name, params).items()}

    def vectors(self, name: str, n: int = 21, *, seed: int = 0, **params: Any) -> np.ndarray:
        from core.sampling.registry import sample

        return sample(name, self.stats, n, seed=seed, **params, **self.sampler_inputs(name, params))

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.model.decode(z)                                   # uint8 [n, S, S, 3]

    def neighbors(self, q: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        return self.knn.query(np.asarray(q, np.float32), k)

    @cached_property
    def heldout_reference(self) -> dict:
        """Diagnostics of real held-out z-points, computed once: what a good batch looks like."""
        from core.analysis.diagnostics import reference_diagnostics

        return reference_diagnostics(self.stats, self.z, self.train_rows, self.heldout_rows, index=self.knn)

    def diagnostics(self, z_new: np.ndarray) -> dict:
        from core.analysis.diagnostics import batch_diagnostics

        return batch_diagnostics(z_new, self.stats, reference=self.heldout_reference, index=self.knn)

    @cached_property
    def _decoder_thread(self):
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(1, thread_name_prefix="decode")

    def batch(self, name: str, n: int = 21, *, seed: int = 0, **params: Any) -> Batch:
        z_new = self.vectors(name, n, seed=seed, **params)
        # Decoding (torch) and the neighbour search behind the diagnostics (FAISS, numpy)
        # both release the GIL: on two cores they overlap, and a slider move costs the
        # longer of the two instead of their sum. A run imported without a decoder has no faces.
        images = self._decoder_thread.submit(self.decode, z_new) if self.model.has_decoder else None
        diagnostics = self.diagnostics(z_new)
        return Batch(name, params, seed, z_new, None if images is None else images.result(), diagnostics)
