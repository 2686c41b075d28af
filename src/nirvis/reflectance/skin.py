"""Two-layer biophysical skin model: an epidermis with melanin over a dermis with blood.

Model (all coefficients per cm):

* Epidermis (thickness d, default 60 um): mu_a = f_mel (b mu_eu + (1 - b) mu_pheo) + (1 - f_mel)
  mu_base, where f_mel is the melanosome volume fraction and b the eumelanin share; treated as a
  finite Kubelka-Munk layer (K = 2 mu_a, S = 0.75 mu_s').
* Dermis (semi-infinite): mu_a = f_blood mu_blood(S_O2) + (1 - f_blood)(mu_base + w mu_water), an
  optically thick Kubelka-Munk medium. Both layers share the reduced scattering
  mu_s' = a (lambda / 500 nm)^-b.
* The layers are added with Kubelka's rule and the stratum-corneum/air boundary (n = 1.4) is
  applied with Saunderson's correction. The specular (surface) reflection is *not* included: the
  result is the diffuse albedo; see ``specular.py``.

Calibration: every chromophore spectrum is a published one (see ``spectra``); two model choices
were fitted to the NIST reference data set of human skin reflectance (C. Cooksey,
D. Allen, B. Tsai, J. Res. NIST 122:26, 2017; 100 subjects, inner forearm, 8 deg/hemispherical,
specular included, so 0.03 was subtracted): (1) the in-vivo exponential melanin spectrum anchored
to Jacques at 500 nm (instead of the bare power law, which leaves a 0.04 error at 850 nm for dark
skin), and (2) the scattering amplitude a = 58 cm^-1 with Jacques' skin power b = 1.421 (Jacques'
review average is a = 46 cm^-1). Fitting the lightest, the darkest and a medium subject at 451,
550, 649, 850 and 940 nm with free melanin/blood per subject leaves an RMS error of 0.011. The
fitted lightest and darkest subjects come out at (451 / 550 / 649 / 850 / 940 nm):

* lightest (melanin 0.004): model 0.34 / 0.38 / 0.62 / 0.60 / 0.53, NIST 0.33 / 0.39 / 0.63 / 0.61 / 0.52;
* darkest  (melanin 0.14):  model 0.05 / 0.09 / 0.23 / 0.45 / 0.45, NIST 0.04 / 0.08 / 0.23 / 0.46 / 0.45

(NIST values after subtracting 0.03 specular), consistent with the classic ranges: light skin
0.5-0.65 at 650-700 nm, dark skin ~0.05-0.2 at 500 nm depending on pigmentation, all tones
converging to 0.4-0.6 at 850-950 nm (R. R. Anderson & J. A. Parrish, J. Invest. Dermatol. 77, 13,
1981; G. Zonios et al., J. Invest. Dermatol. 117, 1452, 2001; E. Angelopoulou, "Understanding the
color of human skin", Proc. SPIE 4299, 2001). ``skin_tone_series`` extends the NIST range to a
darker Fitzpatrick VI-like tone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from nirvis.reflectance import spectra
from nirvis.reflectance._checks import as_float_tensor, check_range, check_wavelengths
from nirvis.reflectance.optics import km_layer, km_semi_infinite, km_stack, saunderson

__all__ = ["SkinOpticsConstants", "DEFAULT_SKIN_CONSTANTS", "SkinParams", "SkinBasis", "skin_reflectance_spectrum",
           "skin_tone_series", "TONE_LABELS"]


@dataclass(frozen=True)
class SkinOpticsConstants:
    """Constants of the two-layer skin model (hashable; used as part of LUT cache keys).

    Attributes:
        scattering_a_per_cm: reduced scattering at 500 nm (calibrated 58 cm^-1; Jacques' skin
            average is 46 cm^-1).
        scattering_b: scattering power (Jacques 2013 skin: 1.421).
        epidermis_scattering_scale: epidermal mu_s' relative to dermal (Jacques 1998: similar).
        km_absorption_factor: K = factor * mu_a (2 for diffuse light, Star et al. 1988).
        km_scattering_factor: S = factor * mu_s' (0.75, Star et al. 1988).
        dermis_water_fraction: water volume fraction of the dermis (Jacques 2013: ~0.65).
        hemoglobin_g_per_l: haemoglobin concentration of whole blood.
        refractive_index: of the stratum corneum (1.4), sets the boundary reflectances.

    Example:
        >>> from nirvis.reflectance.skin import SkinOpticsConstants
        >>> c = SkinOpticsConstants(scattering_a_per_cm=46.0)
        >>> SkinOpticsConstants().scattering_a_per_cm, c.as_dict()["scattering_b"]
        (58.3, 1.421)
    """

    scattering_a_per_cm: float = 58.3
    scattering_b: float = 1.421
    epidermis_scattering_scale: float = 1.0
    km_absorption_factor: float = 2.0
    km_scattering_factor: float = 0.75
    dermis_water_fraction: float = 0.65
    hemoglobin_g_per_l: float = 150.0
    refractive_index: float = 1.4

    def as_dict(self) -> dict[str, float]:
        """The constants as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)


