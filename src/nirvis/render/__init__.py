"""Differentiable rendering of paired NIR/VIS face images (not built yet: see the renderer issue)."""
