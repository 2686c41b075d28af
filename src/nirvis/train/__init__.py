"""ID-MMD training of cross-spectral face embeddings (not built yet: see the trainer issue)."""
