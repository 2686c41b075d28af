"""``sensor.to_uint8`` compiled: ``floor(clamp(x, 0, 1) * 255 + 0.5)`` in float64 per value, in
one pass (the torch function makes a float64 copy and five whole-tensor passes); the same bytes
by construction (the same float64 operations on each value). Runs on every backend: it is exact."""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(parallel=True, nogil=True, cache=True)
def _quantise(x, out):  # pragma: no cover - compiled
    """Returns the number of NaNs (then ``out`` is incomplete)."""
    n = x.shape[0]
    bad = 0
    for i in numba.prange(n):
        v = np.float64(x[i])
        if v != v:
            bad += 1
            continue
        v = min(max(v, 0.0), 1.0)
        out[i] = np.uint8(np.floor(v * 255.0 + 0.5))
    return bad


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """uint8 of a CPU float32 / float64 tensor [...] (``sensor.to_uint8``); raises ValueError on NaN."""
    x = np.ascontiguousarray(img.detach().numpy()).reshape(-1)
    out = np.empty(x.shape[0], np.uint8)
    if _quantise(x, out):
        raise ValueError("img: contains NaN values")
    return torch.from_numpy(out).view(img.shape)


@numba.njit(parallel=True, nogil=True, cache=True)
def _straight_through(x, dec, out):  # pragma: no cover - compiled
    for i in numba.prange(x.shape[0]):
        r = np.float32(dec[i]) / np.float32(255.0)
        out[i] = x[i] + (r - x[i])


def straight_through_uint8(img: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
    """``img + (decoded / 255 - img)`` of a CPU float32 tensor ``img`` [...] and uint8 ``decoded``
    (the same shape), as ``sensor.jpeg_compress(straight_through=True)`` computes it in torch
    (the float32 operations in that order: not always ``decoded / 255`` itself), in one pass."""
    x = np.ascontiguousarray(img.detach().numpy()).reshape(-1)
    out = np.empty(x.shape[0], np.float32)
    _straight_through(x, np.ascontiguousarray(decoded.numpy()).reshape(-1), out)
    return torch.from_numpy(out).view(img.shape)
