"""Face-embedding backbones and a registry: ``build_backbone(name, in_channels, **kw)``.

Every backbone maps ``[N, in_channels, 112, 112]`` float images to ``[N, embedding_size]``
un-normalised embeddings and exposes ``embedding_size`` and ``in_channels`` attributes.
"""

from __future__ import annotations

from typing import Any, Callable

import torch.nn as nn

from nirvis.train.backbones.iresnet import iresnet50, iresnet100, iresnet18
from nirvis.train.backbones.lightcnn import LightCNN29
from nirvis.train.backbones.mobilefacenet import MobileFaceNet

BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "lightcnn29": LightCNN29,
    "iresnet18": iresnet18,
    "iresnet50": iresnet50,
    "iresnet100": iresnet100,
    "mobilefacenet": MobileFaceNet,
}


def build_backbone(name: str, in_channels: int = 1, **kwargs: Any) -> nn.Module:
    """Build backbone ``name`` (one of ``BACKBONES``) for ``in_channels``-channel 112x112 input.

    Extra keyword arguments go to the constructor (``width`` for lightcnn29 / mobilefacenet,
    ``embedding_size`` for iresnet* / mobilefacenet)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r} (known: {', '.join(BACKBONES)})")
    return BACKBONES[name](in_channels=in_channels, **kwargs)


__all__ = ["BACKBONES", "build_backbone", "LightCNN29", "MobileFaceNet", "iresnet18", "iresnet50", "iresnet100"]
