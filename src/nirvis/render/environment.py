"""HDR lighting environments: the derived assets, their rotation, and panorama lookups.

``assets/environments/environments.npz`` is derived by ``tools/build_environments.py`` from the
eight CC0 Poly Haven HDRIs that ship in the ``bpy==5.0.1`` wheel (city, courtyard, forest,
interior, night, studio, sunrise, sunset; provenance in ``assets/LICENSES.md``). Per environment:
9 RGB SH radiance coefficients of the scene without its dominant light, the dominant light (sun,
window or lamp) as a direction, RGB irradiance and solid angle (a shadow-casting directional light
with a penumbra), a 128 x 256 float16 equirectangular panorama (light included), and a category
(``outdoor``, ``indoor``, ``night``). Radiance is normalised per scene (mean luminance 1/pi, i.e. a
sphere-average irradiance of 1): auto-exposure sets the absolute level anyway.

Frames: an environment is placed in the world (head frame after the pose, +y up, +z towards the
camera) rotated about +y by ``rotation_deg``: ``world = rotation_y(rotation_deg) @ env``. In the
environment frame the panorama's centre column looks along -z and columns grow towards +x; row 0
is the zenith (``direction_to_uv``).

Everything is per sample (no batch-wide statistics), so a pair never depends on its batch.
``sample_environment`` draws a sample's environment (or synthetic lighting) and builds its VIS/NIR
lighting records; ``scene_white`` / ``awb_gains`` give the camera's auto white balance.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nirvis.colour import luminance_rec709
from nirvis.render.lights import LightingConfig, sh_basis, sh_irradiance

ENVIRONMENT_FILE = "environments.npz"
CATEGORIES = ("outdoor", "indoor", "night")
#: Gaussian sigma (panorama texels, 1.4 degrees each) of the blurred panorama level (out-of-focus backgrounds).
BLUR_SIGMA_TEXELS = 2.0


def environment_dir() -> Path:
    """$NIRVIS_ASSETS/environments when that folder exists, else the package data
    ``nirvis/assets/environments``."""
    override = os.environ.get("NIRVIS_ASSETS")
    if override and (Path(override) / "environments").is_dir():
        return Path(override) / "environments"
    return Path(str(importlib.resources.files("nirvis") / "assets" / "environments"))


@dataclass(frozen=True, eq=False)
class EnvironmentSet:
    """The derived lighting environments (E of them), in the environment frame.

    Attributes:
        names: E names; categories: E of ``CATEGORIES``.
        sh: float64 [E, 9, 3] SH radiance coefficients without the dominant light
            (``nirvis.render.lights.sh_irradiance`` order).
        light_direction: float64 [E, 3] unit direction towards the dominant light.
        light_rgb: float64 [E, 3] its irradiance at normal incidence (linear RGB).
        light_solid_angle: float64 [E] its effective solid angle (sr).
        panorama: float32 [E, 2, 3, H, W] radiance, level 0 as stored, level 1 blurred by
            ``BLUR_SIGMA_TEXELS`` (wrapping in azimuth).
    """

    names: tuple[str, ...]
    categories: tuple[str, ...]
    sh: np.ndarray
    light_direction: np.ndarray
    light_rgb: np.ndarray
    light_solid_angle: np.ndarray
    panorama: torch.Tensor

    def index(self, name: str) -> int:
        if name not in self.names:
            raise ValueError(f"environment {name!r}: not one of {list(self.names)}")
        return self.names.index(name)


def _blur_panorama(pano: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [N, C, H, W] panoramas, circular in azimuth, clamped at the poles."""
    radius = int(math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=pano.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    n, c, h, w = pano.shape
    flat = pano.reshape(n * c, 1, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="circular"), k.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
    return flat.reshape(n, c, h, w)


@functools.lru_cache(maxsize=4)
def load_environments(path: str | None = None) -> EnvironmentSet:
    """The environments in ``path`` (default ``environment_dir() / ENVIRONMENT_FILE``), read once.

    Example:
        >>> envs = load_environments()
        >>> len(envs.names), envs.panorama.shape[1:3], envs.sh.shape[1:]
        (8, torch.Size([2, 3]), (9, 3))
    """
    file = Path(path) if path else environment_dir() / ENVIRONMENT_FILE
    try:
        z = np.load(file)
        names = tuple(str(n) for n in z["names"])
        cats = tuple(str(c) for c in z["categories"])
        sh, ld, lrgb, lsa, pano = (z[k] for k in ("sh", "light_direction", "light_rgb", "light_solid_angle",
                                                  "panorama"))
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{file}: not a readable environments asset ({e}); rebuild it with "
                         "tools/build_environments.py") from None
    count = len(names)
    if sh.shape != (count, 9, 3) or ld.shape != (count, 3) or lrgb.shape != (count, 3) or lsa.shape != (count,) or \
            pano.ndim != 4 or pano.shape[0] != count or pano.shape[3] != 3 or any(c not in CATEGORIES for c in cats):
        raise ValueError(f"{file}: fields sh/light_*/panorama/categories have inconsistent shapes or values")
    level0 = torch.from_numpy(pano.astype(np.float32)).permute(0, 3, 1, 2)
    levels = torch.stack([level0, _blur_panorama(level0, BLUR_SIGMA_TEXELS)], 1)
    return EnvironmentSet(names=names, categories=cats, sh=sh.astype(np.float64), light_direction=ld.astype(np.float64),
                          light_rgb=lrgb.astype(np.float64), light_solid_angle=lsa.astype(np.float64), panorama=levels)


