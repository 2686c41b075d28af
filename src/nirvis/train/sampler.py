"""Identity-paired batches (K identities x (n_vis VIS + n_nir NIR) images) from streaming sources.

Sources are *group sources*: each epoch they yield ``IdentityGroup`` objects (one identity's VIS
and NIR items, not yet decoded). Rendered shards (``ShardGroupSource``, built on
``nirvis.shards.reader.iter_identity_groups``: memory does not grow with the data set) give one
VIS and one NIR image per rendered pair; real image lists (``nirvis.train.lists``) give their
own groups. Several sources are mixed with label offsets.

Determinism and resuming: epoch e of the stream is a function of (seed, e) only, and the images
picked for batch b of epoch e use ``numpy.random.default_rng([seed, e, b, 7])``. The sampler state
is ``{"epoch": e, "batch": b}`` (batches of the epoch's stream already consumed, by all ranks
together); ``load_state_dict`` replays the epoch's group stream without decoding images up to
that point.

Distributed training (``world_size`` W > 1) splits by identity groups, not by shard: every rank
reads the same group stream (PNG bytes, undecoded), builds the same sequence of K-identity
batches and takes its share of each round of W consecutive batches (rank r: batch r of the
round), decoding only its own. All ranks therefore run the same number of steps per epoch (an
epoch's last incomplete round is dropped), and any data set that gives at least W batches per
epoch trains on any number of ranks, however few shards it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from nirvis.errors import NirvisError
from nirvis.shards.format import decode_png
from nirvis.shards.reader import iter_identity_groups, list_shards, read_manifest
from nirvis.train.preprocess import at_crop_size


@dataclass
class IdentityGroup:
    """One identity's items. ``vis`` / ``nir`` are opaque items turned into arrays by ``load``
    (VIS -> uint8 [H, W, 3] or [H, W]; NIR -> uint8 [H, W])."""

    label: int
    vis: list[Any]
    nir: list[Any]
    load: Callable[[Any, str], np.ndarray]


def _load_png(item: Any, modality: str) -> np.ndarray:
    return at_crop_size(decode_png(item, 3 if modality == "vis" else 1))



class ShardGroupSource:
    """Rendered shard directories as identity groups of ``group_size`` pairs.

    Identities with fewer pairs left than ``group_size`` give a short group (the batch builder
    samples within it with replacement)."""

    def __init__(self, sources: Sequence[str], group_size: int, label_offset: int = 0,
                 shuffle_buffer: int = 64, rank: int = 0, world_size: int = 1):
        self.sources = [str(s) for s in sources]
        self.group_size, self.label_offset = group_size, label_offset
        self.shuffle_buffer, self.rank, self.world_size = shuffle_buffer, rank, world_size
        list_shards(self.sources)  # fail early on missing data
        self._num_classes = self._read_num_classes()

    def _read_num_classes(self) -> int:
        n = 0
        for s in self.sources:
            try:
                n = max(n, int(read_manifest(s)["config"]["identities"]))
            except (FileNotFoundError, KeyError, TypeError, ValueError):
                return 0
        return n

    def num_classes(self) -> int:
        """Label upper bound (max label + 1) from the manifests (0 when unknown)."""
        return self._num_classes

    def groups(self, seed: int, epoch: int) -> Iterator[IdentityGroup]:
        """Identity groups; raises ``ShardLabelError`` on a sample whose label is not below the
        manifests' identity count (a shard that does not belong to its manifest)."""
        for pairs in iter_identity_groups(self.sources, self.group_size, shuffle_buffer_size=self.shuffle_buffer,
                                          seed=seed, epoch=epoch, rank=self.rank, world_size=self.world_size,
                                          decode=False, drop_last=False):
            if not 0 <= pairs[0].label < self._num_classes:
                raise ShardLabelError(f"{pairs[0].shard}: sample {pairs[0].key} has label {pairs[0].label}, but the "
                                      f"manifest plans identities 0..{self._num_classes - 1} (run `nirvis verify`)")
            yield IdentityGroup(pairs[0].label + self.label_offset, [p.vis for p in pairs],
                                [p.nir for p in pairs], _load_png)


def _mix(sources: Sequence[Any], seed: int, epoch: int, weights: Sequence[float]) -> Iterator[IdentityGroup]:
    """Interleave the sources' group streams, picking a source at random (by weight) each time."""
    rng = np.random.default_rng([seed, epoch, 11])
    its = [iter(s.groups(seed, epoch)) for s in sources]
    live = list(range(len(its)))
    while live:
        w = np.array([weights[i] for i in live], dtype=float)
        j = live[int(rng.choice(len(live), p=w / w.sum()))] if len(live) > 1 else live[0]
        try:
            yield next(its[j])
        except StopIteration:
            live.remove(j)


