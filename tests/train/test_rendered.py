"""Rendering inside the trainer: the rendered group source yields the bytes the shards hold."""

from __future__ import annotations

import numpy as np
import pytest

from nirvis.shards.config import RenderDatasetConfig, dump_yaml
from nirvis.shards.reader import iter_pairs
from nirvis.train.rendered import RenderedGroupSource

CONFIG = dict(identities=6, images_per_identity=4, shard_size=8, batch_size=8, workers=1, texture_resolution=128,
              seed=3)                                         # the tiny_data fixture's config


def test_rendered_pairs_are_the_shards_bytes(tiny_data):
    source = RenderedGroupSource(RenderDatasetConfig(**CONFIG), group_size=2)
    stored = {s.key: s for s in iter_pairs([tiny_data])}
    assert len(stored) == 24
    seen = 0
    for group in source.groups(seed=0, epoch=0):
        for vis_item, nir_item in zip(group.vis, group.nir):
            ref = stored[f"{vis_item.label:07d}_{vis_item.index:04d}"]
            assert np.array_equal(group.load(vis_item, "vis"), ref.vis)
            assert np.array_equal(group.load(nir_item, "nir"), ref.nir)
            pair = source.render_pair(vis_item.label, vis_item.index, vis_item.group)
            assert pair["meta"]["pair_seed"] == ref.meta["pair_seed"] and pair["key"] == ref.key
            seen += 1
    assert seen == 24


def test_every_pair_once_per_epoch_in_a_seeded_order():
    source = RenderedGroupSource(RenderDatasetConfig(**CONFIG), group_size=3)

    def epoch(seed, e):
        return [(g.label, tuple(h.index for h in g.vis)) for g in source.groups(seed, e)]

    first = epoch(0, 0)
    assert sorted((label, i) for label, idx in first for i in idx) == [(label, i) for label in range(6)
                                                                      for i in range(4)]
    assert all(len(idx) in (1, 3) for _, idx in first)          # groups of 3 and each identity's rest
    assert epoch(0, 0) == first and epoch(0, 1) != first and epoch(1, 0) != first
    assert source.num_classes() == 6 and source.pairs() == 24


@pytest.mark.slow
def test_train_renders_on_the_fly_from_a_config_path(tmp_path):
    from train_helpers import tiny_config

    from nirvis.train.loop import train

    path = tmp_path / "render.yaml"
    path.write_text(dump_yaml(RenderDatasetConfig(**CONFIG)))
    summary = train(tiny_config(**{"optim.max_steps": 2, "data.verify": False}), [str(path)], tmp_path / "run")
    assert summary["steps"] == 2


def test_rendered_pairs_of_a_lossy_config_are_the_shards_decoded_pixels(tmp_path):
    """With encoding: jpeg the trainer sees what the shards hold: the JPEG-decoded pixels."""
    from nirvis.shards.render import render_dataset

    cfg = RenderDatasetConfig(identities=2, images_per_identity=2, shard_size=4, batch_size=2, workers=1,
                              texture_resolution=128, seed=3, encoding="jpeg", quality=80)
    render_dataset(cfg, tmp_path / "ds", progress=False)
    stored = {s.key: s for s in iter_pairs([tmp_path / "ds"])}
    source = RenderedGroupSource(cfg, group_size=2)
    seen = 0
    for group in source.groups(seed=0, epoch=0):
        for item in group.vis:
            ref = stored[f"{item.label:07d}_{item.index:04d}"]
            assert np.array_equal(group.load(item, "vis"), ref.vis)
            assert np.array_equal(group.load(item, "nir"), ref.nir)
            seen += 1
    assert seen == 4