def rotation_y(deg: float) -> np.ndarray:
    """float64 [3, 3] rotation by ``deg`` about +y (right-handed: +z turns towards +x)."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _sh_basis_np(d: np.ndarray) -> np.ndarray:
    return sh_basis(torch.from_numpy(d)).numpy()


@functools.lru_cache(maxsize=1)
def _fit_directions() -> tuple[np.ndarray, np.ndarray]:
    """32 spiral directions [32, 3] and the pseudo-inverse [9, 32] of their SH basis."""
    k = np.arange(32) + 0.5
    z = 1 - 2 * k / 32
    r = np.sqrt(1 - z * z)
    phi = k * math.pi * (3 - math.sqrt(5))
    d = np.stack([r * np.cos(phi), r * np.sin(phi), z], -1)
    return d, np.linalg.pinv(_sh_basis_np(d))


def rotate_sh(coeffs: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """SH coefficients [9, C] of a radiance function after rotating it by ``rot`` [3, 3]
    (f'(w) = f(rot^T w)); exact because each SH band is closed under rotation.

    Example:
        >>> c = np.zeros((9, 1)); c[2, 0] = 1.0                  # lobe along +z
        >>> (np.round(rotate_sh(c, rotation_y(90.0))[[1, 2, 3], 0], 6) + 0.0).tolist()   # now along +x
        [0.0, 0.0, 1.0]
    """
    d, pinv = _fit_directions()
    return pinv @ (_sh_basis_np(d @ rot) @ coeffs)


def direction_sh(direction: np.ndarray, irradiance: np.ndarray) -> np.ndarray:
    """SH coefficients [9, C] of a distant point light (a delta of integral ``irradiance`` [C]
    at unit ``direction`` [3]): L_k = E * Y_k(direction)."""
    return _sh_basis_np(np.asarray(direction, np.float64)[None])[0][:, None] * np.asarray(irradiance)[None]


def direction_to_uv(d: torch.Tensor) -> torch.Tensor:
    """Equirectangular coordinates [..., 2] (u, v in [0, 1], v = 0 at the zenith) of unit
    environment-frame directions [..., 3] (the inverse of ``tools/build_environments.pixel_directions``).

    Example:
        >>> uv = direction_to_uv(torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.6, -0.8]]))
        >>> [[round(v, 4) for v in row] for row in uv.tolist()]
        [[0.5, 0.5], [0.75, 0.5], [0.5, 0.2952]]
    """
    u = torch.atan2(d[..., 0], -d[..., 2]) / (2 * math.pi) + 0.5
    v = 0.5 - torch.asin(d[..., 1].clamp(-1, 1)) / math.pi
    return torch.stack([u, v], -1)


def panorama_lookup(pano: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Bilinear radiance [B, N, C] of panoramas ``pano`` [B, C, H, W] in environment-frame unit
    directions ``d`` [B, N, 3] (wrapping in azimuth, clamped at the poles).

    Example:
        >>> pano = torch.arange(8.0).view(1, 1, 2, 4)            # 2 rows x 4 columns
        >>> panorama_lookup(pano, torch.tensor([[[0.0, 0.0, -1.0]]])).flatten().tolist()   # between 4 texels
        [3.5]
    """
    b, c, h, w = pano.shape
    uv = direction_to_uv(d)
    padded = torch.cat([pano[..., -1:], pano, pano[..., :1]], dim=-1)        # one wrapped column each side
    gx = (uv[..., 0] * w + 1.0) / (w + 2) * 2 - 1
    gy = uv[..., 1] * 2 - 1
    grid = torch.stack([gx, gy], -1).unsqueeze(1).to(pano.dtype)             # [B, 1, N, 2]
    out = F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[:, :, 0].permute(0, 2, 1)