DEFAULT_SKIN_CONSTANTS = SkinOpticsConstants()

_DEFAULTS = {"eumelanin_share": 0.8, "blood": 0.012, "oxygen_saturation": 0.75, "epidermis_thickness_um": 60.0}
# (lo, hi, lo_open) per field: values outside are physically meaningless and raise ValueError.
_RANGES = {
    "melanin": (0.0, 1.0, True),
    "eumelanin_share": (0.0, 1.0, False),
    "blood": (0.0, 1.0, True),
    "oxygen_saturation": (0.0, 1.0, False),
    "epidermis_thickness_um": (0.0, 1000.0, True),
}


@dataclass(frozen=True, eq=False)
class SkinParams:
    """Biophysical skin parameters, batched: every field is a tensor broadcast to one shape [...].

    Floats and arrays are accepted and converted; all fields share dtype/device with the first
    floating tensor given (float32 on the CPU otherwise).

    Attributes:
        melanin: epidermal melanosome volume fraction in (0, 1]; typical 0.01-0.05 light skin,
            0.1-0.2 dark skin (Jacques 1998: 1.3-6.3 % light, 11-16 % moderately pigmented,
            18-43 % darkly pigmented, for a melanin-bearing layer).
        eumelanin_share: eumelanin fraction of the melanin in [0, 1] (rest pheomelanin); default 0.8.
        blood: dermal blood volume fraction in (0, 1); typical 0.002-0.07, default 0.012.
        oxygen_saturation: haemoglobin oxygen saturation in [0, 1]; typical 0.6-0.99, default 0.75.
        epidermis_thickness_um: epidermis thickness in micrometres (0, 1000]; default 60.

    Example:
        >>> from nirvis.reflectance.skin import SkinParams
        >>> p = SkinParams(melanin=[0.02, 0.15], blood=0.02)
        >>> p.shape, p.dtype, float(p.oxygen_saturation[1])
        (torch.Size([2]), torch.float32, 0.75)
    """

    melanin: Any
    eumelanin_share: Any = field(default=_DEFAULTS["eumelanin_share"])
    blood: Any = field(default=_DEFAULTS["blood"])
    oxygen_saturation: Any = field(default=_DEFAULTS["oxygen_saturation"])
    epidermis_thickness_um: Any = field(default=_DEFAULTS["epidermis_thickness_um"])

    def __post_init__(self) -> None:
        names = [f.name for f in dataclasses.fields(self)]
        ref: Optional[torch.Tensor] = None
        for n in names:
            v = getattr(self, n)
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                ref = v
                break
        values = []
        for n in names:
            t = as_float_tensor(getattr(self, n), n, like=ref)
            if ref is not None:
                t = t.to(dtype=ref.dtype, device=ref.device)
            values.append(t)
        try:
            values = list(torch.broadcast_tensors(*values))
        except RuntimeError:
            shapes = {n: list(v.shape) for n, v in zip(names, values)}
            raise ValueError(f"SkinParams: field shapes do not broadcast: {shapes}") from None
        for n, v in zip(names, values):
            lo, hi, lo_open = _RANGES[n]
            check_range(v, n, lo, hi, lo_open=lo_open)
            object.__setattr__(self, n, v)

    @property
    def shape(self) -> torch.Size:
        """Batch shape [...] shared by all fields."""
        return self.melanin.shape

    @property
    def dtype(self) -> torch.dtype:
        return self.melanin.dtype

    @property
    def device(self) -> torch.device:
        return self.melanin.device

    def to(self, dtype: Optional[torch.dtype] = None, device: Any = None) -> "SkinParams":
        """A copy with every field moved to ``dtype``/``device``."""
        return SkinParams(**{f.name: getattr(self, f.name).to(dtype=dtype or self.dtype, device=device or self.device)
                             for f in dataclasses.fields(self)})

    def replace(self, **changes: Any) -> "SkinParams":
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def __getitem__(self, index: Any) -> "SkinParams":
        return SkinParams(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})


