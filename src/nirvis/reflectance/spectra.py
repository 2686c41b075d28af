"""Published optical data on wavelength grids (nm), as torch functions of wavelength.

Every function takes a 1-D tensor of wavelengths ``[L]`` in nanometres and returns a tensor on the
same dtype/device (non-tensor input becomes float32 on the CPU). Tables are linearly interpolated.
Tissue data are defined on 400-1000 nm (a ValueError names the argument outside that range); the
CIE tables are zero outside 380-780 nm.

Sources (facts and formulas only; no code was copied):

* Haemoglobin: S. Prahl, "Optical absorption of hemoglobin" (1999), omlc.org/spectra/hemoglobin,
  molar extinction compiled from W. B. Gratzer and N. Kollias. Tabulated here at 10 nm plus the
  Soret/Q-band/760 nm-band extrema (414, 542, 556, 576, 758 nm).
* Melanin: S. L. Jacques, "Skin optics", Oregon Medical Laser Center News (1998) and "Optical
  properties of biological tissues: a review", Phys. Med. Biol. 58 R37 (2013): eumelanin
  mu_a = 6.6e11 * lambda^-3.33 cm^-1 and pheomelanin 2.9e15 * lambda^-4.75 cm^-1 (lambda in nm),
  melanosome interior. In vivo the melanin absorption spectrum is exponential in wavelength with a
  steeper decay than in vitro (G. Zonios et al., "Melanin absorption spectroscopy", J. Biomed. Opt.
  13(1) 014017, 2008). The skin model uses that exponential form, matched in value and log-slope to
  Jacques' power laws at 500 nm (see ``eumelanin_mua``); it reproduces the NIR convergence of light
  and dark skin measured by NIST (Cooksey et al. 2017), which the bare power law underestimates.
* Baseline (bloodless) skin absorption: Jacques (1998),
  mu_a = 0.244 + 85.3 * exp(-(lambda - 154) / 66.2) cm^-1.
* Water: G. M. Hale and M. R. Querry, "Optical constants of water in the 200-nm to 200-um
  wavelength region", Appl. Opt. 12, 555 (1973); imaginary index k at 25 nm, mu_a = 4 pi k / lambda.
* Reduced scattering: Jacques (2013), mu_s' = a (lambda / 500 nm)^-b; the review's skin average is
  a = 46 cm^-1, b = 1.421. Sclera: A. N. Bashkatov et al., Opt. Spectrosc. 109, 197 (2010),
  mu_s' = 2.411e5 * lambda^-1.325 cm^-1.
* CIE 1931 2-degree colour matching functions and CIE D65 relative SPD at 10 nm, 380-780 nm:
  CIE 15:2004 "Colorimetry" (3rd ed.), tables T.1 and T.4.
* Silicon CMOS quantum efficiency: a generic curve with the shape typical of front-side-illuminated
  monochrome CMOS datasheets (peak ~0.64 at 550-600 nm, ~0.32 at 850 nm, ~0.14 at 950 nm). It is
  not a specific part; only its shape inside an LED band matters after normalisation.
* LED emission (Gaussian) and a long-pass filter (logistic edge) are parametric models.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from nirvis.reflectance._checks import as_float_tensor, check_wavelengths

__all__ = [
    "MODEL_WAVELENGTHS_NM", "VIS_WAVELENGTHS_NM", "NIR_WAVELENGTHS_NM", "HB_MOLAR_MASS_G_PER_MOL",
    "wavelength_grid", "interp1d", "eumelanin_mua_jacques", "pheomelanin_mua_jacques", "eumelanin_mua",
    "pheomelanin_mua", "hemoglobin_extinction", "blood_mua", "baseline_mua", "water_mua",
    "reduced_scattering", "sclera_reduced_scattering", "cie_1931_cmf", "d65_spd", "silicon_qe",
    "led_emission", "led_fwhm_nm", "longpass_filter", "data_fingerprint",
]

#: Full model grid, 400-1000 nm at 5 nm (used for plots and generic spectra).
MODEL_WAVELENGTHS_NM = np.arange(400.0, 1000.0 + 1e-9, 5.0)
#: Grid for colorimetry: 400-780 nm at 10 nm (the native CIE 15 sampling).
VIS_WAVELENGTHS_NM = np.arange(400.0, 780.0 + 1e-9, 10.0)
#: Grid for NIR camera integration: 700-1000 nm at 5 nm (resolves 30-50 nm wide LED bands).
NIR_WAVELENGTHS_NM = np.arange(700.0, 1000.0 + 1e-9, 5.0)

#: Molar mass of haemoglobin used by Prahl's conversion to absorption coefficients.
HB_MOLAR_MASS_G_PER_MOL = 64500.0

# --------------------------------------------------------------------------------------- tables

# Prahl (1999) compilation of Gratzer / Kollias: wavelength [nm], HbO2, Hb molar extinction
# [cm^-1 / (mol/L)]. 10 nm grid plus extrema. HbO2 and Hb cross (isosbestic point) near 797 nm;
# at 850 nm HbO2 absorbs 1.53x more than Hb (1058 vs 691), at 940 nm 1.75x (1214 vs 693), and both
# are ~500x below the 414 nm Soret peak, which is why blood barely colours skin in the NIR.
_HB_TABLE = np.array([
    [400, 266232, 223296], [410, 466840, 303956], [414, 524280, 342596], [420, 480360, 407560],
    [430, 246072, 528600], [440, 102580, 413280], [450, 62816, 103292], [460, 44480, 23388.8],
    [470, 33209.2, 16156.4], [480, 26629.2, 14550], [490, 23684.4, 16684], [500, 20932.8, 20862],
    [510, 20035.2, 25773.6], [520, 24202.4, 31589.6], [530, 39956.8, 39036.4], [540, 53236, 46592],
    [542, 53292, 48148], [550, 43016, 53412], [556, 34476.8, 54540], [560, 32613.2, 53788],
    [570, 44496, 45072], [576, 55540, 40092], [580, 50104, 37020], [590, 14400.8, 28324.4],
    [600, 3200, 14677.2], [610, 1506, 9443.6], [620, 942, 6509.6], [630, 610, 5148.8],
    [640, 442, 4345.2], [650, 368, 3750.12], [660, 319.6, 3226.56], [670, 294, 2795.12],
    [680, 277.6, 2407.92], [690, 276, 2051.96], [700, 290, 1794.28], [710, 314, 1540.48],
    [720, 348, 1325.88], [730, 390, 1102.2], [740, 446, 1115.88], [750, 518, 1405.24],
    [758, 574, 1560.48], [760, 586, 1548.52], [770, 650, 1311.88], [780, 710, 1075.44],
    [790, 756, 890.8], [800, 816, 761.72], [810, 864, 717.08], [820, 916, 693.76],
    [830, 974, 693.04], [840, 1022, 692.36], [850, 1058, 691.32], [860, 1092, 694.32],
    [870, 1128, 705.84], [880, 1154, 726.44], [890, 1178, 743.6], [900, 1198, 761.84],
    [910, 1214, 774.56], [920, 1224, 777.36], [930, 1222, 763.84], [940, 1214, 693.44],
    [950, 1204, 602.24], [960, 1186, 525.56], [970, 1162, 429.32], [980, 1128, 359.656],
    [990, 1080, 283.22], [1000, 1024, 206.784],
], dtype=np.float64)

# Hale & Querry (1973): wavelength [nm], imaginary refractive index k of water at 25 C.
_WATER_K_TABLE = np.array([
    [400, 1.86e-9], [425, 1.30e-9], [450, 1.02e-9], [475, 9.35e-10], [500, 1.00e-9], [525, 1.32e-9],
    [550, 1.96e-9], [575, 3.60e-9], [600, 1.09e-8], [625, 1.39e-8], [650, 1.64e-8], [675, 2.23e-8],
    [700, 3.35e-8], [725, 9.15e-8], [750, 1.56e-7], [775, 1.48e-7], [800, 1.25e-7], [825, 1.82e-7],
    [850, 2.93e-7], [875, 3.91e-7], [900, 4.86e-7], [925, 1.06e-6], [950, 2.93e-6], [975, 3.48e-6],
    [1000, 2.89e-6],
], dtype=np.float64)

# CIE 1931 2-degree colour matching functions x, y, z at 10 nm, 380-780 nm (CIE 15:2004).
_CMF_TABLE = np.array([
    [380, 0.001368, 0.000039, 0.006450], [390, 0.004243, 0.000120, 0.020050],
    [400, 0.014310, 0.000396, 0.067850], [410, 0.043510, 0.001210, 0.207400],
    [420, 0.134380, 0.004000, 0.645600], [430, 0.283900, 0.011600, 1.385600],
    [440, 0.348280, 0.023000, 1.747060], [450, 0.336200, 0.038000, 1.772110],
    [460, 0.290800, 0.060000, 1.669200], [470, 0.195360, 0.090980, 1.287640],
    [480, 0.095640, 0.139020, 0.812950], [490, 0.032010, 0.208020, 0.465180],
    [500, 0.004900, 0.323000, 0.272000], [510, 0.009300, 0.503000, 0.158200],
    [520, 0.063270, 0.710000, 0.078250], [530, 0.165500, 0.862000, 0.042160],
    [540, 0.290400, 0.954000, 0.020300], [550, 0.433450, 0.994950, 0.008750],
    [560, 0.594500, 0.995000, 0.003900], [570, 0.762100, 0.952000, 0.002100],
    [580, 0.916300, 0.870000, 0.001650], [590, 1.026300, 0.757000, 0.001100],
    [600, 1.062200, 0.631000, 0.000800], [610, 1.002600, 0.503000, 0.000340],
    [620, 0.854450, 0.381000, 0.000190], [630, 0.642400, 0.265000, 0.000050],
    [640, 0.447900, 0.175000, 0.000020], [650, 0.283500, 0.107000, 0.0],
    [660, 0.164900, 0.061000, 0.0], [670, 0.087400, 0.032000, 0.0],
    [680, 0.046770, 0.017000, 0.0], [690, 0.022700, 0.008210, 0.0],
    [700, 0.011359, 0.004102, 0.0], [710, 0.005790, 0.002091, 0.0],
    [720, 0.002899, 0.001047, 0.0], [730, 0.001440, 0.000520, 0.0],
    [740, 0.000690, 0.000249, 0.0], [750, 0.000332, 0.000120, 0.0],
    [760, 0.000166, 0.000060, 0.0], [770, 0.000083, 0.000030, 0.0],
    [780, 0.000042, 0.000015, 0.0],
], dtype=np.float64)

# CIE standard illuminant D65, relative SPD (100 at 560 nm) at 10 nm, 380-780 nm (CIE 15:2004).
_D65_TABLE = np.stack([np.arange(380.0, 781.0, 10.0), np.array([
    49.9755, 54.6482, 82.7549, 91.4860, 93.4318, 86.6823, 104.865, 117.008, 117.812, 114.861,
    115.923, 108.811, 109.354, 107.802, 104.790, 107.689, 104.405, 104.046, 100.000, 96.3342,
    95.7880, 88.6856, 90.0062, 89.5991, 87.6987, 83.2886, 83.6992, 80.0268, 80.2146, 82.2778,
    78.2842, 69.7213, 71.6091, 74.3490, 61.6040, 69.8856, 75.0870, 63.5927, 46.4182, 66.8054,
    63.3828])], axis=1)

# Generic front-side-illuminated monochrome silicon CMOS quantum efficiency (see module docstring).
_SI_QE_TABLE = np.array([
    [400, 0.38], [450, 0.52], [500, 0.60], [550, 0.64], [600, 0.64], [650, 0.60], [700, 0.54],
    [750, 0.47], [800, 0.40], [850, 0.32], [900, 0.23], [950, 0.14], [1000, 0.06],
], dtype=np.float64)

# Typical full widths at half maximum of NIR illumination LEDs (datasheet-typical values).
_LED_FWHM_NM = {850: 35.0, 940: 45.0}

_TABLES = {"hb": _HB_TABLE, "water_k": _WATER_K_TABLE, "cmf": _CMF_TABLE, "d65": _D65_TABLE,
           "si_qe": _SI_QE_TABLE}
for _t in _TABLES.values():
    _t.setflags(write=False)

_TABLE_CACHE: dict[tuple[str, torch.dtype, str], torch.Tensor] = {}


def _table(name: str, like: torch.Tensor) -> torch.Tensor:
    key = (name, like.dtype, str(like.device))
    t = _TABLE_CACHE.get(key)
    if t is None:
        t = torch.tensor(np.array(_TABLES[name]), dtype=like.dtype, device=like.device)
        _TABLE_CACHE[key] = t
    return t


def data_fingerprint() -> str:
    """SHA-256 hex digest of every tabulated array in this module (for cache keys).

    Returns:
        64 hexadecimal characters; changes whenever any table value changes.

    Example:
        >>> from nirvis.reflectance.spectra import data_fingerprint
        >>> len(data_fingerprint())
        64
    """
    h = hashlib.sha256()
    for name in sorted(_TABLES):
        h.update(name.encode())
        h.update(np.ascontiguousarray(_TABLES[name]).tobytes())
    h.update(repr(sorted(_LED_FWHM_NM.items())).encode())
    return h.hexdigest()


# ------------------------------------------------------------------------------------- utilities


def wavelength_grid(start: float = 400.0, stop: float = 1000.0, step: float = 5.0,
                    dtype: torch.dtype = torch.float32, device: Any = None) -> torch.Tensor:
    """Evenly spaced wavelengths ``[L]`` in nm from ``start`` to ``stop`` inclusive.

    Args:
        start, stop: first and last wavelength in nm (``start < stop``).
        step: spacing in nm (> 0).
        dtype, device: of the returned tensor.

    Returns:
        Tensor ``[L]`` with L = floor((stop - start) / step) + 1.

    Example:
        >>> from nirvis.reflectance.spectra import wavelength_grid
        >>> wl = wavelength_grid(400, 1000, 10)
        >>> wl.shape, float(wl[0]), float(wl[-1])
        (torch.Size([61]), 400.0, 1000.0)
    """
    if not (step > 0):
        raise ValueError(f"step: must be > 0, got {step}")
    if not (stop > start):
        raise ValueError(f"stop: must be greater than start ({start}), got {stop}")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    return torch.arange(n, dtype=torch.float64, device=device).mul(step).add(start).to(dtype)


def interp1d(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor, left: float | None = None,
             right: float | None = None) -> torch.Tensor:
    """Piecewise-linear interpolation of ``fp`` (sampled at increasing ``xp``) at ``x``.

    Args:
        x: ``[...]`` query points.
        xp: ``[N]`` strictly increasing sample positions, N >= 2.
        fp: ``[N]`` or ``[N, C]`` sample values (same dtype/device as ``xp``).
        left, right: values for x < xp[0] / x > xp[-1]; default: the end samples (clamp).

    Returns:
        ``[...]`` (or ``[..., C]``) interpolated values; differentiable w.r.t. ``fp`` and ``x``.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import interp1d
        >>> interp1d(torch.tensor([1.5, 5.0]), torch.tensor([1.0, 2.0]), torch.tensor([10.0, 20.0]))
        tensor([15., 20.])
    """
    xp = xp.contiguous()
    xc = x.clamp(xp[0], xp[-1])
    idx = torch.searchsorted(xp, xc.detach().contiguous(), right=True).clamp(1, xp.numel() - 1)
    x0, x1 = xp[idx - 1], xp[idx]
    w = (xc - x0) / (x1 - x0)
    if fp.ndim == 2:
        w = w.unsqueeze(-1)
    out = fp[idx - 1] * (1 - w) + fp[idx] * w
    if left is not None:
        mask = (x < xp[0]).unsqueeze(-1) if fp.ndim == 2 else (x < xp[0])
        out = torch.where(mask, torch.full_like(out, left), out)
    if right is not None:
        mask = (x > xp[-1]).unsqueeze(-1) if fp.ndim == 2 else (x > xp[-1])
        out = torch.where(mask, torch.full_like(out, right), out)
    return out


# ---------------------------------------------------------------------------------- chromophores

_EU_A, _EU_P = 6.6e11, 3.33      # Jacques: eumelanin mu_a = 6.6e11 * lambda^-3.33 [cm^-1]
_PH_A, _PH_P = 2.9e15, 4.75      # Jacques: pheomelanin mu_a = 2.9e15 * lambda^-4.75 [cm^-1]
_MEL_REF_NM = 500.0


def eumelanin_mua_jacques(wavelengths: Any) -> torch.Tensor:
    """Eumelanin (melanosome interior) absorption coefficient, Jacques' power law.

    mu_a = 6.6e11 * lambda^-3.33 cm^-1, lambda in nm (Jacques 1998/2013).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L]`` absorption coefficient in cm^-1 (about 679 at 500 nm, 116 at 850 nm).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import eumelanin_mua_jacques
        >>> round(float(eumelanin_mua_jacques(torch.tensor([500.0]))))
        679
    """
    wl = check_wavelengths(wavelengths)
    return _EU_A * wl.double().pow(-_EU_P).to(wl.dtype)


def pheomelanin_mua_jacques(wavelengths: Any) -> torch.Tensor:
    """Pheomelanin absorption coefficient, Jacques' power law 2.9e15 * lambda^-4.75 cm^-1.

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L]`` absorption coefficient in cm^-1 (about 439 at 500 nm).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import pheomelanin_mua_jacques
        >>> round(float(pheomelanin_mua_jacques(torch.tensor([500.0]))), 0)
        439.0
    """
    wl = check_wavelengths(wavelengths)
    return _PH_A * wl.double().pow(-_PH_P).to(wl.dtype)


def _melanin_exp(wl: torch.Tensor, a: float, p: float) -> torch.Tensor:
    ref = a * _MEL_REF_NM ** (-p)
    return ref * torch.exp(-(p / _MEL_REF_NM) * (wl - _MEL_REF_NM))


def eumelanin_mua(wavelengths: Any) -> torch.Tensor:
    """Eumelanin absorption coefficient used by the skin model (in vivo exponential form).

    mu_a(lambda) = mu_J(500) * exp(-(3.33 / 500 nm) * (lambda - 500 nm)), i.e. the exponential
    in-vivo form of Zonios et al. (2008) with value and log-slope equal to Jacques' power law at
    500 nm. It agrees with the power law to within 10 % over 400-560 nm and falls faster in the
    NIR (0.57x the power law at 850 nm), as in-vivo spectra require: with the bare power law the
    model cannot fit the darkest NIST subject's 850-940 nm reflectance (residual 0.04 vs 0.01).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L]`` absorption coefficient of the melanosome interior in cm^-1.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import eumelanin_mua
        >>> mu = eumelanin_mua(torch.tensor([500.0, 850.0]))
        >>> [round(float(v)) for v in mu]
        [679, 66]
    """
    wl = check_wavelengths(wavelengths)
    return _melanin_exp(wl, _EU_A, _EU_P)


def pheomelanin_mua(wavelengths: Any) -> torch.Tensor:
    """Pheomelanin absorption coefficient used by the skin model (in vivo exponential form).

    mu_a(lambda) = mu_J(500) * exp(-(4.75 / 500 nm) * (lambda - 500 nm)); see ``eumelanin_mua``.

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L]`` absorption coefficient in cm^-1.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import pheomelanin_mua
        >>> round(float(pheomelanin_mua(torch.tensor([500.0]))))
        439
    """
    wl = check_wavelengths(wavelengths)
    return _melanin_exp(wl, _PH_A, _PH_P)


def hemoglobin_extinction(wavelengths: Any) -> torch.Tensor:
    """Molar extinction coefficients of oxy- and deoxy-haemoglobin (Prahl 1999).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L, 2]`` (HbO2, Hb) in cm^-1 / (mol/L). Near-isosbestic around 797-800 nm; at 850 nm
        (1058, 691) and at 940 nm (1214, 693).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import hemoglobin_extinction
        >>> hemoglobin_extinction(torch.tensor([850.0])).tolist()
        [[1058.0, 691.3200073242188]]
    """
    wl = check_wavelengths(wavelengths)
    t = _table("hb", wl)
    return interp1d(wl, t[:, 0], t[:, 1:])


def blood_mua(wavelengths: Any, oxygen_saturation: Any = 0.75,
              hemoglobin_g_per_l: float = 150.0) -> torch.Tensor:
    """Absorption coefficient of whole blood.

    mu_a = 2.303 * (S * e_HbO2 + (1 - S) * e_Hb) * c / 64500 (Prahl's conversion, c in g/L).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].
        oxygen_saturation: ``[...]`` fraction S in [0, 1] (tensor or float; broadcast).
        hemoglobin_g_per_l: haemoglobin concentration of whole blood, default 150 g/L.

    Returns:
        ``[..., L]`` absorption coefficient in cm^-1 (about 5.7 at 850 nm for S = 1).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import blood_mua
        >>> round(float(blood_mua(torch.tensor([850.0]), oxygen_saturation=1.0)), 2)
        5.67
    """
    wl = check_wavelengths(wavelengths)
    s = as_float_tensor(oxygen_saturation, "oxygen_saturation", like=wl)
    if not bool(((s >= 0) & (s <= 1)).all()):
        raise ValueError("oxygen_saturation: values must lie in [0, 1]")
    if not hemoglobin_g_per_l > 0:
        raise ValueError(f"hemoglobin_g_per_l: must be > 0, got {hemoglobin_g_per_l}")
    eps = hemoglobin_extinction(wl)
    s = s.unsqueeze(-1)
    e = s * eps[:, 0] + (1 - s) * eps[:, 1]
    return 2.303 * e * (hemoglobin_g_per_l / HB_MOLAR_MASS_G_PER_MOL)


def baseline_mua(wavelengths: Any) -> torch.Tensor:
    """Bloodless skin baseline absorption, Jacques (1998): 0.244 + 85.3 exp(-(lambda-154)/66.2).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L]`` absorption coefficient in cm^-1 (2.3 at 400 nm, 0.25 in the NIR).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import baseline_mua
        >>> round(float(baseline_mua(torch.tensor([850.0]))), 3)
        0.246
    """
    wl = check_wavelengths(wavelengths)
    return 0.244 + 85.3 * torch.exp(-(wl - 154.0) / 66.2)


def water_mua(wavelengths: Any) -> torch.Tensor:
    """Absorption coefficient of pure water, 4 pi k / lambda with k from Hale & Querry (1973).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L]`` absorption coefficient in cm^-1 (0.043 at 850 nm, 0.39 at 950 nm).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import water_mua
        >>> [round(float(v), 3) for v in water_mua(torch.tensor([850.0, 950.0]))]
        [0.043, 0.388]
    """
    wl = check_wavelengths(wavelengths)
    t = _table("water_k", wl)
    k = interp1d(wl, t[:, 0], t[:, 1])
    return 4.0 * np.pi * k / (wl * 1e-7)


def reduced_scattering(wavelengths: Any, a: float = 46.0, b: float = 1.421) -> torch.Tensor:
    """Reduced scattering coefficient mu_s' = a (lambda / 500 nm)^-b (Jacques 2013).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].
        a: mu_s' at 500 nm in cm^-1 (skin average 46.0 in Jacques 2013).
        b: scattering power (skin average 1.421).

    Returns:
        ``[L]`` reduced scattering coefficient in cm^-1.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import reduced_scattering
        >>> round(float(reduced_scattering(torch.tensor([850.0]))), 1)
        21.6
    """
    wl = check_wavelengths(wavelengths)
    if not (a > 0 and b >= 0):
        raise ValueError(f"a, b: expected a > 0 and b >= 0, got a={a}, b={b}")
    return a * (wl / 500.0).pow(-b)


def sclera_reduced_scattering(wavelengths: Any) -> torch.Tensor:
    """Reduced scattering of human sclera, 2.411e5 * lambda^-1.325 cm^-1 (Bashkatov et al. 2010).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L]`` reduced scattering coefficient in cm^-1 (about 35.5 at 780 nm).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import sclera_reduced_scattering
        >>> round(float(sclera_reduced_scattering(torch.tensor([780.0]))), 1)
        35.5
    """
    wl = check_wavelengths(wavelengths)
    return 2.411e5 * wl.double().pow(-1.325).to(wl.dtype)


# ----------------------------------------------------------------------------------- colorimetry


def cie_1931_cmf(wavelengths: Any) -> torch.Tensor:
    """CIE 1931 2-degree colour matching functions (x-bar, y-bar, z-bar), CIE 15:2004.

    Args:
        wavelengths: ``[L]`` wavelengths in nm (any range; zero outside 380-780 nm).

    Returns:
        ``[L, 3]`` dimensionless, y-bar peaks at 1.0 near 555 nm.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import cie_1931_cmf
        >>> cie_1931_cmf(torch.tensor([550.0, 900.0], dtype=torch.float64)).tolist()
        [[0.43345, 0.99495, 0.00875], [0.0, 0.0, 0.0]]
    """
    wl = check_wavelengths(wavelengths, lo=0.0, hi=1e5)
    t = _table("cmf", wl)
    return interp1d(wl, t[:, 0], t[:, 1:], left=0.0, right=0.0)


def d65_spd(wavelengths: Any) -> torch.Tensor:
    """CIE standard illuminant D65 relative spectral power (100 at 560 nm), CIE 15:2004.

    Args:
        wavelengths: ``[L]`` wavelengths in nm (any range; zero outside 380-780 nm).

    Returns:
        ``[L]`` relative spectral power.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import d65_spd
        >>> float(d65_spd(torch.tensor([560.0])))
        100.0
    """
    wl = check_wavelengths(wavelengths, lo=0.0, hi=1e5)
    t = _table("d65", wl)
    return interp1d(wl, t[:, 0], t[:, 1], left=0.0, right=0.0)


# ---------------------------------------------------------------------------------- NIR hardware


def silicon_qe(wavelengths: Any) -> torch.Tensor:
    """Generic silicon CMOS quantum efficiency (front-side illuminated, monochrome).

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000].

    Returns:
        ``[L]`` quantum efficiency in [0, 1] (0.32 at 850 nm, about 0.16 at 940 nm).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import silicon_qe
        >>> [round(float(v), 2) for v in silicon_qe(torch.tensor([850.0, 940.0]))]
        [0.32, 0.16]
    """
    wl = check_wavelengths(wavelengths)
    t = _table("si_qe", wl)
    return interp1d(wl, t[:, 0], t[:, 1])


def led_fwhm_nm(led_nm: float) -> float:
    """Typical emission FWHM in nm of an NIR LED centred at ``led_nm``.

    Args:
        led_nm: LED peak wavelength in nm.

    Returns:
        35.0 for 850 nm LEDs, 45.0 for 940 nm LEDs; otherwise 35.0 below 900 nm and 45.0 above.

    Example:
        >>> from nirvis.reflectance.spectra import led_fwhm_nm
        >>> led_fwhm_nm(850), led_fwhm_nm(940)
        (35.0, 45.0)
    """
    v = float(led_nm)
    if v in _LED_FWHM_NM:
        return _LED_FWHM_NM[int(v)]
    return 35.0 if v < 900.0 else 45.0


def led_emission(wavelengths: Any, center_nm: float = 850.0, fwhm_nm: float | None = None) -> torch.Tensor:
    """Gaussian LED emission spectrum, peak normalised to 1.

    Args:
        wavelengths: ``[L]`` wavelengths in nm (> 0).
        center_nm: peak wavelength in nm.
        fwhm_nm: full width at half maximum in nm; default ``led_fwhm_nm(center_nm)``.

    Returns:
        ``[L]`` relative emission in [0, 1].

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import led_emission
        >>> [round(float(v), 3) for v in led_emission(torch.tensor([850.0, 867.5]), 850.0, 35.0)]
        [1.0, 0.5]
    """
    wl = check_wavelengths(wavelengths, lo=1.0, hi=1e5)
    fwhm = led_fwhm_nm(center_nm) if fwhm_nm is None else float(fwhm_nm)
    if not fwhm > 0:
        raise ValueError(f"fwhm_nm: must be > 0, got {fwhm_nm}")
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return torch.exp(-0.5 * ((wl - float(center_nm)) / sigma) ** 2)


def longpass_filter(wavelengths: Any, cut_on_nm: float = 800.0, edge_nm: float = 8.0,
                    peak_transmission: float = 0.95) -> torch.Tensor:
    """Long-pass (visible-blocking) filter transmission with a logistic edge.

    T = peak / (1 + exp(-(lambda - cut_on) / edge)): 50 % of peak at ``cut_on_nm``.

    Args:
        wavelengths: ``[L]`` wavelengths in nm (> 0).
        cut_on_nm: 50 % point in nm (default 800 nm, suitable for 850 and 940 nm LEDs).
        edge_nm: logistic edge width in nm (10-90 % rise = 4.4 * edge_nm).
        peak_transmission: in-band transmission in (0, 1].

    Returns:
        ``[L]`` transmission in [0, peak_transmission].

    Example:
        >>> import torch
        >>> from nirvis.reflectance.spectra import longpass_filter
        >>> [round(float(v), 3) for v in longpass_filter(torch.tensor([700.0, 800.0, 900.0]))]
        [0.0, 0.475, 0.95]
    """
    wl = check_wavelengths(wavelengths, lo=1.0, hi=1e5)
    if not edge_nm > 0:
        raise ValueError(f"edge_nm: must be > 0, got {edge_nm}")
    if not 0 < peak_transmission <= 1:
        raise ValueError(f"peak_transmission: must lie in (0, 1], got {peak_transmission}")
    return peak_transmission * torch.sigmoid((wl - float(cut_on_nm)) / float(edge_nm))
