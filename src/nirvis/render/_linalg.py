"""Batched small matrix products computed elementwise.

``torch.matmul``/``bmm`` may pick different kernels (and so different rounding) for different batch
sizes; the renderer promises that a pair's bytes never depend on the batch it was rendered in, so
the few per-sample 2x2/3x3/4x4 transforms use broadcasting products with a reduction over the
small inner dimension instead, which computes every sample the same way whatever the batch.
"""

from __future__ import annotations

import torch


def batched_matvec(mat: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``points @ mat^T`` per sample: mat [B, R, D], points [B, N, D] -> [B, N, R]."""
    return (points.unsqueeze(-2) * mat.unsqueeze(1)).sum(-1)
