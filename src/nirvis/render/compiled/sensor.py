"""The camera pipelines compiled: the blur (``sensor.gaussian_blur``: the same taps, summed in tap
order, where the convolution library may order them otherwise), then ``sensor.apply_vis_sensor``'s
noise, exposure, white balance, clipping and sRGB encoding, and ``sensor.apply_nir_sensor``'s
vignetting, noise and gain with clipping, each in one pass over the image (the torch functions
make six or seven whole-image passes). The noise itself stays the torch generators' draw, so an
image's noise is the same numbers on every backend. After the blur every step is the reference's
float32 operation in its order; only the sRGB power is the C library's ``powf`` where torch uses
its own vectorised one (at most 1 ulp apart, on ~2 % of values)."""

from __future__ import annotations

import numba
import numpy as np
import torch

from nirvis.colour import SRGB_GAMMA, SRGB_LINEAR_THRESHOLD, SRGB_OFFSET, SRGB_SCALE, SRGB_SLOPE
from nirvis.render.compiled import as_array


@numba.njit(inline="always")
def _noisy(v, n, shot, read2):  # pragma: no cover - compiled
    """``add_sensor_noise`` on one value: v + sqrt(shot max(v, 0) + read^2) n (0 where var <= 0)."""
    var = shot * max(v, np.float32(0.0)) + read2
    std = np.sqrt(var) if var > np.float32(0.0) else np.float32(0.0)
    return v + std * n


@numba.njit(parallel=True, nogil=True, cache=True)
def _vis_tail(x, noise, shot, read2, exposure, wb, srgb, out):  # pragma: no cover - compiled
    n_img, h, w, c = x.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    threshold, slope, scale, offset, gamma = srgb[0], srgb[1], srgb[2], srgb[3], srgb[4]
    for b in numba.prange(n_img):
        for i in range(h):
            for j in range(w):
                for k in range(c):
                    v = _noisy(x[b, i, j, k], noise[b, i, j, k], shot[b], read2[b])
                    v = v * exposure[b]
                    v = v * wb[b, k]
                    v = min(max(v, zero), one)
                    if v <= threshold:
                        out[b, i, j, k] = slope * v
                    else:
                        out[b, i, j, k] = scale * max(v, threshold) ** gamma - offset


@numba.njit(parallel=True, nogil=True, cache=True)
def _nir_tail(x, noise, falloff, strength, shot, read2, gain, out):  # pragma: no cover - compiled
    n_img, h, w, c = x.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    for b in numba.prange(n_img):
        for i in range(h):
            for j in range(w):
                keep = one - strength[b] * falloff[i, j]
                for k in range(c):
                    v = x[b, i, j, k] * keep
                    v = _noisy(v, noise[b, i, j, k], shot[b], read2[b])
                    out[b, i, j, k] = min(max(v * gain[b], zero), one)


def _per_image(x: torch.Tensor, b: int) -> np.ndarray:
    """float32 [B] of a per-sample value already checked by the torch function's validation."""
    return np.ascontiguousarray(np.broadcast_to(as_array(x.reshape(-1), np.float32), (b,)))


def vis_tail(blurred: torch.Tensor, noise: torch.Tensor, shot: torch.Tensor, read: torch.Tensor,
             exposure: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
    """Encoded sRGB float32 [B, H, W, 3] in [0, 1] from the blurred linear image ``blurred`` and its
    standard-normal ``noise`` (both [B, H, W, 3] float32), per-image ``shot``, ``read``,
    ``exposure`` [B] and white-balance gains ``wb`` [B, 3] (``apply_vis_sensor`` before JPEG)."""
    b = blurred.shape[0]
    r = _per_image(read, b)
    out = np.empty(blurred.shape, np.float32)
    _vis_tail(as_array(blurred, np.float32), as_array(noise, np.float32), _per_image(shot, b), r * r,
              _per_image(exposure, b), np.ascontiguousarray(np.broadcast_to(as_array(wb, np.float32), (b, 3))),
              np.array([SRGB_LINEAR_THRESHOLD, SRGB_SLOPE, SRGB_SCALE, SRGB_OFFSET, 1.0 / SRGB_GAMMA], np.float32), out)
    return torch.from_numpy(out)


def nir_tail(blurred: torch.Tensor, noise: torch.Tensor, falloff: torch.Tensor, strength: torch.Tensor,
             shot: torch.Tensor, read: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Float32 [B, H, W, 1] in [0, 1] from the blurred linear NIR image and its noise ([B, H, W, 1]
    float32), the vignetting ``falloff`` g(r) [H, W] and per-image ``strength``, ``shot``,
    ``read`` and ``gain`` [B] (``apply_nir_sensor`` before JPEG)."""
    b = blurred.shape[0]
    r = _per_image(read, b)
    out = np.empty(blurred.shape, np.float32)
    _nir_tail(as_array(blurred, np.float32), as_array(noise, np.float32), as_array(falloff, np.float32),
              _per_image(strength, b), _per_image(shot, b), r * r, _per_image(gain, b), out)
    return torch.from_numpy(out)


@numba.njit(nogil=True, cache=True)
def _blur_one(img, taps, out):  # pragma: no cover - compiled
    """Separable blur of one image [C, H, W] with taps [K] (reflected borders): rows, then columns;
    each output sums its taps in order, the loops run along rows (vectorised)."""
    n_ch, h, w = img.shape
    n_taps = taps.shape[0]
    r = n_taps // 2
    row = np.empty(w + 2 * r, np.float32)
    tmp = np.empty((h, w), np.float32)
    acc = np.empty(w, np.float32)
    for c in range(n_ch):
        for y in range(h):
            for x in range(w + 2 * r):                 # the row with reflected borders
                xx = x - r
                xx = -xx if xx < 0 else (2 * (w - 1) - xx if xx > w - 1 else xx)
                row[x] = img[c, y, xx]
            for x in range(w):
                acc[x] = np.float32(0.0)
            for j in range(n_taps):
                t = taps[j]
                for x in range(w):
                    acc[x] += t * row[x + j]
            for x in range(w):
                tmp[y, x] = acc[x]
        for y in range(h):
            for x in range(w):
                acc[x] = np.float32(0.0)
            for j in range(n_taps):
                yy = y + j - r
                yy = -yy if yy < 0 else (2 * (h - 1) - yy if yy > h - 1 else yy)
                t = taps[j]
                for x in range(w):
                    acc[x] += t * tmp[yy, x]
            for x in range(w):
                out[c, y, x] = acc[x]


def gaussian_blur(img: torch.Tensor, taps: list) -> torch.Tensor:
    """``sensor.gaussian_blur`` of float32 ``img`` [B, H, W, C]: image k with its normalised taps
    ``taps[k]`` [2 r + 1] (None: unchanged), borders reflected; sums in tap order (the
    convolution library may order them otherwise)."""
    out = img.detach().cpu().float().clone()
    for k, t in enumerate(taps):
        if t is not None:
            chw = np.ascontiguousarray(out[k].permute(2, 0, 1).numpy())          # [C, H, W]
            res = np.empty_like(chw)
            _blur_one(chw, as_array(t, np.float32), res)
            out[k] = torch.from_numpy(res).permute(1, 2, 0)
    return out
