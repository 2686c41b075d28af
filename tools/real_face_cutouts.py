"""One photo per face: cut the real faces of group photos out for ``nirvis reconstruct`` (issue 12).

``nirvis reconstruct`` takes one face per photo; the npm group photos the realism report uses as
its real reference hold several. This writes a square cut-out (512 px, 2.4 x the face box) around
each face dlib finds, keeping exactly the faces the realism report keeps (its five points found
by MediaPipe, and found again by dlib in its own aligned crop: ``realism.real_reference``). Files
directly in PHOTOS become ``OUT/<stem>_<k>.png``; a sub-folder (one person) becomes ``OUT/<folder>/``,
for ``nirvis reconstruct --group-by-folder``. The cut-outs derive from the photos: use them at
run time, never commit them.

Renders of these reconstructions measure how much of real people's identity survives our
reconstruction and renderer under the realism report's recognizer (README, realism section)::

    python tools/real_face_cutouts.py /tmp/real --out /tmp/real_cutouts
    nirvis reconstruct /tmp/real_cutouts --out /tmp/real_assets
    nirvis render-dataset --out /tmp/real_ds --identity-source /tmp/real_assets \\
        --identities 19 --images-per-identity 4
    nirvis bench realism /tmp/real_ds --real-photos /tmp/real
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

SIZE = 512
MARGIN = 2.4


def cutouts(folder: Path, out: Path) -> int:
    """Write the cut-outs of every kept face of the photos in ``folder`` into the new folder
    ``out`` (written under a temporary name, renamed when complete); their count."""
    from PIL import Image

    from nirvis.evaluate.realism import (FacePipeline, RealismError, _photo_files, align_photo_face,
                                         face_cutout, photo_face_boxes)
    from nirvis.image_limits import check_image_size

    if not folder.is_dir():
        raise RealismError(f"{folder}: not a directory")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RealismError(f"{out}: exists and is not an empty folder")
    files = _photo_files(folder)
    if not files:
        raise RealismError(f"{folder}: holds no photos")
    pipeline = FacePipeline()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        written = 0
        for path, group in files:
            check_image_size(path)
            try:
                image = np.asarray(Image.open(path).convert("RGB"))
            except OSError as exc:
                raise RealismError(f"{path}: cannot read the photo: {exc}") from None
            for k, box in enumerate(photo_face_boxes(image, pipeline)):
                crop = align_photo_face(image, box)
                if crop is None or not pipeline.describe_crop(crop).detected:
                    continue
                region, _ = face_cutout(image, box, SIZE, MARGIN)
                target = tmp / (group or "") / f"{path.stem}_{k}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(region).save(target)
                written += 1
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    from nirvis.evaluate.realism import RealismError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos", type=Path,
                    help="folder of real photos (files: different people; a sub-folder: one person)")
    ap.add_argument("--out", type=Path, required=True, help="folder to write the cut-outs to")
    args = ap.parse_args(argv)
    try:
        n = cutouts(args.photos, args.out)
    except RealismError as exc:
        print(f"real_face_cutouts: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {n} face cut-outs ({SIZE} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