def camera_directions(res: int, focal_px: torch.Tensor) -> torch.Tensor:
    """World-frame unit view directions [B, res * res, 3] through the pixel centres of each
    camera (``nirvis.render.camera.PerspectiveCamera``: optical axis -z, up +y, principal point
    at the image centre, focal lengths ``focal_px`` [B] in pixels), rows top to bottom.

    Example:
        >>> d = camera_directions(2, torch.tensor([1.0]))
        >>> [round(v, 4) for v in d[0, 0].tolist()]        # top-left pixel: left, up, forward
        [-0.4082, 0.4082, -0.8165]
    """
    c = torch.arange(res, dtype=torch.float32) + 0.5 - res / 2
    ys, xs = torch.meshgrid(-c, c, indexing="ij")
    f = focal_px.float().view(-1, 1, 1)
    d = torch.stack([xs.expand_as(f * xs), ys.expand_as(f * ys), -f.expand(-1, res, res)], -1)
    return F.normalize(d.reshape(len(focal_px), -1, 3), dim=-1)


# ------------------------------------------------------------------------------ sampling


#: Solar spectral irradiance at the NIR LED band relative to 550 nm (ASTM G173-03 global tilt, rounded).
SOLAR_NIR_RATIO = {850: 0.6, 940: 0.3}


def _log_uniform(rng: np.random.Generator, r: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(r[0]), math.log(r[1])))) if r[1] > r[0] else float(r[0])


Record = dict[str, Any]


