"""Navigating the latent space: paths between vectors, main-axis and attribute traversals,
decoding any map location, and nudging a vector toward its nearest real z-points."""
