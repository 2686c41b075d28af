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

__all__ = ["CROP_SIZE", "ARCFACE_TEMPLATE_112"]

#: Side (pixels) of the square aligned face crop: the ArcFace 112 x 112 input.
CROP_SIZE = 112

#: The insightface 5-point template for 112 x 112 crops, in OpenCV pixel coordinates (pixel
#: centres at integers): right eye, left eye, nose tip, right mouth corner, left mouth corner
#: (subject's right = image left).
ARCFACE_TEMPLATE_112 = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366),
                        (41.5493, 92.3655), (70.7299, 92.2041))
