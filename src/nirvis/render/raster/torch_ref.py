"""Pure-PyTorch reference rasteriser (no GL, no CUDA extension): slow but dependency-free.

Vectorised over (triangle, pixel) candidate pairs: every triangle expands into the pixel centres
of its screen bounding box, edge functions test coverage, and a scatter-min over a packed
(depth, triangle id) key resolves visibility. No Python loop per pixel or per triangle.

Rules: a pixel centre is covered when all three barycentrics are >= 0 (shared edges are claimed
by both triangles and resolved by depth, then by the lower id); fragments with z/w outside
[-1, 1] are discarded; triangles with a vertex at w <= 0 (behind the eye) are skipped (there is no
near-plane clipping).
"""

from __future__ import annotations

import torch

_ID_BITS = 24
_MAX_PAIRS = 1 << 22


def rasterize_ids_torch(clip_pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
                        with_depth: bool = False):
    """int32 [B, H, W] visible triangle id + 1 (0 = background); see module docstring. With
    ``with_depth``, also float32 [B, H, W] NDC depth (+inf where empty), as a tuple."""
    h, w = int(resolution[0]), int(resolution[1])
    tri = tri.long()
    f = len(tri)
    if f >= (1 << _ID_BITS):
        raise ValueError(f"tri: at most {(1 << _ID_BITS) - 1} triangles supported, got {f}")
    dev = clip_pos.device
    out = torch.zeros((clip_pos.shape[0], h, w), dtype=torch.int32, device=dev)
    depth_out = torch.full((clip_pos.shape[0], h, w), float("inf"), device=dev)
    empty = torch.iinfo(torch.int64).max
    for b in range(clip_pos.shape[0]):  # one image at a time bounds memory; all triangles at once
        p = clip_pos[b].double()
        wv = p[:, 3]
        s = p[:, :3] / wv.clamp(min=1e-30)[:, None]
        corners = s[tri]                                                  # [F, 3, 3]
        front = (wv[tri] > 0).all(dim=1)
        col = (corners[..., 0] + 1.0) * (w / 2.0) - 0.5                    # pixel-centre coordinates
        row = (1.0 - corners[..., 1]) * (h / 2.0) - 0.5
        x0 = torch.ceil(col.min(dim=1).values).clamp(0, w).long()
        x1 = torch.floor(col.max(dim=1).values).clamp(-1, w - 1).long()
        y0 = torch.ceil(row.min(dim=1).values).clamp(0, h).long()
        y1 = torch.floor(row.max(dim=1).values).clamp(-1, h - 1).long()
        nx = (x1 - x0 + 1).clamp(min=0)
        ny = (y1 - y0 + 1).clamp(min=0)
        counts = torch.where(front, nx * ny, torch.zeros_like(nx))
        best = torch.full((h * w,), empty, dtype=torch.int64, device=dev)
        ends = torch.cumsum(counts, 0)
        start_tri = 0
        while start_tri < f:
            # a chunk of triangles with at most _MAX_PAIRS candidate pairs (at least one triangle)
            base = ends[start_tri - 1] if start_tri > 0 else torch.zeros((), dtype=torch.int64, device=dev)
            stop = int(torch.searchsorted(ends, base + _MAX_PAIRS, right=True))
            stop = max(stop, start_tri + 1)
            _scatter_chunk(best, torch.arange(start_tri, min(stop, f), device=dev), counts, x0, y0, nx,
                           corners, col, row, w)
            start_tri = stop
        hit = best != empty
        ids = torch.where(hit, (best & ((1 << _ID_BITS) - 1)) + 1, torch.zeros_like(best))
        out[b] = ids.view(h, w).to(torch.int32)
        if with_depth:
            z = (best >> _ID_BITS).double() / ((1 << 38) - 1) * 2.0 - 1.0
            depth_out[b] = torch.where(hit, z, torch.full_like(z, float("inf"))).view(h, w).float()
    return (out, depth_out) if with_depth else out


def _scatter_chunk(best, tris, counts, x0, y0, nx, corners, col, row, w) -> None:
    c = counts[tris]
    total = int(c.sum())
    if total == 0:
        return
    t = torch.repeat_interleave(tris, c)
    first = torch.repeat_interleave(torch.cumsum(c, 0) - c, c)
    k = torch.arange(total, device=best.device) - first
    px = x0[t] + k % nx[t]
    py = y0[t] + torch.div(k, nx[t], rounding_mode="floor")
    qx, qy = px.double(), py.double()
    cx, cy = col[t], row[t]                                               # [P, 3]

    def edge(i, j):
        return (cx[:, j] - cx[:, i]) * (qy - cy[:, i]) - (cy[:, j] - cy[:, i]) * (qx - cx[:, i])

    area = (cx[:, 1] - cx[:, 0]) * (cy[:, 2] - cy[:, 0]) - (cy[:, 1] - cy[:, 0]) * (cx[:, 2] - cx[:, 0])
    e0, e1, e2 = edge(1, 2), edge(2, 0), edge(0, 1)
    sign = torch.sign(area)
    inside = (area != 0) & (e0 * sign >= 0) & (e1 * sign >= 0) & (e2 * sign >= 0)
    b0 = e0 / torch.where(area == 0, torch.ones_like(area), area)
    b1 = e1 / torch.where(area == 0, torch.ones_like(area), area)
    z = b0 * corners[t, 0, 2] + b1 * corners[t, 1, 2] + (1 - b0 - b1) * corners[t, 2, 2]
    inside &= (z >= -1.0) & (z <= 1.0)
    if not inside.any():
        return
    zq = ((z[inside] + 1.0) * 0.5 * ((1 << 38) - 1)).long()
    key = (zq << _ID_BITS) | t[inside]
    best.scatter_reduce_(0, (py * w + px)[inside], key, reduce="amin")
