"""``pixels.scatter_pixels`` and ``pixels.gather_pixels`` compiled: pixel lists to images and back
in one pass (torch fills the image, then scatters, or gathers through an expanded index). Pure
data movement, so the values are the torch functions' exactly; they run on every backend for CPU
tensors that need no gradient."""

from __future__ import annotations

import numba
import numpy as np
import torch

from nirvis.render.compiled import as_array


@numba.njit(parallel=True, nogil=True, cache=True)
def _scatter(values, index, out):  # pragma: no cover - compiled
    """out [B, H*W, C] (background already in it) <- values [B, N, C] at index [B, N] (< H*W)."""
    n_img, n, c = values.shape
    hw = out.shape[1]
    for b in numba.prange(n_img):
        for k in range(n):
            p = index[b, k]
            if p < hw:
                for ch in range(c):
                    out[b, p, ch] = values[b, k, ch]


@numba.njit(parallel=True, nogil=True, cache=True)
def _gather(img, index, out):  # pragma: no cover - compiled
    """out [B, N, C] <- img [B, H*W, C] at index [B, N] (clamped to the last pixel)."""
    n_img, n = index.shape
    hw, c = img.shape[1], img.shape[2]
    for b in numba.prange(n_img):
        for k in range(n):
            p = min(index[b, k], hw - 1)
            for ch in range(c):
                out[b, k, ch] = img[b, p, ch]


def scatter(values: torch.Tensor, index: torch.Tensor, height: int, width: int,
            background: "torch.Tensor | float") -> torch.Tensor:
    """[B, H, W, C] of ``values`` [B, 1, N, C] at flat ``index`` [B, N] (H * W: padding), the
    ``background`` (number or [B, H, W, C]) elsewhere; dtype of ``values``."""
    b, _, n, c = values.shape
    dtype = values.detach().numpy().dtype
    if isinstance(background, torch.Tensor):
        out = np.array(background.detach().to(values.dtype).reshape(b, height * width, c).numpy(), dtype, copy=True)
    else:
        out = np.full((b, height * width, c), float(background), dtype)
    _scatter(as_array(values.reshape(b, n, c), dtype), as_array(index, np.int64), out)
    return torch.from_numpy(out).view(b, height, width, c)


def gather(img: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """[B, 1, N, C] values of ``img`` [B, H, W, C] at flat ``index`` [B, N] (padding: last pixel)."""
    b, h, w, c = img.shape
    src = as_array(img.reshape(b, h * w, c), img.detach().numpy().dtype)
    out = np.empty((b, index.shape[1], c), src.dtype)
    _gather(src, as_array(index, np.int64), out)
    return torch.from_numpy(out).view(b, 1, -1, c)
