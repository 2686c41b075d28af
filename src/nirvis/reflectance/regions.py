"""Face regions and the reflectance model each one uses to turn VIS albedo into NIR albedo.

Two kinds of region:

* Inversion regions (``skin``, ``lips``, ``brows``/``hair``/``beard``, ``iris``): a spectral model
  with a few bounded parameters; an RGB albedo is inverted to parameters (see ``invert``) and the
  NIR albedo is computed from the fitted spectrum. ``lips`` is the skin model with a lips prior:
  thinner epidermis (30 um), more blood (1-25 %), higher saturation (0.85); the mucosa of
  ``mouth_cavity`` and ``eye_cavity`` (the procedural head's mesh parts) uses the same prior.
* Ratio regions (``sclera``, ``teeth``, ``pupil``): materials whose VIS colour carries little
  spectral information; NIR = VIS luminance x (NIR / luminance of a representative spectrum).
  The pupil is spectrally flat (ratio 1: dark in both bands; the bright-pupil retro-reflection
  of coaxial NIR illumination is a rendering effect, not an albedo, and is not modelled).

The hair model reads a texel's colour as the colour of hair: texels under a brows/hair/beard mask
should be hair-coloured. A skin-coloured texel there is read as blond hair, which is brighter in
the NIR than skin; give sparse eyebrows soft masks (mask value ~ hair coverage) so that the skin
share of such texels is converted with the skin model.

Parameters are handled in unit coordinates t in [0, 1]^P (log-spaced where noted), which is what
the lookup table and the Gauss-Newton refinement work on.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from nirvis.reflectance import spectra
from nirvis.reflectance.sensors import luminance, nir_weights, vis_weights
from nirvis.reflectance.skin import DEFAULT_SKIN_CONSTANTS, SkinBasis, SkinOpticsConstants
from nirvis.reflectance.tissues import (HAIR_G, HAIR_SURFACE_MAX, _hair, _hair_sigma, _iris,
                                        sclera_reflectance_spectrum, teeth_reflectance_spectrum)

__all__ = ["ParamSpec", "InversionModel", "SkinPrior", "SKIN_PRIOR", "LIPS_PRIOR", "SkinRegionModel",
           "HairRegionModel", "IrisRegionModel", "RatioRule", "REGION_MODELS", "REGION_RULES",
           "SUPPORTED_REGIONS", "get_region"]


@dataclass(frozen=True)
class ParamSpec:
    """One bounded model parameter and its mapping to the unit interval.

    Attributes:
        name: parameter name.
        lo, hi: physical bounds (lo < hi; both > 0 when ``log``).
        log: map t -> value geometrically (lo * (hi/lo)^t) instead of linearly.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.regions import ParamSpec
        >>> s = ParamSpec("blood", 0.001, 0.1, log=True)
        >>> round(float(s.value(torch.tensor(0.5))), 4), round(float(s.unit(torch.tensor(0.01))), 3)
        (0.01, 0.5)
    """

    name: str
    lo: float
    hi: float
    log: bool = False

    def value(self, t: torch.Tensor) -> torch.Tensor:
        """Unit coordinate(s) ``[...]`` in [0, 1] -> physical value(s) ``[...]``."""
        if self.log:
            return self.lo * torch.exp(t * math.log(self.hi / self.lo))
        return self.lo + t * (self.hi - self.lo)

    def unit(self, v: torch.Tensor) -> torch.Tensor:
        """Physical value(s) ``[...]`` -> unit coordinate(s) in [0, 1] (clamped to the bounds)."""
        v = v.clamp(self.lo, self.hi)
        if self.log:
            return torch.log(v / self.lo) / math.log(self.hi / self.lo)
        return (v - self.lo) / (self.hi - self.lo)


class InversionModel:
    """Base class: a spectral reflectance model with bounded parameters.

    Subclasses define ``name``, ``specs`` (tuple of ParamSpec), ``lut_sizes`` (grid points per
    parameter for the lookup table), ``_reflectance(values [..., P], wl [L]) -> [..., L]`` and
    ``key()`` (a JSON-serialisable description of every constant, used to key caches).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.regions import get_region
        >>> skin = get_region("skin")
        >>> rgb = skin.vis_rgb(torch.full((2, 3), 0.5))
        >>> rgb.shape, skin.nir(torch.full((2, 3), 0.5), 850).shape
        (torch.Size([2, 3]), torch.Size([2]))
    """

    name: str = ""
    specs: tuple[ParamSpec, ...] = ()
    lut_sizes: tuple[int, ...] = ()

    def __init__(self) -> None:
        self._vis: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._nir: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def n_params(self) -> int:
        return len(self.specs)

    def values(self, t: torch.Tensor) -> torch.Tensor:
        """Unit coordinates ``[..., P]`` -> physical values ``[..., P]``."""
        return torch.stack([s.value(t[..., i]) for i, s in enumerate(self.specs)], dim=-1)

    def units(self, v: torch.Tensor) -> torch.Tensor:
        """Physical values ``[..., P]`` -> unit coordinates ``[..., P]`` (clamped to the bounds)."""
        return torch.stack([s.unit(v[..., i]) for i, s in enumerate(self.specs)], dim=-1)

    def reflectance(self, values: torch.Tensor, wavelengths: torch.Tensor) -> torch.Tensor:
        """Reflectance ``[..., L]`` for physical parameter values ``[..., P]``."""
        return self._reflectance(values, wavelengths)

    def _reflectance(self, values: torch.Tensor, wl: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def key(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """JSON-serialisable description of the model's constants (cache key material)."""
        raise NotImplementedError

    def _vis_grid(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = (like.dtype, str(like.device))
        if k not in self._vis:
            wl = torch.as_tensor(spectra.VIS_WAVELENGTHS_NM, dtype=like.dtype, device=like.device)
            self._vis[k] = (wl, vis_weights(wl))
        return self._vis[k]

    def _nir_grid(self, like: torch.Tensor, led_nm: float) -> tuple[torch.Tensor, torch.Tensor]:
        k = (like.dtype, str(like.device), float(led_nm))
        if k not in self._nir:
            wl = torch.as_tensor(spectra.NIR_WAVELENGTHS_NM, dtype=like.dtype, device=like.device)
            self._nir[k] = (wl, nir_weights(wl, led_nm))
        return self._nir[k]

    def vis_rgb(self, t: torch.Tensor) -> torch.Tensor:
        """Linear sRGB ``[..., 3]`` for unit coordinates ``t [..., P]``."""
        wl, w = self._vis_grid(t)
        return self._reflectance(self.values(t), wl) @ w

    def nir(self, t: torch.Tensor, led_nm: float) -> torch.Tensor:
        """NIR albedo ``[...]`` for unit coordinates ``t [..., P]``."""
        wl, w = self._nir_grid(t, led_nm)
        return self._reflectance(self.values(t), wl) @ w


@dataclass(frozen=True)
class SkinPrior:
    """Bounds of the inverted skin parameters and values of the fixed ones.

    Attributes:
        melanin, eumelanin_share, blood: (lo, hi) bounds of the inverted parameters.
        oxygen_saturation: fixed S_O2 (not identifiable from RGB).
        epidermis_thickness_um: fixed epidermis thickness.

    Example:
        >>> from nirvis.reflectance.regions import LIPS_PRIOR, SKIN_PRIOR
        >>> SKIN_PRIOR.blood, LIPS_PRIOR.epidermis_thickness_um
        ((0.001, 0.1), 30.0)
    """

    name: str
    melanin: tuple[float, float] = (0.001, 0.5)
    eumelanin_share: tuple[float, float] = (0.0, 1.0)
    blood: tuple[float, float] = (0.001, 0.1)
    oxygen_saturation: float = 0.75
    epidermis_thickness_um: float = 60.0


#: Facial skin: melanin 0.1-50 %, blood 0.1-10 %, S_O2 0.75, 60 um epidermis.
SKIN_PRIOR = SkinPrior("skin")
#: Lips (vermilion): thin epidermis, rich arterialised blood supply.
LIPS_PRIOR = SkinPrior("lips", melanin=(0.001, 0.5), blood=(0.01, 0.25), oxygen_saturation=0.85,
                       epidermis_thickness_um=30.0)


class SkinRegionModel(InversionModel):
    """The two-layer skin model inverted for (melanin, eumelanin share, blood) under a prior.

    Example:
        >>> from nirvis.reflectance.regions import SkinRegionModel, LIPS_PRIOR
        >>> [s.name for s in SkinRegionModel(LIPS_PRIOR).specs]
        ['melanin', 'eumelanin_share', 'blood']
    """

    lut_sizes = (20, 6, 14)

    def __init__(self, prior: SkinPrior = SKIN_PRIOR, constants: SkinOpticsConstants = DEFAULT_SKIN_CONSTANTS) -> None:
        super().__init__()
        self.prior = prior
        self.constants = constants
        self.name = prior.name
        self.specs = (ParamSpec("melanin", *prior.melanin, log=True),
                      ParamSpec("eumelanin_share", *prior.eumelanin_share),
                      ParamSpec("blood", *prior.blood, log=True))
        self._bases: dict[tuple, SkinBasis] = {}

    def _basis(self, wl: torch.Tensor) -> SkinBasis:
        k = (wl.numel(), float(wl[0]), float(wl[-1]), wl.dtype, str(wl.device))
        if k not in self._bases:
            self._bases[k] = SkinBasis(wl, self.constants)
        return self._bases[k]

    def _reflectance(self, values: torch.Tensor, wl: torch.Tensor) -> torch.Tensor:
        so2 = torch.full_like(values[..., 0], self.prior.oxygen_saturation)
        d = torch.full_like(values[..., 0], self.prior.epidermis_thickness_um)
        return self._basis(wl).reflectance(values[..., 0], values[..., 1], values[..., 2], so2, d)

    def key(self) -> dict[str, Any]:
        """Prior and skin constants (cache key material)."""
        return {"model": "skin-two-layer-km", "prior": dataclasses.asdict(self.prior),
                "constants": self.constants.as_dict()}


class HairRegionModel(InversionModel):
    """Hair assembly albedo (Chiang et al. 2016) inverted for (eumelanin, pheomelanin, surface).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.regions import HairRegionModel
        >>> hair = HairRegionModel()
        >>> t = hair.units(torch.tensor([[0.5, 0.05, 0.01]]))
        >>> bool(hair.nir(t, 850) > 5 * hair.vis_rgb(t)[:, 1])
        True
    """

    name = "hair"
    specs = (ParamSpec("eumelanin", 0.003, 5.0, log=True), ParamSpec("pheomelanin", 0.001, 3.0, log=True),
             ParamSpec("surface", 0.0, HAIR_SURFACE_MAX))
    lut_sizes = (24, 18, 7)

    def _reflectance(self, values: torch.Tensor, wl: torch.Tensor) -> torch.Tensor:
        return _hair(_hair_sigma(values[..., 0], values[..., 1], wl), values[..., 2])

    def key(self) -> dict[str, Any]:
        """Model constants (cache key material)."""
        return {"model": "hair-chiang2016-deon2011-surface", "g": HAIR_G,
                "specs": [dataclasses.asdict(s) for s in self.specs]}


class IrisRegionModel(InversionModel):
    """Iris stroma/epithelium model inverted for (melanin, eumelanin share, scattering).

    Example:
        >>> from nirvis.reflectance.regions import IrisRegionModel
        >>> [s.name for s in IrisRegionModel().specs]
        ['melanin', 'eumelanin_share', 'scattering']
    """

    name = "iris"
    specs = (ParamSpec("melanin", 0.1, 5000.0, log=True), ParamSpec("eumelanin_share", 0.0, 1.0),
             ParamSpec("scattering", 1.0, 3000.0, log=True))
    lut_sizes = (26, 6, 22)

    def _reflectance(self, values: torch.Tensor, wl: torch.Tensor) -> torch.Tensor:
        return _iris(values[..., 0], values[..., 1], values[..., 2], wl)

    def key(self) -> dict[str, Any]:
        """Model constants (cache key material)."""
        from nirvis.reflectance import tissues
        return {"model": "iris-km", "stroma_cm": tissues._IRIS_STROMA_CM, "epithelium_ks": tissues._IRIS_EPITHELIUM_KS,
                "base": tissues._IRIS_BASE_MUA, "rayleigh": tissues._IRIS_RAYLEIGH_FRACTION,
                "melanosome_scatter": tissues._IRIS_MELANOSOME_SCATTER,
                "specs": [dataclasses.asdict(s) for s in self.specs]}


class RatioRule:
    """NIR = VIS luminance x (NIR albedo / luminance) of a representative spectrum.

    Args:
        name: region name.
        spectrum: function ``wavelengths [L] -> reflectance [L]`` on 400-1000 nm.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.regions import RatioRule
        >>> from nirvis.reflectance.tissues import sclera_reflectance_spectrum
        >>> rule = RatioRule("sclera", sclera_reflectance_spectrum)
        >>> round(float(rule.apply(torch.tensor([0.7, 0.7, 0.7]), 850)), 3)
        0.6
    """

    def __init__(self, name: str, spectrum: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.name = name
        self.spectrum = spectrum
        self._ratio: dict[float, float] = {}

    def ratio(self, led_nm: float) -> float:
        """NIR albedo / VIS luminance of the representative spectrum for this LED."""
        led = float(led_nm)
        if led not in self._ratio:
            vis_wl = torch.as_tensor(spectra.VIS_WAVELENGTHS_NM, dtype=torch.float64)
            nir_wl = torch.as_tensor(spectra.NIR_WAVELENGTHS_NM, dtype=torch.float64)
            y = luminance(self.spectrum(vis_wl) @ vis_weights(vis_wl))
            n = self.spectrum(nir_wl) @ nir_weights(nir_wl, led)
            self._ratio[led] = float(n / y)
        return self._ratio[led]

    def apply(self, rgb: torch.Tensor, led_nm: float) -> torch.Tensor:
        """NIR albedo ``[...]`` of linear sRGB ``[..., 3]`` texels, clamped to [0, 1]."""
        return (luminance(rgb) * self.ratio(led_nm)).clamp(0.0, 1.0)


def _flat_spectrum(wavelengths: torch.Tensor) -> torch.Tensor:
    return torch.full_like(wavelengths, 0.05)


_SKIN = SkinRegionModel(SKIN_PRIOR)
_LIPS = SkinRegionModel(LIPS_PRIOR)
_HAIR = HairRegionModel()
_IRIS = IrisRegionModel()

#: Regions handled by inverting a spectral model.
REGION_MODELS: dict[str, InversionModel] = {"skin": _SKIN, "lips": _LIPS, "mouth_cavity": _LIPS,
                                            "eye_cavity": _LIPS, "brows": _HAIR, "hair": _HAIR, "beard": _HAIR,
                                            "iris": _IRIS}
#: Regions handled by a luminance-ratio rule.
REGION_RULES: dict[str, RatioRule] = {"sclera": RatioRule("sclera", sclera_reflectance_spectrum),
                                      "teeth": RatioRule("teeth", teeth_reflectance_spectrum),
                                      "pupil": RatioRule("pupil", _flat_spectrum)}
#: Every region name ``vis_to_nir_albedo`` accepts.
SUPPORTED_REGIONS = tuple(sorted(set(REGION_MODELS) | set(REGION_RULES)))


def get_region(name: str) -> InversionModel | RatioRule:
    """The model or rule used for region ``name``.

    Args:
        name: one of ``SUPPORTED_REGIONS``.

    Returns:
        An ``InversionModel`` (skin, lips, hair-like, iris) or a ``RatioRule`` (sclera, teeth).

    Example:
        >>> from nirvis.reflectance.regions import get_region
        >>> get_region("brows").name, round(get_region("sclera").ratio(850), 2)
        ('hair', 0.86)
    """
    if name in REGION_MODELS:
        return REGION_MODELS[name]
    if name in REGION_RULES:
        return REGION_RULES[name]
    raise ValueError(f"region: unknown region {name!r}; supported: {', '.join(SUPPORTED_REGIONS)}")
