"""Where identity lives for the realism report's recognizer: degrade aligned crops, re-measure.

Each variant applies one image change to every aligned 112 x 112 VIS crop of a render-dataset
output and (with ``--real-photos``) to every real face aligned by the realism report's own pipeline
(``nirvis.evaluate.realism.real_photo_faces``), then runs dlib's detector and recognizer on the
result (``FacePipeline.describe_crop``) and prints the mean different-identity distance (and, for
renders, the same-identity one). A change that lowers the real faces' different-identity
distance a lot removes something the recognizer uses to tell real people apart; the same change
on renders shows how much of that cue they carry.

Variants (pixel rows/columns in the ArcFace 112 crop: eyes at y ~ 51.6, mouth at y ~ 92):
    none            the crops as they are
    grey            BT.601 luma (``colour.luma_bt601``, the grey of training and evaluation) in all
                    three channels
    mean_colour     every crop's per-channel mean over the inner face moved to the set's mean
    blur_sigma2     Gaussian blur, sigma 2 px, whole crop
    half_res        down to 56 px and back (area, then bicubic)
    eyes_blurred    Gaussian blur sigma 3 px over the eye band (rows 36-66)
    mouth_blurred   Gaussian blur sigma 3 px over the mouth (rows 80-106, columns 28-84)
    context_hidden  everything outside the inner face (rows 26-98, columns 18-94) set to the
                    crop's mean colour (hair, ears, head outline, background gone)

Usage (the real photos are used at run time, never committed: see the README, realism section):
    python tools/realism_degrade.py DATASET [--real-photos PHOTOS] [--out OUT.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np

INNER = (slice(26, 98), slice(18, 94))
EYES = (slice(36, 66), slice(0, 112))
MOUTH = (slice(80, 106), slice(28, 84))


def _blur(img: np.ndarray, sigma: float, region=None) -> np.ndarray:
    import cv2

    out = img.copy()
    blurred = cv2.GaussianBlur(img, (0, 0), sigma)
    if region is None:
        return blurred
    out[region] = blurred[region]
    return out


def _grey(img: np.ndarray) -> np.ndarray:
    from nirvis.colour import luma_bt601

    return np.repeat(luma_bt601(img)[..., None], 3, axis=2)


def _half_res(img: np.ndarray) -> np.ndarray:
    import cv2

    small = cv2.resize(img, (56, 56), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC)


def _context_hidden(img: np.ndarray) -> np.ndarray:
    out = np.empty_like(img)
    out[:] = img[INNER].reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
    out[INNER] = img[INNER]
    return out


def variants(crops: list[np.ndarray]) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Variant name -> function of one uint8 [112, 112, 3] crop (``mean_colour`` uses the set)."""
    target = np.mean([c[INNER].reshape(-1, 3).mean(axis=0) for c in crops], axis=0)

    def mean_colour(img: np.ndarray) -> np.ndarray:
        shift = target - img[INNER].reshape(-1, 3).mean(axis=0)
        return np.clip(np.rint(img + shift), 0, 255).astype(np.uint8)

    return {"none": lambda c: c, "grey": _grey, "mean_colour": mean_colour,
            "blur_sigma2": lambda c: _blur(c, 2.0), "half_res": _half_res,
            "eyes_blurred": lambda c: _blur(c, 3.0, EYES), "mouth_blurred": lambda c: _blur(c, 3.0, MOUTH),
            "context_hidden": _context_hidden}


def _means(desc: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    from nirvis.evaluate.realism import same_different

    same, different = same_different(desc, labels)
    return (float(same.mean()) if same.size else float("nan")), float(different.mean())


def _dataset_crops(directory: str, limit: int) -> tuple[list[np.ndarray], np.ndarray]:
    from nirvis.evaluate.realism import RealismError
    from nirvis.shards.reader import iter_pairs

    if not Path(directory).is_dir():
        raise RealismError(f"{directory}: no such data set directory (a render-dataset output)")
    crops, labels = [], []
    for k, s in enumerate(iter_pairs(directory)):
        if limit and k >= limit:
            break
        crops.append(np.asarray(s.vis))
        labels.append(s.label)
    if not crops:
        raise RealismError(f"{directory}: the data set holds no samples")
    return crops, np.array(labels)


def _photo_crops(folder: str, pipeline) -> tuple[list[np.ndarray], np.ndarray]:
    """Aligned crops and person labels of the real photos, exactly as the realism report takes them
    (``realism.photo_faces``: files are different people, a sub-folder groups one person; faces not
    found again in their aligned crop left out)."""
    from nirvis.evaluate.realism import photo_faces

    # the report's real reference: faces found again in their own aligned crop (realism.real_reference)
    faces = [f for f in photo_faces(folder, pipeline) if pipeline.describe_crop(f[2]).detected]
    return [crop for _, _, crop, _ in faces], np.array([label for _, label, _, _ in faces])


def main(argv=None) -> int:
    from tqdm import tqdm

    from nirvis.atomic import atomic_write_json
    from nirvis.evaluate.realism import FacePipeline, RealismError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="render-dataset output directory")
    ap.add_argument("--real-photos", help="folder of real photos (files: different people; a sub-folder: one person)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many pairs (default all)")
    ap.add_argument("--out", help="JSON output path")
    args = ap.parse_args(argv)
    try:
        sets = {"renders": _dataset_crops(args.dataset, args.limit)}
        pipeline = FacePipeline()
        if args.real_photos:
            sets["real"] = _photo_crops(args.real_photos, pipeline)
    except RealismError as exc:
        print(f"realism_degrade: {exc}", file=sys.stderr)
        return 2
    result: dict[str, dict[str, dict[str, float]]] = {}
    for name, (crops, labels) in sets.items():
        result[name] = {}
        for variant, fn in tqdm(list(variants(crops).items()), desc=name, unit="variant"):
            desc = np.stack([pipeline.describe_crop(fn(c)).descriptor for c in crops])
            same, diff = _means(desc, labels)
            result[name][variant] = {"same_mean": same, "different_mean": diff, "crops": len(crops)}
    names = list(result["renders"])
    print("| variant | " + " | ".join(f"{s}: different" + (" (same)" if s == "renders" else "") for s in result)
          + " |")
    print("|---" * (1 + len(result)) + "|")
    for v in names:
        cells = []
        for s in result:
            r = result[s][v]
            cells.append(f"{r['different_mean']:.3f}" + (f" ({r['same_mean']:.3f})" if s == "renders" else ""))
        print(f"| {v} | " + " | ".join(cells) + " |")
    if args.out:
        atomic_write_json(args.out, result, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
