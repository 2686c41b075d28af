"""Illumination for the two spectra, and how to sample it.

VIS: an environment as 2nd-order spherical harmonics (RGB, 9 coefficients; diffuse irradiance by
Ramamoorthi & Hanrahan 2001) plus up to 3 directional lights with an angular radius (soft shadows
above ``occlusion.HARD_SHADOW_RAD``). Most samples (``environment_probability``) are lit by one
of the HDR environments of ``nirvis.render.environment``, rotated about the vertical: its SH
(the scene without its dominant light) and its dominant light (sun, window, lamp) as light 0,
optionally plus one synthetic key/fill light; the rest by a synthetic SH + 0-3 directional
lights ("sun", "window", "lamp") whose colours follow their colour temperatures
(``sample_vis_lighting``). ``environment.sample_environment`` draws that choice.
NIR: an active LED ring around the lens, modelled as a point light at the camera with
inverse-square falloff (850 or 940 nm; the spectral band lives in ``nirvis.reflectance``), plus an
optional ambient NIR share as a monochrome SH environment. Rule for environments: only
``outdoor`` (daylight) scenes hold ambient NIR, since sunlight does (ASTM G173-03 global tilt
spectral irradiance: about 0.6x its 550 nm value at 850 nm and about 0.3x at 940 nm, inside a water
absorption band), while LED and fluorescent room lighting emits almost none beyond 750 nm;
indoor and night scenes give no NIR ambient (daylight through windows is neglected). Its shape
is the scene's luminance SH (the dominant light folded in as an SH lobe), scaled by a drawn share
times that solar ratio.

Auto white balance: real cameras neutralise the scene illuminant. ``awb_gains`` gives the gains
that balance the irradiance a camera-facing surface receives, leaving a drawn residual share of
the cast (``awb_residual``; ``environment.awb_gains``); the VIS sensor's own ``wb_kelvin`` error
comes on top.

Convention: directions are unit vectors in the world frame (the head frame after the pose: +y up,
+z towards the camera); a directional light's ``direction`` points FROM the surface TO the light.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from nirvis.render import compiled
from nirvis.render.sensor import color_temperature_rgb

# Ramamoorthi & Hanrahan 2001, eq. 12-13: irradiance from 9 SH lighting coefficients
_C1, _C2, _C3, _C4, _C5 = 0.429043, 0.511664, 0.743125, 0.886227, 0.247708
# real SH basis constants, order [Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20, Y21, Y22]
_Y = (0.282095, 0.488603, 0.488603, 0.488603, 1.092548, 1.092548, 0.315392, 1.092548, 0.546274)


def sh_basis(d: torch.Tensor) -> torch.Tensor:
    """Real SH basis up to band 2 at unit directions d [..., 3] -> [..., 9]."""
    x, y, z = d.unbind(-1)
    return torch.stack([
        torch.full_like(x, _Y[0]), _Y[1] * y, _Y[2] * z, _Y[3] * x,
        _Y[4] * x * y, _Y[5] * y * z, _Y[6] * (3 * z * z - 1), _Y[7] * x * z, _Y[8] * (x * x - y * y)], dim=-1)


def sh_irradiance(normal: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Diffuse irradiance E(n) of an SH environment (Ramamoorthi & Hanrahan 2001).

    Args:
        normal: float [B, H, W, 3] unit normals (world frame).
        coeffs: float [B, 9, C] SH radiance coefficients, order [L00, L1-1, L10, L11, L2-2, L2-1,
            L20, L21, L22].

    Returns:
        float [B, H, W, C] irradiance; outgoing Lambertian radiance is albedo * E / pi.
    """
    x, y, z = (normal[..., i:i + 1] for i in range(3))
    L = [coeffs[:, k].view(coeffs.shape[0], 1, 1, -1) for k in range(9)]
    return (_C1 * L[8] * (x * x - y * y) + _C3 * L[6] * z * z + _C4 * L[0] - _C5 * L[6]
            + 2 * _C1 * (L[4] * x * y + L[7] * x * z + L[5] * y * z)
            + 2 * _C2 * (L[3] * x + L[1] * y + L[2] * z))


