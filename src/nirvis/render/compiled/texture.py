"""The geometry pass's material lookup compiled: ``texture.uv_footprint`` at the listed pixels,
then ``texture.texture``'s trilinear lookup across mip levels (``grid_sample`` bilinear, border
padding, ``align_corners=False``, as ATen's CPU kernel computes it), per covered pixel in one pass.
``log2`` comes from the C library (torch uses its own), so a level blend may differ in the last
bit (parity tested to 1e-5 relative)."""

from __future__ import annotations

import weakref

import numba
import numpy as np
import torch

from nirvis.render.compiled import as_array
from nirvis.render.compiled.floats import norm2

#: MipStack -> its levels packed into one float32 array (built once per texture).
_PACKED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _packed(mips):
    hit = _PACKED.get(mips)
    if hit is None:
        levels = [as_array(lv[0].permute(1, 2, 0), np.float32) for lv in mips.levels]  # [h, w, C]
        sizes = np.array([lv.size for lv in levels], np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        shapes = np.array([lv.shape[:2] for lv in levels], np.int64)
        hit = (np.concatenate([lv.reshape(-1) for lv in levels]), offsets, shapes)
        _PACKED[mips] = hit
    return hit


@numba.njit(inline="always", cache=True)
def _bilinear_add(flat, offset, h, w, n_ch, gx, gy, scale, acc):  # pragma: no cover - compiled
    """acc[c] += scale * bilinear sample c of the level at ``offset`` ([h, w, C] packed)."""
    one, zero = np.float32(1.0), np.float32(0.0)
    x = (gx + one) * np.float32(w / 2.0) - np.float32(0.5)
    y = (gy + one) * np.float32(h / 2.0) - np.float32(0.5)
    x = min(np.float32(w - 1), max(x, zero))
    y = min(np.float32(h - 1), max(y, zero))
    xw, yn = np.floor(x), np.floor(y)
    wx = x - xw
    ex = one - wx
    ny = y - yn
    sy = one - ny
    nw, ne, sw, se = sy * ex, sy * wx, ny * ex, ny * wx
    ix, iy = int(xw), int(yn)
    east, south = ix + 1 < w, iy + 1 < h
    p_nw = offset + (iy * w + ix) * n_ch
    p_sw = p_nw + w * n_ch
    for c in range(n_ch):
        v = flat[p_nw + c] * nw
        v = v + (flat[p_nw + n_ch + c] if east else zero) * ne
        v = v + (flat[p_sw + c] if south else zero) * sw
        v = v + (flat[p_sw + n_ch + c] if east and south else zero) * se
        acc[c] = acc[c] + v * scale


@numba.njit(inline="always", cache=True)
def _step(uv, ok, b, y0, x0, y1, x1):  # pragma: no cover - compiled
    # |uv(y1, x1) - uv(y0, x0)| (a fused multiply-add norm) where both are covered, else inf
    if not (ok[b, y0, x0] and ok[b, y1, x1]):
        return np.inf
    return norm2(uv[b, y1, x1, 0] - uv[b, y0, x0, 0], uv[b, y1, x1, 1] - uv[b, y0, x0, 1])


@numba.njit(parallel=True, nogil=True, cache=True)
def _sample(uv_img, ok, index, uv_px, images, flat, offsets, shapes, n_ch, out):  # pragma: no cover - compiled
    hgt, wid = ok.shape[1], ok.shape[2]
    n_levels = offsets.shape[0]
    size = np.float32(max(shapes[0, 0], shapes[0, 1]))
    one = np.float32(1.0)
    for j in numba.prange(images.shape[0]):
        b = images[j]
        acc = np.empty(n_ch, np.float32)
        for n in range(index.shape[1]):
            p = min(index[b, n], hgt * wid - 1)
            y, x = p // wid, p % wid
            footprint = np.float32(0.0)
            for axis in range(2):
                fwd, bwd = np.inf, np.inf
                if axis == 0:
                    if x + 1 < wid:
                        fwd = _step(uv_img, ok, b, y, x, y, x + 1)
                    if x > 0:
                        bwd = _step(uv_img, ok, b, y, x - 1, y, x)
                else:
                    if y + 1 < hgt:
                        fwd = _step(uv_img, ok, b, y, x, y + 1, x)
                    if y > 0:
                        bwd = _step(uv_img, ok, b, y - 1, x, y, x)
                s = min(fwd, bwd)
                footprint = max(footprint, np.float32(0.0) if np.isinf(s) else np.float32(s))
            lod = np.float32(np.log2(max(footprint * size, np.float32(1e-8))))
            lod = min(max(lod, np.float32(0.0)), np.float32(n_levels - 1))
            lo = np.floor(lod)
            frac = lod - lo
            k0 = int(lo)
            k1 = min(k0 + 1, n_levels - 1)
            gx = uv_px[b, n, 0] * np.float32(2.0) - one
            gy = (one - uv_px[b, n, 1]) * np.float32(2.0) - one
            acc[:] = 0.0                          # a * (1 - frac), then + b * frac, as the reference
            _bilinear_add(flat, offsets[k0], shapes[k0, 0], shapes[k0, 1], n_ch, gx, gy, one - frac, acc)
            _bilinear_add(flat, offsets[k1], shapes[k1, 0], shapes[k1, 1], n_ch, gx, gy, frac, acc)
            for c in range(n_ch):
                out[b, n, c] = acc[c]


def sample_materials(mips_of_image: list, uv_img: torch.Tensor, ok: torch.Tensor, index: torch.Tensor,
                     uv_px: torch.Tensor) -> torch.Tensor:
    """``geometry.sample_materials`` at a pixel list: per image b its texture ``mips_of_image[b]``
    (a ``MipStack`` of batch 1), the UV image ``uv_img`` float32 [B, H, W, 2] and where it is
    valid ``ok`` bool [B, H, W] (covered and textured: ``uv_footprint``'s mask), the list's flat
    pixel ``index`` int64 [B, N] and its UVs ``uv_px`` [B, 1, N, 2] -> float32 [B, 1, N, C]."""
    b, _, n, _ = uv_px.shape
    uv_np = as_array(uv_img, np.float32)
    ok_np = as_array(ok, np.bool_)
    idx = as_array(index, np.int64)
    px = as_array(uv_px.reshape(b, n, 2), np.float32)
    groups: dict[int, list[int]] = {}
    for k, m in enumerate(mips_of_image):
        groups.setdefault(id(m), []).append(k)
    out = None
    for images in groups.values():
        flat, offsets, shapes = _packed(mips_of_image[images[0]])
        n_ch = int(mips_of_image[images[0]].levels[0].shape[1])
        if out is None:
            out = np.zeros((b, n, n_ch), np.float32)
        _sample(uv_np, ok_np, idx, px, np.array(images, np.int64), flat, offsets, shapes, n_ch, out)
    assert out is not None
    return torch.from_numpy(out).view(b, 1, n, -1)
