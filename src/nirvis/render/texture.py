"""Texture sampling with mip-maps (trilinear), so small renders of large textures do not alias.

Convention: UVs have their origin at the bottom-left of the texture (OBJ), texel row 0 of a
texture tensor is its top (v = 1); texel (row i, col j) has its centre at
u = (j + 0.5) / W, v = 1 - (i + 0.5) / H.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nirvis.shapes import check_shape


@dataclass(frozen=True, eq=False)
class MipStack:
    """A texture and its box-filtered mip levels (build once per texture with ``build_mips``).

    Attributes:
        levels: tuple of float [B, C, H_k, W_k] (NCHW internally, for grid_sample), level 0 first.
    """

    levels: tuple

    @property
    def size(self) -> tuple[int, int]:
        return self.levels[0].shape[-2], self.levels[0].shape[-1]


def build_mips(tex: torch.Tensor, max_levels: int = 16) -> MipStack:
    """Mip pyramid of ``tex`` float [H, W, C] or [B, H, W, C] (NHWC), halving down to 1 texel."""
    if tex.ndim == 3:
        tex = tex.unsqueeze(0)
    if tex.ndim != 4:
        raise ValueError(f"tex: expected [H, W, C] or [B, H, W, C], got {list(tex.shape)}")
    level = tex.permute(0, 3, 1, 2).contiguous()
    levels = [level]
    while min(level.shape[-2:]) > 1 and len(levels) < max_levels:
        level = _halve(level)
        levels.append(level)
    return MipStack(tuple(levels))


def _halve(x: torch.Tensor) -> torch.Tensor:
    """2 x 2 box filter of float [B, C, H, W] (``avg_pool2d(x, 2, ceil_mode=True)``). On the CPU with
    even H and W: the same sum in the same order (top-left, top-right, bottom-left, bottom-right,
    then / 4) as that kernel, from four strided views, several times faster."""
    h, w = x.shape[-2:]
    if x.device.type != "cpu" or h % 2 or w % 2:
        return F.avg_pool2d(x, 2, ceil_mode=True)
    out = x[..., 0::2, 0::2] + x[..., 0::2, 1::2]
    return out.add_(x[..., 1::2, 0::2]).add_(x[..., 1::2, 1::2]).div_(4)


def uv_footprint(uv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-pixel UV footprint: how far the UVs move per screen pixel.

    Per axis, the smaller of the forward and backward differences to covered neighbours is used,
    so a UV seam (where the UVs jump to another island) on one side of a pixel does not blow its
    footprint up; the footprint is the larger of the two axes.

    Args:
        uv: float [B, H, W, 2]; mask: bool [B, H, W] (pixels covered by the surface).

    Returns:
        float [B, H, W] UV-units change per pixel (0 where no covered neighbour exists).
    """
    inf = torch.full_like(uv[..., 0], float("inf"))

    def axis_step(dim: int) -> torch.Tensor:
        n = uv.shape[dim] - 1
        both = mask.narrow(dim, 1, n) & mask.narrow(dim, 0, n)
        d = (uv.narrow(dim, 1, n) - uv.narrow(dim, 0, n)).norm(dim=-1)
        d = torch.where(both, d, torch.full_like(d, float("inf")))
        fwd, bwd = inf.clone(), inf.clone()
        fwd.narrow(dim, 0, n).copy_(d)      # difference to the next pixel
        bwd.narrow(dim, 1, n).copy_(d)      # difference to the previous pixel
        step = torch.minimum(fwd, bwd)
        return torch.where(torch.isinf(step), torch.zeros_like(step), step)

    return torch.maximum(axis_step(2), axis_step(1))


def texture(mips: MipStack, uv: torch.Tensor, footprint: torch.Tensor | None = None) -> torch.Tensor:
    """Sample a texture at UV coordinates, trilinearly across mip levels.

    Args:
        mips: from ``build_mips`` (texture batch 1 is shared by all images, or B matching ``uv``).
        uv: float [B, H, W, 2] texture coordinates (see module convention); wraps are clamped.
        footprint: float [B, H, W] UV change per screen pixel (``uv_footprint``); None samples
            level 0 only (bilinear).

    Returns:
        float [B, H, W, C]. Differentiable with respect to the texture and to ``uv``.

    Example:
        >>> import torch
        >>> m = build_mips(torch.arange(16.).view(4, 4, 1))
        >>> texture(m, torch.tensor([[[[0.125, 0.875]]]])).flatten().tolist()
        [0.0]
    """
    check_shape(uv, ["B", "H", "W", 2], "uv", kind=torch.Tensor)
    b = uv.shape[0]
    grid = torch.stack([uv[..., 0] * 2.0 - 1.0, (1.0 - uv[..., 1]) * 2.0 - 1.0], dim=-1)

    def sample(level: torch.Tensor) -> torch.Tensor:
        lv = level if level.shape[0] == b else level.expand(b, -1, -1, -1)
        out = F.grid_sample(lv, grid.to(lv.dtype), mode="bilinear", padding_mode="border", align_corners=False)
        return out.permute(0, 2, 3, 1)

    if footprint is None or len(mips.levels) == 1:
        return sample(mips.levels[0])
    h, w = mips.size
    lod = torch.log2((footprint * max(h, w)).clamp(min=1e-8)).clamp(0.0, len(mips.levels) - 1.0)
    lo = lod.floor()
    frac = (lod - lo).unsqueeze(-1)
    if mips.levels[0].shape[0] == 1:
        return _trilinear_shared(mips, grid, lo.long(), frac)
    used = torch.unique(lo.long()).tolist()
    out = torch.zeros(*uv.shape[:3], mips.levels[0].shape[1], dtype=mips.levels[0].dtype, device=uv.device)
    for k in used:  # a handful of levels per image, never a per-pixel loop
        sel = (lo.long() == k).unsqueeze(-1).to(out.dtype)
        a = sample(mips.levels[k])
        c = sample(mips.levels[min(k + 1, len(mips.levels) - 1)])
        out = out + sel * (a * (1.0 - frac) + c * frac)
    return out


def _trilinear_shared(mips: MipStack, grid: torch.Tensor, lo: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
    """Trilinear lookups in a texture shared by the batch, each pixel sampled on its own two levels only.

    Args:
        mips: MipStack with batch 1; grid: float [B, H, W, 2] grid_sample coordinates.
        lo: int64 [B, H, W] lower mip level; frac: float [B, H, W, 1] blend towards level lo + 1.

    Returns:
        float [B, H, W, C] (same values as blending every used level over the whole image).
    """
    c = mips.levels[0].shape[1]
    n_levels = len(mips.levels)
    flat_grid, flat_lo, flat_frac = grid.reshape(-1, 2), lo.reshape(-1), frac.reshape(-1, 1)
    out = torch.zeros(flat_lo.shape[0], c, dtype=mips.levels[0].dtype, device=grid.device)
    used = torch.bincount(flat_lo, minlength=n_levels).nonzero()[:, 0].tolist()

    def sample(level: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        s = F.grid_sample(level, g.to(level.dtype).view(1, 1, -1, 2), mode="bilinear", padding_mode="border",
                          align_corners=False)                                 # [1, C, 1, S]
        return s[0, :, 0].t()

    for k in used:
        sel = (flat_lo == k).nonzero()[:, 0]
        g, f = flat_grid[sel], flat_frac[sel]
        a = sample(mips.levels[k], g)
        b = sample(mips.levels[min(k + 1, n_levels - 1)], g)
        out = out.index_copy(0, sel, a * (1.0 - f) + b * f)
    return out.view(*grid.shape[:3], c)