class ShardLabelError(NirvisError, ValueError):
    """A shard sample whose label lies outside the identities its manifest plans."""


class NoBatchError(NirvisError, RuntimeError):
    """The sources cannot fill a batch (or, under W ranks, a round of W batches) in an epoch."""


@dataclass
class Batch:
    """``images`` uint8 list in order [VIS of id 1..K (n_vis each); NIR of id 1..K (n_nir each)]."""

    vis: list[np.ndarray]
    nir: list[np.ndarray]
    labels_vis: np.ndarray
    labels_nir: np.ndarray
    state: dict[str, int]  # sampler state after this batch


class IdentityBatchSampler:
    """Infinite iterator of ``Batch`` objects: ``identities`` distinct labels per batch, each with
    ``n_vis`` VIS and ``n_nir`` NIR images (sampled with replacement inside a short group).

    An epoch ends when the sources run dry (the last incomplete batch, and under W > 1 ranks the
    last incomplete round of W batches, is dropped). ``rank`` / ``world_size``: this process's
    share of each round (see the module docstring)."""

    def __init__(self, sources: Sequence[Any], identities: int, n_vis: int, n_nir: int, seed: int,
                 weights: Optional[Sequence[float]] = None, rank: int = 0, world_size: int = 1):
        if identities < 1 or n_vis < 1 or n_nir < 1:
            raise ValueError("identities, n_vis and n_nir must be >= 1")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.sources = list(sources)
        self.k, self.n_vis, self.n_nir, self.seed = identities, n_vis, n_nir, int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.weights = list(weights) if weights is not None else [1.0] * len(self.sources)
        self.epoch, self.batch = 0, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])

    def _epoch_batches(self, epoch: int) -> Iterator[list[IdentityGroup]]:
        """Lists of K groups with distinct labels; a group whose label is already in the batch
        waits (in a small carry list) for the next batch."""
        carry: list[IdentityGroup] = []
        current: list[IdentityGroup] = []
        for g in _mix(self.sources, self.seed, epoch, self.weights):
            carry.append(g)
            kept = []
            for c in carry:
                if len(current) < self.k and all(c.label != x.label for x in current):
                    current.append(c)
                else:
                    kept.append(c)
            carry = kept
            if len(current) == self.k:
                yield current
                current = []
                nxt = []
                for c in carry:
                    if len(current) < self.k and all(c.label != x.label for x in current):
                        current.append(c)
                    else:
                        nxt.append(c)
                carry = nxt
                if len(current) == self.k:
                    yield current
                    current = []

    def _materialise(self, groups: list[IdentityGroup], epoch: int, index: int) -> Batch:
        rng = np.random.default_rng([self.seed, epoch, index, 7])

        def pick(items: list[Any], n: int) -> list[int]:
            if len(items) >= n:
                return list(rng.permutation(len(items))[:n])
            return list(rng.integers(0, len(items), size=n))

        vis, nir, lv, ln = [], [], [], []
        for g in groups:
            vis += [g.load(g.vis[i], "vis") for i in pick(g.vis, self.n_vis)]
            lv += [g.label] * self.n_vis
        for g in groups:
            nir += [g.load(g.nir[i], "nir") for i in pick(g.nir, self.n_nir)]
            ln += [g.label] * self.n_nir
        return Batch(vis, nir, np.asarray(lv, np.int64), np.asarray(ln, np.int64),
                     {"epoch": epoch, "batch": index + 1})

    def __iter__(self) -> Iterator[Batch]:
        empty_epochs = 0
        w = self.world_size
        while True:
            epoch, skip = self.epoch, self.batch
            produced, count = False, 0
            round_: list[tuple[int, list[IdentityGroup]]] = []
            for index, groups in enumerate(self._epoch_batches(epoch)):
                count = index + 1
                if index < skip:
                    produced = True
                    continue
                round_.append((index, groups))
                if len(round_) < w:
                    continue
                produced = True
                mine, last = round_[self.rank], round_[-1][0]
                round_ = []
                b = self._materialise(mine[1], epoch, mine[0])
                b.state = {"epoch": epoch, "batch": last + 1}
                self.batch = last + 1
                yield b
            if not produced:
                empty_epochs += 1
                if empty_epochs >= 2:
                    if w > 1 and count > 0:
                        raise NoBatchError(
                            f"the training data give {count} batch(es) of {self.k} identities per epoch, fewer "
                            f"than the {w} ranks: train on at most {count} rank(s) or with a smaller "
                            "data.identities_per_batch (or on more identities)")
                    raise NoBatchError(f"the training data hold fewer than {self.k} identities with both VIS and "
                                       "NIR images: no batch can be built")
            else:
                empty_epochs = 0
            self.epoch, self.batch = epoch + 1, 0
