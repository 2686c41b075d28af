"""Margin-based classification heads (bias-free, normalised class weights).

``head(embeddings [N, D], labels [N]) -> logits [N, C]`` ready for cross-entropy; the margin is
applied to the target logit only, differentiably (no in-place edits under ``no_grad``).
``head.cosine(embeddings)`` gives the margin-free cosines (for accuracy / inference).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class _MarginHead(nn.Module):
    def __init__(self, embedding_size: int, num_classes: int, s: float = 64.0, m: float = 0.4):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.s, self.m = float(s), float(m)
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_size))
        nn.init.xavier_uniform_(self.weight)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(embeddings.float(), dim=1), F.normalize(self.weight.float(), dim=1))

    def margin(self, cos_target: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = self.cosine(embeddings).clamp(-1.0, 1.0)
        onehot = F.one_hot(labels.long(), cos.shape[1]).to(cos.dtype)
        target = (cos * onehot).sum(dim=1, keepdim=True)
        logits = cos + onehot * (self.margin(target) - target)
        return self.s * logits


class CosFace(_MarginHead):
    """CosFace / AM-softmax: s * (cos(theta) - m) for the target class (defaults s=64, m=0.4)."""

    def margin(self, cos_target: torch.Tensor) -> torch.Tensor:
        return cos_target - self.m


class ArcFace(_MarginHead):
    """ArcFace: s * cos(theta + m) for the target class (defaults s=64, m=0.5), with the usual
    fallback cos(theta) - m*sin(m) when theta + m > pi (keeps the logit monotonic in theta)."""

    def __init__(self, embedding_size: int, num_classes: int, s: float = 64.0, m: float = 0.5):
        super().__init__(embedding_size, num_classes, s, m)
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.th, self.mm = math.cos(math.pi - m), math.sin(math.pi - m) * m

    def margin(self, cos_target: torch.Tensor) -> torch.Tensor:
        sin = torch.sqrt((1.0 - cos_target * cos_target).clamp_min(1e-9))
        phi = cos_target * self.cos_m - sin * self.sin_m
        return torch.where(cos_target > self.th, phi, cos_target - self.mm)


HEADS = {"cosface": CosFace, "arcface": ArcFace}


def build_head(name: str, embedding_size: int, num_classes: int, s: float, m: float) -> _MarginHead:
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r} (known: {', '.join(HEADS)})")
    return HEADS[name](embedding_size, num_classes, s=s, m=m)
