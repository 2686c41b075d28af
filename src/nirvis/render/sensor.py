"""Camera sensor and image-pipeline effects for rendered VIS and NIR images.

Images are NHWC float tensors with values in [0, 1]: VIS ``[B, H, W, 3]`` (linear sRGB before
``linear_to_srgb``, encoded sRGB after), NIR ``[B, H, W, 1]`` (linear). Every per-sample setting
is a ``[B]`` tensor or a plain number (the same for every sample). Randomness comes only from an
explicit ``torch.Generator``: the same generator state gives the same output; nothing touches the
global RNG. Noise is drawn on the generator's device and moved to the image's device, so a CPU
generator gives the same noise for CPU and CUDA images.

Pipelines (``apply_vis_sensor`` / ``apply_nir_sensor``), in order:

* VIS: optical blur -> shot + read noise -> exposure -> white balance -> clip to [0, 1] ->
  sRGB encoding -> JPEG.
* NIR: optical blur -> vignetting -> shot + read noise -> gain with clipping -> JPEG. NIR stays
  linear (no tone curve).

``sample_vis_sensor`` / ``sample_nir_sensor`` draw per-sample settings from the ranges of a
``VisSensorConfig`` / ``NirSensorConfig``; the resulting ``VisSensorParams`` / ``NirSensorParams``
log to JSON with ``to_dict()`` and come back with ``from_dict()``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import Any, Optional, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from nirvis.colour import decode_srgb, encode_srgb
from nirvis.reflectance.sensors import XYZ_TO_LINEAR_SRGB
from nirvis.reflectance.spectra import cie_1931_cmf
from nirvis.render.camera import _FLOAT_DTYPES, _per_batch
from nirvis.render import compiled
from nirvis.shapes import check_shape

__all__ = ["white_balance", "linear_to_srgb", "srgb_to_linear", "add_sensor_noise", "gaussian_blur",
           "jpeg_compress", "color_temperature_rgb", "vignetting", "apply_gain", "to_uint8",
           "VisSensorConfig", "NirSensorConfig", "VisSensorParams", "NirSensorParams",
           "sample_vis_sensor", "sample_nir_sensor", "apply_vis_sensor", "apply_nir_sensor"]

#: Second radiation constant c2 = h c / k in m K (CODATA 2018, the value CIE 15:2004 uses).
PLANCK_C2_M_K = 1.438776877e-2

#: Colour temperature in K of the white the VIS sensor model balances against (``wb_kelvin``).
REFERENCE_WHITE_K = 6500.0


# ------------------------------------------------------------------------------------ helpers


def _check_image(img: Any, name: str, channels: Optional[int] = None) -> dict:
    sizes = check_shape(img, ["B", "H", "W", "C" if channels is None else channels], name, kind=torch.Tensor)
    if img.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"{name}: expected a floating-point tensor with values in [0, 1], got dtype {img.dtype}")
    return sizes


def _batch_values(x: Any, name: str, img: torch.Tensor, lo: Optional[float] = None,
                  hi: Optional[float] = None) -> torch.Tensor:
    """A per-sample setting as a ``[B]`` tensor on ``img``'s device and dtype."""
    t = _per_batch(x, name, like=img)
    b = img.shape[0]
    if t.shape[0] not in (1, b):
        raise ValueError(f"{name}: expected shape [{b}] (one value per image) or a number, got {list(t.shape)}")
    if lo is not None and bool((t < lo).any()):
        raise ValueError(f"{name}: values must be >= {lo:g}, got min {float(t.min()):.6g}")
    if hi is not None and bool((t > hi).any()):
        raise ValueError(f"{name}: values must be <= {hi:g}, got max {float(t.max()):.6g}")
    return t.expand(b)


