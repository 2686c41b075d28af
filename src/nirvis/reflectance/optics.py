"""Radiative-transfer building blocks: Kubelka-Munk layers and the air/tissue boundary.

All functions are elementwise, broadcast their arguments, and are differentiable in torch.
Kubelka-Munk coefficients relate to transport coefficients by K = 2 mu_a and S = 0.75 mu_s'
(W. M. Star, J. P. A. Marijnissen, M. J. C. van Gemert, Phys. Med. Biol. 33, 437 (1988)).
"""

from __future__ import annotations

import torch

__all__ = ["km_layer", "km_semi_infinite", "km_stack", "fresnel_f0", "internal_diffuse_reflectance",
           "saunderson"]

_EPS = 1e-12


def km_layer(k: torch.Tensor, s: torch.Tensor, thickness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Diffuse reflectance and transmittance of a Kubelka-Munk layer on an index-matched backing.

    R = sinh(x) / (a sinh x + b cosh x), T = b / (a sinh x + b cosh x), with a = 1 + K/S,
    b = sqrt(a^2 - 1), x = b S d (Kubelka 1948), evaluated in a form that is stable for thick layers.

    Args:
        k: ``[...]`` absorption coefficient K (> 0) in 1/length.
        s: ``[...]`` scattering coefficient S (> 0) in the same unit.
        thickness: ``[...]`` layer thickness d (>= 0) in the reciprocal unit.

    Returns:
        (R, T): two ``[...]`` tensors in [0, 1] with R + T <= 1.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.optics import km_layer
        >>> r, t = km_layer(torch.tensor(1.0), torch.tensor(10.0), torch.tensor(0.1))
        >>> round(float(r), 3), round(float(t), 3)
        (0.461, 0.445)
    """
    k = k.clamp_min(_EPS)
    s = s.clamp_min(_EPS)
    ratio = k / s
    a = 1.0 + ratio
    b = torch.sqrt(ratio * (ratio + 2.0))
    x = torch.sqrt(k * (k + 2.0 * s)) * thickness
    e = torch.exp(-x)                      # tanh x = (1 - e^2) / (1 + e^2), sech x = 2 e / (1 + e^2)
    e2 = e * e
    den = a * (1.0 - e2) + b * (1.0 + e2)
    return (1.0 - e2) / den, 2.0 * b * e / den


def km_semi_infinite(k: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Reflectance of an optically thick Kubelka-Munk medium, R = 1 + K/S - sqrt((K/S)^2 + 2 K/S).

    Args:
        k: ``[...]`` absorption coefficient K (> 0).
        s: ``[...]`` scattering coefficient S (> 0), same unit.

    Returns:
        ``[...]`` reflectance in (0, 1).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.optics import km_semi_infinite
        >>> round(float(km_semi_infinite(torch.tensor(1.0), torch.tensor(4.0))), 3)
        0.5
    """
    r = k.clamp_min(_EPS) / s.clamp_min(_EPS)
    return 1.0 + r - torch.sqrt(r * (r + 2.0))


def km_stack(r1: torch.Tensor, t1: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
    """Reflectance of layer 1 (R1, T1) over a substrate of reflectance R2 (Kubelka's adding rule).

    R = R1 + T1^2 R2 / (1 - R1 R2).

    Args:
        r1, t1: ``[...]`` reflectance/transmittance of the top layer.
        r2: ``[...]`` reflectance of what lies beneath.

    Returns:
        ``[...]`` combined reflectance in [0, 1].

    Example:
        >>> import torch
        >>> from nirvis.reflectance.optics import km_stack
        >>> round(float(km_stack(torch.tensor(0.1), torch.tensor(0.8), torch.tensor(0.5))), 4)
        0.4368
    """
    return r1 + t1 * t1 * r2 / (1.0 - r1 * r2)


def fresnel_f0(refractive_index: float = 1.4) -> float:
    """Normal-incidence Fresnel reflectance ((n - 1) / (n + 1))^2 from air into index ``n``.

    Args:
        refractive_index: n >= 1.

    Returns:
        F0 as a float in [0, 1).

    Example:
        >>> from nirvis.reflectance.optics import fresnel_f0
        >>> round(fresnel_f0(1.4), 4)
        0.0278
    """
    n = float(refractive_index)
    if not n >= 1.0:
        raise ValueError(f"refractive_index: must be >= 1, got {refractive_index}")
    return ((n - 1.0) / (n + 1.0)) ** 2


def internal_diffuse_reflectance(refractive_index: float = 1.4) -> float:
    """Reflectance of the tissue/air boundary for diffuse light from inside the tissue.

    Empirical fit of Egan & Hilgeman (1979) as used by Groenhuis et al. (1983):
    r_i = -1.440 n^-2 + 0.710 n^-1 + 0.668 + 0.0636 n.

    Args:
        refractive_index: n >= 1 of the tissue (relative to air).

    Returns:
        r_i as a float in [0, 1) (0 for n = 1).

    Example:
        >>> from nirvis.reflectance.optics import internal_diffuse_reflectance
        >>> round(internal_diffuse_reflectance(1.4), 3)
        0.529
    """
    n = float(refractive_index)
    if not n >= 1.0:
        raise ValueError(f"refractive_index: must be >= 1, got {refractive_index}")
    if n == 1.0:
        return 0.0
    return -1.440 / n ** 2 + 0.710 / n + 0.668 + 0.0636 * n


def saunderson(body_reflectance: torch.Tensor, refractive_index: float = 1.4) -> torch.Tensor:
    """Observed diffuse reflectance of a turbid body behind a smooth boundary (Saunderson 1942).

    R = (1 - r_e)(1 - r_i) R_body / (1 - r_i R_body), with r_e the normal-incidence Fresnel
    reflectance (the specular part, excluded here: it is the specular albedo) and r_i the internal
    diffuse reflectance. A perfect scatterer (R_body = 1) gives 1 - r_e.

    Args:
        body_reflectance: ``[...]`` index-matched reflectance of the body in [0, 1].
        refractive_index: of the surface layer (stratum corneum, about 1.4).

    Returns:
        ``[...]`` diffuse reflectance seen from air, in [0, 1 - r_e].

    Example:
        >>> import torch
        >>> from nirvis.reflectance.optics import saunderson
        >>> round(float(saunderson(torch.tensor(0.9))), 3)
        0.786
    """
    re = fresnel_f0(refractive_index)
    ri = internal_diffuse_reflectance(refractive_index)
    return (1.0 - re) * (1.0 - ri) * body_reflectance / (1.0 - ri * body_reflectance)
