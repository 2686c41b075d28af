"""Rendering inside the trainer: a render-dataset config as a group source, no shards on disk.

``RenderedGroupSource(config, group_size)`` is what ``ShardGroupSource`` is for a data set that
was never written: each epoch it yields every identity of the config as groups of
``group_size`` pair handles (identities and pairs in an order drawn from ``[seed, epoch]``), and a
group's pairs are rendered, together in one batch, the first time the batch builder loads one
of them. The images are the arrays the config's shards hold (``_ShardRenderer.render_samples``:
the same pair seeds, the same renderer; PNG is lossless, and with ``encoding: jpeg|webp`` each
image is encoded and decoded as the shards would store it), so a run trained on the fly sees the
pixels it would have read from ``render-dataset``'s output. Under W ranks every rank builds the
same group stream (handles only) and renders just the groups of its own batches.

Use it when rendering keeps up with the training step (``nirvis bench render`` against
``nirvis bench train``); give the trainer the config's YAML path instead of a data directory
(``nirvis train --data configs/render/default.yaml``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

from nirvis.shards.config import RenderDatasetConfig, load_config
from nirvis.train.preprocess import at_crop_size
from nirvis.train.sampler import IdentityGroup


@dataclass(frozen=True)
class PairHandle:
    """One pair of a rendered group: its identity ``label`` (in the config), pair ``index``, and
    the group it is rendered with."""

    label: int
    index: int
    group: tuple[int, ...]   # pair indices of its group (rendered together)


class RenderedGroupSource:
    """A render-dataset config as the trainer's identity groups (see the module docstring).

    Args:
        config: a ``RenderDatasetConfig`` or the path of its YAML file.
        group_size: pairs per group (the sampler's ``max(vis_per_identity, nir_per_identity)``).
        label_offset: added to the config's labels (after earlier sources).
        cache_groups: rendered groups kept in memory (a batch needs ``identities_per_batch``).
    """

    def __init__(self, config: Union[RenderDatasetConfig, str, Path], group_size: int, label_offset: int = 0,
                 cache_groups: int = 64):
        from nirvis.shards.render import _Job, _ShardRenderer, effective_config

        cfg = config if isinstance(config, RenderDatasetConfig) else load_config(config)
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        eff, device, asset_dirs = effective_config(cfg)
        self.config = eff
        self.group_size, self.label_offset, self.cache_groups = group_size, label_offset, cache_groups
        self._renderer = _ShardRenderer(_Job(config=eff, out="", device=device, asset_dirs=asset_dirs,
                                             fingerprint=""))
        self._rendered: "OrderedDict[tuple[int, tuple[int, ...]], dict[int, dict[str, Any]]]" = OrderedDict()

    def num_classes(self) -> int:
        """The config's identity count."""
        return int(self.config.identities)

    def pairs(self) -> int:
        """Pairs per epoch (the mixing weight against other sources)."""
        return int(self.config.pairs)

    def groups(self, seed: int, epoch: int) -> Iterator[IdentityGroup]:
        """Every identity once per epoch, as groups of ``group_size`` pair handles (the last group
        of an identity may be shorter), in an order drawn from ``[seed, epoch]``."""
        rng = np.random.default_rng([int(seed), int(epoch), 13])
        per = int(self.config.images_per_identity)
        for label in rng.permutation(self.num_classes()):
            order = rng.permutation(per)
            for s in range(0, per, self.group_size):
                members = tuple(int(i) for i in sorted(order[s:s + self.group_size]))
                handles = [PairHandle(int(label), i, members) for i in members]
                yield IdentityGroup(int(label) + self.label_offset, handles, handles, self._load)

    def render_pair(self, label: int, index: int, group: Optional[tuple[int, ...]] = None) -> dict[str, Any]:
        """The pair (``key``, ``vis``, ``nir``, ``meta``), rendered with the rest of ``group``
        (default: alone) unless that group is still cached."""
        group = (index,) if group is None else group
        slot = (label, group)
        hit = self._rendered.get(slot)
        if hit is None:
            samples = self._renderer.render_samples([(label, i) for i in group])
            c = self._renderer.cfg
            if c.encoding != "png":  # lossy: the pixels the shards would hold, encoded and decoded
                from nirvis.shards.format import decode_png, encode_image

                samples = [dict(r, **{m: decode_png(encode_image(r[m], c.encoding, quality=c.quality), ch)
                                      for m, ch in (("vis", 3), ("nir", 1))}) for r in samples]
            hit = {i: r for i, r in zip(group, samples)}
            self._rendered[slot] = hit
            while len(self._rendered) > self.cache_groups:
                self._rendered.popitem(last=False)
        else:
            self._rendered.move_to_end(slot)
        return hit[index]

    def _load(self, item: PairHandle, modality: str) -> np.ndarray:
        return at_crop_size(self.render_pair(item.label, item.index, item.group)[modality])