def _randn_like(img: torch.Tensor, generator: torch.Generator | Sequence[torch.Generator]) -> torch.Tensor:
    """Standard normal noise shaped like ``img``. A sequence of B generators draws each image's
    noise from its own generator, so an image's noise does not depend on the rest of the batch."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != img.shape[0]:
            raise ValueError(f"generator: expected {img.shape[0]} generators (one per image), got {len(generator)}")
        return torch.cat([_randn_like(img[k:k + 1], g) for k, g in enumerate(generator)])
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    n = torch.randn(img.shape, generator=generator, device=generator.device, dtype=torch.float32)
    return n.to(device=img.device, dtype=img.dtype)


# --------------------------------------------------------------------------- colour transforms


def white_balance(img: torch.Tensor, gains: Any) -> torch.Tensor:
    """Multiply each colour channel by a per-sample gain (no clipping).

    Args:
        img: ``[B, H, W, 3]`` float linear RGB, nominally in [0, 1].
        gains: ``[B, 3]`` (or ``[3]``, shared) non-negative per-channel gains (R, G, B).

    Returns:
        ``[B, H, W, 3]`` ``img * gains``, same dtype/device; values may exceed 1 (clip later).

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import white_balance
        >>> white_balance(torch.ones(1, 1, 1, 3), torch.tensor([[2.0, 1.0, 0.5]])).flatten().tolist()
        [2.0, 1.0, 0.5]
    """
    _check_image(img, "img", 3)
    return img * _wb_gains(gains, img)[:, None, None, :]


def _wb_gains(gains: Any, img: torch.Tensor) -> torch.Tensor:
    """``white_balance``'s gains checked, as [B or 1, 3] on ``img``'s device and dtype."""
    try:
        g = gains if isinstance(gains, torch.Tensor) else torch.as_tensor(gains, dtype=img.dtype)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"gains: expected a [B, 3] tensor or 3 numbers, got {type(gains).__name__}") from None
    shape = list(g.shape)
    g = g.to(device=img.device, dtype=img.dtype)
    if g.ndim == 1:
        g = g[None]
    if g.ndim != 2 or g.shape[1] != 3 or g.shape[0] not in (1, img.shape[0]):
        raise ValueError(f"gains: expected shape [B, 3] with B={img.shape[0]} (or [3]), got {shape}")
    if not bool(torch.isfinite(g).all()) or bool((g < 0).any()):
        raise ValueError("gains: values must be finite and >= 0")
    return g


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear values with the sRGB transfer function (IEC 61966-2-1).

    Args:
        x: ``[...]`` float tensor, nominally in [0, 1].

    Returns:
        ``[...]`` encoded values: ``12.92 x`` for ``x <= 0.0031308``, else
        ``1.055 x^(1/2.4) - 0.055``; [0, 1] maps onto [0, 1]. Values outside [0, 1] are not
        clipped (linear segment below 0, power segment above 1). Differentiable with a finite
        gradient everywhere (12.92 at 0): the power is only evaluated on clamped inputs.

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import linear_to_srgb
        >>> [round(float(v), 4) for v in linear_to_srgb(torch.tensor([0.0, 0.214, 1.0]))]
        [0.0, 0.5, 1.0]
    """
    if not isinstance(x, torch.Tensor) or x.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"x: expected a floating-point tensor, got {type(x).__name__}"
                         f"{'' if not isinstance(x, torch.Tensor) else ' of dtype ' + str(x.dtype)}")
    return encode_srgb(x)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB-encoded values to linear (IEC 61966-2-1), the inverse of ``linear_to_srgb``.

    Args:
        x: ``[...]`` float tensor, nominally in [0, 1].

    Returns:
        ``[...]`` linear values: ``x / 12.92`` for ``x <= 0.04045``, else
        ``((x + 0.055) / 1.055)^2.4``; not clipped; finite gradient everywhere.

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import srgb_to_linear
        >>> [round(float(v), 4) for v in srgb_to_linear(torch.tensor([0.0, 0.5, 1.0]))]
        [0.0, 0.214, 1.0]
    """
    if not isinstance(x, torch.Tensor) or x.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"x: expected a floating-point tensor, got {type(x).__name__}"
                         f"{'' if not isinstance(x, torch.Tensor) else ' of dtype ' + str(x.dtype)}")
    return decode_srgb(x)


def color_temperature_rgb(kelvin: Any, locus: str = "planckian") -> torch.Tensor:
    """Linear-sRGB colour of a light of the given colour temperature, normalised to max 1.

    Args:
        kelvin: ``[...]`` temperatures in K (tensor or number); ``planckian``: [1000, 40000],
            ``daylight``: [4000, 25000].
        locus: ``"planckian"``: a blackbody (Planck's law, c2 = 1.438777e-2 m K) integrated
            against the CIE 1931 2-degree colour matching functions at 10 nm, 380-780 nm
            (CIE 15:2004). ``"daylight"``: the CIE daylight locus (the chromaticity of the D
            illuminants, CIE 15:2004 eq. 3.3/3.4), e.g. 6504 K is D65.

    Returns:
        ``[..., 3]`` linear sRGB (IEC 61966-2-1 matrix, D65 white), divided by its largest
        channel, negative channels (below about 1200 K) clamped to 0. dtype/device of ``kelvin``
        (float32 for numbers). Sample values (planckian): 3000 K (1, 0.48, 0.15); 6500 K
        (1, 0.943, 0.991): a blackbody is slightly magenta next to D65 (the daylight locus lies
        above the Planckian one); daylight 6504 K is (1, 1, 1) within 0.2 %.

    Example:
        >>> from nirvis.render.sensor import color_temperature_rgb
        >>> [round(v, 2) for v in color_temperature_rgb(3000.0).tolist()]
        [1.0, 0.48, 0.15]
        >>> [round(v, 2) for v in color_temperature_rgb(6504.0, locus="daylight").tolist()]
        [1.0, 1.0, 1.0]
    """
    if isinstance(kelvin, torch.Tensor) and kelvin.dtype in _FLOAT_DTYPES:
        t_in = kelvin
    else:
        try:
            t_in = torch.as_tensor(kelvin, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"kelvin: expected a number or a float tensor, got {type(kelvin).__name__}") from None
    lo, hi = {"planckian": (1000.0, 40000.0), "daylight": (4000.0, 25000.0)}.get(locus, (None, None))
    if lo is None:
        raise ValueError(f"locus: expected 'planckian' or 'daylight', got {locus!r}")
    if not bool(torch.isfinite(t_in).all()) or bool((t_in < lo).any()) or bool((t_in > hi).any()):
        raise ValueError(f"kelvin: values must lie in [{lo:g}, {hi:g}] K for locus {locus!r}, got "
                         f"[{float(t_in.min()):.6g}, {float(t_in.max()):.6g}]" if t_in.numel() else
                         "kelvin: empty")
    t = t_in.to(torch.float64)
    m = torch.tensor(XYZ_TO_LINEAR_SRGB, dtype=torch.float64, device=t.device)
    if locus == "planckian":
        wl, cmf = (x.to(t.device) for x in _cmf_10nm())                # [L], [L, 3]
        lam = wl * 1e-9
        spd = lam ** -5 / torch.expm1(PLANCK_C2_M_K / (lam * t[..., None]))  # [..., L], relative
        xyz = spd @ cmf                                                 # [..., 3]
    else:
        x = torch.where(t <= 7000.0,
                        -4.6070e9 / t ** 3 + 2.9678e6 / t ** 2 + 0.09911e3 / t + 0.244063,
                        -2.0064e9 / t ** 3 + 1.9018e6 / t ** 2 + 0.24748e3 / t + 0.237040)
        y = -3.000 * x ** 2 + 2.870 * x - 0.275
        xyz = torch.stack([x / y, torch.ones_like(x), (1.0 - x - y) / y], dim=-1)
    rgb = xyz @ m.T
    rgb = rgb / rgb.amax(dim=-1, keepdim=True)
    return rgb.clamp_min(0.0).to(t_in.dtype)


@functools.lru_cache(maxsize=1)
def _cmf_10nm() -> tuple[torch.Tensor, torch.Tensor]:
    """380-780 nm at 10 nm (float64 [41]) and the CIE 1931 functions there [41, 3]: what
    ``color_temperature_rgb`` integrates against (interpolated once; callers must not modify)."""
    wl = torch.arange(380.0, 781.0, 10.0, dtype=torch.float64)
    return wl, cie_1931_cmf(wl)


# ---------------------------------------------------------------------------- noise and optics


def add_sensor_noise(img: torch.Tensor, generator: torch.Generator, shot: Any = 0.0,
                     read: Any = 0.0) -> torch.Tensor:
    """Add signal-dependent sensor noise (Gaussian approximation of Poisson shot noise + read noise).

    Args:
        img: ``[B, H, W, C]`` float linear signal in [0, 1] (1 = full well).
        generator: ``torch.Generator`` for the noise (the same state gives the same noise), or a
            sequence of B generators, one per image.
        shot: ``[B]`` or number >= 0: shot-noise variance per unit signal, i.e. 1 / (electrons at
            full scale); 1e-3 means a full well of 1000 e-.
        read: ``[B]`` or number >= 0: read-noise standard deviation in signal units.

    Returns:
        ``[B, H, W, C]`` ``img + sqrt(shot * max(img, 0) + read^2) * n`` with ``n ~ N(0, 1)`` i.i.d.
        per pixel and channel; NOT clipped (may leave [0, 1]). Exactly ``img`` when shot and read
        are 0 (the generator still advances). Differentiable in ``img`` with a finite gradient.

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import add_sensor_noise
        >>> img = torch.full((1, 64, 64, 1), 0.5)
        >>> out = add_sensor_noise(img, torch.Generator().manual_seed(0), shot=0.0, read=0.01)
        >>> round(float(out.std()), 2)
        0.01
    """
    _check_image(img, "img")
    s = _batch_values(shot, "shot", img, lo=0.0)[:, None, None, None]
    r = _batch_values(read, "read", img, lo=0.0)[:, None, None, None]
    n = _randn_like(img, generator)
    var = s * img.clamp_min(0.0) + r * r
    positive = var > 0
    std = torch.where(positive, torch.where(positive, var, torch.ones_like(var)).sqrt(), torch.zeros_like(var))
    return img + std * n


def gaussian_blur(img: torch.Tensor, sigma_px: Any) -> torch.Tensor:
    """Separable Gaussian blur with a per-sample standard deviation.

    Args:
        img: ``[B, H, W, C]`` float image.
        sigma_px: ``[B]`` or number >= 0: standard deviation in pixels; 0 leaves that sample
            unchanged (exactly).

    Returns:
        ``[B, H, W, C]`` blurred image, same dtype/device; differentiable in ``img`` and in
        ``sigma_px`` where it is > 0. Each sample's kernel is truncated at ``ceil(3 * sigma)``
        pixels (and at ``min(H, W) - 1``) and normalised to sum 1, so a sample's result does not
        depend on the rest of the batch; borders are reflected, so the image mean is preserved up
        to border effects.

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import gaussian_blur
        >>> img = torch.zeros(2, 9, 9, 1); img[:, 4, 4] = 1.0
        >>> out = gaussian_blur(img, torch.tensor([0.0, 1.0]))
        >>> float(out[0, 4, 4, 0]), round(float(out[1, 4, 4, 0]), 3), round(float(out[1].sum()), 4)
        (1.0, 0.159, 1.0)
    """
    _check_image(img, "img")
    sig = _batch_values(sigma_px, "sigma_px", img, lo=0.0)
    if img.shape[0] > 1:
        # one image at a time: the kernel size (and so the summation order) of an image never
        # depends on the other images of the batch, which keeps outputs bit-identical per image
        return torch.cat([_gaussian_blur_one(img[k:k + 1], sig[k:k + 1]) for k in range(img.shape[0])])
    return _gaussian_blur_one(img, sig)


def _blur_radius(sig: torch.Tensor, h: int, w: int) -> int:
    """``gaussian_blur``'s kernel radius for sigmas ``sig`` [B] of one call on H x W images."""
    return min(int(math.ceil(3.0 * float(sig.max()))) if sig.numel() else 0, min(h, w) - 1)


def _blur_taps(sig: torch.Tensor, radius: int, dtype: torch.dtype) -> torch.Tensor:
    """Normalised Gaussian taps [B, 2 radius + 1] of sigmas ``sig`` [B] (each truncated at its own
    ceil(3 sigma); sigma 0: the identity)."""
    x = torch.arange(-radius, radius + 1, device=sig.device, dtype=dtype)
    positive = sig > 0
    safe = torch.where(positive, sig, torch.ones_like(sig))[:, None]
    k = torch.exp(-0.5 * (x[None] / safe) ** 2)
    k = k * (x[None].abs() <= torch.ceil(3.0 * sig.detach())[:, None]).to(dtype)  # own support per sample
    return torch.where(positive[:, None], k / k.sum(dim=1, keepdim=True), (x[None] == 0).to(dtype))  # [B, K]


def _gaussian_blur_one(img: torch.Tensor, sig: torch.Tensor) -> torch.Tensor:
    b, h, w, c = img.shape
    radius = _blur_radius(sig, h, w)
    if radius <= 0:
        return img
    k = _blur_taps(sig, radius, img.dtype).repeat_interleave(c, dim=0)                                # [B*C, K]
    y = img.permute(0, 3, 1, 2).reshape(1, b * c, h, w)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), k[:, None, None, :], groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), k[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w).permute(0, 2, 3, 1)


