"""Streaming reader of rendered shards, for training.

Reads the tar shards sequentially with ``tarfile`` in stream mode; memory holds one sample per
open shard plus the shuffle buffer, never anything proportional to the data set.

    >>> from nirvis.shards.reader import iter_pairs                            # doctest: +SKIP
    >>> for s in iter_pairs(["out/train"], shuffle_buffer=1000, seed=0):     # doctest: +SKIP
    ...     s.vis.shape, s.nir.shape, s.label    # (112, 112, 3) uint8, (112, 112) uint8, int

Shuffling is explicit and reproducible: shard order is permuted and samples pass through a
buffer of ``shuffle_buffer`` samples, both driven by ``numpy.random.default_rng([seed, epoch])``.
Distributed training splits shards (not samples): rank r of W reads shards r, r + W, ...
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from nirvis.errors import NirvisError
from nirvis.shards.format import (MANIFEST, SHARD_DIR, decode_png, image_ext, iter_tar_samples, list_shard_files,
                                  member_suffixes, parse_key)
from nirvis.shards.members import decode_member

Source = Union[str, os.PathLike]


@dataclass(frozen=True, eq=False)
class PairSample:
    """One rendered pair.

    Attributes:
        key: ``<label:07d>_<index:04d>``.
        label, index: identity label and pair index.
        vis: uint8 [S, S, 3] RGB, S the data set's ``resolution`` (or the encoded bytes when read
            with ``decode=False``).
        nir: uint8 [S, S] grey, one channel (or the encoded bytes).
        meta: the sample's JSON (labels, pose, landmarks, full SampleParams, ...).
        shard: the shard file it came from.
        ext: the images' member extension, ``png``, ``jpg`` or ``webp``.
        extra: raw frames and label passes by member suffix (``shards.members``: e.g.
            ``vis_raw.png`` uint8 [R, R, 3], ``seg.png`` uint8 [S, S] class ids, ``depth.png``
            float32 [S, S] mm, ``normal.png`` float32 [S, S, 3]); bytes with ``decode=False``.
    """

    key: str
    label: int
    index: int
    vis: Any
    nir: Any
    meta: dict[str, Any] = field(repr=False)
    shard: str = ""
    ext: str = "png"
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


def list_shards(sources: Union[Source, Sequence[Source]]) -> list[Path]:
    """Shard files of data set directories (``DIR`` or ``DIR/shards``) and/or .tar paths, in
    order (directories' shards sorted by name; sources in the given order)."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_file():
            out.append(p)
            continue
        if not p.is_dir():
            raise FileNotFoundError(f"{p}: no such data set directory or shard")
        found = list_shard_files(p / SHARD_DIR) if (p / SHARD_DIR).is_dir() else list_shard_files(p)
        if not found:
            raise FileNotFoundError(f"{p}: holds no shards (shard-NNNNNN.tar)")
        out += found
    return out


class ManifestError(NirvisError, ValueError):
    """A ``manifest.json`` that cannot be read (not UTF-8, not JSON, not an object)."""


def read_manifest(directory: Source) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a render-dataset output ``directory``.

    Raises:
        FileNotFoundError: there is no manifest (an incomplete output).
        ManifestError: it is not UTF-8 JSON holding an object (names the file).
    """
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (is {directory} a complete render-dataset output?)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except ValueError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{path}: expected a JSON object at the top level")
    return doc


def _to_sample(key: str, parts: dict[str, bytes], shard: Path, decode: bool) -> PairSample:
    ext = image_ext(parts) or "png"  # None: neither set complete, reported as missing PNGs
    missing = [s for s in member_suffixes(ext) if s not in parts]
    if missing:
        raise ValueError(f"{shard}: sample {key!r} lacks member(s) {', '.join(missing)} "
                         f"(has {', '.join(sorted(parts))})")
    meta = json.loads(parts["json"].decode("utf-8"))
    label, index = parse_key(key)
    vis, nir = parts[f"vis.{ext}"], parts[f"nir.{ext}"]
    extra: dict[str, Any] = {s: parts[s] for s in parts if s not in (f"vis.{ext}", f"nir.{ext}", "json")}
    if decode:
        vis, nir = decode_png(vis, 3), decode_png(nir, 1)
        extra = {s: decode_member(s, b) for s, b in extra.items()}
    return PairSample(key=key, label=label, index=index, vis=vis, nir=nir, meta=meta, shard=str(shard), ext=ext,
                      extra=extra)



def iter_shard(path: Source, decode: bool = True) -> Iterator[PairSample]:
    """Samples of one shard in stored order."""
    path = Path(path)
    for key, parts in iter_tar_samples(path):
        yield _to_sample(key, parts, path, decode)


def _rng(seed: Optional[int], epoch: int) -> np.random.Generator:
    if seed is None:
        raise ValueError("shuffling needs an explicit seed (seed=...)")
    return np.random.default_rng([int(seed), int(epoch)])


def _select_shards(shards: list[Path], rank: int, world_size: int) -> list[Path]:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world_size {world_size}")
    return shards[rank::world_size]


def shuffle_buffer(items: Iterable[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """Approximate shuffle through a buffer of ``size`` items (``size`` <= 1: unchanged order)."""
    if size <= 1:
        yield from items
        return
    buf: list[Any] = []
    for item in items:
        if len(buf) < size:
            buf.append(item)
            continue
        j = int(rng.integers(size))
        buf[j], item = item, buf[j]
        yield item
    order = rng.permutation(len(buf))
    for j in order:
        yield buf[j]


def iter_pairs(sources: Union[Source, Sequence[Source]], *, shuffle_buffer_size: int = 0,
               seed: Optional[int] = None, epoch: int = 0, rank: int = 0, world_size: int = 1,
               decode: bool = True) -> Iterator[PairSample]:
    """Stream pairs from data sets / shards.

    Args:
        sources: data set directories, shard directories or shard files.
        shuffle_buffer_size: 0 keeps stored order; otherwise shard order is permuted and samples
            pass through a buffer of this many samples (needs ``seed``).
        seed, epoch: the shuffle's randomness (same values, same order).
        rank, world_size: read only shards rank, rank + world_size, ...
        decode: decode the images (PNG, JPEG or WebP) to arrays (VIS uint8 [112, 112, 3], NIR uint8
            [112, 112]).
    """
    shards = _select_shards(list_shards(sources), rank, world_size)
    if shuffle_buffer_size > 0:
        rng = _rng(seed, epoch)
        shards = [shards[i] for i in rng.permutation(len(shards))]
        stream = (s for sh in shards for s in iter_shard(sh, decode))
        yield from shuffle_buffer(stream, shuffle_buffer_size, rng)
    else:
        for sh in shards:
            yield from iter_shard(sh, decode)


# Backwards-friendly short name used by the trainer.
iter_samples = iter_pairs


def iter_identity_groups(sources: Union[Source, Sequence[Source]], k_per_identity: int, *,
                         shuffle_buffer_size: int = 0, seed: Optional[int] = None, epoch: int = 0,
                         rank: int = 0, world_size: int = 1, decode: bool = True, drop_last: bool = True,
                         max_pending: int = 4096) -> Iterator[list[PairSample]]:
    """Yield lists of ``k_per_identity`` pairs of one identity (for P x K identity batches).

    Shards store samples in (label, index) order, so an identity's pairs are consecutive (an
    identity may continue in the next shard; its partial group waits for it in a bounded
    ``pending`` table of at most ``max_pending`` labels). With shuffling (``seed`` required),
    the shard order, the order of pairs within an identity and the order of groups (through a
    buffer of ``shuffle_buffer_size`` groups) are permuted. Leftovers smaller than
    ``k_per_identity`` are dropped (``drop_last``) or yielded short. Memory: one identity's pairs,
    the pending partials and the group buffer.
    """
    if k_per_identity < 1:
        raise ValueError(f"k_per_identity must be >= 1, got {k_per_identity}")
    shards = _select_shards(list_shards(sources), rank, world_size)
    rng = _rng(seed, epoch) if shuffle_buffer_size > 0 else None
    if rng is not None:
        shards = [shards[i] for i in rng.permutation(len(shards))]
    pending: dict[int, list[PairSample]] = {}

    def chunks(label: int, run: list[PairSample], at_edge: bool) -> Iterator[list[PairSample]]:
        run = pending.pop(label, []) + run
        if rng is not None:
            run = [run[i] for i in rng.permutation(len(run))]
        full = len(run) - len(run) % k_per_identity
        for s in range(0, full, k_per_identity):
            yield run[s:s + k_per_identity]
        rest = run[full:]
        if not rest:
            return
        if at_edge:  # the identity may continue in another shard
            pending[label] = rest
            while len(pending) > max_pending:
                old = next(iter(pending))
                left = pending.pop(old)
                if not drop_last:
                    yield left
        elif not drop_last:
            yield rest

    def groups() -> Iterator[list[PairSample]]:
        for sh in shards:
            run: list[PairSample] = []
            first = True
            for s in iter_shard(sh, decode):
                if run and s.label != run[0].label:
                    yield from chunks(run[0].label, run, at_edge=first)
                    run, first = [], False
                run.append(s)
            if run:
                yield from chunks(run[0].label, run, at_edge=True)
        for label in list(pending):
            left = pending.pop(label)
            if not drop_last:
                yield left

    if rng is not None:
        yield from shuffle_buffer(groups(), shuffle_buffer_size, rng)
    else:
        yield from groups()


def count_pairs(sources: Union[Source, Sequence[Source]]) -> int:
    """Number of pairs, from the manifests when every source is a complete data set, else by
    reading the shards' member names."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    total = 0
    for src in sources:
        p = Path(src)
        if p.is_dir() and (p / MANIFEST).is_file():
            total += int(read_manifest(p)["counts"]["pairs"])
        else:
            total += sum(1 for sh in list_shards([p]) for _ in iter_tar_samples(sh))
    return total


