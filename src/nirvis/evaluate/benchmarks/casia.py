"""CASIA NIR-VIS 2.0, View 2 protocol (10 folds) and the dev split.

Expected layout (the data set's native one; ``root`` is the folder holding ``protocols/``)::

    ROOT/
      protocols/
        vis_gallery_1.txt .. vis_gallery_10.txt   # View 2 fold k gallery (VIS), one image per subject
        nir_probe_1.txt  .. nir_probe_10.txt      # View 2 fold k probes (NIR)
        vis_gallery_dev.txt, nir_probe_dev.txt    # the dev split (fold name "dev")
      s1/VIS/10001/001.jpg  s1/NIR/10001/001.bmp  s2/...  s3/...  s4/...

List lines name images relative to ROOT with backslashes (``s2\\NIR\\10153\\001.bmp``), optionally
followed by a label; without a label the subject folder (``10153``) is the label. Modality comes
from the list (vis_gallery -> VIS, nir_probe -> NIR), never from the path.

Eye positions: the data set's ``.pos`` annotations (first line ``re_x re_y le_x le_y``, one file
per image, mirroring the image's relative path without its extension) are looked up in
``eye_dir`` (default ``ROOT/annotations``) and next to the image. Raw-image alignment
(``--align``) uses them for images where no face is detected.

Aligned crops: pass ``image_root`` (a tree of 112x112 crops with the same relative paths) and,
if the crops were re-encoded, ``image_ext`` (e.g. ``".png"``) to replace each entry's extension.

Documented counts: 358 gallery images per fold; probes per fold 6208, 6232, 6210, 6055, 6204,
6191, 6247, 6222, 6162, 6245; dev 358 / 6123.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from nirvis.evaluate.benchmarks.base import (Fold, ImageList, PathLike, Protocol, ProtocolError,
                                             apply_missing_policy, native_path, read_list_file, select_folds)

FOLDS = [str(k) for k in range(1, 11)] + ["dev"]
EXPECTED = {"gallery": 358, "probes": {"1": 6208, "2": 6232, "3": 6210, "4": 6055, "5": 6204, "6": 6191,
                                       "7": 6247, "8": 6222, "9": 6162, "10": 6245, "dev": 6123}}


def _read(list_path: Path, image_root: Path, modality: str, image_ext: Optional[str]) -> ImageList:
    paths, labels = [], []
    for row in read_list_file(list_path):
        entry = row[0]
        p = native_path(image_root, entry, list_path)
        if image_ext:
            p = p.with_suffix(image_ext)
        if len(row) > 1:
            label = row[1]
        else:
            parts = entry.replace("\\", "/").split("/")
            if len(parts) < 2:
                raise ProtocolError(f"{list_path}: entry {entry!r} has no subject folder and no label")
            label = parts[-2]
        paths.append(str(p))
        labels.append(label)
    return ImageList(tuple(paths), tuple(labels), modality)


def read_pos_file(path: Path) -> Optional[np.ndarray]:
    """Eye positions of a CASIA ``.pos`` file: float64 [2, 2] (x, y), or None if absent or malformed."""
    try:
        first = path.read_text(encoding="utf-8-sig", errors="strict").splitlines()[0].split()
        v = np.array([float(x) for x in first[:4]], np.float64)
    except (OSError, IndexError, ValueError, UnicodeDecodeError):
        return None
    if v.size != 4 or not np.isfinite(v).all():
        return None
    return v.reshape(2, 2)


def eye_lookup(image_root: Path, eye_dir: Optional[Path]):
    """``eyes(image_path)`` for a CASIA tree: ``<eye_dir>/<relative path>.pos``, else ``<image>.pos``."""

    def eyes(path: str) -> Optional[np.ndarray]:
        p = Path(path)
        candidates = []
        try:
            rel = p.relative_to(image_root).with_suffix(".pos")
            candidates.append((eye_dir or image_root / "annotations") / rel)
        except ValueError:
            pass
        candidates.append(p.with_suffix(".pos"))
        for c in candidates:
            if c.is_file():
                return read_pos_file(c)
        return None

    return eyes


def load(root: PathLike, folds="all", allow_missing: bool = False, image_root: Optional[PathLike] = None,
         image_ext: Optional[str] = None, eye_dir: Optional[PathLike] = None, **_ignored) -> Protocol:
    """The View 2 protocol (folds "1".."10", "all" = those ten) or the dev split (``folds="dev"``)."""
    root = Path(root)
    proto = root / "protocols"
    if not proto.is_dir():
        raise ProtocolError(f"{proto}: not found (CASIA NIR-VIS 2.0 root must hold protocols/vis_gallery_K.txt)")
    names = select_folds(FOLDS[:10], folds) if folds in (None, "all") else select_folds(FOLDS, folds)
    iroot = Path(image_root) if image_root else root
    out = [Fold(k, _read(proto / f"vis_gallery_{k}.txt", iroot, "VIS", image_ext),
                _read(proto / f"nir_probe_{k}.txt", iroot, "NIR", image_ext)) for k in names]
    out, missing = apply_missing_policy("casia", out, allow_missing)
    return Protocol("casia", "view2" if "dev" not in names else "view2+dev", str(root), out, missing,
                    expected={k: {"gallery": EXPECTED["gallery"], "probes": EXPECTED["probes"][k]} for k in names},
                    notes="gallery = one VIS image per subject, probes = NIR, per the protocol lists",
                    eyes=eye_lookup(iroot, Path(eye_dir) if eye_dir else None))