def _camera_blur(img: torch.Tensor, sigma_px: Any, backend: str) -> torch.Tensor:
    """``gaussian_blur``, compiled on the ``cpu`` backend (same taps, summed in tap order)."""
    if not (compiled.use_compiled(backend, img) and img.dtype == torch.float32):
        return gaussian_blur(img, sigma_px)
    from nirvis.render.compiled import sensor as compiled_sensor

    _check_image(img, "img")
    sig = _batch_values(sigma_px, "sigma_px", img, lo=0.0)
    radii = [_blur_radius(sig[k:k + 1], img.shape[1], img.shape[2]) for k in range(img.shape[0])]
    taps = [_blur_taps(sig[k:k + 1], r, img.dtype)[0] if r > 0 else None for k, r in enumerate(radii)]
    return compiled_sensor.gaussian_blur(img, taps)


def vignetting(img: torch.Tensor, strength: Any) -> torch.Tensor:
    """Radial cos^4 light falloff from the image centre.

    Args:
        img: ``[B, H, W, C]`` float image (linear).
        strength: ``[B]`` or number in [0, 1]: fraction of light lost in the image corners;
            0 = no vignetting.

    Returns:
        ``[B, H, W, C]`` ``img * (1 - strength * g(r))`` with
        ``g(r) = (1 - cos^4(theta)) / (1 - cos^4(45 deg))``, ``tan(theta) = r``, where ``r`` is the
        distance of the pixel centre from the image centre divided by the half-diagonal
        (``g(0) = 0``, ``g(1) = 1``): the cos^4 law of a lens whose corner field angle is 45
        degrees, rescaled so that ``strength`` is the corner loss.

    Convention:
        Pixel (x, y) has its centre at ``(x + 0.5, y + 0.5)``; the image centre is
        ``(W / 2, H / 2)``.

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import vignetting
        >>> out = vignetting(torch.ones(1, 5, 5, 1), 0.5)
        >>> float(out[0, 2, 2, 0]), round(float(out[0, 0, 0, 0]), 3)
        (1.0, 0.581)
    """
    _check_image(img, "img")
    s = _batch_values(strength, "strength", img, lo=0.0, hi=1.0)
    g = vignetting_falloff(img.shape[1], img.shape[2], img.device, img.dtype)
    return img * (1.0 - s[:, None, None, None] * g[None, :, :, None])


