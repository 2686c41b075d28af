"""Embeddings of image arrays with a model callable, and cosine scores.

``model_fn`` is any callable taking a float32 ``torch.Tensor`` [B, C, 112, 112] with values in
[0, 1] and returning features [B, D] (a tensor or an array). Normalisation to the model's own
input range (e.g. (x - 0.5) / 0.5) is the model_fn's job.

Input conversion is the trainer's own (``nirvis.train.preprocess.model_input``, re-exported here
as ``prepare_batch``; ``to_grey`` likewise), so a model sees the same tensor in training and in
evaluation: with ``grey=True`` (the default, as the reference NIR-VIS evaluation reads every
image as grey) RGB becomes BT.601 luma rounded to uint8 as PIL's ``convert('L')`` does, and the
grey channel is repeated to ``channels`` channels (1 for a grey model, 3 for an RGB model). With
``grey=False`` RGB images go in as RGB (``channels`` must be 3) and grey images are repeated to 3
channels.

Feature = n(n(f(x)) + n(f(flip(x)))) with ``flip=True`` (horizontal flip), n = L2-normalise
per image, else n(f(x)): each view's feature is normalised before the two are added, as the
reference does (its LightCNN returns L2-normalised features in eval mode; ``eval_casia_112.py``
adds the image's and the flipped image's and normalises the sum), so a view with a larger raw
norm does not outweigh the other. ``flip_sum="raw"`` adds the raw outputs instead, as insightface's
``.bin`` verification (``arcface_torch/eval/verification.py``) does: n(f(x) + f(flip(x))).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from nirvis.train.preprocess import model_input as prepare_batch, to_grey  # noqa: F401 - re-exported

from nirvis.crop import CROP_SIZE

ModelFn = Callable[[torch.Tensor], Any]
IMAGE_SIZE = CROP_SIZE


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


FLIP_SUMS = ("normalised", "raw")


def embed(images: np.ndarray, model_fn: ModelFn, batch_size: int = 64, flip: bool = True, channels: int = 3,
          grey: bool = True, device: Any = None, flip_sum: str = "normalised") -> np.ndarray:
    """L2-normalised features float32 [N, D] of uint8 images [N, 112, 112(, C)].

    Each batch is converted as in :func:`prepare_batch`, moved to ``device`` (if given) and fed to
    ``model_fn``; with ``flip`` the horizontally flipped batch too: each output is L2-normalised,
    the two are added and the sum normalised again (the NIR-VIS reference's flip feature;
    ``flip_sum="raw"``: the raw outputs are added, insightface's ``.bin`` verification).
    """
    if flip_sum not in FLIP_SUMS:
        raise ValueError(f"flip_sum must be one of {FLIP_SUMS}, got {flip_sum!r}")
    view = (lambda f: F.normalize(f, dim=1)) if flip_sum == "normalised" else (lambda f: f)
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
        f = view(_run(model_fn, x))
        if flip:
            f = f + view(_run(model_fn, torch.flip(x, dims=[3])))
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
