"""Simple VIS -> NIR transforms for ablations, and the registry that selects a method by name.

* ``"spectral"``: the biophysical conversion of ``invert.vis_to_nir_albedo``.
* ``"red"``: NIR = red channel. Red light (600-700 nm) is where skin is already least affected
  by melanin and blood, so it is the crude proxy the reference code hints at.
* ``"luma"``: NIR = Rec. 709 luminance of the linear RGB (a plain grey conversion).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from nirvis.reflectance._checks import check_albedo_map
from nirvis.reflectance.sensors import REC709_LUMA

__all__ = ["METHODS", "red_channel_nir", "luma_nir", "vis_to_nir"]

#: Method names accepted by ``vis_to_nir`` (and ``vis_to_nir_albedo``).
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
    x = check_albedo_map(albedo_map)
    return x @ torch.tensor(REC709_LUMA, dtype=x.dtype, device=x.device)


def _spectral(albedo_map: Any, **kwargs: Any) -> torch.Tensor:
    from nirvis.reflectance.invert import vis_to_nir_albedo

    return vis_to_nir_albedo(albedo_map, **kwargs)


_REGISTRY: dict[str, Callable[..., torch.Tensor]] = {"spectral": _spectral, "red": red_channel_nir, "luma": luma_nir}


def vis_to_nir(albedo_map: Any, method: str = "spectral", **kwargs: Any) -> torch.Tensor:
    """Convert a VIS albedo map to NIR albedo with the method named ``method``.

    Args:
        albedo_map: ``[H, W, 3]`` or ``[B, H, W, 3]`` linear RGB in [0, 1].
        method: ``"spectral"`` (biophysical; keyword arguments such as ``region_masks`` and
            ``led_nm`` are passed on), ``"red"`` or ``"luma"`` (ablation baselines; they take no
            options and ignore the LED).
        **kwargs: options of ``invert.vis_to_nir_albedo`` for ``"spectral"``.

    Returns:
        ``[H, W]`` or ``[B, H, W]`` NIR albedo in [0, 1].

    Example:
        >>> import torch
        >>> from nirvis.reflectance.baseline import vis_to_nir
        >>> x = torch.tensor([[[0.45, 0.30, 0.22]]])
        >>> [round(float(vis_to_nir(x, m)[0, 0]), 2) for m in ("red", "luma")]
        [0.45, 0.33]
    """
    fn = _REGISTRY.get(method) if isinstance(method, str) else None
    if fn is None:
        raise ValueError(f"method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method != "spectral":
        ignored = {k for k in kwargs if k not in ("led_nm", "region_masks")}
        if ignored:
            raise ValueError(f"method: {method!r} takes no options, got {sorted(ignored)}")
        return fn(albedo_map)
    return fn(albedo_map, **kwargs)