def vignetting_falloff(h: int, w: int, device: Any = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``vignetting``'s g(r) [H, W]: 0 at the image centre, 1 in the corners."""
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5 - h / 2.0)
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5 - w / 2.0)
    r2 = (ys[:, None] ** 2 + xs[None, :] ** 2) / ((h * h + w * w) / 4.0)       # [H, W], r^2
    return (1.0 - (1.0 + r2) ** -2) / 0.75


def apply_gain(img: torch.Tensor, gain: Any) -> torch.Tensor:
    """Multiply by a per-sample gain and clip to [0, 1].

    Args:
        img: ``[B, H, W, C]`` float image.
        gain: ``[B]`` or number >= 0.

    Returns:
        ``[B, H, W, C]`` ``clamp(img * gain, 0, 1)`` (zero gradient where clipped).

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import apply_gain
        >>> apply_gain(torch.tensor([0.2, 0.6]).reshape(1, 1, 2, 1), 2.0).flatten().tolist()
        [0.4000000059604645, 1.0]
    """
    _check_image(img, "img")
    g = _batch_values(gain, "gain", img, lo=0.0)
    return (img * g[:, None, None, None]).clamp(0.0, 1.0)


# ------------------------------------------------------------------------------------ encoding


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """Quantise values in [0, 1] to uint8: ``floor(clamp(x, 0, 1) * 255 + 0.5)`` (round half up).

    Args:
        img: ``[...]`` float tensor (any shape), values outside [0, 1] are clamped; NaN raises.

    Returns:
        ``[...]`` uint8 tensor on the same device.

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import to_uint8
        >>> to_uint8(torch.tensor([-0.1, 0.5 / 255, 0.5, 1.2])).tolist()
        [0, 1, 128, 255]
    """
    if not isinstance(img, torch.Tensor) or img.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"img: expected a floating-point tensor, got {type(img).__name__}"
                         f"{'' if not isinstance(img, torch.Tensor) else ' of dtype ' + str(img.dtype)}")
    if img.device.type == "cpu" and img.dtype in (torch.float32, torch.float64) and compiled.cpu_available():
        from nirvis.render.compiled.quantise import to_uint8 as compiled_to_uint8
        return compiled_to_uint8(img)                          # the same bytes, one pass
    if bool(torch.isnan(img).any()):
        raise ValueError("img: contains NaN values")
    x = img.detach().to(torch.float64) if img.dtype != torch.float64 else img.detach()
    return torch.floor(x.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)


