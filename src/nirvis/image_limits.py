"""Image size limits, checked from the file header before any decoder allocates the pixels.

A few kilobytes of PNG can declare 20000 x 20000 pixels; decoding it allocates gigabytes (and
float conversions several times that). Every reader of user-supplied images (photos, textures,
benchmark images, training lists, shard PNGs, ``.bin`` sets) asks ``check_image_size`` first: the
header is parsed by Pillow's lazy ``Image.open`` (which reads no pixel data), and an image with
more than ``max_image_pixels()`` pixels is refused with an ``ImageTooLargeError`` naming the
source and its declared size. The limit is ``DEFAULT_MAX_PIXELS`` (100 megapixels: larger than
any camera photo we expect, ~300 MB as uint8 RGB) or the environment variable
``NIRVIS_MAX_IMAGE_PIXELS``. Headers Pillow cannot parse pass (the decoder then fails or reads a
format Pillow does not know, such as OpenEXR); OpenCV's own limit (2^30 pixels) still applies to those.

Example:
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("L", (64, 32)).save(buf, format="PNG")
    >>> check_image_size(buf.getvalue(), "tiny.png")
    (64, 32)
    >>> check_image_size(buf.getvalue(), "tiny.png", max_pixels=1000)
    Traceback (most recent call last):
    ...
    nirvis.image_limits.ImageTooLargeError: tiny.png: image of 64 x 32 pixels (2048) exceeds the limit ...
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import Optional, Union

from nirvis.errors import NirvisError

__all__ = ["DEFAULT_MAX_PIXELS", "ImageTooLargeError", "max_image_pixels", "check_image_size"]

#: Default largest accepted image, in pixels (width x height).
DEFAULT_MAX_PIXELS = 100_000_000


class ImageTooLargeError(NirvisError, ValueError):
    """An image declares more pixels than the limit (the message names the source and size)."""


def max_image_pixels() -> int:
    """The limit in pixels: ``NIRVIS_MAX_IMAGE_PIXELS`` when set (a positive integer), else
    ``DEFAULT_MAX_PIXELS``."""
    raw = os.environ.get("NIRVIS_MAX_IMAGE_PIXELS")
    if raw is None or raw.strip() == "":
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise NirvisError(f"NIRVIS_MAX_IMAGE_PIXELS: expected a positive integer, got {raw!r}")
    return value


def check_image_size(source: Union[str, os.PathLike, bytes, bytearray, memoryview], name: Optional[str] = None,
                     max_pixels: Optional[int] = None) -> Optional[tuple[int, int]]:
    """The declared (width, height) of an image file or encoded bytes, refused when too large.

    Args:
        source: a path, or the encoded bytes.
        name: how the source is named in the error (default: the path, or "image").
        max_pixels: the limit (default ``max_image_pixels()``).

    Returns:
        (width, height), or None when Pillow cannot parse the header (the caller's decoder
        decides then).

    Raises:
        ImageTooLargeError: the header declares more than ``max_pixels`` pixels.
    """
    from PIL import Image

    limit = max_image_pixels() if max_pixels is None else int(max_pixels)
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "image")
    stream = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else Path(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as img:        # lazy: reads the header only
                width, height = img.size
    except Image.DecompressionBombError as exc:    # beyond Pillow's own (larger) limit: it gives the count
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{found.group(1)} pixels" if found else f"more than {Image.MAX_IMAGE_PIXELS} pixels"
        raise ImageTooLargeError(f"{label}: image of {size} exceeds the limit of {limit} pixels "
                                 "(NIRVIS_MAX_IMAGE_PIXELS)") from None
    except (OSError, ValueError, SyntaxError):
        return None
    if width * height > limit:
        raise ImageTooLargeError(f"{label}: image of {width} x {height} pixels ({width * height}) exceeds the "
                                 f"limit of {limit} pixels (NIRVIS_MAX_IMAGE_PIXELS)")
    return width, height
