"""Auto-exposure: one scale per image that puts the face's bright skin at a fixed level.

Both spectra use it on their linear radiance before compositing (``auto_exposure``); the
percentile is computed exactly as ``torch.quantile`` would, batched (``face_quantile90``).
"""

from __future__ import annotations

import math

import torch


def auto_exposure(img: torch.Tensor, mask: torch.Tensor, target: float = 0.45) -> torch.Tensor:
    """Per-image exposure scale [B] putting the 90th percentile of the face's luminance at ``target``.

    ``img`` [B, H, W, C] radiance of the covered pixels (``[B, 1, N, C]`` lists; the background
    is black before compositing, so the brightest pixel is the fallback with few face pixels),
    ``mask`` [B, H, W, 1] face weights.

    Example:
        >>> img = torch.linspace(0, 1, 100).view(1, 1, 100, 1)      # 90th percentile: 0.9
        >>> auto_exposure(img, torch.ones(1, 1, 100, 1))
        tensor([0.5000])
    """
    lum = img.mean(-1) if img.shape[-1] > 1 else img[..., 0]
    lum = lum.reshape(img.shape[0], -1)                                  # [B, P]
    face = mask.reshape(img.shape[0], -1) > 0                            # [B, P]
    ref = face_quantile90(lum, face)
    few = face.sum(1) <= 16
    if bool(few.any()):
        ref = torch.where(few, lum.amax(1).clamp(min=0), ref)
    return target / ref.clamp(min=1e-6)


def face_quantile90(lum: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
    """``torch.quantile(lum[k][face[k]], 0.9)`` for every row k of float [B, P] / bool [B, P],
    as float [B] (same bytes, same gradients; rows with no face pixel give 0).

    Only the upper tail is selected (one batched ``topk`` instead of a full sort per image), then
    combined with ``torch.quantile``'s own linear interpolation: rank ``r = 0.9 (n - 1)`` in the
    input's dtype, ``lerp(v[floor r], v[ceil r], r - floor r)``.

    Example:
        >>> lum = torch.tensor([[0.0, 1.0, 2.0, 3.0], [5.0, 0.0, 0.0, 0.0]])
        >>> face = torch.tensor([[True, True, True, True], [True, False, False, False]])
        >>> face_quantile90(lum, face)                # rank 0.9 * 3 = 2.7 in row 0
        tensor([2.7000, 5.0000])
    """
    n = face.sum(1)                                                      # [B] face pixels per image
    if bool(torch.isnan(lum[face]).any()):                              # quantile's NaN rule: keep it
        return torch.stack([torch.quantile(lum[k][face[k]], 0.9) if int(n[k]) else lum.new_zeros(())
                            for k in range(lum.shape[0])])
    rank = torch.tensor(0.9, dtype=lum.dtype, device=lum.device) * (n - 1).clamp(min=0).to(lum.dtype)
    below = rank.long()
    weight = rank - below
    above = rank.ceil().long()
    # positions counted from the top of each row's face values: the k-th largest has index n-1-k
    depth = int((n - below).max()) if len(n) else 0
    if depth == 0:
        return lum.new_zeros(lum.shape[0])
    top = torch.where(face, lum, torch.full_like(lum, -math.inf)).topk(depth, dim=1).values   # [B, depth]
    from_top = lambda r: (n - 1 - r).clamp(min=0).unsqueeze(1)          # noqa: E731
    v_below = top.gather(1, from_top(below))[:, 0]
    v_above = top.gather(1, from_top(above))[:, 0]
    return torch.where(n > 0, torch.lerp(v_below, v_above, weight), lum.new_zeros(()))
