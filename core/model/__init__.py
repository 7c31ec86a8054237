"""The autoencoder, its training, encoding a dataset to z-points, face grids."""
