"""Covered-pixel lists: per-pixel work on the pixels a surface covers instead of whole images.

A face covers a fraction (typically 20-40 %) of a render; shading the background only to throw
it away costs time. ``pixel_list`` gathers the covered pixels of each image of a batch once, in
raster order, padded per image to the batch's largest count. Per-pixel tensors then have the
layout ``[B, 1, N, C]``: a batch of images one row high, so every NHWC helper (shading,
``interpolate``, ``texture``, ``grid_sample``) works on them unchanged, per-sample parameters
still broadcast as ``[B, 1, 1, C]``, and each pixel is computed with exactly the same arithmetic
as in the full image (same bytes, whatever the batch). ``scatter_pixels`` writes them back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class PixelList:
    """Covered pixels of a batch of H x W images.

    Attributes:
        index: int64 [B, N] flat pixel index ``row * W + col`` in raster order; padding slots
            (beyond an image's own count) hold ``H * W`` (a dummy pixel past the end).
        valid: bool [B, N], False on padding slots.
        height, width: image size.
    """

    index: torch.Tensor
    valid: torch.Tensor
    height: int
    width: int

    @property
    def count(self) -> int:
        """N, the padded per-image length."""
        return self.index.shape[1]

    def rows_cols(self) -> tuple[torch.Tensor, torch.Tensor]:
        """int64 [B, N] row and column of every slot (padding slots give the last pixel)."""
        idx = self.index.clamp(max=self.height * self.width - 1)
        return torch.div(idx, self.width, rounding_mode="floor"), idx % self.width

    def subset(self, samples: torch.Tensor) -> "PixelList":
        """The lists of the images ``samples`` (int64 [B'])."""
        return PixelList(self.index[samples], self.valid[samples], self.height, self.width)


def pixel_list(mask: torch.Tensor) -> PixelList:
    """Pixels where ``mask`` (bool [B, H, W]) is True, per image in raster order (at least one slot)."""
    b, h, w = mask.shape
    flat = mask.reshape(b, h * w)
    counts = flat.sum(1)
    n = max(1, int(counts.max())) if b else 1
    nz = flat.nonzero()                                                   # [P, 2] (image, pixel), sorted
    start = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(nz), device=mask.device) - start[nz[:, 0]]
    index = torch.full((b, n), h * w, dtype=torch.int64, device=mask.device)
    index[nz[:, 0], slot] = nz[:, 1]
    valid = torch.arange(n, device=mask.device).view(1, n) < counts.view(b, 1)
    return PixelList(index, valid, h, w)


def gather_pixels(img: torch.Tensor, pixels: PixelList) -> torch.Tensor:
    """Values of ``img`` float [B, H, W, C] at the listed pixels -> [B, 1, N, C] (padding slots
    repeat the last pixel). Differentiable with respect to ``img``."""
    b, h, w, c = img.shape
    if _compiled_ok(img):
        from nirvis.render.compiled import pixels as compiled_pixels
        return compiled_pixels.gather(img, pixels.index)
    idx = pixels.index.clamp(max=h * w - 1).unsqueeze(-1).expand(-1, -1, c)
    return torch.gather(img.reshape(b, h * w, c), 1, idx).view(b, 1, -1, c)


def scatter_pixels(values: torch.Tensor, pixels: PixelList, background: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Image [B, H, W, C] holding ``values`` [B, 1, N, C] at the listed pixels and ``background``
    (float or [B, H, W, C]) elsewhere. Differentiable with respect to both."""
    b, _, n, c = values.shape
    h, w = pixels.height, pixels.width
    if _compiled_ok(values, *([background] if isinstance(background, torch.Tensor) else [])):
        from nirvis.render.compiled import pixels as compiled_pixels
        return compiled_pixels.scatter(values, pixels.index, h, w, background)
    if isinstance(background, torch.Tensor):
        base = torch.cat([background.reshape(b, h * w, c), values.new_zeros(b, 1, c)], 1)
    else:
        base = values.new_full((b, h * w + 1, c), float(background))
    out = base.scatter(1, pixels.index.unsqueeze(-1).expand(-1, -1, c), values.reshape(b, n, c))
    return out[:, :h * w].reshape(b, h, w, c)


def _compiled_ok(*tensors: torch.Tensor) -> bool:
    """Whether the compiled copies (``compiled.pixels``: the same values exactly) can stand in:
    numba installed, every tensor a float32/float64 CPU tensor without gradient."""
    from nirvis.render.compiled import cpu_available

    return cpu_available() and all(t.device.type == "cpu" and not t.requires_grad
                                   and t.dtype in (torch.float32, torch.float64) for t in tensors)
