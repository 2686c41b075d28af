"""IResNet (ArcFace) backbones with parameter names of insightface ``arcface_torch`` checkpoints.

``conv1, bn1, prelu, layer1..4`` of ``IBasicBlock`` (``bn1, conv1, bn2, prelu, conv2, bn3,
downsample.0/1``), ``bn2, dropout, fc, features``; 112x112 input (RGB or grey), 512-d embedding.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def _conv3x3(i: int, o: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(i, o, 3, stride, 1, bias=False)


class IBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = _conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    fc_scale = 7 * 7

    def __init__(self, layers: tuple[int, int, int, int], in_channels: int = 3, embedding_size: int = 512,
                 dropout: float = 0.0, widths: tuple[int, int, int, int] = (64, 128, 256, 512)):
        super().__init__()
        self.in_channels, self.embedding_size = in_channels, embedding_size
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0], eps=1e-5)
        self.prelu = nn.PReLU(widths[0])
        self.layer1 = self._make_layer(widths[0], layers[0], 2)
        self.layer2 = self._make_layer(widths[1], layers[1], 2)
        self.layer3 = self._make_layer(widths[2], layers[2], 2)
        self.layer4 = self._make_layer(widths[3], layers[3], 2)
        self.bn2 = nn.BatchNorm2d(widths[3], eps=1e-5)
        self.dropout = nn.Dropout(p=dropout, inplace=True)
        self.fc = nn.Linear(widths[3] * self.fc_scale, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes, eps=1e-5))
        layers = [IBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


def iresnet18(in_channels: int = 3, embedding_size: int = 512, **kw) -> IResNet:
    return IResNet((2, 2, 2, 2), in_channels, embedding_size, **kw)


def iresnet50(in_channels: int = 3, embedding_size: int = 512, **kw) -> IResNet:
    return IResNet((3, 4, 14, 3), in_channels, embedding_size, **kw)


def iresnet100(in_channels: int = 3, embedding_size: int = 512, **kw) -> IResNet:
    return IResNet((3, 13, 30, 3), in_channels, embedding_size, **kw)
