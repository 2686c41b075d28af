"""Specular reflectance of skin in the VIS and the NIR.

Assumption (stated once, used everywhere): skin's specular reflection happens at the stratum
corneum/air interface, a dielectric commonly modelled with refractive index n = 1.4 (reported
values for the stratum corneum span about 1.42-1.55; see the review of T. Lister, P. Wright and
P. Chappell, J. Biomed. Opt. 17, 090901, 2012). Tissue dispersion between 400 and 1000 nm is of
order 0.01-0.02 in n, so the normal-incidence Fresnel reflectance F0 = ((n - 1) / (n + 1))^2
~ 0.028 changes by only a few percent across that range. Hence:

* NIR specular albedo = VIS specular albedo, texel for texel;
* surface roughness (microgeometry) is wavelength-independent at these scales, so the GGX
  roughness map is shared by both bands.

Only the diffuse (subsurface) albedo needs a spectral conversion (``vis_to_nir_albedo``).
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from nirvis.reflectance._checks import as_float_tensor, check_range
from nirvis.reflectance.optics import fresnel_f0

__all__ = ["SKIN_REFRACTIVE_INDEX", "SKIN_F0", "specular_albedo", "nir_roughness"]

#: Refractive index of the stratum corneum used for the skin surface.
SKIN_REFRACTIVE_INDEX = 1.4
#: Normal-incidence Fresnel reflectance of skin (~0.028), the same at 400-1000 nm.
SKIN_F0 = fresnel_f0(SKIN_REFRACTIVE_INDEX)

_BANDS = ("vis", "nir")


def specular_albedo(spectrum: str = "nir", specular_vis: Optional[Any] = None,
                    refractive_index: float = SKIN_REFRACTIVE_INDEX) -> torch.Tensor:
    """Specular albedo of skin in the given band.

    The Fresnel F0 of the stratum corneum (n ~ 1.4, F0 ~ 0.028) barely changes over 400-1000 nm,
    so the NIR specular albedo equals the VIS one: with a VIS map the map itself is returned
    (a copy), without one the scalar F0 is returned.

    Args:
        spectrum: ``"vis"`` or ``"nir"``.
        specular_vis: optional ``[...]`` VIS specular albedo map in [0, 1].
        refractive_index: surface refractive index (>= 1) used for the scalar F0.

    Returns:
        ``[...]`` specular albedo (same dtype/device as ``specular_vis``), or a 0-d float32
        tensor F0 when no map is given.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.specular import specular_albedo
        >>> round(float(specular_albedo("nir")), 4), round(float(specular_albedo("vis")), 4)
        (0.0278, 0.0278)
        >>> specular_albedo("nir", torch.tensor([0.03, 0.05])).tolist()
        [0.029999999329447746, 0.05000000074505806]
    """
    if spectrum not in _BANDS:
        raise ValueError(f"spectrum: expected 'vis' or 'nir', got {spectrum!r}")
    if specular_vis is None:
        return torch.tensor(fresnel_f0(refractive_index), dtype=torch.float32)
    s = as_float_tensor(specular_vis, "specular_vis")
    check_range(s, "specular_vis", 0.0, 1.0)
    return s.clone()


def nir_roughness(roughness_vis: Any) -> torch.Tensor:
    """NIR surface roughness: identical to the VIS roughness (microgeometry is band-independent).

    Args:
        roughness_vis: ``[...]`` GGX roughness in [0, 1].

    Returns:
        ``[...]`` the same values (a copy), same dtype/device.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.specular import nir_roughness
        >>> nir_roughness(torch.tensor([0.5])).tolist()
        [0.5]
    """
    r = as_float_tensor(roughness_vis, "roughness_vis")
    check_range(r, "roughness_vis", 0.0, 1.0)
    return r.clone()