def jpeg_compress(img: torch.Tensor, quality: Any, straight_through: bool = False) -> torch.Tensor:
    """JPEG-encode and decode each image with OpenCV (baseline, 4:2:0 chroma for colour images).

    Args:
        img: ``[B, H, W, C]`` with C = 1 (grey) or 3 (RGB): uint8, or float in [0, 1] (quantised
            with ``to_uint8`` first).
        quality: ``[B]`` or int: JPEG quality in [0, 100] per image.
        straight_through: float inputs only: return ``img + (decoded - img).detach()`` so that the
            gradient passes through as the identity. Otherwise the result is detached.

    Returns:
        ``[B, H, W, C]`` decoded images, same dtype/device as ``img`` (floats are multiples of
        1/255). NOT differentiable (runs in NumPy/OpenCV on the CPU, one image at a time).

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import jpeg_compress
        >>> img = torch.full((2, 16, 16, 3), 0.5)
        >>> out = jpeg_compress(img, torch.tensor([95, 50]))
        >>> out.shape, bool((out - img).abs().max() < 0.01)
        (torch.Size([2, 16, 16, 3]), True)
    """
    sizes = check_shape(img, ["B", "H", "W", "C"], "img", kind=torch.Tensor)
    if sizes["C"] not in (1, 3):
        raise ValueError(f"img: expected shape [B, H, W, 1] or [B, H, W, 3], got {list(img.shape)}")
    if img.dtype != torch.uint8 and img.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"img: expected uint8 or a floating dtype, got {img.dtype}")
    b = img.shape[0]
    q = torch.as_tensor(quality).reshape(-1) if not isinstance(quality, torch.Tensor) else quality.reshape(-1)
    if q.numel() not in (1, b) or (q.is_floating_point() and bool((q != q.round()).any())) or \
            bool((q < 0).any()) or bool((q > 100).any()):
        raise ValueError(f"quality: expected integers in [0, 100], shape [{b}] or a number, got {quality!r}")
    q = q.expand(b).tolist()
    u8 = img if img.dtype == torch.uint8 else to_uint8(img)
    arr = u8.cpu().numpy()
    out = np.empty_like(arr)
    for i in range(b):  # per image (OpenCV's codec is not batched)
        im = arr[i] if arr.shape[-1] == 1 else arr[i][..., ::-1]           # RGB -> BGR
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(im), [cv2.IMWRITE_JPEG_QUALITY, int(q[i])])
        if not ok:
            raise ValueError(f"img: OpenCV could not JPEG-encode image {i}")
        dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED if arr.shape[-1] == 3 else cv2.IMREAD_GRAYSCALE)
        out[i] = dec[..., None] if arr.shape[-1] == 1 else dec[..., ::-1]
    res = torch.from_numpy(out).to(img.device)
    if img.dtype == torch.uint8:
        return res
    if straight_through and not img.requires_grad and img.dtype == torch.float32 and img.device.type == "cpu" \
            and compiled.cpu_available():                                 # the same floats in one pass
        from nirvis.render.compiled.quantise import straight_through_uint8
        return straight_through_uint8(img, res)
    res = res.to(img.dtype) / 255.0
    return img + (res - img).detach() if straight_through else res


# --------------------------------------------------------------------------- configs and params


def _check_range(value: Any, name: str, lo: float, hi: float, positive: bool = False,
                 integer: bool = False) -> tuple:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a (low, high) pair of numbers, got {value!r}") from None
    bad = not (math.isfinite(a) and math.isfinite(b)) or a > b or a < lo or b > hi or (positive and a <= 0)
    if integer and not bad:
        bad = a != int(a) or b != int(b)
    if bad:
        kind = "integers" if integer else "numbers"
        low = f"> {lo:g}" if positive else f">= {lo:g}"
        raise ValueError(f"{name}: expected (low, high) {kind} with {low}, low <= high <= {hi:g}, got {value!r}")
    return (int(a), int(b)) if integer else (a, b)


@dataclass(frozen=True)
class VisSensorConfig:
    """Ranges from which ``sample_vis_sensor`` draws per-sample VIS sensor settings.

    Every field is a ``(low, high)`` pair; ``jpeg_quality`` may be None (no JPEG).

    Attributes:
        exposure: multiplier of the linear signal, drawn log-uniformly (> 0).
        wb_kelvin: white-balance error: the camera balances for a Planckian light of this colour
            temperature while the scene light is ``REFERENCE_WHITE_K`` (6500 K); drawn uniformly in
            [1000, 40000]. Above 6500 K gives a warm cast, below a cold one.
        shot: shot-noise variance per unit signal (1 / full-well electrons), log-uniform (> 0).
        read: read-noise standard deviation, uniform (>= 0).
        blur_sigma_px: optical blur in pixels of the rendered image, uniform (>= 0).
        jpeg_quality: JPEG quality, integers uniform in [low, high] inclusive, or None.

    Example:
        >>> from nirvis.render.sensor import VisSensorConfig
        >>> VisSensorConfig(jpeg_quality=None).jpeg_quality is None
        True
    """

    exposure: tuple[float, float] = (0.8, 1.25)
    wb_kelvin: tuple[float, float] = (5500.0, 7500.0)
    shot: tuple[float, float] = (1e-4, 2e-3)
    read: tuple[float, float] = (0.001, 0.008)
    blur_sigma_px: tuple[float, float] = (0.0, 0.8)
    jpeg_quality: Optional[tuple[int, int]] = (75, 100)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exposure", _check_range(self.exposure, "exposure", 0.0, 100.0, positive=True))
        object.__setattr__(self, "wb_kelvin", _check_range(self.wb_kelvin, "wb_kelvin", 1000.0, 40000.0))
        _check_noise_blur_jpeg(self)


