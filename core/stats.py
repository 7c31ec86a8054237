"""Public entry point: ``latent_stats(z) -> LatentStats`` (lives in core.analysis.latent_stats)."""
from core.analysis.latent_stats import LatentStats, cached_latent_stats, latent_stats, z_key

__all__ = ["LatentStats", "cached_latent_stats", "latent_stats", "z_key"]
