"""Embeddings of image arrays with a model callable, and cosine scores.

``model_fn`` is any callable taking a float32 ``torch.Tensor`` [B, C, 112, 112] with values in
[0, 1] and returning features [B, D] (a tensor or an array). Normalisation to the model's own
input range (e.g. (x - 0.5) / 0.5) is the model_fn's job.

Grey conversion (``grey=True``, the default, as the reference NIR-VIS evaluation reads every
image as grey): RGB images become one grey channel with the ITU-R BT.601 weights
0.299 R + 0.587 G + 0.114 B (OpenCV's ``COLOR_RGB2GRAY``), rounded to uint8 like ``cv2.imread(...,
IMREAD_GRAYSCALE)``; grey images stay as they are. The grey channel is then repeated to
``channels`` channels (1 for a grey model, 3 for an RGB model). With ``grey=False`` RGB images go
in as RGB (``channels`` must be 3) and grey images are repeated to 3 channels.

Feature = L2-normalise(f(x) + f(flip(x))) with ``flip=True`` (horizontal flip), else
L2-normalise(f(x)).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from nirvis.crop import CROP_SIZE

ModelFn = Callable[[torch.Tensor], Any]
IMAGE_SIZE = CROP_SIZE


def to_grey(images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] RGB (or [N, H, W, 1] / [N, H, W]) -> uint8 [N, H, W] (BT.601, rounded)."""
    a = np.asarray(images)
    if a.ndim == 3:
        return a
    if a.ndim == 4 and a.shape[-1] == 1:
        return a[..., 0]
    if a.ndim == 4 and a.shape[-1] == 3:
        g = a[..., 0].astype(np.float32) * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
        return np.clip(np.rint(g), 0, 255).astype(np.uint8)
    raise ValueError(f"images must be [N, H, W], [N, H, W, 1] or [N, H, W, 3], got shape {a.shape}")


def prepare_batch(images: np.ndarray, channels: int = 3, grey: bool = True) -> torch.Tensor:
    """uint8 images [N, H, W(, C)] -> float32 tensor [N, channels, H, W] in [0, 1] (see module doc)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {a.dtype}")
    if grey or a.ndim == 3 or a.shape[-1] == 1:
        g = to_grey(a)[:, None]  # [N, 1, H, W]
        x = np.repeat(g, channels, axis=1)
    else:
        if channels != 3:
            raise ValueError("grey=False with RGB images needs channels=3")
        x = a.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)


def _run(model_fn: ModelFn, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        f = model_fn(x)
    f = torch.as_tensor(f)
    if f.ndim != 2 or f.shape[0] != x.shape[0]:
        raise ValueError(f"model_fn must return features [B, D] for a batch of {x.shape[0]}, got shape "
                         f"{tuple(f.shape)}")
    return f.float().cpu()


def l2_normalize(f: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    f = np.asarray(f, dtype=np.float32)
    n = np.linalg.norm(f, axis=1, keepdims=True)
    return f / np.maximum(n, eps)


def embed(images: np.ndarray, model_fn: ModelFn, batch_size: int = 64, flip: bool = True, channels: int = 3,
          grey: bool = True, device: Any = None) -> np.ndarray:
    """L2-normalised features float32 [N, D] of uint8 images [N, 112, 112(, C)].

    Each batch is converted as in :func:`prepare_batch`, moved to ``device`` (if given) and fed to
    ``model_fn``; with ``flip`` the horizontally flipped batch too, and the two outputs are summed
    before normalisation.
    """
    a = np.asarray(images)
    if a.ndim not in (3, 4) or a.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"images must be [N, {IMAGE_SIZE}, {IMAGE_SIZE}(, C)] aligned crops, got shape {a.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = []
    for s in range(0, len(a), batch_size):
        x = prepare_batch(a[s:s + batch_size], channels=channels, grey=grey)
        if device is not None:
            x = x.to(device)
        f = _run(model_fn, x)
        if flip:
            f = f + _run(model_fn, torch.flip(x, dims=[3]))
        out.append(f.numpy())
    if not out:
        raise ValueError("embed: no images")
    return l2_normalize(np.concatenate(out))


def cosine_scores(probe_features: np.ndarray, gallery_features: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix [P, G] (features are normalised here, so any features work)."""
    p = l2_normalize(probe_features)
    g = l2_normalize(gallery_features)
    if p.shape[1] != g.shape[1]:
        raise ValueError(f"feature sizes differ: probes {p.shape[1]}, gallery {g.shape[1]}")
    return p @ g.T


class RandomProjection:
    """A fixed, deterministic feature extractor for tests and smoke runs: average-pool the input to
    ``pool`` x ``pool``, subtract the per-image mean, project with a seeded Gaussian matrix.
    A real (if weak) model_fn: features depend only on the pixels."""

    def __init__(self, dim: int = 64, pool: int = 16, channels: int = 3, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.pool = pool
        self.in_channels = channels
        self.weight = torch.randn(channels * pool * pool, dim, generator=g) / (channels * pool * pool) ** 0.5

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.nn.functional.adaptive_avg_pool2d(x.float(), self.pool).flatten(1)
        p = p - p.mean(dim=1, keepdim=True)
        return p @ self.weight.to(p.device)
