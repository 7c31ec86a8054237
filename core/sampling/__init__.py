"""New latent vectors: the sampler registry, the sampler functions, the mixture, the run's sampling session."""
