"""Plane-wave noise: the compiled sum against the torch reference, its cosine, its statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nirvis.reflectance.wave_noise import plane_wave_noise, plane_wave_noise_torch

numba = pytest.importorskip("numba")


def test_compiled_noise_is_the_torch_sum_and_draws_the_same_numbers():
    pts = torch.rand(5000, 3, generator=torch.Generator().manual_seed(1)) * 200 - 100    # a head's extent, mm
    for scale, octaves in ((0.35, 1), (0.8, 2), (60.0, 3)):                            # pores .. blotches
        r1, r2 = np.random.default_rng(7), np.random.default_rng(7)
        got, ref = plane_wave_noise(pts, r1, scale, octaves), plane_wave_noise_torch(pts, r2, scale, octaves)
        assert got.dtype == torch.float32 and got.shape == (5000,)
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)
        assert r1.random() == r2.random()                     # the caller's stream goes on identically


def test_polynomial_cosine_is_accurate_over_the_phase_range():
    from nirvis.reflectance._wave_kernel import _cos

    xs = np.linspace(-1e4, 1e4, 200_001)
    err = max(abs(_cos(float(x)) - math.cos(x)) for x in xs)
    assert err < 1e-10


def test_noise_is_unit_variance_and_band_limited():
    """~N(0, 1) over many features, and smooth at its scale: neighbours 1/10 of a feature apart
    are strongly correlated, points many features apart only weakly (16 waves per octave: the
    correlation at a large shift is a mean of 16 cosines, ~0.2 in size)."""
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(40000, 3, generator=g) * 100
    n = plane_wave_noise(pts, np.random.default_rng(3), 2.0, octaves=1)
    assert abs(float(n.mean())) < 0.1 and 0.85 < float(n.std()) < 1.15
    near = plane_wave_noise(pts + 0.2, np.random.default_rng(3), 2.0, octaves=1)
    far = plane_wave_noise(pts + 37.0, np.random.default_rng(3), 2.0, octaves=1)
    assert float(torch.corrcoef(torch.stack([n, near]))[0, 1]) > 0.8
    assert abs(float(torch.corrcoef(torch.stack([n, far]))[0, 1])) < 0.45
