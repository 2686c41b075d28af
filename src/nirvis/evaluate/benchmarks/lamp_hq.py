"""LAMP-HQ, 10 folds.

Expected layout (``root`` holds the image folders and the protocol lists)::

    ROOT/
      VIS/VIS_FP0001_1_a.jpg ...
      NIR/NIR_FP0001_1_DOWN_a.jpg ...
      protocols/
        vis_gallery_1.txt .. vis_gallery_10.txt   # fold k gallery: "VIS/VIS_FP0001_1_a.jpg FP0001"
        nir_probe_1.txt  .. nir_probe_10.txt      # fold k probes:  "NIR/NIR_FP0001_1_DOWN_a.jpg FP0001"

Every line is data ("path label", paths relative to ROOT, no header line: the first row is
kept, unlike the reference script's ``skip_header=1``). The list file names can be changed with
``gallery_pattern`` / ``probe_pattern`` (``{k}`` = fold number, relative to ROOT) to match the
copy of the release you have. Modality comes from the list, not the path.

Documented counts: 273 test subjects per fold, gallery 273 (one VIS image each), about 27,300
NIR probes (about 100 per subject).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from nirvis.evaluate.benchmarks.base import (Fold, ImageList, PathLike, Protocol, ProtocolError,
                                             apply_missing_policy, native_path, read_list_file, select_folds)

FOLDS = [str(k) for k in range(1, 11)]
GALLERY_PATTERN = "protocols/vis_gallery_{k}.txt"
PROBE_PATTERN = "protocols/nir_probe_{k}.txt"
EXPECTED = {"gallery": 273, "probes_approx": 27300}


def _read(list_path: Path, image_root: Path, modality: str, image_ext: Optional[str]) -> ImageList:
    paths, labels = [], []
    for i, row in enumerate(read_list_file(list_path), 1):
        if len(row) < 2:
            raise ProtocolError(f"{list_path}:{i}: expected 'path label', got {' '.join(row)!r}")
        p = native_path(image_root, row[0], list_path)
        paths.append(str(p.with_suffix(image_ext) if image_ext else p))
        labels.append(row[1])
    return ImageList(tuple(paths), tuple(labels), modality)


def load(root: PathLike, folds="all", allow_missing: bool = False, image_root: Optional[PathLike] = None,
         image_ext: Optional[str] = None, gallery_pattern: str = GALLERY_PATTERN, probe_pattern: str = PROBE_PATTERN,
         **_ignored) -> Protocol:
    root = Path(root)
    iroot = Path(image_root) if image_root else root
    names = select_folds(FOLDS, folds)
    out = [Fold(k, _read(root / gallery_pattern.format(k=k), iroot, "VIS", image_ext),
                _read(root / probe_pattern.format(k=k), iroot, "NIR", image_ext)) for k in names]
    out, missing = apply_missing_policy("lamp_hq", out, allow_missing)
    return Protocol("lamp_hq", "10fold", str(root), out, missing,
                    expected={k: {"gallery": EXPECTED["gallery"]} for k in names},
                    notes="gallery = one VIS image per test subject, probes = NIR (all poses)")