def ambient_irradiance(normal: torch.Tensor, coeffs: torch.Tensor, ao: torch.Tensor,
                       backend: str = "torch") -> torch.Tensor:
    """``sh_irradiance(normal, coeffs).clamp(min=0) * ao``: the occluded environment irradiance
    [B, H, W, C] at normals [B, H, W, 3] with occlusion ``ao`` [B, H, W, 1]; compiled on the
    ``cpu`` backend (``compiled.lights``: the same float32 operations, the same values)."""
    if compiled.use_compiled(backend, normal, coeffs, ao) and normal.dtype == torch.float32 \
            and coeffs.dtype == torch.float32 and ao.dtype == torch.float32 and normal.shape[1] == 1:
        from nirvis.render.compiled import lights as compiled_lights
        return compiled_lights.ambient_irradiance(normal, coeffs, ao, (_C1, _C2, _C3, _C4, _C5))
    return sh_irradiance(normal, coeffs).clamp(min=0) * ao


@dataclass(frozen=True)
class VisLighting:
    """VIS illumination for a batch.

    Attributes:
        sh: float [B, 9, 3] environment SH radiance (linear RGB).
        directions: float [B, L, 3] unit directions to the directional lights.
        colors: float [B, L, 3] irradiance at normal incidence (linear RGB), 0 for unused slots.
    """

    sh: torch.Tensor
    directions: torch.Tensor
    colors: torch.Tensor


@dataclass(frozen=True)
class NirLighting:
    """NIR illumination for a batch.

    Attributes:
        led_intensity: float [B] irradiance at 1 m from the LED ring (arbitrary linear units).
        led_offset_mm: float [B, 3] LED position relative to the camera centre (world axes).
        ambient_sh: float [B, 9, 1] ambient NIR environment (sunlight share), zeros indoors.
    """

    led_intensity: torch.Tensor
    led_offset_mm: torch.Tensor
    ambient_sh: torch.Tensor