try:  # optional torch wrapper (the trainer's DataLoader)
    import torch.utils.data as _tud

    class PairDataset(_tud.IterableDataset):
        """``torch.utils.data.IterableDataset`` over pairs; splits shards across distributed ranks
        and DataLoader workers (rank r, worker w of n reads shards (r * n + w) + k * W * n).
        Call ``set_epoch`` each epoch to reshuffle."""

        def __init__(self, sources: Union[Source, Sequence[Source]], shuffle_buffer_size: int = 0,
                     seed: Optional[int] = None, rank: int = 0, world_size: int = 1, transform: Any = None):
            super().__init__()
            self.sources = sources
            self.shuffle_buffer_size = shuffle_buffer_size
            self.seed = seed
            self.rank, self.world_size = rank, world_size
            self.transform = transform
            self.epoch = 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = int(epoch)

        def __iter__(self) -> Iterator[Any]:
            info = _tud.get_worker_info()
            n, w = (1, 0) if info is None else (info.num_workers, info.id)
            it = iter_pairs(self.sources, shuffle_buffer_size=self.shuffle_buffer_size, seed=self.seed,
                            epoch=self.epoch, rank=self.rank * n + w, world_size=self.world_size * n)
            for s in it:
                yield self.transform(s) if self.transform is not None else s
except ImportError:  # pragma: no cover
    pass
