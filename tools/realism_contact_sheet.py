"""Contact sheet of rendered identities next to real faces (issue 12), aligned the same way.

Row 1: the VIS crop of the first pair of each of the first ``--identities`` identities of a
``render-dataset`` output; row 2: the NIR crop of the same pairs; row 3: real faces, each found by
dlib and aligned like ``nirvis bench realism --real-photos`` does (MediaPipe 5 points, ArcFace
112 x 112 crop), from ``--real-photos DIR`` and/or ``--astronaut`` (``skimage.data.astronaut()``,
a public-domain NASA photo). Needs the ``realism`` extra and, for ``--astronaut``, scikit-image.

Example::

    python tools/realism_contact_sheet.py /tmp/realism_ds --astronaut --out docs/realism_sheet.png
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

TILE = 112
GAP = 4


def first_pairs(directory, identities: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """[(label, VIS uint8 [112, 112, 3], NIR uint8 [112, 112])] of the first pair of the first
    ``identities`` labels, in label order."""
    from nirvis.shards.reader import iter_pairs

    found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for s in iter_pairs(directory):
        if s.label < identities and s.label not in found:
            found[s.label] = (s.vis, s.nir)
        if len(found) == identities:
            break
    return [(k, *found[k]) for k in sorted(found)]


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], columns: int) -> np.ndarray:
    """uint8 [R * (112 + 4) + 4, columns * (112 + 4) + 4, 3] sheet of 112 x 112 tiles (RGB or grey)
    on a white ground, ``rows[r][c]`` at row r, column c; missing tiles stay white."""
    h, w = len(rows) * (TILE + GAP) + GAP, columns * (TILE + GAP) + GAP
    sheet = np.full((h, w, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        if len(row) > columns:
            raise ValueError(f"row {r} has {len(row)} tiles, more than {columns} columns")
        for c, tile in enumerate(row):
            if tile.shape[:2] != (TILE, TILE) or tile.dtype != np.uint8:
                raise ValueError(f"tile ({r}, {c}): expected uint8 {TILE}x{TILE}, got {tile.dtype} {tile.shape}")
            rgb = np.repeat(tile[..., None], 3, axis=2) if tile.ndim == 2 else tile
            y, x = GAP + r * (TILE + GAP), GAP + c * (TILE + GAP)
            sheet[y:y + TILE, x:x + TILE] = rgb
    return sheet


def real_faces(folder: Optional[Path], astronaut: bool, limit: int) -> list[np.ndarray]:
    """Up to ``limit`` aligned 112 x 112 uint8 RGB real faces: the astronaut first, then the photos
    (faces the detector does not find again in their aligned crop left out, as in the report)."""
    from PIL import Image

    from nirvis.evaluate.realism import FacePipeline, _photo_files, real_photo_faces

    pipeline = FacePipeline()
    images = []
    if astronaut:
        from skimage import data

        images.append(np.asarray(data.astronaut()))
    if folder is not None:
        images += [np.asarray(Image.open(p).convert("RGB")) for p, _ in _photo_files(Path(folder))]
    out: list[np.ndarray] = []
    for image in images:
        # the realism report's rule: a face not found again in its own aligned crop is a false detection
        out += [crop for crop, _ in real_photo_faces(image, pipeline) if pipeline.describe_crop(crop).detected]
        if len(out) >= limit:
            break
    return out[:limit]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", help="a render-dataset output directory")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--identities", type=int, default=8)
    ap.add_argument("--real-photos", type=Path, help="folder of real photos (run time only; never commit them)")
    ap.add_argument("--astronaut", action="store_true", help="add skimage.data.astronaut() (public domain)")
    args = ap.parse_args(argv)
    from PIL import Image

    pairs = first_pairs(args.dataset, args.identities)
    if not pairs:
        print(f"error: {args.dataset}: no samples", file=sys.stderr)
        return 2
    reals = real_faces(args.real_photos, args.astronaut, args.identities)
    sheet = contact_sheet([[v for _, v, _ in pairs], [n for _, _, n in pairs], reals], args.identities)
    out = Path(args.out)
    fd, tmp = tempfile.mkstemp(dir=out.parent or ".", suffix=".png.tmp")
    os.close(fd)
    Image.fromarray(sheet).save(tmp, format="PNG")
    os.replace(tmp, out)
    print(f"{out}: {len(pairs)} identities (VIS, NIR) and {len(reals)} real faces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