class SkinBasis:
    """Chromophore and scattering spectra of the skin model sampled on one wavelength grid.

    Precomputing them once per grid lets the model be evaluated for millions of parameter sets
    with elementwise operations only.

    Args:
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000] (float tensor; dtype/device kept).
        constants: model constants.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.skin import SkinBasis
        >>> SkinBasis(torch.tensor([500.0, 850.0])).musp.shape
        torch.Size([2])
    """

    def __init__(self, wavelengths: Any, constants: SkinOpticsConstants = DEFAULT_SKIN_CONSTANTS) -> None:
        wl = check_wavelengths(wavelengths)
        self.wavelengths = wl
        self.constants = constants
        self.eumelanin = spectra.eumelanin_mua(wl)
        self.pheomelanin = spectra.pheomelanin_mua(wl)
        self.baseline = spectra.baseline_mua(wl)
        self.water = spectra.water_mua(wl)
        hb = spectra.hemoglobin_extinction(wl)
        conv = 2.303 * constants.hemoglobin_g_per_l / spectra.HB_MOLAR_MASS_G_PER_MOL
        self.blood_oxy = hb[:, 0] * conv
        self.blood_deoxy = hb[:, 1] * conv
        self.musp = spectra.reduced_scattering(wl, constants.scattering_a_per_cm, constants.scattering_b)
        self.bloodless_dermis = self.baseline + constants.dermis_water_fraction * self.water

    def to(self, dtype: torch.dtype, device: Any) -> "SkinBasis":
        """The same basis on another dtype/device."""
        if self.wavelengths.dtype == dtype and self.wavelengths.device == torch.device(device):
            return self
        return SkinBasis(self.wavelengths.to(dtype=dtype, device=device), self.constants)

    def reflectance(self, melanin: torch.Tensor, eumelanin_share: torch.Tensor, blood: torch.Tensor,
                    oxygen_saturation: torch.Tensor, epidermis_thickness_um: torch.Tensor) -> torch.Tensor:
        """Diffuse reflectance ``[..., L]`` for parameter tensors ``[...]`` (no validation)."""
        c = self.constants
        fm = melanin.unsqueeze(-1)
        be = eumelanin_share.unsqueeze(-1)
        fb = blood.unsqueeze(-1)
        so2 = oxygen_saturation.unsqueeze(-1)
        d_cm = epidermis_thickness_um.unsqueeze(-1) * 1e-4
        mel = self.pheomelanin + be * (self.eumelanin - self.pheomelanin)
        mua_epi = fm * mel + (1.0 - fm) * self.baseline
        s_derm = c.km_scattering_factor * self.musp
        r1, t1 = km_layer(c.km_absorption_factor * mua_epi, c.epidermis_scattering_scale * s_derm, d_cm)
        mua_blood = self.blood_deoxy + so2 * (self.blood_oxy - self.blood_deoxy)
        mua_derm = fb * mua_blood + (1.0 - fb) * self.bloodless_dermis
        r2 = km_semi_infinite(c.km_absorption_factor * mua_derm, s_derm)
        return saunderson(km_stack(r1, t1, r2), c.refractive_index)


_BASIS_CACHE: dict[tuple, SkinBasis] = {}


def _basis(wl: torch.Tensor, constants: SkinOpticsConstants) -> SkinBasis:
    key = (tuple(wl.detach().cpu().double().tolist()), wl.dtype, str(wl.device), constants)
    b = _BASIS_CACHE.get(key)
    if b is None:
        if len(_BASIS_CACHE) > 64:
            _BASIS_CACHE.clear()
        b = SkinBasis(wl, constants)
        _BASIS_CACHE[key] = b
    return b


