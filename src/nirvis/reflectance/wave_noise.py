"""Band-limited 3D noise as a sum of random plane waves, evaluated by a compiled kernel.

``plane_wave_noise(points, rng, scale_mm, octaves)`` is ~N(0, 1) noise at 3D points: per octave
``o``, ``k`` = 16 waves ``cos(<p, f_j d_j> + phi_j)`` with unit directions ``d_j``, frequencies
``f_j = 2^o / scale_mm * U(0.7, 1.3)`` and phases ``phi_j ~ U(0, 2 pi)``, weighted ``0.5^o``
and normalised. The waves are summed in float64 by a numba loop whose cosine is a fixed
polynomial (two-constant reduction to [-pi, pi], then ``1 - 2 sin^2(r / 2)`` with a degree-15
odd Taylor polynomial: absolute error < 1e-10 against the C library for |phase| < 1e4). The
loop vectorises (no calls), so it is ~5x faster than ``torch.cos`` on an [N, k] buffer, and
gives the same values on any x86-64 host (no fused multiply-adds without fastmath).
``plane_wave_noise_torch`` is the same sum with ``torch.cos`` (the reference and the fallback
without numba; agrees to ~1e-10 before the float32 result is rounded).
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import torch

WAVES_PER_OCTAVE = 16


def _draw_waves(rng: np.random.Generator, scale_mm: float, octaves: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Per octave: wave vectors [k, 3] (rad/mm), phases [k] and the octave's amplitude, drawn from
    ``rng`` in a fixed order (directions, frequency jitter, phases)."""
    k = WAVES_PER_OCTAVE
    waves = []
    for o in range(octaves):
        dirs = rng.normal(size=(k, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        freq = (2.0 ** o) / scale_mm * rng.uniform(0.7, 1.3, size=k)
        phase = rng.uniform(0.0, 2 * math.pi, size=k)
        waves.append((dirs * freq[:, None], phase, 0.5 ** o))
    return waves


def plane_wave_noise_torch(points: torch.Tensor, rng: np.random.Generator, scale_mm: float,
                           octaves: int = 3) -> torch.Tensor:
    """``plane_wave_noise`` with ``torch.cos`` (float64): float32 [N] at points [N, 3] (mm)."""
    p = points.double()
    out = torch.zeros(points.shape[0], dtype=torch.float64)
    norm = 0.0
    for w, phase, amp in _draw_waves(rng, scale_mm, octaves):
        out += amp * math.sqrt(2.0 / WAVES_PER_OCTAVE) * torch.cos(p @ torch.from_numpy(w).T +
                                                                    torch.from_numpy(phase)).sum(1)
        norm += amp * amp
    return (out / math.sqrt(norm)).float()


def plane_wave_noise(points: torch.Tensor, rng: np.random.Generator, scale_mm: float, octaves: int = 3) -> torch.Tensor:
    """Smooth band-limited noise ~N(0, 1): float32 [N] at points float [N, 3] (mm, CPU), features
    of ~``scale_mm`` and ``octaves`` finer octaves; draws 5 k numbers per octave from ``rng``.

    Example:
        >>> import numpy as np, torch
        >>> pts = torch.rand(20000, 3, generator=torch.Generator().manual_seed(0)) * 100
        >>> n = plane_wave_noise(pts, np.random.default_rng(0), 5.0)
        >>> n.shape, n.dtype, 0.8 < float(n.std()) < 1.2
        (torch.Size([20000]), torch.float32, True)
    """
    if importlib.util.find_spec("numba") is None:
        return plane_wave_noise_torch(points, rng, scale_mm, octaves)
    from nirvis.reflectance import _wave_kernel

    p = points.detach().double().numpy()
    px, py, pz = (np.ascontiguousarray(p[:, j]) for j in range(3))
    out = np.zeros(len(p), np.float64)
    norm = 0.0
    for w, phase, amp in _draw_waves(rng, scale_mm, octaves):
        _wave_kernel.wave_sum(px, py, pz, np.ascontiguousarray(w), np.ascontiguousarray(phase),
                              amp * math.sqrt(2.0 / WAVES_PER_OCTAVE), out)
        norm += amp * amp
    return torch.from_numpy(out / math.sqrt(norm)).float()
