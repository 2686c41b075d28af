"""Mip pyramids: the strided 2 x 2 box filter is bit for bit avg_pool2d."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nirvis.render.texture import _halve, build_mips


def test_halve_is_avg_pool2d_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    for size in ((8, 8), (64, 32), (7, 10), (5, 5), (2, 1)):
        x = torch.rand(1, 7, *size, generator=g) * 10.0 ** float(torch.randint(-30, 3, (1,), generator=g))
        assert torch.equal(_halve(x), F.avg_pool2d(x, 2, ceil_mode=True))


def test_build_mips_halves_down_to_one_texel():
    mips = build_mips(torch.rand(16, 12, 3))
    assert [tuple(m.shape[-2:]) for m in mips.levels] == [(16, 12), (8, 6), (4, 3), (2, 2), (1, 1)]
