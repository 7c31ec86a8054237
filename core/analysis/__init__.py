"""Statistics of the z-point cloud: moments, histogram fits, normality, neighbours, batch diagnostics."""
