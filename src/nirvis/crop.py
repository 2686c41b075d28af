"""The aligned face crop that every stage exchanges: its size and its 5-point landmark template.

Rendered pairs (``nirvis.render.align``), shards, training lists, exported data sets and the
evaluation read and write ``CROP_SIZE x CROP_SIZE`` crops in which the five landmarks sit on
``ARCFACE_TEMPLATE_112`` (the insightface / ArcFace convention). Plain numbers, no torch: any
stage may import this module.

Example:
    >>> from nirvis.crop import ARCFACE_TEMPLATE_112, CROP_SIZE
    >>> CROP_SIZE, len(ARCFACE_TEMPLATE_112)
    (112, 5)
"""

from __future__ import annotations

__all__ = ["CROP_SIZE", "CROP_SIZES", "ARCFACE_TEMPLATE_112", "arcface_template_px"]

#: Side (pixels) of the square aligned face crop: the ArcFace 112 x 112 input.
CROP_SIZE = 112

#: The insightface 5-point template for 112 x 112 crops, in OpenCV pixel coordinates (pixel
#: centres at integers): right eye, left eye, nose tip, right mouth corner, left mouth corner
#: (subject's right = image left).
ARCFACE_TEMPLATE_112 = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366),
                        (41.5493, 92.3655), (70.7299, 92.2041))

#: Aligned crop sides a data set can be rendered at (``render-dataset --resolution``): the
#: ArcFace template scaled by ``size / 112``; training and evaluation take ``CROP_SIZE``.
CROP_SIZES = (112, 128, 160, 224, 256, 512)


def arcface_template_px(size: int = CROP_SIZE) -> tuple[tuple[float, float], ...]:
    """The 5-point template of a ``size`` x ``size`` crop in the renderer's pixel convention
    (centres at ``i + 0.5``): ``(ARCFACE_TEMPLATE_112 + 0.5) * size / 112``, i.e. the 112 crop's
    picture scaled about its corner, so every size frames the face the same way.

    Example:
        >>> arcface_template_px(224)[0]
        (77.5892, 104.3926)
    """
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size: expected an integer crop side >= 16, got {size!r}")
    s = size / CROP_SIZE
    return tuple((round((x + 0.5) * s, 6), round((y + 0.5) * s, 6)) for x, y in ARCFACE_TEMPLATE_112)
