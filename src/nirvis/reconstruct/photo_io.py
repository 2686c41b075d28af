"""Reading input photos for reconstruction: orientation, focal length, colour checks.

``read_photo`` never raises on a bad file: it returns a ``Photo`` whose ``status`` says why it
cannot be used, so a batch reports the file and goes on. Only PIL decoders run on the bytes (no
file we read can run code); decompression bombs (PIL's pixel limit) count as unreadable.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from nirvis.image_limits import ImageTooLargeError, check_image_size

#: File name endings taken as photos when a folder is given.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Longest side photos are reduced to before landmarks and texture (larger adds no face detail the
#: 512 px texture keeps, and costs time).
MAX_SIDE = 1600
#: An RGB photo whose channels differ by at most this (8-bit levels, 99.5th percentile) is greyscale.
GREY_TOLERANCE = 3

_EXIF_IFD = 0x8769
_FOCAL_35MM = 0xA405


@dataclass(frozen=True, eq=False)
class Photo:
    """One input photo.

    Attributes:
        path: the file.
        sha256: hex digest of the file's bytes ("" when unreadable).
        status: "ok", or why it cannot be used: "unreadable" (not an image, truncated, too many
            pixels), "greyscale" (no colour to take a VIS albedo from).
        reason: human-readable detail for a non-ok status.
        rgb: uint8 [H, W, 3] sRGB, EXIF orientation applied, longest side <= MAX_SIDE (None unless ok).
        focal_35mm: EXIF 35 mm-equivalent focal length (mm) or None.
        scale: factor the photo was resized by (1.0 when not).
    """

    path: str
    sha256: str
    status: str
    reason: str = ""
    rgb: Optional[np.ndarray] = None
    focal_35mm: Optional[float] = None
    scale: float = 1.0


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _focal_35mm(img) -> Optional[float]:
    try:
        exif = img.getexif()
        value = exif.get_ifd(_EXIF_IFD).get(_FOCAL_35MM) or exif.get(_FOCAL_35MM)
        value = float(value) if value else None
    except Exception:  # malformed EXIF is not a reason to drop a photo
        return None
    return value if value and 5.0 <= value <= 1000.0 else None


def is_greyscale(rgb: np.ndarray) -> bool:
    """True when the uint8 [H, W, 3] image carries no colour (channels equal up to GREY_TOLERANCE)."""
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 250_000)))
    px = rgb[::step, ::step].astype(np.int16)
    spread = np.abs(px - px.mean(axis=2, keepdims=True)).max(axis=2)
    return bool(np.percentile(spread, 99.5) <= GREY_TOLERANCE)


def read_photo(path: str | os.PathLike) -> Photo:
    """Read one photo (see ``Photo``); never raises for bad content, only for I/O on a path that
    vanished while reading."""
    from PIL import Image, ImageOps

    path = str(path)
    try:
        digest = file_sha256(path)
    except OSError as exc:
        return Photo(path, "", "unreadable", f"cannot read the file: {exc.strerror or exc}")
    try:
        check_image_size(path)
    except ImageTooLargeError as exc:
        return Photo(path, digest, "unreadable", str(exc).split(": ", 1)[-1])
    try:
        with Image.open(path) as img:
            img.load()
            focal = _focal_35mm(img)
            img = ImageOps.exif_transpose(img)
            mode = img.mode
            if mode in ("L", "LA", "I", "I;16", "1", "F"):
                return Photo(path, digest, "greyscale",
                             f"single-channel image (mode {mode}): no colour for a VIS albedo")
            rgb = np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return Photo(path, digest, "unreadable", f"not a readable image: {exc}")
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 16:
        return Photo(path, digest, "unreadable", f"image too small ({rgb.shape[1]} x {rgb.shape[0]} px)")
    if is_greyscale(rgb):
        return Photo(path, digest, "greyscale", "the colour channels are equal: no colour for a VIS albedo")
    scale = 1.0
    if max(rgb.shape[:2]) > MAX_SIDE:
        scale = MAX_SIDE / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    return Photo(path, digest, "ok", "", np.ascontiguousarray(rgb), focal, scale)


def list_photos(inputs: list[str], group_by_folder: bool = False) -> list[tuple[str, list[str]]]:
    """The identities of a reconstruction run, in a fixed order: (name, photo paths).

    Each file argument is one identity; a folder contributes its photos (recursively, sorted by
    path), one identity each, or with ``group_by_folder`` one identity per sub-folder holding all
    photos under it (photos directly in the folder are one identity each). Names are file stems /
    folder names made unique. Raises FileNotFoundError for a missing input.
    """
    entries: list[tuple[str, list[str]]] = []
    for arg in inputs:
        p = Path(arg)
        if not p.exists():
            raise FileNotFoundError(f"{arg}: no such file or folder")
        if p.is_file():
            entries.append((p.stem, [str(p)]))
            continue
        if group_by_folder:
            for f in sorted(x for x in p.iterdir() if x.is_file() and x.suffix.lower() in PHOTO_SUFFIXES):
                entries.append((f.stem, [str(f)]))
            for sub in sorted(x for x in p.iterdir() if x.is_dir()):
                files = sorted(str(f) for f in sub.rglob("*") if f.is_file() and f.suffix.lower() in PHOTO_SUFFIXES)
                if files:
                    entries.append((sub.name, files))
        else:
            for f in sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() in PHOTO_SUFFIXES):
                entries.append((f.stem, [str(f)]))
    seen: dict[str, int] = {}
    out = []
    for name, files in entries:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60] or "photo"
        k = seen.get(safe, 0)
        seen[safe] = k + 1
        out.append((safe if k == 0 else f"{safe}_{k}", files))
    return out