def _check_noise_blur_jpeg(cfg: "VisSensorConfig | NirSensorConfig") -> None:
    """Validate (and normalise in place) the ranges both sensor configs share."""
    object.__setattr__(cfg, "shot", _check_range(cfg.shot, "shot", 0.0, 1.0, positive=True))
    object.__setattr__(cfg, "read", _check_range(cfg.read, "read", 0.0, 1.0))
    object.__setattr__(cfg, "blur_sigma_px", _check_range(cfg.blur_sigma_px, "blur_sigma_px", 0.0, 100.0))
    if cfg.jpeg_quality is not None:
        object.__setattr__(cfg, "jpeg_quality", _check_range(cfg.jpeg_quality, "jpeg_quality", 0, 100, integer=True))


@dataclass(frozen=True)
class NirSensorConfig:
    """Ranges from which ``sample_nir_sensor`` draws per-sample NIR sensor settings.

    Every field is a ``(low, high)`` pair; ``jpeg_quality`` may be None (no JPEG).

    Attributes:
        gain: analog gain applied after the noise, then clipped; log-uniform (> 0).
        vignetting: corner light loss in [0, 1] (see ``vignetting``), uniform.
        shot: shot-noise variance per unit signal, log-uniform (> 0).
        read: read-noise standard deviation, uniform (>= 0).
        blur_sigma_px: optical blur in pixels, uniform (>= 0).
        jpeg_quality: JPEG quality, integers uniform in [low, high] inclusive, or None.

    Example:
        >>> from nirvis.render.sensor import NirSensorConfig
        >>> NirSensorConfig().vignetting
        (0.0, 0.4)
    """

    gain: tuple[float, float] = (0.8, 1.5)
    vignetting: tuple[float, float] = (0.0, 0.4)
    # SNR at a mid-grey face (0.3) from ~55 (40 dB) down to ~13 (22 dB) before gain; renderer 4 drew
    # up to (4e-3, 0.015), SNR ~8, grainier than the access-control NIR photos of the benchmarks, and
    # that grain alone cost 6 points of NIR-VIS TAR at FAR 1e-2 in the realism report (README)
    shot: tuple[float, float] = (1e-4, 1.5e-3)
    read: tuple[float, float] = (0.001, 0.008)
    blur_sigma_px: tuple[float, float] = (0.0, 1.0)
    jpeg_quality: Optional[tuple[int, int]] = (75, 100)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gain", _check_range(self.gain, "gain", 0.0, 100.0, positive=True))
        object.__setattr__(self, "vignetting", _check_range(self.vignetting, "vignetting", 0.0, 1.0))
        _check_noise_blur_jpeg(self)


