"""Spectral models of the non-skin face materials: hair, iris, sclera and teeth.

* Hair (brows, scalp hair, beard): the diffuse albedo of a hair assembly from its melanin,
  A(lambda) = exp(-g(beta_n) * sqrt(sigma_a(lambda))), the multiple-scattering colour/absorption
  relation of M. J.-Y. Chiang et al., "A practical and controllable hair and fur model for
  production path tracing", Comput. Graph. Forum 35(2), 2016 (g = 5.888 for azimuthal roughness
  beta_n = 0.3), with sigma_a = C_eu sigma_eu(lambda) + C_pheo sigma_pheo(lambda). The spectral
  shapes are the melanin spectra of ``spectra`` scaled so that sigma_a at 549 nm equals the
  green-channel coefficients of E. d'Eon et al., "An energy-conserving hair reflectance model",
  EGSR 2011 (0.697 per unit eumelanin, 0.400 per unit pheomelanin). A wavelength-flat share s
  (0-6 %) of light reflected at the fibre surfaces is added, A' = s + (1 - s) A: hair albedo
  textures contain it, and it is what makes dark hair look dark grey-brown rather than the deeply
  saturated brown of the multiple-scattering term alone. Because melanin absorbs ~7x less at
  850 nm than at 550 nm, dark hair is much lighter in the NIR (G albedo 0.02-0.03 -> ~0.2).
* Iris: a Kubelka-Munk stroma layer (300 um) over the heavily pigmented iris pigment epithelium,
  an optically thick melanin layer (K/S = 11.5 at 550 nm, i.e. reflectance 0.04, scaled with the
  eumelanin spectrum: ~0.14 at 850 nm, since melanin absorbs ~4x less there). Stroma absorption =
  melanin (eu/pheo mix) + 0.2 cm^-1; stroma scattering is the given collagen/cell part (80 %
  Rayleigh-like lambda^-4: the Tyndall blue of light irises, whose stroma is thin and weakly
  scattering, ~35 cm^-1 at 500 nm) plus wavelength-flat scattering by the melanosomes
  themselves, 0.15 cm^-1 per cm^-1 of melanin absorption (without it the blue-boosting collagen
  scattering cancels the melanin colour and brown irises come out grey). With melanin from ~1.5
  (blue) to ~300 cm^-1 (dark brown) the VIS albedo spans blue-grey ~0.3-0.5 to brown ~0.1/0.03
  (R/B) while the 850 nm albedo stays at ~0.32-0.35 for every colour: irises of all colours look
  alike, mid-grey, in NIR iris images (the reason iris recognition uses 700-900 nm light;
  J. Daugman, "How iris recognition works", IEEE TCSVT 14(1), 2004). A low effective eumelanin
  share (~0.1-0.5) gives the warm brown of real irises with these spectra.
* Sclera: a 0.6 mm Kubelka-Munk slab (mu_s' of Bashkatov et al. 2010, absorption = skin baseline
  + 75 % water + 0.5 % blood) over the dark choroid (reflectance 0.05), behind a n = 1.4 boundary.
  Near-white, its NIR/VIS-luminance ratio is ~0.86 at 850 nm and ~0.78 at 940 nm (less scattering
  and more water absorption in the NIR let more light reach the choroid).
* Teeth: an optically thick dentin-like scatterer (mu_s' = 150 (lambda/500)^-1 cm^-1) with a
  yellow chromophore (0.6 (lambda/500)^-4 cm^-1) and 10 % water, behind enamel (n = 1.62).
  High albedo (0.6-0.75) in both bands; NIR/VIS-luminance ratio ~1.1.

The iris, sclera and teeth constants are representative, not fitted to measurements; they are
documented so they can be replaced.
"""

from __future__ import annotations

from typing import Any

import torch

from nirvis.reflectance import spectra
from nirvis.reflectance._checks import as_float_tensor, check_range, check_wavelengths
from nirvis.reflectance.optics import km_layer, km_semi_infinite, km_stack, saunderson

__all__ = ["HAIR_G", "HAIR_SURFACE_MAX", "hair_absorption", "hair_reflectance_spectrum", "iris_reflectance_spectrum",
           "sclera_reflectance_spectrum", "teeth_reflectance_spectrum"]

_HAIR_ANCHOR_NM = 549.0
_DEON_GREEN_EU = 0.697
_DEON_GREEN_PHEO = 0.400


def _chiang_g(beta_n: float) -> float:
    b = beta_n
    return 5.969 - 0.215 * b + 2.532 * b ** 2 - 10.73 * b ** 3 + 5.574 * b ** 4 + 0.245 * b ** 5


