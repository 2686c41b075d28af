"""The geometry pass's per-vertex and per-pixel loops, compiled: ``shading.vertex_normals``,
``geometry.rasterize_pixels`` (barycentrics of a covered-pixel list, ``raster.common.
barycentrics_from_ids``) and ``interpolate.interpolate`` on such lists."""

from __future__ import annotations

import numba
import numpy as np
import torch

from nirvis.render.compiled import as_array
from nirvis.render.compiled.floats import fma, norm3


@numba.njit(parallel=True, nogil=True, cache=True)
def _normals(vert, faces, out):  # pragma: no cover - compiled
    n_img = vert.shape[0]
    n_face = faces.shape[0]
    for b in numba.prange(n_img):
        acc = np.zeros((vert.shape[1], 3), np.float32)
        fn = np.empty((n_face, 3), np.float32)
        for f in range(n_face):
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            ax = vert[b, i1, 0] - vert[b, i0, 0]
            ay = vert[b, i1, 1] - vert[b, i0, 1]
            az = vert[b, i1, 2] - vert[b, i0, 2]
            bx = vert[b, i2, 0] - vert[b, i0, 0]
            by = vert[b, i2, 1] - vert[b, i0, 1]
            bz = vert[b, i2, 2] - vert[b, i0, 2]
            # torch.cross: fma(a1, b2, -(a2 b1)), emulated in float64 (exact products)
            fn[f, 0] = fma(ay, bz, -(az * by))
            fn[f, 1] = fma(az, bx, -(ax * bz))
            fn[f, 2] = fma(ax, by, -(ay * bx))
        for k in range(3):            # corner 0 of every face, then 1, then 2 (the reference's order)
            for f in range(n_face):
                i = faces[f, k]
                acc[i, 0] += fn[f, 0]
                acc[i, 1] += fn[f, 1]
                acc[i, 2] += fn[f, 2]
        for i in range(vert.shape[1]):
            norm = norm3(acc[i, 0], acc[i, 1], acc[i, 2])             # F.normalize's fused chain
            d = max(norm, np.float32(1e-12))
            out[b, i, 0] = acc[i, 0] / d
            out[b, i, 1] = acc[i, 1] / d
            out[b, i, 2] = acc[i, 2] / d

