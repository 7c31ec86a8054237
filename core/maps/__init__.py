"""2-D maps of the z-points: UMAP (cached), PCA plane, placement of new points."""
