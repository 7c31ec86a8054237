"""The errors a user can meet, typed once so every page and command can catch what it can meet
and say what to do. Each message names the file or argument and the repair; no traceback needed.

    AtlasError            base: an expected failure with a message for people
      BadInputError       an argument, option, config or input file is wrong (ValueError too)
        UnknownRunError   no run of that id in the cache (FileNotFoundError too)
      BrokenArtifactError a file of a run or cache is damaged or inconsistent (``.path`` names it)
      NotReadyError       an artifact is not there yet (run still training, derive not run)
      BusyError           another process holds the lock (a run being trained, derived, ...)
      NonFiniteError      NaN/inf in data, weights, latents or decoder output (FloatingPointError too)
        DecoderOutputError  the decoder gave NaN/inf for some latent vectors (``.rows`` names them)
"""
from __future__ import annotations

from pathlib import Path


class AtlasError(Exception):
    """An expected failure whose message tells the user what is wrong and what to do."""


class BadInputError(AtlasError, ValueError):
    """A user-given argument, option, configuration or input file is wrong."""


class UnknownRunError(BadInputError, FileNotFoundError):
    """No run of the given id in the cache; the message lists the known ones."""


class BrokenArtifactError(AtlasError):
    """A file of a run or of the cache is damaged, truncated or inconsistent with the others."""

    def __init__(self, path: str | Path, why: str, repair: str = ""):
        self.path, self.why, self.repair = Path(path), why, repair
        super().__init__(f"{self.path} is broken: {why}" + (f"; {repair}" if repair else ""))


class NotReadyError(AtlasError):
    """An artifact is not there yet (a run still training, statistics not derived yet)."""


class BusyError(AtlasError, RuntimeError):
    """Another process holds the lock."""


class NonFiniteError(AtlasError, FloatingPointError):
    """NaN or inf where numbers must be finite."""


class DecoderOutputError(NonFiniteError):
    """The decoder returned NaN or inf for some finite latent vectors: no image exists for them,
    and rounding NaN to 8 bits would draw a black tile without a word. ``rows``: their rows in
    the decoded batch; ``n``: the batch size."""

    def __init__(self, rows, n: int):
        self.rows, self.n = [int(r) for r in rows], int(n)
        shown = ", ".join(map(str, self.rows[:12])) + (", ..." if len(self.rows) > 12 else "")
        super().__init__(f"the decoder returned NaN or inf for {len(self.rows)} of {self.n} latent vectors "
                         f"(rows {shown} of the batch), so they have no image. Such vectors usually lie far "
                         "from the real z-points (draw closer to them: a smaller fact or b); if real z-points "
                         "fail too, the model itself is broken")
