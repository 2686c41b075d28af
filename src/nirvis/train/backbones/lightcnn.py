"""LightCNN-29 for 112x112 grey input (the ID-MMD reference variant), max-feature-map units.

Layout (widths for ``width=1``): conv1 MFM 1->48 5x5, pool; 1 resblock(48); group 48->96, pool;
2 resblocks(96); group 96->192, pool; 3 resblocks(192); group 192->128; 4 resblocks(128);
group 128->128, pool; fc = MFM linear 7*7*128 -> 256. Pools are 2x2 stride 2 max pools with
``ceil_mode`` (112 -> 56 -> 28 -> 14 -> 7). Parameter names follow the public LightCNN-29v2
release (``conv1.filter``, ``block1.0.conv1.filter``, ``group1.conv_a.filter``, ``fc.filter``), so
those checkpoints map key by key (except the 128-input fc; see ``nirvis.train.checkpoint``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nirvis.crop import CROP_SIZE


class MFM(nn.Module):
    """Max-feature-map: a conv (or linear) to ``2 * out`` channels, split in halves, element-wise max."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 linear: bool = False):
        super().__init__()
        self.out_channels = out_ch
        if linear:
            self.filter = nn.Linear(in_ch, 2 * out_ch)
        else:
            self.filter = nn.Conv2d(in_ch, 2 * out_ch, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(self.filter(x), self.out_channels, dim=1)
        return torch.maximum(a, b)


class Group(nn.Module):
    """MFM 1x1 (in -> in) then MFM 3x3 (in -> out)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv_a = MFM(in_ch, in_ch, 1, 1, 0)
        self.conv = MFM(in_ch, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv_a(x))


class ResBlock(nn.Module):
    """Two MFM 3x3 convs with an identity shortcut."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = MFM(ch, ch)
        self.conv2 = MFM(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)) + x


class LightCNN29(nn.Module):
    """LightCNN-29 for 112x112 input; ``forward`` returns the 256-d fc output (not normalised).

    Args:
        in_channels: 1 (grey, the reference) or 3.
        width: channel multiplier (1.0 = reference; e.g. 0.25 for CPU tests).
        embedding_size: fc output size (256 in the reference).
        input_size: input side (112; 128 gives the public LightCNN-29v2 geometry).
    """

    def __init__(self, in_channels: int = 1, width: float = 1.0, embedding_size: int = 256,
                 input_size: int = CROP_SIZE):
        super().__init__()
        c = [max(2, int(round(v * width))) for v in (48, 96, 192, 128)]
        self.in_channels, self.embedding_size = in_channels, embedding_size
        pool = lambda: nn.MaxPool2d(2, 2, ceil_mode=True)  # noqa: E731
        self.conv1 = MFM(in_channels, c[0], 5, 1, 2)
        self.pool1 = pool()
        self.block1 = nn.Sequential(ResBlock(c[0]))
        self.group1 = Group(c[0], c[1])
        self.pool2 = pool()
        self.block2 = nn.Sequential(*[ResBlock(c[1]) for _ in range(2)])
        self.group2 = Group(c[1], c[2])
        self.pool3 = pool()
        self.block3 = nn.Sequential(*[ResBlock(c[2]) for _ in range(3)])
        self.group3 = Group(c[2], c[3])
        self.block4 = nn.Sequential(*[ResBlock(c[3]) for _ in range(4)])
        self.group4 = Group(c[3], c[3])
        self.pool4 = pool()
        side = input_size
        for _ in range(4):
            side = -(-side // 2)
        self.fc = MFM(side * side * c[3], embedding_size, linear=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.conv1(x))
        x = self.block1(x)
        x = self.pool2(self.group1(x))
        x = self.block2(x)
        x = self.pool3(self.group2(x))
        x = self.block3(x)
        x = self.group3(x)
        x = self.block4(x)
        x = self.pool4(self.group4(x))
        return self.fc(torch.flatten(x, 1))