def skin_reflectance_spectrum(params: SkinParams, wavelengths: Any,
                              constants: SkinOpticsConstants = DEFAULT_SKIN_CONSTANTS) -> torch.Tensor:
    """Diffuse reflectance spectrum of skin (two-layer model, specular excluded).

    Args:
        params: ``SkinParams`` with batch shape [...].
        wavelengths: ``[L]`` wavelengths in nm within [400, 1000]; converted to the params'
            dtype/device.
        constants: model constants (default: the calibrated ``DEFAULT_SKIN_CONSTANTS``).

    Returns:
        ``[..., L]`` reflectance in [0, 1], same dtype/device as ``params``; differentiable with
        respect to every parameter tensor.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.skin import SkinParams, skin_reflectance_spectrum
        >>> r = skin_reflectance_spectrum(SkinParams(melanin=[0.01, 0.15]), torch.tensor([500.0, 850.0]))
        >>> r.shape, bool(r[0, 0] > r[1, 0]), bool((r[:, 1] > 0.4).all())
        (torch.Size([2, 2]), True, True)
    """
    if not isinstance(params, SkinParams):
        raise ValueError(f"params: expected SkinParams, got {type(params).__name__}")
    if not isinstance(constants, SkinOpticsConstants):
        raise ValueError(f"constants: expected SkinOpticsConstants, got {type(constants).__name__}")
    wl = check_wavelengths(wavelengths).to(dtype=params.dtype, device=params.device)
    return _basis(wl, constants).reflectance(params.melanin, params.eumelanin_share, params.blood,
                                             params.oxygen_saturation, params.epidermis_thickness_um)


#: Labels of the 8 tones of ``skin_tone_series(8)`` (Fitzpatrick-like, light to dark).
TONE_LABELS = ("I", "I-II", "II", "III", "III-IV", "IV-V", "V", "VI")


def skin_tone_series(n: int = 8, melanin_range: tuple[float, float] = (0.004, 0.2), blood: float = 0.012,
                     oxygen_saturation: float = 0.75, dtype: torch.dtype = torch.float32,
                     device: Any = None) -> SkinParams:
    """A light-to-dark series of skin tones (Fitzpatrick I-VI-like) as one batched ``SkinParams``.

    Melanin is log-spaced over ``melanin_range``; the eumelanin share rises from 0.6 (light skin,
    relatively more pheomelanin) to 0.95 (dark skin). The default range spans the NIST reference
    population (lightest subject: melanin ~0.004, darkest: ~0.14) and extends it to a darker
    Fitzpatrick VI-like tone (VIS green albedo ~0.06).

    Args:
        n: number of tones (>= 2).
        melanin_range: (lightest, darkest) melanin volume fraction, 0 < lo < hi <= 1.
        blood, oxygen_saturation: shared dermal blood fraction and saturation.
        dtype, device: of the returned tensors.

    Returns:
        ``SkinParams`` with batch shape [n], light to dark.

    Example:
        >>> from nirvis.reflectance.skin import skin_tone_series
        >>> tones = skin_tone_series(8)
        >>> tones.shape, round(float(tones.melanin[0]), 3), round(float(tones.melanin[-1]), 3)
        (torch.Size([8]), 0.004, 0.2)
    """
    if int(n) < 2:
        raise ValueError(f"n: need at least 2 tones, got {n}")
    lo, hi = float(melanin_range[0]), float(melanin_range[1])
    if not (0.0 < lo < hi <= 1.0):
        raise ValueError(f"melanin_range: expected 0 < lo < hi <= 1, got {melanin_range}")
    u = torch.linspace(0.0, 1.0, int(n), dtype=torch.float64)
    melanin = torch.exp(torch.log(torch.tensor(lo, dtype=torch.float64)) * (1 - u)
                        + torch.log(torch.tensor(hi, dtype=torch.float64)) * u)
    share = 0.6 + 0.35 * u
    return SkinParams(melanin=melanin.to(dtype=dtype, device=device),
                      eumelanin_share=share.to(dtype=dtype, device=device),
                      blood=torch.full((int(n),), blood, dtype=dtype, device=device),
                      oxygen_saturation=torch.full((int(n),), oxygen_saturation, dtype=dtype, device=device))
