"""Camera responses: reflectance spectra to VIS linear-sRGB albedo and to NIR albedo.

* VIS: CIE 1931 2-degree XYZ under illuminant D65 (CIE 15:2004), converted to linear sRGB with the
  IEC 61966-2-1 matrix (Rec. 709 primaries, D65 white), then scaled per channel so that a perfect
  white reflector maps to exactly (1, 1, 1). The scaling differs from 1 by < 0.3 % (10 nm
  tables, 400-780 nm); it removes quadrature error so that albedo 1 stays 1.
* NIR: an active camera lit by an LED (Gaussian, 850 nm FWHM 35 nm or 940 nm FWHM 45 nm) through a
  long-pass filter (50 % at 800 nm) onto a silicon sensor; response = LED x QE x filter, normalised
  so that a perfect reflector gives 1. Ambient light is ignored (the LED dominates in the band).

All integrals use trapezoidal weights on the given wavelength grid, so any grid works; the
``skin_albedo_*`` functions use 400-780 nm at 10 nm (VIS) and 700-1000 nm at 5 nm (NIR).
"""

from __future__ import annotations

from typing import Any

import torch

from nirvis.colour import decode_srgb, encode_srgb, luminance_rec709
from nirvis.reflectance import spectra
from nirvis.reflectance._checks import as_float_tensor, check_led, check_wavelengths
from nirvis.reflectance.skin import DEFAULT_SKIN_CONSTANTS, SkinOpticsConstants, SkinParams, _basis

__all__ = ["XYZ_TO_LINEAR_SRGB", "trapezoid_weights", "vis_weights", "nir_weights", "nir_system_response",
           "spectrum_to_vis_rgb", "spectrum_to_nir", "skin_albedo_vis", "skin_albedo_nir", "srgb_to_linear",
           "linear_to_srgb", "luminance"]

#: XYZ (D65-relative) to linear sRGB, IEC 61966-2-1.
XYZ_TO_LINEAR_SRGB = ((3.2406, -1.5372, -0.4986), (-0.9689, 1.8758, 0.0415), (0.0557, -0.2040, 1.0570))

_W_CACHE: dict[tuple, torch.Tensor] = {}


def _cached(key: tuple, make) -> torch.Tensor:
    w = _W_CACHE.get(key)
    if w is None:
        if len(_W_CACHE) > 128:
            _W_CACHE.clear()
        w = make()
        _W_CACHE[key] = w
    return w


def _wl_key(wl: torch.Tensor) -> tuple:
    return (tuple(wl.detach().cpu().double().tolist()), wl.dtype, str(wl.device))


def trapezoid_weights(wavelengths: Any) -> torch.Tensor:
    """Trapezoidal quadrature weights in nm for samples at ``wavelengths``.

    Args:
        wavelengths: ``[L]`` strictly increasing wavelengths in nm (L >= 2).

    Returns:
        ``[L]`` weights summing to (last - first).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.sensors import trapezoid_weights
        >>> trapezoid_weights(torch.tensor([400.0, 410.0, 420.0])).tolist()
        [5.0, 10.0, 5.0]
    """
    wl = check_wavelengths(wavelengths, lo=1.0, hi=1e5)
    if wl.numel() < 2 or not bool((wl[1:] > wl[:-1]).all()):
        raise ValueError("wavelengths: need at least 2 strictly increasing samples")
    d = wl[1:] - wl[:-1]
    w = torch.zeros_like(wl)
    w[:-1] += 0.5 * d
    w[1:] += 0.5 * d
    return w


def vis_weights(wavelengths: Any) -> torch.Tensor:
    """Matrix mapping reflectance spectra to linear sRGB: ``rgb = spectra @ W``.

    Args:
        wavelengths: ``[L]`` increasing wavelengths in nm; must cover 400-700 nm for meaningful
            colour (samples outside 380-780 nm get zero weight).

    Returns:
        ``[L, 3]`` weights such that a spectrum of ones gives exactly (1, 1, 1).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.sensors import vis_weights
        >>> wl = torch.arange(400.0, 781.0, 10.0)
        >>> [round(float(v), 6) for v in torch.ones(wl.numel()) @ vis_weights(wl)]
        [1.0, 1.0, 1.0]
    """
    wl = check_wavelengths(wavelengths, lo=1.0, hi=1e5)

    def make() -> torch.Tensor:
        w64 = wl.double()
        if float(w64.min()) > 420.0 or float(w64.max()) < 680.0:
            raise ValueError("wavelengths: the VIS camera needs samples spanning at least 420-680 nm, got "
                             f"[{float(w64.min()):g}, {float(w64.max()):g}]")
        q = trapezoid_weights(w64) * spectra.d65_spd(w64)
        xyz_w = spectra.cie_1931_cmf(w64) * q.unsqueeze(-1)          # [L, 3]
        xyz_w = xyz_w / xyz_w[:, 1].sum()                            # Y of white = 1
        m = torch.tensor(XYZ_TO_LINEAR_SRGB, dtype=torch.float64)
        w = xyz_w @ m.T                                              # [L, 3] -> linear sRGB
        w = w / w.sum(dim=0, keepdim=True)                           # white -> (1, 1, 1)
        return w.to(dtype=wl.dtype, device=wl.device)

    return _cached(("vis",) + _wl_key(wl), make)


