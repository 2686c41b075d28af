"""Shadow maps of ``occlusion.directional_shadow``, compiled: the orthographic light projection
of ``occlusion.orthographic_light_clip``, and the filtering (hard lights get the 3 x 3 texel PCF
of ``shading.shadow_lookup``, soft ones the blocker search and PCF disc of
``occlusion.soft_shadow_lookup``), per point in one pass."""

from __future__ import annotations

import numba
import numpy as np
import torch

from nirvis.render.compiled import as_array


@numba.njit(inline="always", cache=True)
def _depth_at(dm, gx, gy):  # pragma: no cover - compiled
    # grid_sample(mode="nearest", padding_mode="border", align_corners=False): unnormalise
    # as ATen's CPU kernel does ((g + 1) * size / 2 - 0.5), clip to the border, round half to even
    hs, ws = dm.shape
    ix = (gx + np.float32(1.0)) * np.float32(ws / 2.0) - np.float32(0.5)
    iy = (gy + np.float32(1.0)) * np.float32(hs / 2.0) - np.float32(0.5)
    ix = min(max(ix, np.float32(0.0)), np.float32(ws - 1))
    iy = min(max(iy, np.float32(0.0)), np.float32(hs - 1))
    return dm[int(np.rint(iy)), int(np.rint(ix))]

@numba.njit(parallel=True, nogil=True, cache=True)
def _lookup(pts, depth, soft, tan_r, max_blocker, taps, bias, texel, step_x, step_y, out):  # pragma: no cover
    n_img, n_pts = pts.shape[0], pts.shape[1]
    one = np.float32(1.0)
    for b in numba.prange(n_img):
        dm = depth[b]
        t = tan_r[b]
        for n in range(n_pts):
            x, y, z = pts[b, n, 0], pts[b, n, 1], pts[b, n, 2]
            if not soft[b]:
                lit = np.float32(0.0)
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        d = _depth_at(dm, x + np.float32(dx) * step_x, -(y + np.float32(dy) * step_y))
                        if z <= d + bias:
                            lit += one
                out[b, n] = lit / np.float32(9.0)
                continue
            r_search = max(t * max_blocker[b], texel)
            blocker_sum = np.float32(0.0)
            blockers = np.float32(0.0)
            for k in range(taps.shape[0]):
                d = _depth_at(dm, x + taps[k, 0] * r_search, -(y + taps[k, 1] * r_search))
                if d < z - bias:
                    blocker_sum = blocker_sum + d
                    blockers += one
            if blockers == 0:
                out[b, n] = one
                continue
            mean_blocker = blocker_sum / max(blockers, one)
            radius = max(max(z - mean_blocker, np.float32(0.0)) * t, texel)
            lit = np.float32(0.0)
            for k in range(taps.shape[0]):
                if z <= _depth_at(dm, x + taps[k, 0] * radius, -(y + taps[k, 1] * radius)) + bias:
                    lit += one
            out[b, n] = lit / np.float32(taps.shape[0])



def shadow_visibility(points_light: torch.Tensor, depth: torch.Tensor, soft: torch.Tensor, tan_radius: torch.Tensor,
                      max_blocker: torch.Tensor, taps: torch.Tensor, bias: float) -> torch.Tensor:
    """Visibility float32 [B, H, W, 1] in [0, 1] of light-NDC points [B, H, W, 3] (or a pixel
    list [B, 1, N, 3]) through shadow maps ``depth`` [B, Hs, Ws] (NDC depth, +inf where empty).

    ``soft`` bool [B] picks, per sample, ``soft_shadow_lookup`` (with ``tan_radius`` [B] and
    ``max_blocker`` [B], NDC, and the disc ``taps`` [K, 2]) over the hard ``shadow_lookup``;
    ``bias`` is the depth bias (NDC). The values of those torch functions, to the last bit where
    the two compute in the same order (parity tested)."""
    b, h, w, _ = points_light.shape
    hs, ws = depth.shape[1:]
    pts = as_array(points_light.reshape(b, h * w, 3), np.float32)
    dm = as_array(depth.clamp(max=10.0), np.float32)
    out = np.empty((b, h * w), np.float32)
    f32 = np.float32
    _lookup(pts, dm, as_array(soft, np.bool_), as_array(tan_radius, np.float32), as_array(max_blocker, np.float32),
            as_array(taps, np.float32), f32(bias),
              f32(2.0 / ws), f32(2.0 / ws), f32(2.0 / hs), out)
    return torch.from_numpy(out).view(b, h, w, 1)


@numba.njit(parallel=True, nogil=True, cache=True)
def _light_clip(pts, frame, half, depth_range, out):  # pragma: no cover - compiled
    # torch's ``(points * axis).sum(-1)``: rounded products summed left to right
    for b in numba.prange(pts.shape[0]):
        f = frame[b]
        h, dr = half[b], depth_range[b]
        for n in range(pts.shape[1]):
            p0, p1, p2 = pts[b, n, 0], pts[b, n, 1], pts[b, n, 2]
            out[b, n, 0] = (p0 * f[0, 0] + p1 * f[0, 1] + p2 * f[0, 2]) / h
            out[b, n, 1] = (p0 * f[1, 0] + p1 * f[1, 1] + p2 * f[1, 2]) / h
            out[b, n, 2] = -(p0 * f[2, 0] + p1 * f[2, 1] + p2 * f[2, 2]) / dr
            out[b, n, 3] = np.float32(1.0)


def light_clip(points: torch.Tensor, right: torch.Tensor, up: torch.Tensor, direction: torch.Tensor,
               half_extent: torch.Tensor, depth_range: torch.Tensor) -> torch.Tensor:
    """``occlusion.orthographic_light_clip``'s projection: clip positions float32 [B, V, 4] of
    points [B, V, 3] in the light frame ``right``, ``up``, ``direction`` (unit, [B, 3] each),
    scaled by ``half_extent`` and ``depth_range`` ([B, 1] or [1, 1], mm)."""
    b, v, _ = points.shape
    frame = torch.stack([right, up, direction], 1).expand(b, 3, 3)
    out = np.empty((b, v, 4), np.float32)
    _light_clip(as_array(points, np.float32), as_array(frame, np.float32),
                as_array(half_extent.reshape(-1).expand(b), np.float32),
                as_array(depth_range.reshape(-1).expand(b), np.float32), out)
    return torch.from_numpy(out)
