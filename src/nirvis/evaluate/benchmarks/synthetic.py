"""Held-out identities of a ``render-dataset`` output (rendered NIR/VIS pairs in tar shards).

Expected layout: a ``render-dataset`` output directory (``ROOT/manifest.json``,
``ROOT/shards/shard-NNNNNN.tar``), or a shard directory, read with
:func:`nirvis.shards.reader.iter_pairs`. Evaluate on identities the model was NOT trained on:
either a separately rendered evaluation data set (``held_out=None``: every label in it), or an
explicit list of labels ``held_out=[...]`` of a shared data set.

Protocol: gallery = the first VIS image (lowest pair index) of each held-out label; probes = the
NIR images of the held-out labels except the NIR image of the gallery's own pair (it shares the
gallery image's pose, expression and camera, which would make matching it too easy; the
trainer's validation Rank-1 leaves it out the same way). ``include_gallery_pair=True`` keeps it.
Labels with a single pair are gallery distractors without probes. Image references are
``<shard>::<key>::vis|nir``.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from nirvis.evaluate.benchmarks.base import Fold, ImageList, PathLike, Protocol, ProtocolError


def load(root: PathLike, held_out: Optional[Iterable[int]] = None, allow_missing: bool = False, folds="all",
         include_gallery_pair: bool = False, **_ignored) -> Protocol:
    from nirvis.shards.format import decode_png
    from nirvis.shards.reader import iter_pairs

    want = None if held_out is None else {int(x) for x in held_out}
    store: dict[str, bytes] = {}
    first_vis: dict[int, tuple[int, str]] = {}
    nir: list[tuple[int, int, str]] = []
    try:
        samples = iter_pairs(str(root), decode=False)
        for s in samples:
            if want is not None and s.label not in want:
                continue
            vref, nref = f"{s.shard}::{s.key}::vis", f"{s.shard}::{s.key}::nir"
            if s.label not in first_vis or s.index < first_vis[s.label][0]:
                if s.label in first_vis:
                    store.pop(first_vis[s.label][1], None)
                first_vis[s.label] = (s.index, vref)
                store[vref] = s.vis
            store[nref] = s.nir
            nir.append((s.label, s.index, nref))
    except FileNotFoundError as exc:
        raise ProtocolError(f"synthetic: {exc}") from None
    if want is not None:
        absent = sorted(want - set(first_vis))
        if absent and not allow_missing:
            raise ProtocolError(f"synthetic: {len(absent)} held-out label(s) not in {root}, e.g. {absent[:5]} "
                                "(use allow_missing=True to evaluate what exists)")
    else:
        absent = []
    if not first_vis:
        raise ProtocolError(f"synthetic: no samples of the held-out labels in {root}")
    labels = sorted(first_vis)
    gallery = ImageList(tuple(first_vis[lab][1] for lab in labels), tuple(str(lab) for lab in labels), "VIS")
    nir.sort()
    if not include_gallery_pair:
        for _, _, ref in [x for x in nir if x[1] == first_vis[x[0]][0]]:
            store.pop(ref, None)
        nir = [x for x in nir if x[1] != first_vis[x[0]][0]]
    if not nir:
        raise ProtocolError(f"synthetic: no probes in {root}: every held-out label has a single pair (render at "
                            "least 2 images per identity, or pass include_gallery_pair=True)")
    probe = ImageList(tuple(r for _, _, r in nir), tuple(str(lab) for lab, _, _ in nir), "NIR")

    def read_image(ref: str) -> Optional[np.ndarray]:
        data = store.get(ref)
        if data is None:
            return None
        return decode_png(data, 3 if ref.endswith("::vis") else 1)

    return Protocol("synthetic", "held_out", str(root), [Fold("held_out", gallery, probe)],
                    missing=[f"label {a}" for a in absent],
                    expected={"held_out": {"gallery": len(labels), "probes": len(nir)}},
                    notes=f"{len(labels)} held-out identities; gallery = first VIS per label, probes = NIR of the "
                          + ("other pairs and the gallery's own pair" if include_gallery_pair else
                             "other pairs (not the gallery's own pair)"),
                    read_image=read_image)