def nir_system_response(wavelengths: Any, led_nm: float = 850.0, led_fwhm: float | None = None,
                        filter_cut_on_nm: float = 800.0) -> torch.Tensor:
    """Unnormalised NIR camera spectral response: LED emission x silicon QE x long-pass filter.

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].
        led_nm: LED peak wavelength in nm (760-980; typically 850 or 940).
        led_fwhm: LED FWHM in nm; default 35 nm (850) / 45 nm (940).
        filter_cut_on_nm: 50 % point of the long-pass filter.

    Returns:
        ``[L]`` relative response (>= 0), peak below 1.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.sensors import nir_system_response
        >>> r = nir_system_response(torch.tensor([700.0, 850.0]), 850)
        >>> bool(r[0] < 1e-4), round(float(r[1]), 2)
        (True, 0.3)
    """
    wl = check_wavelengths(wavelengths)
    led = check_led(led_nm)
    return (spectra.led_emission(wl, led, led_fwhm) * spectra.silicon_qe(wl)
            * spectra.longpass_filter(wl, filter_cut_on_nm))


def nir_weights(wavelengths: Any, led_nm: float = 850.0, led_fwhm: float | None = None,
                filter_cut_on_nm: float = 800.0) -> torch.Tensor:
    """Vector mapping reflectance spectra to NIR albedo: ``nir = spectra @ w``.

    Args:
        wavelengths: ``[L]`` increasing wavelengths in nm within [400, 1000] covering the LED band
            (at least led_nm +- 1.5 FWHM, e.g. 700-1000 nm).
        led_nm, led_fwhm, filter_cut_on_nm: see ``nir_system_response``.

    Returns:
        ``[L]`` non-negative weights summing to 1 (a perfect reflector gives 1).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.sensors import nir_weights
        >>> w = nir_weights(torch.arange(700.0, 1001.0, 5.0), 940)
        >>> round(float(w.sum()), 6)
        1.0
    """
    wl = check_wavelengths(wavelengths)
    led = check_led(led_nm)

    def make() -> torch.Tensor:
        w64 = wl.double()
        fwhm = spectra.led_fwhm_nm(led) if led_fwhm is None else float(led_fwhm)
        if float(w64.min()) > led - 1.5 * fwhm or float(w64.max()) < min(led + 1.5 * fwhm, 1000.0):
            band = f"{led - 1.5 * fwhm:g}-{min(led + 1.5 * fwhm, 1000.0):g}"
            raise ValueError(f"wavelengths: must cover the LED band {band} nm, got [{float(w64.min()):g}, "
                             f"{float(w64.max()):g}]")
        w = trapezoid_weights(w64) * nir_system_response(w64, led, fwhm, filter_cut_on_nm)
        return (w / w.sum()).to(dtype=wl.dtype, device=wl.device)

    return _cached(("nir", led, led_fwhm, filter_cut_on_nm) + _wl_key(wl), make)


def spectrum_to_vis_rgb(spectra_: Any, wavelengths: Any) -> torch.Tensor:
    """Linear sRGB (D65) albedo of reflectance spectra.

    Args:
        spectra_: ``[..., L]`` reflectance in [0, 1] (float tensor).
        wavelengths: ``[L]`` increasing wavelengths in nm spanning at least 420-680 nm.

    Returns:
        ``[..., 3]`` linear sRGB; a perfect white reflector gives (1, 1, 1). Saturated spectra may
        give slightly negative components (outside the sRGB gamut); they are not clipped.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.sensors import spectrum_to_vis_rgb
        >>> wl = torch.arange(400.0, 781.0, 10.0)
        >>> spectrum_to_vis_rgb(torch.full((2, wl.numel()), 0.5), wl).round(decimals=6).tolist()
        [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    """
    s = as_float_tensor(spectra_, "spectra")
    wl = check_wavelengths(wavelengths, lo=1.0, hi=1e5).to(dtype=s.dtype, device=s.device)
    if s.ndim < 1 or s.shape[-1] != wl.numel():
        raise ValueError(f"spectra: expected shape [..., {wl.numel()}] to match wavelengths, got {list(s.shape)}")
    return s @ vis_weights(wl)


def spectrum_to_nir(spectra_: Any, wavelengths: Any, led_nm: float = 850.0) -> torch.Tensor:
    """NIR camera albedo of reflectance spectra under an 850 or 940 nm LED.

    Args:
        spectra_: ``[..., L]`` reflectance in [0, 1] (float tensor).
        wavelengths: ``[L]`` increasing wavelengths in nm within [400, 1000] covering the LED band.
        led_nm: LED peak wavelength in nm (850 or 940; any value in 760-980 accepted).

    Returns:
        ``[...]`` NIR albedo in [0, 1]; a perfect reflector gives 1.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.sensors import spectrum_to_nir
        >>> wl = torch.arange(700.0, 1001.0, 5.0)
        >>> round(float(spectrum_to_nir(torch.full((wl.numel(),), 0.3), wl)), 6)
        0.3
    """
    s = as_float_tensor(spectra_, "spectra")
    wl = check_wavelengths(wavelengths).to(dtype=s.dtype, device=s.device)
    if s.ndim < 1 or s.shape[-1] != wl.numel():
        raise ValueError(f"spectra: expected shape [..., {wl.numel()}] to match wavelengths, got {list(s.shape)}")
    return s @ nir_weights(wl, led_nm)