@numba.njit(parallel=True, nogil=True, cache=True)
def _barycentrics(clip, tri, ids, index, h, w, out):  # pragma: no cover - compiled
    n_img, n_px = ids.shape
    one, half = np.float32(1.0), np.float32(0.5)
    sx_scale, sy_scale = np.float32(2.0 / w), np.float32(2.0 / h)
    for b in numba.prange(n_img):
        for n in range(n_px):
            t = ids[b, n]
            if t <= 0:
                out[b, n, 0] = 0.0
                out[b, n, 1] = 0.0
                out[b, n, 2] = 0.0
                out[b, n, 3] = 0.0
                continue
            p = min(index[b, n], h * w - 1)
            qx = (np.float32(p % w) + half) * sx_scale - one
            qy = one - (np.float32(p // w) + half) * sy_scale
            i0, i1, i2 = tri[t - 1, 0], tri[t - 1, 1], tri[t - 1, 2]
            w0, w1, w2 = clip[b, i0, 3], clip[b, i1, 3], clip[b, i2, 3]
            x0, y0, z0 = clip[b, i0, 0] / w0, clip[b, i0, 1] / w0, clip[b, i0, 2] / w0
            x1, y1, z1 = clip[b, i1, 0] / w1, clip[b, i1, 1] / w1, clip[b, i1, 2] / w1
            x2, y2, z2 = clip[b, i2, 0] / w2, clip[b, i2, 1] / w2, clip[b, i2, 2] / w2
            area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
            if abs(area) < np.float32(1e-12):
                area = np.float32(1e-12)
            b0 = ((x2 - x1) * (qy - y1) - (y2 - y1) * (qx - x1)) / area
            b1 = ((x0 - x2) * (qy - y2) - (y0 - y2) * (qx - x2)) / area
            b2 = one - b0 - b1
            z = b0 * z0 + b1 * z1 + b2 * z2
            p0, p1, p2 = b0 / w0, b1 / w1, b2 / w2
            s = p0 + p1 + p2
            out[b, n, 0] = p0 / s
            out[b, n, 1] = p1 / s
            out[b, n, 2] = z
            out[b, n, 3] = np.float32(t)

@numba.njit(parallel=True, nogil=True, cache=True)
def _interp(attr, shared, rast, tri, out, c0):  # pragma: no cover - compiled
    # writes channels [c0, c0 + C) of ``out``
    n_img, n_px = rast.shape[0], rast.shape[1]
    n_ch = attr.shape[2]
    one = np.float32(1.0)
    for b in numba.prange(n_img):
        a = attr[0] if shared else attr[b]
        for n in range(n_px):
            t = int(rast[b, n, 3])
            if t <= 0:
                for c in range(n_ch):
                    out[b, n, c0 + c] = 0.0
                continue
            u, v = rast[b, n, 0], rast[b, n, 1]
            wgt = one - u - v
            i0, i1, i2 = tri[t - 1, 0], tri[t - 1, 1], tri[t - 1, 2]
            for c in range(n_ch):
                out[b, n, c0 + c] = u * a[i0, c] + v * a[i1, c] + wgt * a[i2, c]



def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``shading.vertex_normals``: area-weighted unit normals float32 [B, V, 3] of vertices
    [B, V, 3] (float32), faces int [F, 3]; each vertex sums its faces in the reference's order."""
    v = as_array(vertices, np.float32)
    out = np.empty_like(v)
    _normals(v, as_array(faces, np.int64), out)
    return torch.from_numpy(out)


def pixel_barycentrics(clip: torch.Tensor, tri: torch.Tensor, ids_px: torch.Tensor, index: torch.Tensor,
                       height: int, width: int) -> torch.Tensor:
    """``geometry.rasterize_pixels``: (u, v, z/w, id + 1) float32 [B, 1, N, 4] at the listed pixels
    (flat ``index`` int64 [B, N] of an ``height`` x ``width`` image) whose triangle ids + 1 are
    ``ids_px`` int [B, N] (0: padding or background, all zeros)."""
    b, n = ids_px.shape
    out = np.empty((b, n, 4), np.float32)
    _barycentrics(as_array(clip, np.float32), as_array(tri, np.int64), as_array(ids_px, np.int64),
                  as_array(index, np.int64), int(height), int(width), out)
    return torch.from_numpy(out).view(b, 1, n, 4)


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """``interpolate.interpolate`` for pixel lists: attributes float32 [V, C] (shared) or
    [B, V, C] at ``rast`` [B, 1, N, 4] -> float32 [B, 1, N, C], zero where uncovered."""
    return interpolate_blocks([attr], rast, tri)


def interpolate_blocks(blocks: list[torch.Tensor], rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """``interpolate`` of ``torch.cat(blocks, -1)`` without building it: blocks float32 [V, Ck]
    or [B, V, Ck] (the same V) -> float32 [B, 1, N, sum Ck], block k's channels in its place."""
    b, _, n, _ = rast.shape
    r = as_array(rast.reshape(b, n, 4), np.float32)
    t = as_array(tri, np.int64)
    out = np.empty((b, n, sum(int(a.shape[-1]) for a in blocks)), np.float32)
    c0 = 0
    for attr in blocks:
        shared = attr.ndim == 2 or attr.shape[0] == 1
        a = as_array(attr.reshape(1, *attr.shape[-2:]) if shared else attr, np.float32)
        _interp(a, shared, r, t, out, c0)
        c0 += a.shape[2]
    return torch.from_numpy(out).view(b, 1, n, c0)
