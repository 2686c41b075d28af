"""Simple VIS -> NIR transforms for ablations, and the names of all conversion methods.

``METHODS`` names the conversions that ``invert.vis_to_nir`` / ``invert.vis_to_nir_albedo``
select from (this module imports nothing of ``invert``; ``invert`` uses the baselines below):

* ``"spectral"``: the biophysical conversion of ``invert.vis_to_nir_albedo``.
* ``"red"``: NIR = red channel. Red light (600-700 nm) is where skin is already least affected
  by melanin and blood, so it is the crude proxy the reference code hints at.
* ``"luma"``: NIR = Rec. 709 luminance of the linear RGB (a plain grey conversion).
"""

from __future__ import annotations

from typing import Any

import torch

from nirvis.colour import luminance_rec709
from nirvis.reflectance._checks import check_albedo_map

__all__ = ["METHODS", "red_channel_nir", "luma_nir"]

#: Method names accepted by ``invert.vis_to_nir`` and ``invert.vis_to_nir_albedo``.
METHODS = ("spectral", "red", "luma")


def red_channel_nir(albedo_map: Any) -> torch.Tensor:
    """NIR albedo taken as the red channel of the linear RGB albedo.

    Args:
        albedo_map: ``[H, W, 3]`` or ``[B, H, W, 3]`` linear RGB in [0, 1] (float tensor/array).

    Returns:
        ``[H, W]`` or ``[B, H, W]`` NIR albedo in [0, 1], same dtype/device.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.baseline import red_channel_nir
        >>> red_channel_nir(torch.tensor([[[0.5, 0.2, 0.1]]])).tolist()
        [[0.5]]
    """
    return check_albedo_map(albedo_map)[..., 0].clone()


def luma_nir(albedo_map: Any) -> torch.Tensor:
    """NIR albedo taken as the Rec. 709 luminance of the linear RGB albedo.

    Args:
        albedo_map: ``[H, W, 3]`` or ``[B, H, W, 3]`` linear RGB in [0, 1].

    Returns:
        ``[H, W]`` or ``[B, H, W]`` luminance in [0, 1], same dtype/device.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.baseline import luma_nir
        >>> round(float(luma_nir(torch.ones(1, 1, 3))[0, 0]), 4)
        1.0
    """
    return luminance_rec709(check_albedo_map(albedo_map))
