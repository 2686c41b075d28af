"""Real training lists: ``path label [VIS|NIR]`` lines, as identity groups for the sampler.

Modality rule (documented, never guessed from a substring of the path):

* a third column ``VIS`` or ``NIR`` (case-insensitive) on every line; or
* two user-given regular expressions (``vis_regex``, ``nir_regex``), matched with ``re.search``
  against the path; a path must match exactly one of them.

Any other line is an error naming the file and line. Blank lines and ``#`` comments are skipped.
Paths are relative to ``root`` (default: the list file's directory). Images are read with
OpenCV as RGB and resized to 112x112 if needed (they should be aligned already); NIR images are
then made grey with ``nirvis.train.preprocess.to_grey`` (the luma the evaluation uses).
Identities lacking either modality are dropped (``ImageList.dropped`` counts them). The kept
labels are numbered 0..K-1 in increasing order for training (``ImageList.classes``), so sparse or
huge labels (``1000000000``) cost no memory; contiguous labels 0..K-1 keep their numbers.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from nirvis.errors import NirvisError
from nirvis.train.sampler import IdentityGroup


class ListError(NirvisError, ValueError):
    """A malformed training list."""


def _load_image(path: str, modality: str) -> np.ndarray:
    """VIS -> uint8 RGB [112, 112, 3]; NIR -> uint8 grey [112, 112], converted from RGB by the
    trainer's and the evaluation's own luma (``nirvis.train.preprocess.to_grey``), not by the
    image decoder, so a colour-stored NIR file gives the same grey in training and evaluation."""
    import cv2

    from nirvis.image_limits import check_image_size
    from nirvis.train.preprocess import at_crop_size, to_grey

    check_image_size(path)
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{path}: cannot read image")
    img = at_crop_size(img)
    img = np.ascontiguousarray(img[:, :, ::-1])  # BGR -> RGB
    return to_grey(img[None])[0] if modality == "nir" else img


class ImageList:
    """A parsed list: ``by_label[label] = (vis_paths, nir_paths)`` (labels offset by ``label_offset``)."""

    def __init__(self, path: str, root: Optional[str] = None, vis_regex: Optional[str] = None,
                 nir_regex: Optional[str] = None, label_offset: int = 0, group_size: int = 4):
        self.path = Path(path)
        self.root = Path(root) if root else self.path.parent
        self.group_size, self.label_offset = group_size, label_offset
        if (vis_regex is None) != (nir_regex is None):
            raise ListError("give both vis_regex and nir_regex, or neither (then a third column VIS|NIR is required)")
        rv = re.compile(vis_regex) if vis_regex else None
        rn = re.compile(nir_regex) if nir_regex else None
        table: dict[int, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ListError(f"{self.path}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ListError(f"{self.path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        for no, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split()
            where = f"{self.path}:{no}"
            if len(parts) not in (2, 3):
                raise ListError(f"{where}: expected 'path label [VIS|NIR]', got {text!r}")
            try:
                label = int(parts[1])
            except ValueError:
                raise ListError(f"{where}: label {parts[1]!r} is not an integer") from None
            if label < 0:
                raise ListError(f"{where}: label must be >= 0, got {label}")
            if len(parts) == 3:
                mod = parts[2].upper()
                if mod not in ("VIS", "NIR"):
                    raise ListError(f"{where}: third column must be VIS or NIR, got {parts[2]!r}")
            elif rv is not None and rn is not None:
                hv, hn = bool(rv.search(parts[0])), bool(rn.search(parts[0]))
                if hv == hn:
                    raise ListError(f"{where}: path {parts[0]!r} matches {'both' if hv else 'neither'} of "
                                    "vis_regex and nir_regex")
                mod = "VIS" if hv else "NIR"
            else:
                raise ListError(f"{where}: no modality: add a third column VIS|NIR or give vis_regex/nir_regex")
            table[label][0 if mod == "VIS" else 1].append(str(self.root / parts[0]))
        self.by_label = {k: v for k, v in sorted(table.items()) if v[0] and v[1]}
        #: list label -> training class (0..K-1 in label order, before ``label_offset``)
        self.classes = {label: k for k, label in enumerate(self.by_label)}
        self.dropped = len(table) - len(self.by_label)
        self.images = sum(len(v[0]) + len(v[1]) for v in self.by_label.values())

    def num_classes(self) -> int:
        """How many classes the list adds: its identities with both VIS and NIR images."""
        return len(self.by_label)

    def groups(self, seed: int, epoch: int) -> Iterator[IdentityGroup]:
        """Per epoch: identities in random order, each split into ceil(max(nv, nn) / group_size)
        groups of shuffled VIS and NIR paths."""
        rng = np.random.default_rng([seed, epoch, 23])
        labels = list(self.by_label)
        for i in rng.permutation(len(labels)):
            label = labels[i]
            vis, nir = self.by_label[label]
            vis = [vis[j] for j in rng.permutation(len(vis))]
            nir = [nir[j] for j in rng.permutation(len(nir))]
            n = -(-max(len(vis), len(nir)) // self.group_size)
            for c in range(n):
                gv = vis[c * self.group_size:(c + 1) * self.group_size] or vis
                gn = nir[c * self.group_size:(c + 1) * self.group_size] or nir
                yield IdentityGroup(self.classes[label] + self.label_offset, gv, gn, lambda p, m: _load_image(p, m))
