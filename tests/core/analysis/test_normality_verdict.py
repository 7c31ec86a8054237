"""core.analysis.normality.verdict: a Gaussian cloud is called normal, heavy tails are not."""
from __future__ import annotations

import numpy as np

from core.analysis.latent_stats import latent_stats
from core.analysis.normality import verdict


def test_gaussian_is_normal_and_laplace_is_not():
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((16, 16))
    v = verdict(latent_stats(rng.standard_normal((20000, 16)) @ mix))
    assert v["normal"] and v["headline"].startswith("Yes")
    assert "68.3%" in v["details"][-1]
    v = verdict(latent_stats(rng.laplace(size=(20000, 16)) @ mix))
    assert not v["normal"] and v["headline"].startswith("No")
    assert any("heavier tails" in line for line in v["details"])
    assert set(v["table"]) >= {"Mardia skewness b1", "Mardia kurtosis b2"}