def _grid(values, like: SkinParams) -> torch.Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


def skin_albedo_vis(params: SkinParams, constants: SkinOpticsConstants = DEFAULT_SKIN_CONSTANTS) -> torch.Tensor:
    """Linear sRGB diffuse albedo of skin under D65.

    Args:
        params: ``SkinParams`` with batch shape [...] (float32 or float64, any device).
        constants: skin model constants.

    Returns:
        ``[..., 3]`` linear sRGB in [0, 1], same dtype/device as ``params``; differentiable.

    Example:
        >>> from nirvis.reflectance.skin import SkinParams
        >>> from nirvis.reflectance.sensors import skin_albedo_vis
        >>> rgb = skin_albedo_vis(SkinParams(melanin=[0.01, 0.15]))
        >>> rgb.shape, bool((rgb[0] > rgb[1]).all())
        (torch.Size([2, 3]), True)
    """
    if not isinstance(params, SkinParams):
        raise ValueError(f"params: expected SkinParams, got {type(params).__name__}")
    wl = _grid(spectra.VIS_WAVELENGTHS_NM, params)
    basis = _basis(wl, constants)
    r = basis.reflectance(params.melanin, params.eumelanin_share, params.blood, params.oxygen_saturation,
                          params.epidermis_thickness_um)
    return r @ vis_weights(wl)


def skin_albedo_nir(params: SkinParams, led_nm: float = 850.0,
                    constants: SkinOpticsConstants = DEFAULT_SKIN_CONSTANTS) -> torch.Tensor:
    """NIR diffuse albedo of skin seen by an LED-lit silicon camera.

    Args:
        params: ``SkinParams`` with batch shape [...].
        led_nm: 850 or 940 (any LED peak in 760-980 nm).
        constants: skin model constants.

    Returns:
        ``[...]`` NIR albedo in [0, 1], same dtype/device as ``params``; differentiable.

    Example:
        >>> from nirvis.reflectance.skin import SkinParams
        >>> from nirvis.reflectance.sensors import skin_albedo_nir
        >>> nir = skin_albedo_nir(SkinParams(melanin=[0.01, 0.15]), led_nm=940)
        >>> nir.shape, bool((nir > 0.4).all())
        (torch.Size([2]), True)
    """
    if not isinstance(params, SkinParams):
        raise ValueError(f"params: expected SkinParams, got {type(params).__name__}")
    led = check_led(led_nm)
    wl = _grid(spectra.NIR_WAVELENGTHS_NM, params)
    basis = _basis(wl, constants)
    r = basis.reflectance(params.melanin, params.eumelanin_share, params.blood, params.oxygen_saturation,
                          params.epidermis_thickness_um)
    return r @ nir_weights(wl, led)


def srgb_to_linear(x: Any) -> torch.Tensor:
    """Decode sRGB-encoded values in [0, 1] to linear (IEC 61966-2-1 transfer function).

    Args:
        x: ``[...]`` encoded values in [0, 1] (float tensor or array).

    Returns:
        ``[...]`` linear values in [0, 1].

    Example:
        >>> import torch
        >>> from nirvis.reflectance.sensors import srgb_to_linear
        >>> [round(float(v), 4) for v in srgb_to_linear(torch.tensor([0.0, 0.5, 1.0]))]
        [0.0, 0.214, 1.0]
    """
    return decode_srgb(as_float_tensor(x, "x"))


def linear_to_srgb(x: Any) -> torch.Tensor:
    """Encode linear values in [0, 1] with the sRGB transfer function (inverse of srgb_to_linear).

    Args:
        x: ``[...]`` linear values (clamped to [0, 1]).

    Returns:
        ``[...]`` encoded values in [0, 1].

    Example:
        >>> import torch
        >>> from nirvis.reflectance.sensors import linear_to_srgb
        >>> [round(float(v), 4) for v in linear_to_srgb(torch.tensor([0.0, 0.214, 1.0]))]
        [0.0, 0.5, 1.0]
    """
    return encode_srgb(as_float_tensor(x, "x").clamp(0.0, 1.0))


def luminance(rgb: Any) -> torch.Tensor:
    """Rec. 709 relative luminance of linear sRGB: 0.2126 R + 0.7152 G + 0.0722 B.

    Args:
        rgb: ``[..., 3]`` linear sRGB.

    Returns:
        ``[...]`` luminance (CIE Y of D65-relative sRGB).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.sensors import luminance
        >>> round(float(luminance(torch.tensor([1.0, 0.0, 0.0]))), 4)
        0.2126
    """
    return luminance_rec709(as_float_tensor(rgb, "rgb"))