#: Chiang et al. (2016) colour/absorption factor for azimuthal roughness 0.3.
HAIR_G = _chiang_g(0.3)
#: Upper bound of the flat fibre-surface reflection share in hair albedo textures.
HAIR_SURFACE_MAX = 0.06

_IRIS_STROMA_CM = 0.03
_IRIS_EPITHELIUM_KS = 11.5      # K/S of the pigment epithelium at 550 nm (reflectance 0.04)
_IRIS_BASE_MUA = 0.2
_IRIS_RAYLEIGH_FRACTION = 0.8
_IRIS_MELANOSOME_SCATTER = 0.15   # flat reduced scattering per unit melanin absorption


def _unit_melanin(wl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eu- and pheomelanin spectra normalised to 1 at 500 nm."""
    ref = torch.tensor([500.0], dtype=wl.dtype, device=wl.device)
    eu = spectra.eumelanin_mua(wl) / spectra.eumelanin_mua(ref)
    return eu, spectra.pheomelanin_mua(wl) / spectra.pheomelanin_mua(ref)


def hair_absorption(eumelanin: Any, pheomelanin: Any, wavelengths: Any) -> torch.Tensor:
    """Hair-fibre absorption sigma_a per unit fibre radius for melanin concentrations.

    Args:
        eumelanin: ``[...]`` eumelanin concentration (d'Eon units, >= 0; blond ~0.1, brown ~1).
        pheomelanin: ``[...]`` pheomelanin concentration (>= 0; red hair ~1).
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[..., L]`` dimensionless absorption (0.697 * eumelanin at 549 nm).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.tissues import hair_absorption
        >>> round(float(hair_absorption(1.0, 0.0, torch.tensor([549.0]))), 3)
        0.697
    """
    eu = as_float_tensor(eumelanin, "eumelanin")
    ph = as_float_tensor(pheomelanin, "pheomelanin", like=eu).to(eu.dtype)
    check_range(eu, "eumelanin", 0.0)
    check_range(ph, "pheomelanin", 0.0)
    wl = check_wavelengths(wavelengths).to(dtype=eu.dtype, device=eu.device)
    return _hair_sigma(eu, ph, wl)


def _hair_sigma(eu: torch.Tensor, ph: torch.Tensor, wl: torch.Tensor) -> torch.Tensor:
    m_eu, m_ph = _unit_melanin(wl)
    anchor = torch.tensor([_HAIR_ANCHOR_NM], dtype=wl.dtype, device=wl.device)
    a_eu, a_ph = _unit_melanin(anchor)
    k_eu = m_eu * (_DEON_GREEN_EU / a_eu)
    k_ph = m_ph * (_DEON_GREEN_PHEO / a_ph)
    return eu.unsqueeze(-1) * k_eu + ph.unsqueeze(-1) * k_ph


def hair_reflectance_spectrum(eumelanin: Any, pheomelanin: Any, wavelengths: Any, surface: Any = 0.0) -> torch.Tensor:
    """Diffuse albedo spectrum of a hair assembly (eyebrows, scalp hair, beard).

    A = s + (1 - s) exp(-5.888 sqrt(sigma_a)) (Chiang et al. 2016, azimuthal roughness 0.3), where
    s is a wavelength-flat share of light reflected at the fibre surfaces (cuticle; keratin
    F0 ~ 0.047) that albedo textures of hair usually contain and that desaturates dark hair.

    Args:
        eumelanin: ``[...]`` eumelanin concentration (>= 0).
        pheomelanin: ``[...]`` pheomelanin concentration (>= 0).
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].
        surface: ``[...]`` flat surface-reflection share s in [0, 1) (default 0).

    Returns:
        ``[..., L]`` albedo in (0, 1]; same dtype/device as ``eumelanin``.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.tissues import hair_reflectance_spectrum
        >>> a = hair_reflectance_spectrum(0.5, 0.05, torch.tensor([550.0, 850.0]))
        >>> round(float(a[0]), 3), round(float(a[1]), 3)
        (0.028, 0.275)
    """
    sigma = hair_absorption(eumelanin, pheomelanin, wavelengths)
    s = as_float_tensor(surface, "surface", like=sigma).to(sigma.dtype)
    check_range(s, "surface", 0.0, 0.999)
    return _hair(sigma, s)


def _hair(sigma: torch.Tensor, surface: torch.Tensor) -> torch.Tensor:
    s = surface.unsqueeze(-1) if surface.ndim else surface
    return s + (1.0 - s) * torch.exp(-HAIR_G * torch.sqrt(sigma.clamp_min(1e-12)))


def iris_reflectance_spectrum(melanin: Any, eumelanin_share: Any, scattering: Any, wavelengths: Any) -> torch.Tensor:
    """Diffuse albedo spectrum of the iris (stroma over pigment epithelium; cornea excluded).

    Args:
        melanin: ``[...]`` stromal melanin absorption at 500 nm in cm^-1 (> 0; blue ~1,
            brown ~100-1000).
        eumelanin_share: ``[...]`` eumelanin fraction in [0, 1].
        scattering: ``[...]`` stromal reduced scattering at 500 nm in cm^-1 (> 0).
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[..., L]`` albedo in [0, 1].

    Example:
        >>> import torch
        >>> from nirvis.reflectance.tissues import iris_reflectance_spectrum
        >>> a = iris_reflectance_spectrum(150.0, 0.2, 35.0, torch.tensor([550.0, 850.0]))
        >>> bool(a[1] > 3 * a[0]), round(float(a[1]), 2)    # brown: dark in VIS, mid-grey in NIR
        (True, 0.33)
    """
    mel = as_float_tensor(melanin, "melanin")
    share = as_float_tensor(eumelanin_share, "eumelanin_share", like=mel).to(mel.dtype)
    sc = as_float_tensor(scattering, "scattering", like=mel).to(mel.dtype)
    check_range(mel, "melanin", 0.0, lo_open=True)
    check_range(share, "eumelanin_share", 0.0, 1.0)
    check_range(sc, "scattering", 0.0, lo_open=True)
    wl = check_wavelengths(wavelengths).to(dtype=mel.dtype, device=mel.device)
    return _iris(mel, share, sc, wl)


def _iris(mel: torch.Tensor, share: torch.Tensor, sc: torch.Tensor, wl: torch.Tensor) -> torch.Tensor:
    m_eu, m_ph = _unit_melanin(wl)
    m = m_ph + share.unsqueeze(-1) * (m_eu - m_ph)
    k = 2.0 * (mel.unsqueeze(-1) * m + _IRIS_BASE_MUA)
    shape = (1.0 - _IRIS_RAYLEIGH_FRACTION) + _IRIS_RAYLEIGH_FRACTION * (wl / 500.0).pow(-4.0)
    s = 0.75 * (sc.unsqueeze(-1) * shape + _IRIS_MELANOSOME_SCATTER * mel.unsqueeze(-1))
    r1, t1 = km_layer(k, s, torch.tensor(_IRIS_STROMA_CM, dtype=wl.dtype, device=wl.device))
    anchor = torch.tensor([550.0], dtype=wl.dtype, device=wl.device)
    ks = _IRIS_EPITHELIUM_KS * m_eu / _unit_melanin(anchor)[0]
    backing = 1.0 + ks - torch.sqrt(ks * ks + 2.0 * ks)                 # semi-infinite KM
    return km_stack(r1, t1, backing.expand_as(r1))


def sclera_reflectance_spectrum(wavelengths: Any, blood: float = 0.005) -> torch.Tensor:
    """Representative diffuse albedo spectrum of the sclera (see module docstring).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].
        blood: blood volume fraction of the slab (default 0.5 %; conjunctival vessels and red
            eye corners are a few per cent).

    Returns:
        ``[L]`` albedo in [0, 1] (about 0.45 in the visible, 0.38 at 850 nm).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.tissues import sclera_reflectance_spectrum
        >>> r = sclera_reflectance_spectrum(torch.tensor([550.0, 850.0]))
        >>> bool(r[1] < r[0])
        True
    """
    wl = check_wavelengths(wavelengths)
    mua = spectra.baseline_mua(wl) + 0.75 * spectra.water_mua(wl) + float(blood) * spectra.blood_mua(wl, 0.9)
    musp = spectra.sclera_reduced_scattering(wl)
    r1, t1 = km_layer(2.0 * mua, 0.75 * musp, torch.tensor(0.06, dtype=wl.dtype, device=wl.device))
    return saunderson(km_stack(r1, t1, torch.full_like(r1, 0.05)), 1.4)


def teeth_reflectance_spectrum(wavelengths: Any) -> torch.Tensor:
    """Representative diffuse albedo spectrum of teeth (see module docstring).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L]`` albedo in [0, 1] (about 0.68 at 550 nm, 0.78 at 850 nm).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.tissues import teeth_reflectance_spectrum
        >>> [round(float(v), 2) for v in teeth_reflectance_spectrum(torch.tensor([550.0, 850.0]))]
        [0.68, 0.78]
    """
    wl = check_wavelengths(wavelengths)
    mua = 0.6 * (wl / 500.0).pow(-4.0) + 0.1 * spectra.water_mua(wl)
    musp = 150.0 * (wl / 500.0).pow(-1.0)
    return saunderson(km_semi_infinite(2.0 * mua, 0.75 * musp), 1.62)
