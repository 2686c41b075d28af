"""Sharded, resumable WebDataset generation (not built yet: see the render-dataset issue)."""
