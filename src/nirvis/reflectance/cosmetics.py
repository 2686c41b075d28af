"""Reflectance spectra of make-up films (lipstick, eye shadow, eyeliner/mascara), VIS and NIR.

Decorative cosmetics colour with a few pigment families whose NIR behaviour is well known
(from pigment science and infrared reflectography of paints, which uses the same pigments):

* Carbon black (eyeliner, mascara; also black iron oxide Fe3O4) absorbs broadly from the UV
  through the NIR: reflectance ~0.03-0.05, flat, so eyeliner and mascara stay dark at 850 and
  940 nm (carbon-black paints are the classic "IR-absorbing" layer in reflectography).
* Red and yellow iron oxides (Fe2O3 hematite, FeOOH goethite; eye shadows, bronzers,
  nude/brown lipsticks) absorb below an edge at ~550-600 nm (red) or ~500 nm (yellow), then
  reflect strongly (~0.5-0.6) to 1000 nm, with a weak Fe3+ crystal-field band near 860-900 nm
  (R. V. Morris et al., J. Geophys. Res. 90(B4), 1985: hematite's band at ~860 nm, goethite's
  at ~920 nm). They turn bright in the NIR.
* Organic red lakes (e.g. D&C Red 7 Ca lake, carmine; red lipsticks) and titanium dioxide / mica
  (white, pearlescent) are transparent or white in the NIR: red lipstick is about as bright as
  bare lips there.

A film is modelled as a step spectrum R(lambda) = floor + (high - floor) * sigmoid((lambda -
edge) / width), minus a Gaussian iron-oxide band; the film's opacity mixes it over the skin
beneath (R = a R_film + (1 - a) R_skin, a thin-film mixture ignoring interreflection). The
constants are representative, not measurements of particular products.
"""

from __future__ import annotations

from typing import Any

import torch

from nirvis.reflectance._checks import check_wavelengths

__all__ = ["CARBON_BLACK_REFLECTANCE", "carbon_black_spectrum", "pigment_film_spectrum"]

#: Reflectance of carbon-black films (flat, 400-1000 nm).
CARBON_BLACK_REFLECTANCE = 0.04


def pigment_film_spectrum(wavelengths: Any, edge_nm: float, floor: float, high: float = 0.55,
                          width_nm: float = 22.0, iron_band: float = 0.0) -> torch.Tensor:
    """Reflectance of an absorption-edge pigment film (iron oxides, organic red lakes).

    Args:
        wavelengths: ``[L]`` nm within [400, 1000].
        edge_nm: absorption edge (~500 yellow, ~560-600 red/brown).
        floor: reflectance below the edge in [0, 1] (TiO2/mica in pinks and nudes raise it).
        high: reflectance above the edge in [0, 1].
        width_nm: edge width.
        iron_band: depth in [0, 1) of the Fe3+ band at 870 nm (0 for organic lakes).

    Returns:
        ``[L]`` float reflectance in [0, 1].

    Example:
        >>> import torch
        >>> r = pigment_film_spectrum(torch.tensor([450.0, 650.0, 850.0]), 590.0, 0.05, iron_band=0.15)
        >>> [round(float(v), 2) for v in r]
        [0.05, 0.52, 0.48]
    """
    wl = check_wavelengths(wavelengths)
    if not (0.0 <= floor <= 1.0 and 0.0 <= high <= 1.0 and 0.0 <= iron_band < 1.0 and width_nm > 0):
        raise ValueError(f"pigment_film_spectrum: floor {floor}, high {high} must lie in [0, 1], iron_band "
                         f"{iron_band} in [0, 1), width_nm {width_nm} > 0")
    step = torch.sigmoid((wl - float(edge_nm)) / float(width_nm))
    band = 1.0 - float(iron_band) * torch.exp(-(((wl - 870.0) / 60.0) ** 2)) * step
    return ((floor + (high - floor) * step) * band).clamp(0.0, 1.0)


def carbon_black_spectrum(wavelengths: Any) -> torch.Tensor:
    """Reflectance ``[L]`` of a carbon-black film (eyeliner, mascara): 0.04 from 400 to 1000 nm.

    Example:
        >>> import torch
        >>> carbon_black_spectrum(torch.tensor([500.0, 850.0])).tolist()
        [0.03999999910593033, 0.03999999910593033]
    """
    wl = check_wavelengths(wavelengths)
    return torch.full_like(wl, CARBON_BLACK_REFLECTANCE)
