"""Model input: uint8 face crops -> float tensors, one convention for training and evaluation.

The trainer (``nirvis.train.loop``) and the evaluation (``nirvis.evaluate.features``) both call
:func:`model_input`, so a model sees exactly the same tensor for the same image in both.

    >>> import numpy as np
    >>> vis = np.full((2, 112, 112, 3), (200, 100, 50), np.uint8)     # RGB
    >>> int(to_grey(vis)[0, 0, 0])                                     # 0.299*200 + 0.587*100 + 0.114*50
    124
    >>> x = model_input(vis, channels=3)                               # grey repeated to 3 channels
    >>> x.shape, x.dtype, bool((x * 255).round().eq(124).all())
    (torch.Size([2, 3, 112, 112]), torch.float32, True)

Grey (``grey=True``, always so in training and the default of the NIR-VIS evaluation, as the
reference reads every training and test image with PIL's ``Image.open(path).convert('L')``):
RGB becomes ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B rounded to uint8 with PIL's integer
rule (R 19595 + G 38470 + B 7471 + 2^15) >> 16 (identical to ``convert('L')`` for every one of
the 2^24 colours; OpenCV's ``COLOR_RGB2GRAY`` differs by 1 on 0.13% of them). Grey images stay
as they are. The grey channel is repeated to ``channels`` (1: a grey model, 3: an RGB model), so
an RGB model gets grey VIS and grey NIR alike. With ``grey=False`` (the VIS-only ``.bin`` sets)
RGB goes in as RGB and grey images are repeated to 3 channels.

Values: ``model_input`` gives x = pixel / 255 in [0, 1]; a model's own scaling (``data.mean``,
``data.std`` of the training config) is :func:`normalise` (x - mean) / std, applied by the
trainer and by ``nirvis.train.checkpoint.load_embedding_model``.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch

from nirvis.colour import luma_bt601
from nirvis.crop import CROP_SIZE

Images = Union[np.ndarray, Sequence[np.ndarray]]


def to_grey(images: Images) -> np.ndarray:
    """uint8 [N, H, W, 3] RGB (or [N, H, W, 1] / [N, H, W] grey) -> uint8 [N, H, W] (BT.601 luma
    rounded as PIL's ``convert('L')``)."""
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {a.dtype}")
    if a.ndim == 3:
        return a
    if a.ndim == 4 and a.shape[-1] == 1:
        return a[..., 0]
    if a.ndim == 4 and a.shape[-1] == 3:
        return luma_bt601(a)
    raise ValueError(f"images must be [N, H, W], [N, H, W, 1] or [N, H, W, 3], got shape {a.shape}")


def model_input(images: Images, channels: int = 3, grey: bool = True) -> torch.Tensor:
    """uint8 images [N, H, W(, C)] (an array or a list of equally sized arrays) -> float32 tensor
    [N, ``channels``, H, W] in [0, 1] (see the module docstring)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    a = np.stack(images) if isinstance(images, (list, tuple)) else np.asarray(images)
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


def normalise(x: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """A model's input scaling of a [0, 1] tensor: (x - mean) / std, in float32 (unchanged for
    mean 0, std 1)."""
    x = x.float()
    return (x - mean) / std if (mean != 0.0 or std != 1.0) else x


def training_input(images: Images, in_channels: int, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """What the trainer feeds the backbone: ``normalise(model_input(images, in_channels), mean, std)``,
    float32 [N, in_channels, H, W]."""
    return normalise(model_input(images, in_channels, grey=True), mean, std)


def at_crop_size(img: np.ndarray) -> np.ndarray:
    """An image [H, W(, C)] at the trainer's ``CROP_SIZE`` square (area-averaged when it has another
    size, e.g. a data set rendered at another ``resolution``; 112 crops are returned as they are)."""
    if img.shape[0] == CROP_SIZE and img.shape[1] == CROP_SIZE:
        return img
    import cv2

    return cv2.resize(img, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
