"""Shared fixtures of the trainer tests: one tiny rendered data set per session."""

from __future__ import annotations

from pathlib import Path

import pytest



@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """6 identities x 4 pairs, 8 pairs per shard (read-only for the tests)."""
    from nirvis.shards.config import RenderDatasetConfig
    from nirvis.shards.render import render_dataset

    out = tmp_path_factory.mktemp("train_data") / "ds"
    cfg = RenderDatasetConfig(identities=6, images_per_identity=4, shard_size=8, batch_size=8, workers=1,
                              texture_resolution=128, seed=3)
    render_dataset(cfg, out, progress=False)
    return out
