"""Image sources (CelebA, folder, synthetic), image-file decoding, the preprocessing cache."""
