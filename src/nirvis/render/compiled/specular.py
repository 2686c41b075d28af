"""The specular term of both spectra, compiled: ``hair.blend_hair_specular`` of
``shading.ggx_specular`` (GGX on skin and fabric, Kajiya-Kay with shifted tangents on hair),
per covered pixel in one pass, with the torch functions' float32 operations in their order
(powers other than squares go through the C library's ``powf``, torch's through its vectorised
``pow``: they may differ in the last bit; parity is tested to 1e-6 relative)."""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from nirvis.render.compiled import as_array
from nirvis.render.compiled.floats import normalize3

_PI = np.float32(math.pi)
_TWO_PI = np.float32(2 * math.pi)


@numba.njit(parallel=True, nogil=True, cache=True)
def _specular(n, v, l, rough, f0, albedo, hair, tangent, has_hair, out):  # noqa: E741  # pragma: no cover
    n_img, n_px = n.shape[0], n.shape[1]
    n_ch = out.shape[2]
    one, zero = np.float32(1.0), np.float32(0.0)
    for b in numba.prange(n_img):
        for i in range(n_px):
            nx, ny, nz = n[b, i, 0], n[b, i, 1], n[b, i, 2]
            vx, vy, vz = v[b, i, 0], v[b, i, 1], v[b, i, 2]
            lx, ly, lz = l[b, i, 0], l[b, i, 1], l[b, i, 2]
            hx, hy, hz = normalize3(vx + lx, vy + ly, vz + lz)
            nl = max(nx * lx + ny * ly + nz * lz, zero)
            nv = max(nx * vx + ny * vy + nz * vz, np.float32(1e-4))
            nh = max(nx * hx + ny * hy + nz * hz, zero)
            vh = max(vx * hx + vy * hy + vz * hz, zero)
            r = max(rough[b, i], np.float32(0.03))
            a = r * r
            a2 = a * a
            t = nh * nh * (a2 - one) + one
            d = a2 / (_PI * (t * t))
            k = a / np.float32(2.0)
            g = (nl / (nl * (one - k) + k)) * (nv / (nv * (one - k) + k))
            s0 = f0[b, i]
            fres = s0 + (one - s0) * (one - min(max(vh, zero), one)) ** np.float32(5.0)
            s = d * g * fres / (np.float32(4.0) * nl * nv + np.float32(1e-6)) * nl
            w = hair[b, i] if has_hair else zero
            if w > 0:
                tx, ty, tz = tangent[b, i, 0], tangent[b, i, 1], tangent[b, i, 2]
                for c in range(n_ch):
                    acc = zero
                    for lobe in range(2):
                        shift = np.float32(-0.08) if lobe == 0 else np.float32(0.12)
                        p = np.float32(120.0) if lobe == 0 else np.float32(24.0)
                        if lobe == 0:
                            colour = np.float32(0.10)
                        else:
                            colour = np.float32(0.25) * np.sqrt(min(max(albedo[b, i, c], zero), one))
                        sx, sy, sz = normalize3(tx + shift * nx, ty + shift * ny, tz + shift * nz)
                        th = sx * hx + sy * hy + sz * hz
                        lobe_v = max(one - th * th, zero) ** (np.float32(0.5) * p)
                        acc = acc + colour * s0 * (p + np.float32(2.0)) / _TWO_PI * lobe_v
                    out[b, i, c] = s * (one - w) + w * (acc * nl)
            else:
                for c in range(n_ch):
                    out[b, i, c] = s


def surface_specular(n: torch.Tensor, v: torch.Tensor, l: torch.Tensor, roughness: torch.Tensor,  # noqa: E741
                     f0: torch.Tensor, albedo: torch.Tensor, hair: torch.Tensor | None,
                     tangent: torch.Tensor | None) -> torch.Tensor:
    """``blend_hair_specular(ggx_specular(n, v, l, roughness, f0), hair, tangent, n, v, l, albedo,
    f0)`` for pixel lists: unit ``n``, ``v``, ``l`` float32 [B, 1, N, 3], ``roughness``, ``f0`` and
    ``hair`` [B, 1, N, 1], ``albedo`` [B, 1, N, C], ``tangent`` [B, 1, N, 3] (``hair`` /
    ``tangent`` None: no hair) -> float32 [B, 1, N, C] (C = 1 without hair, as the reference)."""
    b, _, n_px, _ = n.shape
    c = albedo.shape[-1] if hair is not None and tangent is not None else 1

    def arr(t: torch.Tensor, ch: int) -> np.ndarray:
        return as_array(t.expand(b, 1, n_px, ch).reshape(b, n_px, ch), np.float32)

    has_hair = hair is not None and tangent is not None
    out = np.empty((b, n_px, c), np.float32)
    _specular(arr(n, 3), arr(v, 3), arr(l, 3), arr(roughness, 1)[..., 0], arr(f0, 1)[..., 0],
              arr(albedo, albedo.shape[-1]), arr(hair, 1)[..., 0] if has_hair else np.zeros((b, n_px), np.float32),
              arr(tangent, 3) if has_hair else np.zeros((b, n_px, 3), np.float32), has_hair, out)
    return torch.from_numpy(out).view(b, 1, n_px, c)
