"""The ``cpu`` rasteriser: the torch reference's rules (``torch_ref``), compiled with numba.

Our heads are ~45k triangles of about a pixel each at the data sets' render sizes, and shadow
maps ~15-25k triangles at 128 px. Fixed-function GL on Mesa's llvmpipe sets every triangle up on
one thread (~140 ns each), and the torch reference expands (triangle, pixel) pairs into large
tensors; a compiled loop per image that walks each triangle's pixel-centre bounding box costs
~65 ns a triangle (``nirvis bench render``). The arithmetic is the reference's, in float64: the
same edge functions, the same inclusive coverage rule (both triangles of a shared edge claim its
pixel centres; depth, then the lower id, decides), depth quantised to the same 38 bits and packed
with the id into one int64 key, so ids and depths are those of ``rasterize_ids_torch`` bit for
bit. Images run in parallel on numba's threads (``numba.set_num_threads``); each image is
independent, so the result never depends on the thread count.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numba
import numpy as np
import torch

from nirvis.render.compiled import as_array

_ID_BITS = 24
_Z_SCALE = float((1 << 38) - 1)
_EMPTY = np.iinfo(np.int64).max


@numba.njit(parallel=True, nogil=True, cache=True)
def _raster(clip, tri, keep, h, w, best):  # pragma: no cover - compiled
    n_img, n_vert = clip.shape[0], clip.shape[1]
    for b in numba.prange(n_img):
        scr = np.empty((n_vert, 4), np.float64)
        for v in range(n_vert):
            wv = np.float64(clip[b, v, 3])
            d = wv if wv > 1e-30 else 1e-30
            scr[v, 0] = (np.float64(clip[b, v, 0]) / d + 1.0) * (w / 2.0) - 0.5
            scr[v, 1] = (1.0 - np.float64(clip[b, v, 1]) / d) * (h / 2.0) - 0.5
            scr[v, 2] = np.float64(clip[b, v, 2]) / d
            scr[v, 3] = wv
        out = best[b]
        for f in range(tri.shape[0]):
            if not keep[b, f]:
                continue
            i0, i1, i2 = tri[f, 0], tri[f, 1], tri[f, 2]
            if scr[i0, 3] <= 0.0 or scr[i1, 3] <= 0.0 or scr[i2, 3] <= 0.0:
                continue
            c0, r0, z0 = scr[i0, 0], scr[i0, 1], scr[i0, 2]
            c1, r1, z1 = scr[i1, 0], scr[i1, 1], scr[i1, 2]
            c2, r2, z2 = scr[i2, 0], scr[i2, 1], scr[i2, 2]
            x0 = max(int(np.ceil(min(c0, min(c1, c2)))), 0)
            x1 = min(int(np.floor(max(c0, max(c1, c2)))), w - 1)
            y0 = max(int(np.ceil(min(r0, min(r1, r2)))), 0)
            y1 = min(int(np.floor(max(r0, max(r1, r2)))), h - 1)
            if x0 > x1 or y0 > y1:
                continue
            area = (c1 - c0) * (r2 - r0) - (r1 - r0) * (c2 - c0)
            if area == 0.0:
                continue
            sgn = 1.0 if area > 0.0 else -1.0
            for y in range(y0, y1 + 1):
                qy = np.float64(y)
                for x in range(x0, x1 + 1):
                    qx = np.float64(x)
                    e0 = (c2 - c1) * (qy - r1) - (r2 - r1) * (qx - c1)
                    e1 = (c0 - c2) * (qy - r2) - (r0 - r2) * (qx - c2)
                    e2 = (c1 - c0) * (qy - r0) - (r1 - r0) * (qx - c0)
                    if e0 * sgn < 0.0 or e1 * sgn < 0.0 or e2 * sgn < 0.0:
                        continue
                    b0 = e0 / area
                    b1 = e1 / area
                    z = b0 * z0 + b1 * z1 + (1.0 - b0 - b1) * z2
                    if z < -1.0 or z > 1.0:
                        continue
                    key = (np.int64((z + 1.0) * 0.5 * _Z_SCALE) << _ID_BITS) | f
                    if key < out[y * w + x]:
                        out[y * w + x] = key



def _keep_mask(n_img: int, n_tri: int, groups: Optional[Sequence[tuple[int, int]]],
               use: Optional[torch.Tensor]) -> np.ndarray:
    """bool [B, F]: the triangles each image draws under the optional ``groups``/``use`` hint."""
    keep = np.ones((n_img, n_tri), np.bool_)
    if groups is None or use is None:
        return keep
    use_np = np.asarray(use.cpu() if isinstance(use, torch.Tensor) else use, dtype=bool)
    for g, (a, b) in enumerate(groups):
        keep[~use_np[:, g], a:b] = False
    return keep


def rasterize_cpu(clip_pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
                  groups: Optional[Sequence[tuple[int, int]]] = None, use: Optional[torch.Tensor] = None,
                  output: str = "both") -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Visible triangle per pixel and its depth (``rasterize_ids_torch(..., with_depth=True)``).

    Args:
        clip_pos: float32 [B, V, 4] clip positions (CPU).
        tri: int [F, 3] vertex indices (F < 2**24).
        resolution: (H, W).
        groups, use: the optional hint of ``raster.rasterize_ids`` (triangle ranges; bool [B, G],
            image b draws group g only where ``use[b, g]``); the caller guarantees the result is
            the same without it.
        output: ``ids``, ``depth`` or ``both``: which images to unpack from the packed keys (the
            other is returned as None).

    Returns:
        (int32 [B, H, W] triangle id + 1, 0 = background, row 0 at the top; float32 [B, H, W]
        NDC depth z/w, +inf where empty).
    """
    if output not in ("ids", "depth", "both"):
        raise ValueError(f"output: expected ids, depth or both, got {output!r}")
    h, w = int(resolution[0]), int(resolution[1])
    f = int(tri.shape[0])
    if f >= (1 << _ID_BITS):
        raise ValueError(f"tri: at most {(1 << _ID_BITS) - 1} triangles supported, got {f}")
    clip = as_array(clip_pos, np.float32)
    tri_np = as_array(tri, np.int64)
    b = clip.shape[0]
    best = np.full((b, h * w), _EMPTY, np.int64)
    if b and f:
        _raster(clip, tri_np, _keep_mask(b, f, groups, use), h, w, best)
    hit = best != _EMPTY
    ids = depth = None
    if output != "depth":
        ids = torch.from_numpy(np.where(hit, (best & ((1 << _ID_BITS) - 1)) + 1, 0).astype(np.int32).reshape(b, h, w))
    if output != "ids":
        z = (best >> _ID_BITS).astype(np.float64) / _Z_SCALE * 2.0 - 1.0
        depth = torch.from_numpy(np.where(hit, z, np.inf).astype(np.float32).reshape(b, h, w))
    return ids, depth
