"""``nirvis bench align``: accuracy and speed of raw-image alignment on rendered faces.

Raw camera-like frames (``fixtures.raw_face_image``: 320 x 240, random pose, expression,
glasses, lighting and sensor noise) have exactly known landmarks, so the alignment error a
model sees can be measured: where the true landmarks land in the crop made from the detected
ones versus in the crop made from the true ones (112-crop pixels). Baseline for speed, timed in
the same run: the detection-free crop (central square resized to 112, the ``center`` fallback).
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np


def bench_align(count: int = 24, seed: int = 0) -> dict[str, Any]:
    """Detection rate by attempt, alignment error and images/s per modality on ``count`` rendered
    identities (one VIS and one NIR frame each, independent poses)."""
    from nirvis.evaluate.align import (Aligner, alignment_error_px, center_affine, default_detector,
                                       detect_five_points, warp_crop)
    from nirvis.evaluate.fixtures import raw_face_image

    t0 = time.perf_counter()
    frames = {m: [raw_face_image(s, 0, m, seed=seed) for s in range(count)] for m in ("VIS", "NIR")}
    render_s = time.perf_counter() - t0
    det = default_detector()
    det(np.zeros((64, 64, 3), np.uint8))  # warm-up: model load
    out: dict[str, Any] = {"benchmark": "align", "identities": count, "seed": seed, "frame": [320, 240],
                           "detector": f"{det.name}-{det.version}", "render_frames_s": round(render_s, 2),
                           "modalities": {}}
    for mod, items in frames.items():
        errors, iod, methods = [], [], {"detected": 0, "enhanced": 0, "padded": 0, "none": 0}
        t0 = time.perf_counter()
        found = [detect_five_points(img, det) for img, _ in items]
        detect_s = time.perf_counter() - t0
        for (pts, how), (_, truth) in zip(found, items):
            methods[how or "none"] += 1
            if pts is not None:
                errors.append(alignment_error_px(pts, truth))
                iod.append(float(np.linalg.norm(pts - truth, axis=1).mean() / np.linalg.norm(truth[0] - truth[1])))
        t0 = time.perf_counter()
        for img, _ in items:
            warp_crop(img, center_affine(*img.shape[:2]))
        base_s = max(time.perf_counter() - t0, 1e-9)
        with tempfile.TemporaryDirectory() as tmp:
            Aligner(cache_dir=tmp, detector=det).align(items[0][0], "warm", mod)
            al = Aligner(cache_dir=tmp, detector=det)
            for k, (img, _) in enumerate(items):
                al.align(img, str(k), mod)
            t0 = time.perf_counter()
            al2 = Aligner(cache_dir=tmp, detector=det)
            for k, (img, _) in enumerate(items):
                al2.align(img, str(k), mod)
            cached_s = time.perf_counter() - t0
        e = np.array(errors) if errors else np.array([np.nan])
        out["modalities"][mod] = {
            "images": len(items), "attempts": methods,
            "detection_rate": round(1 - methods["none"] / len(items), 4),
            "crop_error_px": {"mean": round(float(e.mean()), 3), "median": round(float(np.median(e)), 3),
                              "p95": round(float(np.percentile(e, 95)), 3), "max": round(float(e.max()), 3)},
            "landmark_error_over_interocular": round(float(np.mean(iod)), 4) if iod else None,
            "align_images_per_s": round(len(items) / detect_s, 1),
            "cached_images_per_s": round(len(items) / cached_s, 1),
            "baseline_center_crop_images_per_s": round(len(items) / base_s, 1),
            "align_to_baseline_ratio": round(base_s / detect_s, 4),
        }
    try:
        import cv2
        from skimage.data import astronaut

        img = astronaut()
        pts, how = detect_five_points(img, det)
        pg, how_g = detect_five_points(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), det)
        out["real_photo"] = {"image": "skimage astronaut (512x512 RGB)", "rgb": how or "none", "grey": how_g or "none",
                             "grey_vs_rgb_crop_px": round(alignment_error_px(pg, pts), 3)
                             if pts is not None and pg is not None else None}
    except ImportError:
        out["real_photo"] = None
    return out
