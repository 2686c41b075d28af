"""A small MobileFaceNet (depthwise-separable bottlenecks, global depthwise conv embedding)."""

from __future__ import annotations

import torch
import torch.nn as nn


class ConvBN(nn.Sequential):
    def __init__(self, i: int, o: int, k: int = 1, s: int = 1, p: int = 0, groups: int = 1, act: bool = True):
        mods: list[nn.Module] = [nn.Conv2d(i, o, k, s, p, groups=groups, bias=False), nn.BatchNorm2d(o)]
        if act:
            mods.append(nn.PReLU(o))
        super().__init__(*mods)


class Bottleneck(nn.Module):
    def __init__(self, i: int, o: int, stride: int, expansion: int):
        super().__init__()
        h = i * expansion
        self.residual = stride == 1 and i == o
        self.conv = nn.Sequential(ConvBN(i, h), ConvBN(h, h, 3, stride, 1, groups=h), ConvBN(h, o, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y


class MobileFaceNet(nn.Module):
    """MobileFaceNet for 112x112 input; ``width`` scales channels (1.0: 64/128 wide, 128-d output)."""

    # (expansion, channels, repeats, stride)
    SETTINGS = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))

    def __init__(self, in_channels: int = 1, embedding_size: int = 128, width: float = 1.0):
        super().__init__()
        self.in_channels, self.embedding_size = in_channels, embedding_size
        w = lambda c: max(4, int(round(c * width)))  # noqa: E731
        self.conv1 = ConvBN(in_channels, w(64), 3, 2, 1)
        self.dw_conv1 = ConvBN(w(64), w(64), 3, 1, 1, groups=w(64))
        blocks: list[nn.Module] = []
        ch = w(64)
        for t, c, n, s in self.SETTINGS:
            for r in range(n):
                blocks.append(Bottleneck(ch, w(c), s if r == 0 else 1, t))
                ch = w(c)
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = ConvBN(ch, w(512))
        self.gdc = ConvBN(w(512), w(512), 7, 1, 0, groups=w(512), act=False)
        self.linear = nn.Conv2d(w(512), embedding_size, 1, bias=False)
        self.bn = nn.BatchNorm1d(embedding_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.dw_conv1(self.conv1(x)))
        x = self.linear(self.gdc(self.conv2(x)))
        return self.bn(torch.flatten(x, 1))