def _to_jsonable(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().tolist()
    if isinstance(v, tuple):
        return list(v)
    return v


def _from_jsonable(v: Any, integer: bool = False) -> Any:
    if isinstance(v, (list, tuple)):
        return torch.tensor(v, dtype=torch.int64 if integer else torch.float32)
    return v


class _ParamsMixin:
    _INTEGER_FIELDS: tuple = ()

    def to_dict(self) -> dict:
        """JSON-ready dict: tensors become (nested) lists of floats (``jpeg_quality``: ints),
        numbers and None stay as they are."""
        return {f.name: _to_jsonable(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict):
        """Inverse of ``to_dict`` (lists become float32 tensors; ``jpeg_quality`` int64)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"d: unknown keys {unknown}; expected a subset of {sorted(names)}")
        return cls(**{k: _from_jsonable(v, k in cls._INTEGER_FIELDS) for k, v in d.items()})


@dataclass(frozen=True, eq=False)
class VisSensorParams(_ParamsMixin):
    """Per-sample VIS sensor settings (one value per image as a ``[B]`` tensor, or a number for all).

    Attributes:
        exposure: ``[B]`` or number > 0, multiplies the linear signal.
        wb_gains: ``[B, 3]`` or ``(r, g, b)``: white-balance gains (applied after the noise).
        shot: ``[B]`` or number >= 0, see ``add_sensor_noise``.
        read: ``[B]`` or number >= 0, see ``add_sensor_noise``.
        blur_sigma_px: ``[B]`` or number >= 0, see ``gaussian_blur``.
        jpeg_quality: ``[B]`` int tensor, int in [0, 100], or None (no JPEG).

    Example:
        >>> from nirvis.render.sensor import VisSensorParams
        >>> VisSensorParams(jpeg_quality=None).to_dict()["wb_gains"]
        [1.0, 1.0, 1.0]
    """

    exposure: Any = 1.0
    wb_gains: Any = (1.0, 1.0, 1.0)
    shot: Any = 0.0
    read: Any = 0.0
    blur_sigma_px: Any = 0.0
    jpeg_quality: Any = None
    _INTEGER_FIELDS = ("jpeg_quality",)


@dataclass(frozen=True, eq=False)
class NirSensorParams(_ParamsMixin):
    """Per-sample NIR sensor settings (one value per image as a ``[B]`` tensor, or a number for all).

    Attributes:
        gain: ``[B]`` or number >= 0, applied after the noise, then clipped (``apply_gain``).
        vignetting: ``[B]`` or number in [0, 1], see ``vignetting``.
        shot: ``[B]`` or number >= 0, see ``add_sensor_noise``.
        read: ``[B]`` or number >= 0, see ``add_sensor_noise``.
        blur_sigma_px: ``[B]`` or number >= 0, see ``gaussian_blur``.
        jpeg_quality: ``[B]`` int tensor, int in [0, 100], or None (no JPEG).

    Example:
        >>> from nirvis.render.sensor import NirSensorParams
        >>> NirSensorParams(gain=1.5).to_dict()["gain"]
        1.5
    """

    gain: Any = 1.0
    vignetting: Any = 0.0
    shot: Any = 0.0
    read: Any = 0.0
    blur_sigma_px: Any = 0.0
    jpeg_quality: Any = None
    _INTEGER_FIELDS = ("jpeg_quality",)


def _uniforms(batch: Any, k: int, generator: torch.Generator) -> torch.Tensor:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch: expected a positive int, got {batch!r}")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    u = torch.rand(batch, k, generator=generator, device=generator.device, dtype=torch.float64)
    return u.cpu()


def _lin(u: torch.Tensor, r: tuple) -> torch.Tensor:
    return (r[0] + u * (r[1] - r[0])).float()


def _log(u: torch.Tensor, r: tuple) -> torch.Tensor:
    return torch.exp(math.log(r[0]) + u * (math.log(r[1]) - math.log(r[0]))).float()


def _quality(u: torch.Tensor, r: Optional[tuple]) -> Optional[torch.Tensor]:
    if r is None:
        return None
    return (r[0] + torch.floor(u * (r[1] - r[0] + 1))).clamp(max=r[1]).to(torch.int64)


def sample_vis_sensor(config: VisSensorConfig, batch: int, generator: torch.Generator) -> VisSensorParams:
    """Draw per-sample VIS sensor settings from the ranges of ``config``.

    Args:
        config: the ranges.
        batch: B, the number of samples.
        generator: ``torch.Generator`` (any device); the same state gives the same params.

    Returns:
        ``VisSensorParams`` with float32 CPU tensors ``[B]`` (``wb_gains`` ``[B, 3]``, green gain 1;
        ``jpeg_quality`` int64 ``[B]`` or None).

    Draws one ``[B, 6]`` block of uniforms, row i for sample i, columns (exposure, wb_kelvin, shot,
    read, blur_sigma_px, jpeg_quality); so the first k samples of a batch equal a batch of k drawn
    from the same generator state (CPU generators). ``wb_gains = w(6500 K) / w(wb_kelvin)``
    normalised to green 1, with ``w = color_temperature_rgb`` (Planckian).

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import VisSensorConfig, sample_vis_sensor
        >>> p = sample_vis_sensor(VisSensorConfig(), 4, torch.Generator().manual_seed(0))
        >>> p.exposure.shape, p.wb_gains.shape, p.jpeg_quality.dtype
        (torch.Size([4]), torch.Size([4, 3]), torch.int64)
    """
    if not isinstance(config, VisSensorConfig):
        raise ValueError(f"config: expected a VisSensorConfig, got {type(config).__name__}")
    u = _uniforms(batch, 6, generator)
    kelvin = _lin(u[:, 1], config.wb_kelvin).double()
    gains = color_temperature_rgb(torch.tensor(REFERENCE_WHITE_K, dtype=torch.float64)) / color_temperature_rgb(kelvin)
    gains = (gains / gains[:, 1:2]).float()
    return VisSensorParams(exposure=_log(u[:, 0], config.exposure), wb_gains=gains,
                           shot=_log(u[:, 2], config.shot), read=_lin(u[:, 3], config.read),
                           blur_sigma_px=_lin(u[:, 4], config.blur_sigma_px),
                           jpeg_quality=_quality(u[:, 5], config.jpeg_quality))


def sample_nir_sensor(config: NirSensorConfig, batch: int, generator: torch.Generator) -> NirSensorParams:
    """Draw per-sample NIR sensor settings from the ranges of ``config``.

    Args:
        config: the ranges.
        batch: B, the number of samples.
        generator: ``torch.Generator`` (any device); the same state gives the same params.

    Returns:
        ``NirSensorParams`` with float32 CPU tensors ``[B]`` (``jpeg_quality`` int64 ``[B]`` or None).

    Draws one ``[B, 6]`` block of uniforms, row i for sample i, columns (gain, vignetting, shot,
    read, blur_sigma_px, jpeg_quality); the first k samples of a batch equal a batch of k drawn
    from the same generator state (CPU generators).

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import NirSensorConfig, sample_nir_sensor
        >>> p = sample_nir_sensor(NirSensorConfig(), 3, torch.Generator().manual_seed(0))
        >>> len(p.to_dict()["gain"])
        3
    """
    if not isinstance(config, NirSensorConfig):
        raise ValueError(f"config: expected a NirSensorConfig, got {type(config).__name__}")
    u = _uniforms(batch, 6, generator)
    return NirSensorParams(gain=_log(u[:, 0], config.gain), vignetting=_lin(u[:, 1], config.vignetting),
                           shot=_log(u[:, 2], config.shot), read=_lin(u[:, 3], config.read),
                           blur_sigma_px=_lin(u[:, 4], config.blur_sigma_px),
                           jpeg_quality=_quality(u[:, 5], config.jpeg_quality))


def apply_vis_sensor(linear_rgb: torch.Tensor, params: VisSensorParams, generator: torch.Generator,
                     backend: str = "torch") -> torch.Tensor:
    """Turn a rendered linear-sRGB image into a camera image: blur, noise, exposure, white balance,
    clip, sRGB encoding, JPEG.

    Args:
        linear_rgb: ``[B, H, W, 3]`` float linear sRGB radiance, nominally in [0, 1].
        params: per-sample settings (``sample_vis_sensor`` or hand-made).
        generator: ``torch.Generator`` for the noise, or a sequence of B generators (one per image).
        backend: the render backend; ``cpu`` runs the steps after the blur as one compiled pass
            (``compiled.sensor``; same noise, at most 1 ulp apart) when no gradient is needed.

    Returns:
        ``[B, H, W, 3]`` encoded sRGB in [0, 1], dtype/device of ``linear_rgb``. Differentiable in
        ``linear_rgb`` (zero gradient where clipped); the JPEG step passes gradients straight
        through. Use ``to_uint8`` for 8-bit images.

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import VisSensorParams, apply_vis_sensor
        >>> img = torch.full((1, 8, 8, 3), 0.214)
        >>> out = apply_vis_sensor(img, VisSensorParams(), torch.Generator().manual_seed(0))
        >>> round(float(out.mean()), 3)
        0.5
    """
    _check_image(linear_rgb, "linear_rgb", 3)
    if not isinstance(params, VisSensorParams):
        raise ValueError(f"params: expected VisSensorParams, got {type(params).__name__}")
    x = _camera_blur(linear_rgb, params.blur_sigma_px, backend)
    wb = params.wb_gains
    wb = wb.to(x.device) if isinstance(wb, torch.Tensor) else torch.as_tensor(wb, dtype=x.dtype, device=x.device)
    if compiled.use_compiled(backend, x) and x.dtype == torch.float32:
        from nirvis.render.compiled import sensor as compiled_sensor
        _check_image(x, "img")
        x = compiled_sensor.vis_tail(x, _randn_like(x, generator), _batch_values(params.shot, "shot", x, lo=0.0),
                                     _batch_values(params.read, "read", x, lo=0.0),
                                     _batch_values(params.exposure, "params.exposure", x, lo=0.0),
                                     _wb_gains(wb, x))
    else:
        x = add_sensor_noise(x, generator, shot=params.shot, read=params.read)
        x = x * _batch_values(params.exposure, "params.exposure", x, lo=0.0)[:, None, None, None]
        x = white_balance(x, wb).clamp(0.0, 1.0)
        x = linear_to_srgb(x)
    if params.jpeg_quality is not None:
        x = jpeg_compress(x, params.jpeg_quality, straight_through=True)
    return x


def apply_nir_sensor(nir: torch.Tensor, params: NirSensorParams, generator: torch.Generator,
                     backend: str = "torch") -> torch.Tensor:
    """Turn a rendered linear NIR image into a camera image: blur, vignetting, noise, gain with
    clipping, JPEG.

    Args:
        nir: ``[B, H, W, 1]`` float linear NIR radiance, nominally in [0, 1].
        params: per-sample settings (``sample_nir_sensor`` or hand-made).
        generator: ``torch.Generator`` for the noise, or a sequence of B generators (one per image).
        backend: the render backend; ``cpu`` runs vignetting, noise and gain as one compiled pass
            (``compiled.sensor``; the same float32 operations and noise) when no gradient is needed.

    Returns:
        ``[B, H, W, 1]`` values in [0, 1] (linear, no tone curve), dtype/device of ``nir``.
        Differentiable in ``nir`` (zero gradient where clipped); the JPEG step passes gradients
        straight through.

    Example:
        >>> import torch
        >>> from nirvis.render.sensor import NirSensorParams, apply_nir_sensor
        >>> out = apply_nir_sensor(torch.full((2, 8, 8, 1), 0.4), NirSensorParams(gain=2.0),
        ...                        torch.Generator().manual_seed(0))
        >>> round(float(out.mean()), 3)
        0.8
    """
    _check_image(nir, "nir", 1)
    if not isinstance(params, NirSensorParams):
        raise ValueError(f"params: expected NirSensorParams, got {type(params).__name__}")
    x = _camera_blur(nir, params.blur_sigma_px, backend)
    if compiled.use_compiled(backend, x) and x.dtype == torch.float32:
        from nirvis.render.compiled import sensor as compiled_sensor
        _check_image(x, "img")
        x = compiled_sensor.nir_tail(x, _randn_like(x, generator), vignetting_falloff(x.shape[1], x.shape[2]),
                                     _batch_values(params.vignetting, "strength", x, lo=0.0, hi=1.0),
                                     _batch_values(params.shot, "shot", x, lo=0.0),
                                     _batch_values(params.read, "read", x, lo=0.0),
                                     _batch_values(params.gain, "gain", x, lo=0.0))
    else:
        x = vignetting(x, params.vignetting)
        x = add_sensor_noise(x, generator, shot=params.shot, read=params.read)
        x = apply_gain(x, params.gain)
    if params.jpeg_quality is not None:
        x = jpeg_compress(x, params.jpeg_quality, straight_through=True)
    return x
