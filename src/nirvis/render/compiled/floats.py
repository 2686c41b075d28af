"""float32 arithmetic the torch references do with fused multiply-adds, for the compiled loops:
``fma(a, b, c)`` (the product of two float32 is exact in float64, then one add and the rounding
to float32), ``norm2`` / ``norm3`` (the fused chain of torch's vector norm: ``F.normalize``,
``Tensor.norm``) and ``normalize3`` (``F.normalize(eps=1e-12)`` of one vector)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always", cache=True)
def fma(a, b, c):  # pragma: no cover - compiled
    return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


@numba.njit(inline="always", cache=True)
def norm2(x, y):  # pragma: no cover - compiled
    return np.sqrt(fma(y, y, fma(x, x, np.float32(0.0))))


@numba.njit(inline="always", cache=True)
def norm3(x, y, z):  # pragma: no cover - compiled
    return np.sqrt(fma(z, z, fma(y, y, fma(x, x, np.float32(0.0)))))


@numba.njit(inline="always", cache=True)
def normalize3(x, y, z):  # pragma: no cover - compiled
    d = max(norm3(x, y, z), np.float32(1e-12))                  # F.normalize(eps=1e-12)
    return x / d, y / d, z / d
