"""The tar members of a sample beyond the aligned pair: raw camera frames and label passes.

A data set rendered with ``raw`` and/or ``passes`` holds, next to ``<key>.vis.<ext>``,
``<key>.nir.<ext>`` and ``<key>.json``:

* ``<key>.vis_raw.<ext>``, ``<key>.nir_raw.<ext>``: the uncropped camera frames
  (``sample_space.raw_resolution`` square, the images' encoding);
* per label pass ``P`` (``seg``, ``depth``, ``normal``), always PNG (labels are never lossy):
  ``<key>.P.png`` for pixel-aligned pairs (``pairing: shared``: one set serves both spectra) or
  ``<key>.vis_P.png`` and ``<key>.nir_P.png`` (``independent``: one set per spectrum); with
  ``raw`` also ``<key>.P_raw.png`` (``vis_P_raw.png`` ...) for the raw frames.

Encodings (``encode_label`` / ``decode_label``):

* ``seg``: 8-bit grey, the class id (``faces.segmentation.SEGMENTATION_CLASSES``, 0 background);
* ``depth``: 16-bit grey, the distance along the optical axis in units of 0.1 mm
  (``DEPTH_UNITS_PER_MM``; 0 background; saturates at 6.5535 m);
* ``normal``: 8-bit RGB, ``round((n + 1) / 2 * 255)`` of the unit camera-space normal n (x right,
  y up, z towards the camera); background (0, 0, 0).
Labels are sampled at the nearest raw pixel (no blending across edges), so they line up with the
images pixel for pixel.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: Label passes a config can ask for, and their member names.
LABEL_PASSES = ("segmentation", "depth", "normal")
PASS_SUFFIX = {"segmentation": "seg", "depth": "depth", "normal": "normal"}
#: The renderer's pass of each (``render_batch(passes=...)``).
RENDER_PASS = {"segmentation": "segmentation", "depth": "depth_mm", "normal": "normal"}
#: 16-bit depth values per millimetre.
DEPTH_UNITS_PER_MM = 10


def extra_members(ext: str, raw: bool = False, passes: Sequence[str] = (), pairing: str = "shared") -> tuple[str, ...]:
    """The member suffixes a sample has besides ``vis.<ext>``, ``nir.<ext>``, ``json``, in the
    order they are written (raw frames, then each pass: its crop, then its raw frame)."""
    out = [f"vis_raw.{ext}", f"nir_raw.{ext}"] if raw else []
    for name in passes:
        s = PASS_SUFFIX[name]
        for spectrum in (("",) if pairing == "shared" else ("vis_", "nir_")):
            out.append(f"{spectrum}{s}.png")
            if raw:
                out.append(f"{spectrum}{s}_raw.png")
    return tuple(out)


def member_kind(suffix: str) -> tuple[str, bool]:
    """(kind, raw) of an extra member suffix: kind ``vis``, ``nir``, ``seg``, ``depth`` or
    ``normal``; raise ValueError for an unknown suffix."""
    stem, _, ext = suffix.partition(".")
    raw = stem.endswith("_raw")
    stem = stem[:-4] if raw else stem
    for spectrum in ("vis_", "nir_"):
        if stem.startswith(spectrum) and stem[len(spectrum):] in PASS_SUFFIX.values():
            stem = stem[len(spectrum):]
    if stem in ("vis", "nir") and raw or stem in PASS_SUFFIX.values() and ext == "png":
        return stem, raw
    raise ValueError(f"unknown sample member suffix {suffix!r}")


def encode_label(kind: str, values: np.ndarray) -> bytes:
    """PNG bytes of a label pass: ``seg`` uint8 [H, W] class ids; ``depth`` float [H, W] mm;
    ``normal`` float [H, W, 3] unit vectors (0 on background)."""
    import cv2

    a = np.asarray(values)
    if kind == "seg":
        img = a.astype(np.uint8)
    elif kind == "depth":
        img = np.clip(np.round(a.astype(np.float64) * DEPTH_UNITS_PER_MM), 0, 65535).astype(np.uint16)
    elif kind == "normal":
        on = np.abs(a).sum(-1, keepdims=True) > 0
        img = np.where(on, np.round((np.clip(a, -1, 1) + 1.0) * 127.5), 0).astype(np.uint8)[..., ::-1]
    else:
        raise ValueError(f"encode_label: unknown pass {kind!r}")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img), [cv2.IMWRITE_PNG_COMPRESSION, 4])
    if not ok:  # pragma: no cover
        raise RuntimeError(f"encode_label: OpenCV could not encode the {kind} pass")
    return buf.tobytes()


def decode_label(kind: str, data: bytes) -> np.ndarray:
    """A label pass from its PNG bytes: ``seg`` uint8 [H, W]; ``depth`` float32 [H, W] mm;
    ``normal`` float32 [H, W, 3] (0 on background, else within 1/255 of unit length)."""
    import cv2

    from nirvis.image_limits import check_image_size

    check_image_size(data, "label PNG")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{kind}: not a decodable PNG")
    want = {"seg": (2, np.uint8), "depth": (2, np.uint16), "normal": (3, np.uint8)}.get(kind)
    if want is None:
        raise ValueError(f"decode_label: unknown pass {kind!r}")
    if img.ndim != want[0] or img.dtype != want[1]:
        raise ValueError(f"{kind}: expected a {'RGB' if want[0] == 3 else 'grey'} {np.dtype(want[1]).name} PNG, "
                         f"got {img.dtype} {list(img.shape)}")
    if kind == "seg":
        return img
    if kind == "depth":
        return img.astype(np.float32) / DEPTH_UNITS_PER_MM
    rgb = img[..., ::-1].astype(np.float32)
    return np.where(rgb.sum(-1, keepdims=True) > 0, rgb / 127.5 - 1.0, 0.0).astype(np.float32)


def label_record(passes: Sequence[str]) -> dict:
    """What the manifest and each sample's JSON say about the label passes: classes and encodings."""
    from nirvis.faces.segmentation import SEGMENTATION_CLASSES

    enc = {"segmentation": {"member": "seg", "png": "grey8", "values": "class id",
                            "classes": list(SEGMENTATION_CLASSES)},
           "depth": {"member": "depth", "png": "grey16", "values": "distance along the optical axis",
                     "units_per_mm": DEPTH_UNITS_PER_MM, "background": 0},
           "normal": {"member": "normal", "png": "rgb8", "values": "round((n + 1) / 2 * 255), n the unit normal in "
                      "camera space (x right, y up, z towards the camera)", "background": [0, 0, 0]}}
    return {name: enc[name] for name in passes}


def decode_member(suffix: str, data: bytes) -> np.ndarray:
    """An extra member's array: raw frames as images (``format.decode_png``: uint8 RGB / grey),
    label passes through ``decode_label``; ValueError for an unknown suffix or bad bytes."""
    from nirvis.shards.format import decode_png

    kind, _ = member_kind(suffix)
    if kind in ("vis", "nir"):
        return decode_png(data, 3 if kind == "vis" else 1)
    return decode_label(kind, data)