@dataclass(frozen=True)
class LightingConfig:
    """Ranges the lighting of a sample is drawn from (all inclusive, uniform unless stated)."""

    ambient: tuple[float, float] = (0.15, 0.6)          # uniform SH environment level
    sky_lobe: tuple[float, float] = (0.1, 0.8)          # strength of a soft directional SH lobe
    n_directional: tuple[int, int] = (0, 3)
    directional_intensity: tuple[float, float] = (0.6, 2.5)
    color_temperature_k: tuple[float, float] = (2800.0, 7500.0)
    max_elevation_deg: float = 75.0
    max_azimuth_deg: float = 80.0
    nir_led_intensity: tuple[float, float] = (0.8, 1.2)
    nir_ambient_share: tuple[float, float] = (0.0, 0.4)
    nir_ambient_probability: float = 0.3                 # share of samples with sunlight NIR
    environment_probability: float = 0.85               # share of VIS samples lit by an HDR environment
    environments: tuple[str, ...] = ()                   # names to draw from (() = all)
    environment_intensity: tuple[float, float] = (0.7, 1.4)   # log-uniform, relative to a key light
    # Dominant light within this azimuth of the camera. 45, not 110: photographed faces are mostly lit
    # from the camera's side; with up to 110 deg (a key light behind the head) dlib's detector missed
    # 9-10 % of the VIS crops at |yaw| <= 30 deg, at 45 deg 2 % (README, realism section).
    environment_light_azimuth_deg: float = 45.0
    extra_light_probability: float = 0.25                # environment samples with one more key/fill light
    light_angular_radius_deg: tuple[float, float] = (0.3, 12.0)   # synthetic lights, log-uniform
    awb_residual: tuple[float, float] = (0.0, 0.2)       # share of the illuminant cast AWB leaves
    nir_outdoor_ambient_probability: float = 0.5         # outdoor environments with NIR ambient light

    def __post_init__(self) -> None:
        """Refuse ranges outside what the renderer models (before anything is rendered)."""
        ranges = {"ambient": (0.0, 10.0), "sky_lobe": (0.0, 10.0), "n_directional": (0, 3),
                  "directional_intensity": (0.0, 100.0), "color_temperature_k": (1000.0, 40000.0),
                  "nir_led_intensity": (0.0, 100.0), "nir_ambient_share": (0.0, 1.0),
                  "environment_intensity": (1e-3, 100.0), "light_angular_radius_deg": (1e-3, 90.0),
                  "awb_residual": (0.0, 1.0)}
        for name, (low, high) in ranges.items():
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and low <= lo <= hi <= high):
                raise ValueError(f"LightingConfig.{name}: expected low <= high within [{low}, {high}], "
                                 f"got [{lo}, {hi}]")
        scalars = {"max_elevation_deg": (0.0, 90.0), "max_azimuth_deg": (0.0, 180.0),
                   "environment_light_azimuth_deg": (0.0, 180.0), "nir_ambient_probability": (0.0, 1.0),
                   "environment_probability": (0.0, 1.0), "extra_light_probability": (0.0, 1.0),
                   "nir_outdoor_ambient_probability": (0.0, 1.0)}
        for name, (low, high) in scalars.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and low <= value <= high):
                raise ValueError(f"LightingConfig.{name}: expected a value in [{low}, {high}], got {value}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _uniform(gen: torch.Generator, lo: float, hi: float, n: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64).float()


def _direction(gen: torch.Generator, n: int, max_az: float, max_el: float, min_el: float = -20.0) -> torch.Tensor:
    az = torch.deg2rad(_uniform(gen, -max_az, max_az, n))
    el = torch.deg2rad(_uniform(gen, min_el, max_el, n))
    return torch.stack([torch.cos(el) * torch.sin(az), torch.sin(el), torch.cos(el) * torch.cos(az)], -1)


def sample_vis_lighting(cfg: LightingConfig, batch: int, gen: torch.Generator, max_lights: int = 3) -> VisLighting:
    """Draw VIS lighting for ``batch`` samples from ``cfg`` with generator ``gen`` (CPU)."""
    n_lights = torch.randint(cfg.n_directional[0], cfg.n_directional[1] + 1, (batch,), generator=gen)
    temps = _uniform(gen, *cfg.color_temperature_k, batch * max_lights).view(batch, max_lights)
    dirs = _direction(gen, batch * max_lights, cfg.max_azimuth_deg, cfg.max_elevation_deg).view(batch, max_lights, 3)
    inten = _uniform(gen, *cfg.directional_intensity, batch * max_lights).view(batch, max_lights, 1)
    used = (torch.arange(max_lights).view(1, -1) < n_lights.view(-1, 1)).float().unsqueeze(-1)
    colors = color_temperature_rgb(temps) * inten * used
    env_temp = _uniform(gen, *cfg.color_temperature_k, batch)
    tint = color_temperature_rgb(env_temp)                                      # [B, 3]
    ambient = _uniform(gen, *cfg.ambient, batch).view(batch, 1)
    sh = torch.zeros(batch, 9, 3)
    sh[:, 0] = tint * ambient / _Y[0] / math.pi * 1.0                   # uniform radiance -> E = ambient
    lobe_dir = _direction(gen, batch, 90.0, 80.0, min_el=10.0)           # mostly from above
    lobe = _uniform(gen, *cfg.sky_lobe, batch).view(batch, 1, 1)
    sh = sh + lobe * sh_basis(lobe_dir).unsqueeze(-1) * tint.unsqueeze(1) / math.pi
    return VisLighting(sh=sh, directions=dirs, colors=colors)


def sample_nir_lighting(cfg: LightingConfig, batch: int, gen: torch.Generator) -> NirLighting:
    """Draw NIR lighting (LED ring + optional sunlight share) for ``batch`` samples."""
    inten = _uniform(gen, *cfg.nir_led_intensity, batch)
    ring = torch.deg2rad(_uniform(gen, 0.0, 360.0, batch))
    radius = _uniform(gen, 0.0, 30.0, batch)                              # LED ring radius around the lens
    offset = torch.stack([radius * torch.cos(ring), radius * torch.sin(ring), torch.zeros(batch)], -1)
    sunny = (torch.rand(batch, generator=gen) < cfg.nir_ambient_probability).float()
    share = _uniform(gen, *cfg.nir_ambient_share, batch) * sunny
    sun_dir = _direction(gen, batch, 80.0, 75.0, min_el=15.0)
    sh = torch.zeros(batch, 9, 1)
    sh[:, 0, 0] = 0.3 * share / _Y[0] / math.pi
    sh = sh + (share.view(batch, 1) * sh_basis(sun_dir) / math.pi).unsqueeze(-1)
    return NirLighting(led_intensity=inten, led_offset_mm=offset, ambient_sh=sh)


def lighting_to_dict(light: VisLighting | NirLighting, index: int) -> dict[str, Any]:
    """JSON-ready record of sample ``index`` of a lighting batch."""
    return {k: getattr(light, k)[index].tolist() for k in light.__dataclass_fields__}

