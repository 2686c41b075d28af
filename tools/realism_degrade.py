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

With ``--real-photos``, renders only (``paste_variants``): ``real_eyes_pasted``,
``real_mouth_pasted``, ``real_brows_pasted`` paste one real face's eye band (rows 38-64), mouth
(rows 80-104, columns 30-82) or brows (rows 28-44) into every crop of one identity (real face
``label % faces``), colour-matched and feathered: what a photographic region adds to a CG face.
``--identify-real`` (for a data set rendered from the real faces' own reconstructions, see
``tools/real_face_cutouts.py``): how often each real face's nearest render identity is its own.

Usage (the real photos are used at run time, never committed: see the README, realism section):
    python tools/realism_degrade.py DATASET [--real-photos PHOTOS [--identify-real]] [--out OUT.json]
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


#: Bands of the 112 crop that ``paste_variants`` take from real faces: rows, columns.
PASTE_BANDS = {"real_eyes_pasted": (slice(38, 64), slice(14, 98)),
               "real_mouth_pasted": (slice(80, 104), slice(30, 82)),
               "real_brows_pasted": (slice(28, 44), slice(14, 98))}


def paste_variants(real: list[np.ndarray]) -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    """Variant name -> function of (render crop uint8 [112, 112, 3], its identity label): the band
    of real face ``label % len(real)`` pasted in, moved to the render band's mean colour and
    feathered (Gaussian, sigma 3 px), so every crop of one identity gets the same real band."""
    import cv2

    def make(band):
        mask = np.zeros((112, 112), np.float32)
        mask[band] = 1.0
        mask = cv2.GaussianBlur(mask, (0, 0), 3.0)[..., None]

        def paste(img: np.ndarray, label: int) -> np.ndarray:
            src = real[label % len(real)].astype(np.float32)
            dst = img.astype(np.float32)
            src = src - src[band].reshape(-1, 3).mean(axis=0) + dst[band].reshape(-1, 3).mean(axis=0)
            return np.clip(np.rint(dst * (1.0 - mask) + src * mask), 0, 255).astype(np.uint8)
        return paste

    return {name: make(band) for name, band in PASTE_BANDS.items()}


def identify_real(real_desc: np.ndarray, render_desc: np.ndarray, render_labels: np.ndarray) -> dict[str, float]:
    """Real face i against render identity i (a data set rendered from the real faces' own
    reconstructions, in the same order): the share of real faces whose nearest render identity
    (mean descriptor distance over its crops) is their own, and the mean distances to their own
    and to the other identities' renders."""
    from nirvis.evaluate.realism import pairwise_distances

    n = len(real_desc)
    if sorted(set(render_labels.tolist())) != list(range(n)):
        raise ValueError(f"the data set's labels are not 0..{n - 1}, one per real face")
    dist = pairwise_distances(real_desc, render_desc)
    per = np.stack([dist[:, render_labels == k].mean(axis=1) for k in range(n)], axis=1)   # [real, identity]
    own = np.eye(n, dtype=bool)
    return {"faces": n, "rank1": float((per.argmin(axis=1) == np.arange(n)).mean()),
            "own_mean": float(per[own].mean()), "other_mean": float(per[~own].mean())}


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
    ap.add_argument("--identify-real", action="store_true",
                    help="the data set was rendered from the real faces' own reconstructions "
                         "(tools/real_face_cutouts.py, nirvis reconstruct): report how often each real "
                         "face's nearest render identity is its own")
    args = ap.parse_args(argv)
    if args.identify_real and not args.real_photos:
        print("realism_degrade: --identify-real needs --real-photos", file=sys.stderr)
        return 2
    try:
        sets = {"renders": _dataset_crops(args.dataset, args.limit)}
        pipeline = FacePipeline()
        if args.real_photos:
            sets["real"] = _photo_crops(args.real_photos, pipeline)
    except RealismError as exc:
        print(f"realism_degrade: {exc}", file=sys.stderr)
        return 2
    result: dict[str, dict[str, dict[str, float]]] = {}
    as_is: dict[str, np.ndarray] = {}                       # descriptors of the unchanged crops, per set
    for name, (crops, labels) in sets.items():
        result[name] = {}
        for variant, fn in tqdm(list(variants(crops).items()), desc=name, unit="variant"):
            desc = np.stack([pipeline.describe_crop(fn(c)).descriptor for c in crops])
            if variant == "none":
                as_is[name] = desc
            same, diff = _means(desc, labels)
            result[name][variant] = {"same_mean": same, "different_mean": diff, "crops": len(crops)}
    extra: dict[str, dict[str, float]] = {}
    if "real" in sets:
        (crops, labels), real_crops = sets["renders"], sets["real"][0]
        for variant, paste in tqdm(list(paste_variants(real_crops).items()), desc="renders", unit="variant"):
            desc = np.stack([pipeline.describe_crop(paste(c, int(lab))).descriptor for c, lab in zip(crops, labels)])
            same, diff = _means(desc, labels)
            result["renders"][variant] = {"same_mean": same, "different_mean": diff, "crops": len(crops)}
        if args.identify_real:
            try:
                extra["identify_real"] = identify_real(as_is["real"], as_is["renders"], labels)
            except ValueError as exc:
                print(f"realism_degrade: --identify-real: {exc}", file=sys.stderr)
                return 2
    names = list(result["renders"])
    print("| variant | " + " | ".join(f"{s}: different" + (" (same)" if s == "renders" else "") for s in result)
          + " |")
    print("|---" * (1 + len(result)) + "|")
    for v in names:
        cells = []
        for s in result:
            r = result[s].get(v)
            if r is None:                                   # pasted real bands: renders only
                cells.append("")
                continue
            cells.append(f"{r['different_mean']:.3f}" + (f" ({r['same_mean']:.3f})" if s == "renders" else ""))
        print(f"| {v} | " + " | ".join(cells) + " |")
    if "identify_real" in extra:
        m = extra["identify_real"]
        print(f"identify real: {m['rank1']:.1%} of {m['faces']} real faces nearest to their own renders "
              f"(own {m['own_mean']:.3f}, others {m['other_mean']:.3f})")
    if args.out:
        atomic_write_json(args.out, {**result, **extra}, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