def sample_environment(cfg: LightingConfig, rng: np.random.Generator, legacy_vis: Record, legacy_nir: Record,
                       led_nm: int) -> tuple[Record, Record, Record]:
    """Draw a sample's environment and build its VIS and NIR lighting records.

    Args:
        cfg: the ranges; rng: the sample's own numpy generator for these choices (a stream of
            its own, so the draws of ``sample_vis_lighting`` / ``sample_nir_lighting`` keep theirs).
        legacy_vis, legacy_nir: the sample's ``sample_vis_lighting`` / ``sample_nir_lighting``
            rows (``lighting_to_dict``), used as they are without an environment, and the first
            legacy light as the optional extra light.
        led_nm: NIR LED band (850 or 940) for the solar NIR ratio.

    Returns:
        (vis_lighting, nir_lighting, environment): ``vis_lighting`` keys ``sh`` [9][3],
        ``directions`` [3][3], ``colors`` [3][3], ``angular_radius_rad`` [3]; ``nir_lighting`` as
        ``legacy_nir``; ``environment`` {``name`` (None: synthetic lighting), ``category``,
        ``rotation_deg``, ``intensity``, ``nir_ambient_share``}.

    Example:
        >>> vis, nir, env = sample_environment(LightingConfig(environment_probability=1.0),
        ...     np.random.default_rng(0), {"sh": [[0.0] * 3] * 9, "directions": [[0.0, 0.0, 1.0]] * 3,
        ...     "colors": [[0.0] * 3] * 3}, {"ambient_sh": [[0.0]] * 9}, 850)
        >>> env["name"] is not None, len(vis["angular_radius_rad"])
        (True, 3)
    """
    radii = [math.radians(_log_uniform(rng, cfg.light_angular_radius_deg)) for _ in range(3)]
    use_env = rng.random() < cfg.environment_probability
    if not use_env:
        vis = {**legacy_vis, "angular_radius_rad": radii}
        return vis, dict(legacy_nir), {"name": None, "category": None, "rotation_deg": 0.0, "intensity": 1.0,
                                       "nir_ambient_share": None}
    envs = load_environments()
    names = cfg.environments or envs.names
    name = str(names[int(rng.integers(0, len(names)))])
    k = envs.index(name)
    d = envs.light_direction[k]
    # rotation putting the dominant light within +-environment_light_azimuth_deg of the camera (+z)
    light_az = math.degrees(math.atan2(d[0], d[2]))
    target = rng.uniform(-cfg.environment_light_azimuth_deg, cfg.environment_light_azimuth_deg)
    rotation = float((target - light_az + 180.0) % 360.0 - 180.0)
    intensity = _log_uniform(rng, cfg.environment_intensity)
    extra = rng.random() < cfg.extra_light_probability
    rot = rotation_y(rotation)
    sh = rotate_sh(envs.sh[k], rot) * intensity
    light_dir = rot @ d
    light_rgb = envs.light_rgb[k] * intensity
    radius0 = math.sqrt(envs.light_solid_angle[k] / math.pi)           # a disc of that solid angle
    dirs = [light_dir.tolist(), legacy_vis["directions"][0], [0.0, 0.0, 1.0]]
    cols = [light_rgb.tolist(), legacy_vis["colors"][0] if extra else [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    vis = {"sh": sh.tolist(), "directions": dirs, "colors": cols, "angular_radius_rad": [radius0] + radii[1:]}
    share = 0.0
    if envs.categories[k] == "outdoor" and rng.random() < cfg.nir_outdoor_ambient_probability:
        share = float(rng.uniform(*cfg.nir_ambient_share)) * SOLAR_NIR_RATIO[led_nm]
    nir_sh = share * (luminance_rec709(rotate_sh(envs.sh[k], rot))
                      + direction_sh(light_dir, luminance_rec709(envs.light_rgb[k])[None])[:, 0])
    nir = {**legacy_nir, "ambient_sh": nir_sh.reshape(9, 1).tolist()}
    return vis, nir, {"name": name, "category": envs.categories[k], "rotation_deg": rotation,
                      "intensity": intensity, "nir_ambient_share": share}


def scene_white(vis_lighting: dict[str, Any]) -> np.ndarray:
    """RGB irradiance [3] a surface facing the camera (+z) receives from a VIS lighting record
    (SH + unshadowed directional lights): what auto white balance sees as the illuminant."""
    sh = torch.tensor(vis_lighting["sh"], dtype=torch.float64).unsqueeze(0)
    e = sh_irradiance(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).view(1, 1, 1, 3), sh).view(3).numpy()
    for d, c in zip(vis_lighting["directions"], vis_lighting["colors"]):
        e = e + np.asarray(c) * max(0.0, float(d[2]))
    return np.clip(e, 1e-6, None)


def awb_gains(white: np.ndarray, residual: float) -> np.ndarray:
    """White-balance gains [3] (green 1) that neutralise illuminant ``white`` [3] but for a
    ``residual`` share of its cast (in log space: 0 = fully balanced, 1 = no balancing).

    Example:
        >>> awb_gains(np.array([2.0, 1.0, 0.5]), 0.0).tolist()
        [0.5, 1.0, 2.0]
    """
    g = (white[1] / white) ** (1.0 - residual)
    return g / g[1]


def _hsv_to_rgb(h: float, s: float, v: float) -> list[float]:
    k = [(n + h / 60.0) % 6 for n in (5, 3, 1)]
    return [v - v * s * max(0.0, min(x, 4 - x, 1.0)) for x in k]


def sample_background(rng: np.random.Generator, has_environment: bool, scene_probability: float = 0.7) -> Record:
    """Draw the background choices of a pair (added to ``SampleParams.background``).

    ``vis_kind``: ``scene`` (the environment's panorama seen through the camera; only with an
    environment, ``scene_probability`` of them) or ``wall`` (a plain painted wall / studio backdrop
    lit by the same light); ``vis_blur`` in [0, 1]: mix of the sharp and the blurred panorama
    (defocus); ``wall_rgb``: the wall's reflectance, desaturated (HSV saturation <= 0.12, value
    0.25-0.85: painted walls and backdrops, white to mid grey, with a faint tint); ``wall_light``:
    its irradiance relative to a camera-facing surface at the head (0.3-1, log-uniform: walls stand
    farther from the lights); ``wall_gradient``: vertical light fall-off over the frame;
    ``nir_texture``: weight of the scene's luminance texture in the NIR background.

    Example:
        >>> bg = sample_background(np.random.default_rng(0), has_environment=False)
        >>> bg["vis_kind"], max(bg["wall_rgb"]) <= 0.85
        ('wall', True)
    """
    scene = has_environment and rng.random() < scene_probability
    wall = _hsv_to_rgb(float(rng.uniform(0, 360)), float(rng.uniform(0, 0.12)), float(rng.uniform(0.25, 0.85)))
    return {"vis_kind": "scene" if scene else "wall", "vis_blur": float(rng.uniform(0, 1)), "wall_rgb": wall,
            "wall_light": _log_uniform(rng, (0.3, 1.0)), "wall_gradient": float(rng.uniform(-0.3, 0.3)),
            "nir_texture": float(rng.uniform(0.3, 1.0))}


def scene_background(params: Any, res: int) -> torch.Tensor:
    """Scene-referred linear-RGB radiance [res, res, 3] (float32, CPU) behind the head of one
    pair ``params`` (a ``SampleParams``), in the units of its VIS lighting but without the
    environment's ``intensity``: the panorama through the VIS camera (``vis_kind == "scene"``),
    or a plain wall lit by ``scene_white`` (``wall``) with a vertical gradient and low-frequency
    noise from ``background["vis_noise_seed"]``. Multiply by intensity and exposure to composite."""
    from nirvis.render.camera import PerspectiveCamera, focal_length_px

    bg, env = params.background, params.environment
    if bg.get("vis_kind") == "scene" and env.get("name"):
        envs = load_environments()
        k = envs.index(env["name"])
        view = params.vis_view
        f = focal_length_px(PerspectiveCamera(distance_mm=view.distance_mm, focal_mm=view.focal_mm,
                                              resolution=(res, res)))
        d_world = camera_directions(res, torch.tensor([f]))
        d_env = d_world @ torch.from_numpy(rotation_y(env["rotation_deg"])).float()    # e = R^T w
        blur = float(bg["vis_blur"])
        levels = envs.panorama[k]                                                       # [2, 3, H, W]
        pano = (1 - blur) * levels[0] + blur * levels[1]
        return panorama_lookup(pano.unsqueeze(0), d_env)[0].view(res, res, 3)
    light = scene_white(params.vis_lighting) / max(float(env.get("intensity") or 1.0), 1e-6)
    rgb = torch.tensor(bg["wall_rgb"], dtype=torch.float32) * float(bg["wall_light"]) / math.pi
    rows = torch.linspace(1, -1, res).view(res, 1, 1)
    gen = torch.Generator().manual_seed(int(bg["vis_noise_seed"]))
    noise = F.interpolate(torch.rand(1, 1, 5, 5, generator=gen), size=(res, res), mode="bicubic",
                          align_corners=False)[0, 0].unsqueeze(-1).clamp(0, 1)
    shade = (1 + float(bg["wall_gradient"]) * rows) * (0.92 + 0.16 * noise)
    return rgb * torch.from_numpy(light).float() * shade


def mirror_radiance(params: Any, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Radiance of each pair's environment (blurred panorama level, times its intensity) in world
    directions ``r`` [B, ..., 3], and which pairs have an environment.

    Returns:
        (float [B, ..., 3] radiance, zeros for pairs without an environment; bool [B]).
    """
    out = torch.zeros(*r.shape[:-1], 3, dtype=r.dtype, device=r.device)
    has = torch.zeros(len(params), dtype=torch.bool, device=r.device)
    for b, p in enumerate(params):
        if not p.environment.get("name"):
            continue
        envs = load_environments()
        k = envs.index(p.environment["name"])
        rot = torch.from_numpy(rotation_y(p.environment["rotation_deg"])).float()
        d_env = r[b].reshape(1, -1, 3).cpu().float() @ rot                          # e = R^T w
        rad = panorama_lookup(envs.panorama[k, 1].unsqueeze(0), d_env)[0] * float(p.environment["intensity"])
        out[b] = rad.reshape(out[b].shape).to(out)
        has[b] = True
    return out, has
