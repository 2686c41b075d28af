"""Colour conventions shared by every stage: the sRGB transfer function and the luma weights.

* sRGB (IEC 61966-2-1): ``encode_srgb`` (linear -> encoded) and ``decode_srgb`` (encoded ->
  linear) on ``[...]`` float torch tensors or numpy arrays, dtype kept, NOT clipped (the linear
  segment continues below 0 and the power segment above 1; callers clamp when they need [0, 1]).
  The power is only evaluated on clamped inputs, so gradients are finite everywhere.
* Rec. 709 luminance of LINEAR RGB (``luminance_rec709``, weights ``REC709_LUMA``): the "grey"
  of the reflectance stage (NIR ablation baseline, single-channel texture reads).
* ITU-R BT.601 luma of 8-bit ENCODED RGB (``luma_bt601``, weights ``BT601_LUMA``): the grey image
  a face recognition model reads, rounded exactly as PIL's ``Image.convert("L")``, which is how
  the reference NIR-VIS evaluation reads every image as grey. (OpenCV's ``COLOR_RGB2GRAY`` and
  a float ``rint`` of the same weights differ from it by 1 grey level on about 0.13 % and 0.05 %
  of all RGB colours.) ``luma_bt601_float`` is the unrounded value in [0, 1].
* CIE L*a*b* (D65 white) of LINEAR sRGB (``linear_srgb_to_lab``) and the skin-tone measure built
  on it, the individual typology angle ``ita_degrees`` = atan((L* - 50) / b*) in degrees, with the
  categories of Chardon et al. (Int. J. Cosmet. Sci. 13, 1991; Del Bino et al. 2006):
  ``ita_category`` / ``ITA_CATEGORIES``.

Example:
    >>> import numpy as np
    >>> from nirvis.colour import decode_srgb, encode_srgb, luma_bt601
    >>> [round(float(v), 4) for v in encode_srgb(np.array([0.0, 0.214, 1.0]))]
    [0.0, 0.5, 1.0]
    >>> [round(float(v), 4) for v in decode_srgb(np.array([0.0, 0.5, 1.0]))]
    [0.0, 0.214, 1.0]
    >>> luma_bt601(np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint8)).tolist()
    [76, 150, 29, 255]
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

import numpy as np

__all__ = ["encode_srgb", "decode_srgb", "luminance_rec709", "luma_bt601", "luma_bt601_float",
           "REC709_LUMA", "BT601_LUMA", "SRGB_LINEAR_THRESHOLD", "SRGB_ENCODED_THRESHOLD",
           "linear_srgb_to_lab", "ita_degrees", "ita_category", "ITA_CATEGORIES"]

#: Rec. 709 luminance weights of linear sRGB (R, G, B).
REC709_LUMA = (0.2126, 0.7152, 0.0722)
#: ITU-R BT.601 luma weights of encoded RGB (R, G, B).
BT601_LUMA = (0.299, 0.587, 0.114)
#: Linear value where the sRGB encoding switches from the linear to the power segment.
SRGB_LINEAR_THRESHOLD = 0.0031308
#: Encoded value where the sRGB decoding switches from the linear to the power segment.
SRGB_ENCODED_THRESHOLD = 0.04045
#: The sRGB encoding's pieces: ``SLOPE x`` below the threshold, ``SCALE x^(1/GAMMA) - OFFSET`` above.
SRGB_SLOPE, SRGB_SCALE, SRGB_OFFSET, SRGB_GAMMA = 12.92, 1.055, 0.055, 2.4
# BT.601 in 16-bit fixed point, as PIL's RGB -> L conversion: (R*19595 + G*38470 + B*7471 + 2**15) >> 16.
_BT601_FIXED = (19595, 38470, 7471)

A = TypeVar("A")


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only if torch was imported
    return torch is not None and isinstance(x, torch.Tensor)


def _check_float(x: Any, name: str) -> None:
    if _is_tensor(x):
        if not x.is_floating_point():
            raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    elif not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = f"array of dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"{name}: expected a floating-point torch tensor or numpy array, got {got}")


def encode_srgb(x: A) -> A:
    """Encode linear values with the sRGB transfer function (IEC 61966-2-1).

    Args:
        x: ``[...]`` float torch tensor or numpy array, nominally in [0, 1].

    Returns:
        ``[...]`` same type and dtype: ``12.92 x`` for ``x <= 0.0031308``, else
        ``1.055 x^(1/2.4) - 0.055``; not clipped.

    Example:
        >>> import torch
        >>> from nirvis.colour import encode_srgb
        >>> [round(float(v), 4) for v in encode_srgb(torch.tensor([0.0, 0.214, 1.0]))]
        [0.0, 0.5, 1.0]
    """
    _check_float(x, "x")
    a: Any = x
    t = SRGB_LINEAR_THRESHOLD
    if _is_tensor(a):
        import torch

        return torch.where(a <= t, SRGB_SLOPE * a,  # type: ignore[return-value]
                           SRGB_SCALE * a.clamp_min(t) ** (1.0 / SRGB_GAMMA) - SRGB_OFFSET)
    return np.where(a <= t, SRGB_SLOPE * a,
                    SRGB_SCALE * np.maximum(a, a.dtype.type(t)) ** (1.0 / SRGB_GAMMA) - SRGB_OFFSET)


def decode_srgb(x: A) -> A:
    """Decode sRGB-encoded values to linear (IEC 61966-2-1), the inverse of ``encode_srgb``.

    Args:
        x: ``[...]`` float torch tensor or numpy array, nominally in [0, 1].

    Returns:
        ``[...]`` same type and dtype: ``x / 12.92`` for ``x <= 0.04045``, else
        ``((x + 0.055) / 1.055)^2.4``; not clipped.

    Example:
        >>> import numpy as np
        >>> from nirvis.colour import decode_srgb
        >>> decode_srgb(np.array([0.5], np.float32)).dtype
        dtype('float32')
    """
    _check_float(x, "x")
    a: Any = x
    t = SRGB_ENCODED_THRESHOLD
    if _is_tensor(a):
        import torch

        return torch.where(a <= t, a / 12.92, ((a.clamp_min(t) + 0.055) / 1.055) ** 2.4)  # type: ignore[return-value]
    return np.where(a <= t, a / 12.92, ((np.maximum(a, a.dtype.type(t)) + 0.055) / 1.055) ** 2.4)


def luminance_rec709(rgb: A) -> A:
    """Rec. 709 relative luminance of linear RGB: ``0.2126 R + 0.7152 G + 0.0722 B``.

    Args:
        rgb: ``[..., 3]`` float torch tensor or numpy array (linear sRGB).

    Returns:
        ``[...]`` same type, dtype and device.

    Example:
        >>> import numpy as np
        >>> from nirvis.colour import luminance_rec709
        >>> round(float(luminance_rec709(np.array([1.0, 0.0, 0.0]))), 4)
        0.2126
    """
    _check_float(rgb, "rgb")
    a: Any = rgb
    if a.ndim < 1 or a.shape[-1] != 3:
        raise ValueError(f"rgb: expected shape [..., 3], got {list(a.shape)}")
    # One evaluation order for both backends (a matmul's summation order depends on the BLAS and
    # the machine, which changed the last bit between numpy and torch on some CPUs).
    wr, wg, wb = (a.dtype.type(w) for w in REC709_LUMA) if not _is_tensor(a) else REC709_LUMA
    return a[..., 0] * wr + a[..., 1] * wg + a[..., 2] * wb


def _check_uint8_rgb(rgb: Any) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim < 1 or a.shape[-1] != 3:
        raise ValueError(f"rgb: expected uint8 [..., 3] RGB, got {a.dtype} {list(a.shape)}")
    return a


def luma_bt601(rgb: Any) -> np.ndarray:
    """Grey uint8 image of 8-bit RGB: ITU-R BT.601 luma, rounded exactly as PIL's ``convert("L")``.

    Args:
        rgb: uint8 ``[..., 3]`` RGB (a numpy array; other dtypes are refused).

    Returns:
        uint8 ``[...]``: ``(19595 R + 38470 G + 7471 B + 32768) >> 16``, i.e.
        ``0.299 R + 0.587 G + 0.114 B`` rounded half up in 16-bit fixed point.

    Example:
        >>> import numpy as np
        >>> from nirvis.colour import luma_bt601
        >>> luma_bt601(np.array([[[10, 200, 30]]], np.uint8))
        array([[124]], dtype=uint8)
    """
    a = _check_uint8_rgb(rgb).astype(np.uint32)
    r, g, b = _BT601_FIXED
    return ((a[..., 0] * r + a[..., 1] * g + a[..., 2] * b + (1 << 15)) >> 16).astype(np.uint8)


def luma_bt601_float(rgb: Any) -> np.ndarray:
    """BT.601 luma of 8-bit RGB as float32 in [0, 1], not rounded: ``(0.299 R + 0.587 G + 0.114 B) / 255``.

    Args:
        rgb: uint8 ``[..., 3]`` RGB.

    Returns:
        float32 ``[...]`` in [0, 1].

    Example:
        >>> import numpy as np
        >>> from nirvis.colour import luma_bt601_float
        >>> [round(float(v), 4) for v in luma_bt601_float(np.array([[255, 255, 255], [255, 0, 0]], np.uint8))]
        [1.0, 0.299]
    """
    a = _check_uint8_rgb(rgb).astype(np.float32) / np.float32(255.0)
    return a @ np.array(BT601_LUMA, np.float32)


#: linear sRGB -> CIE XYZ (D65), IEC 61966-2-1; and the D65 white point (Y = 1).
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
#: ITA skin-tone categories (Chardon et al. 1991, as used by Del Bino et al. 2006), lightest first:
#: (name, lower bound in degrees, exclusive); the last one has no lower bound.
ITA_CATEGORIES: tuple[tuple[str, float], ...] = (("very light", 55.0), ("light", 41.0), ("intermediate", 28.0),
                                                  ("tan", 10.0), ("brown", -30.0), ("dark", -float("inf")))


def linear_srgb_to_lab(rgb: Any) -> np.ndarray:
    """CIE L*a*b* (D65 reference white) of linear sRGB ``[..., 3]`` (float64 ``[..., 3]``).

    Example:
        >>> import numpy as np
        >>> from nirvis.colour import linear_srgb_to_lab
        >>> [round(float(v), 2) + 0.0 for v in linear_srgb_to_lab(np.array([1.0, 1.0, 1.0]))]
        [100.0, 0.0, 0.0]
        >>> [round(float(v), 1) + 0.0 for v in linear_srgb_to_lab(np.array([0.214, 0.214, 0.214]))]
        [53.4, 0.0, 0.0]
    """
    xyz = np.asarray(rgb, np.float64) @ _SRGB_TO_XYZ.T / _D65_WHITE
    eps, kappa = (6.0 / 29.0) ** 3, (29.0 / 6.0) ** 2 / 3.0
    f = np.where(xyz > eps, np.cbrt(np.maximum(xyz, eps)), kappa * xyz + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)


def ita_degrees(lab: Any) -> np.ndarray:
    """Individual typology angle of CIE L*a*b* ``[..., 3]``: atan((L* - 50) / b*) in degrees
    (``arctan2``, so a b* <= 0, which skin does not have, still gives a defined angle).

    Example:
        >>> import numpy as np
        >>> from nirvis.colour import ita_degrees
        >>> round(float(ita_degrees(np.array([60.0, 8.0, 10.0]))), 2)
        45.0
    """
    lab = np.asarray(lab, np.float64)
    return np.degrees(np.arctan2(lab[..., 0] - 50.0, lab[..., 2]))


def ita_category(ita: float) -> str:
    """The ``ITA_CATEGORIES`` name of an ITA in degrees (a bound belongs to the darker class).

    Example:
        >>> from nirvis.colour import ita_category
        >>> [ita_category(v) for v in (60.0, 55.0, 30.0, 0.0, -40.0)]
        ['very light', 'light', 'intermediate', 'brown', 'dark']
    """
    for name, lower in ITA_CATEGORIES:
        if float(ita) > lower:
            return name
    return ITA_CATEGORIES[-1][0]
