"""Shared pieces of the rasterisers: input checks and differentiable barycentrics from ids."""

from __future__ import annotations

import torch

from nirvis.shapes import check_shape


def check_raster_inputs(clip_pos: torch.Tensor, tri: torch.Tensor, resolution) -> None:
    check_shape(clip_pos, ["B", "V", 4], "clip_pos", kind=torch.Tensor)
    if not clip_pos.is_floating_point():
        raise ValueError(f"clip_pos: expected a float tensor, got {clip_pos.dtype}")
    check_shape(tri, ["F", 3], "tri", kind=torch.Tensor)
    if tri.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"tri: expected int32 or int64, got {tri.dtype}")
    if len(tri) and (int(tri.min()) < 0 or int(tri.max()) >= clip_pos.shape[1]):
        raise ValueError(f"tri: indices must lie in [0, {clip_pos.shape[1] - 1}]")
    if len(resolution) != 2 or min(int(r) for r in resolution) < 1:
        raise ValueError(f"resolution: expected (H, W) >= 1, got {resolution}")


def pixel_centres_ndc(height: int, width: int, device, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """NDC x [W] and y [H] of pixel centres (row 0 at the top: y = +1 side)."""
    x = (torch.arange(width, device=device, dtype=dtype) + 0.5) * (2.0 / width) - 1.0
    y = 1.0 - (torch.arange(height, device=device, dtype=dtype) + 0.5) * (2.0 / height)
    return x, y


def gather_corners(attr: torch.Tensor, corner: torch.Tensor) -> torch.Tensor:
    """Per-sample vertex attributes at triangle corners: ``attr[b, corner[b, ...]]``.

    Args:
        attr: [B, V, C] (or [1, V, C] / [V, C], shared by the batch), any dtype (e.g. the int64
            vertex indices of triangles, giving corner indices).
        corner: int64 [B, ...] vertex indices.

    Returns:
        [B, ..., C] (contiguous). The same values as advanced indexing ``attr[bidx, corner]``,
        gathered with one flat ``index_select`` (much cheaper on CPU); differentiable.
    """
    b = corner.shape[0]
    if attr.ndim == 2 or attr.shape[0] == 1:
        shared = attr.reshape(attr.shape[-2], attr.shape[-1])
        return shared.index_select(0, corner.reshape(-1)).view(*corner.shape, attr.shape[-1])
    v, c = attr.shape[1], attr.shape[2]
    offset = (torch.arange(b, device=corner.device) * v).view(b, *([1] * (corner.ndim - 1)))
    flat = (corner + offset).reshape(-1)
    return attr.reshape(b * v, c).index_select(0, flat).view(*corner.shape, c)


def barycentrics_from_ids(clip_pos: torch.Tensor, tri: torch.Tensor, ids: torch.Tensor,
                          centres: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Perspective-correct barycentrics and depth for known visible triangles, in plain torch.

    Args:
        clip_pos: float [B, V, 4] clip positions (gradients flow to them).
        tri: int [F, 3].
        ids: int32 [B, H, W], triangle id + 1 (0 = background).
        centres: NDC (x, y) of the samples, each broadcastable to [B, H, W] in clip_pos's dtype
            (e.g. a covered-pixel list in ``[B, 1, N]`` layout); default: the pixel centres of
            the H x W grid.

    Returns:
        [B, H, W, 4] (u, v, z/w, id + 1) in clip_pos's dtype; zeros where ids == 0.
    """
    b, h, w = ids.shape
    if centres is None:
        px, py = pixel_centres_ndc(h, w, clip_pos.device, clip_pos.dtype)
        centres = (px.view(1, 1, w), py.view(1, h, 1))
    covered = ids > 0
    tid = (ids.long() - 1).clamp(min=0)
    corner = gather_corners(tri.long(), tid)                     # [B, H, W, 3]
    p = gather_corners(clip_pos.expand(b, -1, -1), corner)       # [B, H, W, 3, 4]
    wv = p[..., 3]
    sx, sy, sz = p[..., 0] / wv, p[..., 1] / wv, p[..., 2] / wv  # screen-space vertex positions
    qx, qy = centres
    # screen-space barycentrics via edge functions (signed areas)
    def edge(ax, ay, bx, by, cx, cy):
        return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    x0, x1, x2 = sx.unbind(-1)
    y0, y1, y2 = sy.unbind(-1)
    area = edge(x0, y0, x1, y1, x2, y2)
    area = torch.where(area.abs() < 1e-12, torch.full_like(area, 1e-12), area)
    qx, qy = qx.expand_as(x0), qy.expand_as(x0)
    b0 = edge(x1, y1, x2, y2, qx, qy) / area
    b1 = edge(x2, y2, x0, y0, qx, qy) / area
    b2 = 1.0 - b0 - b1
    z = b0 * sz[..., 0] + b1 * sz[..., 1] + b2 * sz[..., 2]
    # perspective correction: weights proportional to b_i / w_i
    pw = torch.stack([b0 / wv[..., 0], b1 / wv[..., 1], b2 / wv[..., 2]], dim=-1)
    pw = pw / pw.sum(-1, keepdim=True)
    mask = covered.to(clip_pos.dtype)
    out = torch.stack([pw[..., 0] * mask, pw[..., 1] * mask, z * mask, ids.to(clip_pos.dtype)], dim=-1)
    return out
