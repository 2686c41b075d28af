"""``lights.sh_irradiance(normal, coeffs).clamp(min=0) * ao`` compiled: the environment's diffuse
irradiance at the covered pixels in one pass. The reference's float32 operations in its order
(Python's left-to-right evaluation of the formula; each constant rounded to float32 as torch
does for a Python scalar), so the values are the same."""

from __future__ import annotations

import numba
import numpy as np
import torch

from nirvis.render.compiled import as_array


@numba.njit(parallel=True, nogil=True, cache=True)
def _irradiance(normal, sh, ao, k, out):  # pragma: no cover - compiled
    n_img, n_px = normal.shape[0], normal.shape[1]
    n_ch = sh.shape[2]
    c1, c3, c4, c5, c1x2, c2x2 = k[0], k[1], k[2], k[3], k[4], k[5]
    zero = np.float32(0.0)
    for b in numba.prange(n_img):
        for ch in range(n_ch):
            l0, l1, l2, l3, l4 = sh[b, 0, ch], sh[b, 1, ch], sh[b, 2, ch], sh[b, 3, ch], sh[b, 4, ch]
            l5, l6, l7, l8 = sh[b, 5, ch], sh[b, 6, ch], sh[b, 7, ch], sh[b, 8, ch]
            a8, a6, a0, b6 = c1 * l8, c3 * l6, c4 * l0, c5 * l6
            for p in range(n_px):
                x, y, z = normal[b, p, 0], normal[b, p, 1], normal[b, p, 2]
                e = a8 * (x * x - y * y) + a6 * z * z + a0 - b6
                e = e + c1x2 * (l4 * x * y + l7 * x * z + l5 * y * z)
                e = e + c2x2 * (l3 * x + l1 * y + l2 * z)
                out[b, p, ch] = max(e, zero) * ao[b, p]


def ambient_irradiance(normal: torch.Tensor, coeffs: torch.Tensor, ao: torch.Tensor,
                       constants: tuple[float, ...]) -> torch.Tensor:
    """float32 [B, 1, N, C] ``sh_irradiance(normal, coeffs).clamp(min=0) * ao`` for unit normals
    [B, 1, N, 3], SH coefficients [B, 9, C] and ambient occlusion [B, 1, N, 1] (float32);
    ``constants``: ``lights``' (C1, C2, C3, C4, C5) of Ramamoorthi & Hanrahan."""
    b, _, n, _ = normal.shape
    c = coeffs.shape[2]
    c1, c2, c3, c4, c5 = constants
    k = np.array([c1, c3, c4, c5, 2 * c1, 2 * c2], np.float32)
    out = np.empty((b, n, c), np.float32)
    _irradiance(as_array(normal.reshape(b, n, 3), np.float32), as_array(coeffs, np.float32),
                as_array(ao.reshape(b, n), np.float32), k, out)
    return torch.from_numpy(out).view(b, 1, n, c)
