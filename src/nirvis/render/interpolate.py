"""Attribute interpolation over rasterised triangles (nvdiffrast's ``interpolate``)."""

from __future__ import annotations

import torch

from nirvis.render.raster.common import gather_corners
from nirvis.shapes import check_shape


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Interpolate per-vertex attributes at every pixel with the rasteriser's barycentrics.

    Args:
        attr: float [V, C] (shared by the batch) or [B, V, C] vertex attributes.
        rast: float32 [B, H, W, 4] from ``rasterize``: (u, v, z/w, triangle id + 1).
        tri: int [F, 3] vertex indices; for attributes with their own indexing (e.g. UVs with
            seams) pass that index array (``uv_faces``), triangle ids are shared.

    Returns:
        float [B, H, W, C]; zero on background pixels. Differentiable with respect to ``attr``
        and to the barycentrics in ``rast``.

    Example:
        >>> import torch
        >>> rast = torch.tensor([[[[0.25, 0.25, 0.0, 1.0]]]])
        >>> interpolate(torch.tensor([[0.0], [4.0], [8.0]]), rast, torch.tensor([[0, 1, 2]]))
        tensor([[[[5.]]]])
    """
    check_shape(rast, ["B", "H", "W", 4], "rast", kind=torch.Tensor)
    if attr.ndim not in (2, 3):
        raise ValueError(f"attr: expected [V, C] or [B, V, C], got {list(attr.shape)}")
    check_shape(tri, ["F", 3], "tri", kind=torch.Tensor)
    b = rast.shape[0]
    if attr.ndim == 3 and attr.shape[0] not in (1, b):
        raise ValueError(f"attr: batch {attr.shape[0]} does not match rast batch {b}")
    ids = rast[..., 3].long()
    covered = (ids > 0).unsqueeze(-1)
    corner = gather_corners(tri.long(), (ids - 1).clamp(min=0))    # [B, H, W, 3]
    vals = gather_corners(attr, corner)                            # [B, H, W, 3, C]
    u, v = rast[..., 0:1], rast[..., 1:2]
    out = u * vals[..., 0, :] + v * vals[..., 1, :] + (1.0 - u - v) * vals[..., 2, :]
    return out * covered.to(out.dtype)
