"""Procedural reflectance for procedural identities: biophysical parameter maps -> VIS and NIR.

Instead of painting an RGB texture and inverting it, each identity draws skin *parameters*
(melanin, eumelanin share, blood, oxygen saturation, epidermis thickness) and hair, iris and lip
properties from its seed; spatial maps in UV space modulate them (redness on cheeks, nose and
lips, freckles, moles, eyebrow and stubble density, pore-scale variation), and the forward models
of ``skin``/``tissues`` turn every texel into both a VIS (linear sRGB) and an NIR albedo. VIS and
NIR are thus consistent by construction, and no inversion is needed.

Spatial noise is evaluated on the 3D template surface behind each texel (``faces.regions``'
position map), so it is continuous across UV seams. Everything is deterministic per seed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import torch

from nirvis.faces import Expression, FaceAsset, IdentityParams, ReflectanceMaps, load_head_model
from nirvis.faces.procedural import procedural_asset
from nirvis.faces.regions import face_regions, hairline_mask, template_uv_geometry
from nirvis.reflectance import spectra
from nirvis.reflectance.sensors import skin_albedo_nir, skin_albedo_vis, spectrum_to_nir, spectrum_to_vis_rgb
from nirvis.reflectance.skin import SkinParams
from nirvis.reflectance.specular import SKIN_F0
from nirvis.reflectance.tissues import (hair_reflectance_spectrum, iris_reflectance_spectrum,
                                        sclera_reflectance_spectrum, teeth_reflectance_spectrum)

# melanin volume-fraction ranges per ancestry component (log-uniform); spans very light to very
# dark skin (cf. Jacques 1998: 1.3-6.3 % light, 11-16 % moderate, 18-43 % dark melanosome fraction)
_MELANIN_RANGE = {"african": (0.10, 0.30), "asian": (0.025, 0.08), "caucasian": (0.006, 0.035)}


@dataclass(frozen=True)
class SkinAppearance:
    """Per-identity appearance parameters (logged in the asset metadata)."""

    melanin: float
    eumelanin_share: float
    blood: float
    oxygen_saturation: float
    epidermis_thickness_um: float
    cheek_redness: float
    freckles: float
    n_moles: int
    hair_eumelanin: float
    hair_pheomelanin: float
    brow_density: float
    stubble: float
    iris_melanin: float
    lip_blood: float
    oiliness: float
    scalp_hair: float = 0.0          # scalp hair coverage (0 bald/shaved .. 1 full)
    hairline_mm: float = 55.0        # forehead height, brows to hairline
    hair_recession: float = 0.0      # 0..1 receding temples and front
    crown_baldness: float = 0.0      # 0..1 bald crown radius

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_appearance(identity: IdentityParams) -> SkinAppearance:
    """Draw an identity's appearance from its seed, race proportions, gender and age."""
    rng = np.random.Generator(np.random.PCG64([max(identity.seed, 0), 0x5E]))
    logs = [rng.uniform(math.log(lo), math.log(hi)) for lo, hi in _MELANIN_RANGE.values()]
    melanin = float(math.exp(sum(w * lg for w, lg in zip(identity.race, logs))))
    dark = min(1.0, melanin / 0.12)
    male = identity.gender > 0.5
    # hair: dark for dark skin; from blond to black (and some red) for light skin
    hair_eu = float(np.clip(rng.uniform(0.05, 1.2) * (1.0 - 0.6 * dark) + 1.2 * dark * rng.uniform(0.7, 1.0),
                            0.03, 1.5))
    hair_ph = float(rng.uniform(0.01, 0.15) + (0.25 if rng.random() < 0.06 * (1 - dark) else 0.0))
    greying = max(0.0, (identity.age_years - 45.0) / 30.0) * rng.uniform(0.3, 1.0)
    return SkinAppearance(
        melanin=melanin,
        eumelanin_share=float(rng.uniform(0.6, 0.95)),
        blood=float(np.exp(rng.normal(math.log(0.012), 0.35))),
        oxygen_saturation=float(rng.uniform(0.65, 0.85)),
        epidermis_thickness_um=float(rng.uniform(45.0, 85.0)),
        cheek_redness=float(rng.uniform(0.0, 1.0) * (1.0 - 0.5 * dark)),
        freckles=float(rng.uniform(0.0, 1.0) ** 3 * (1.0 - dark)),
        n_moles=int(rng.integers(0, 7)),
        hair_eumelanin=float(hair_eu * (1.0 - 0.8 * greying)),
        hair_pheomelanin=float(hair_ph * (1.0 - 0.8 * greying)),
        brow_density=float(rng.uniform(0.5, 1.0) if male else rng.uniform(0.35, 0.9)),
        stubble=float(rng.uniform(0.0, 1.0) if male else 0.0),
        iris_melanin=float(np.exp(rng.uniform(math.log(2.0), math.log(800.0)) * (1 - dark) + math.log(600.0) * dark)),
        lip_blood=float(rng.uniform(2.0, 4.0)),
        oiliness=float(rng.uniform(0.0, 1.0)),
        **_sample_scalp(rng, identity),
    )


def _sample_scalp(rng: np.random.Generator, identity: IdentityParams) -> dict[str, float]:
    """Scalp hair (drawn after every other appearance choice, so adding it changed none of them).

    Short hair only (the mesh has no hair geometry): coverage, forehead height, and for men
    age-dependent male-pattern loss (receding front and temples, bald crown) and a few shaved heads.
    """
    male = identity.gender > 0.5
    aged = float(np.clip((identity.age_years - 20.0) / 50.0, 0.0, 1.0))
    u = rng.uniform(0.0, 1.0, size=6)
    if not male:
        return {"scalp_hair": float(0.85 + 0.15 * u[0]), "hairline_mm": float(45.0 + 18.0 * u[1]),
                "hair_recession": 0.0, "crown_baldness": 0.0}
    shaved = u[2] < 0.08
    recession = float(u[3] ** 1.5 * (0.2 + 0.8 * aged)) if u[4] < 0.75 else 0.0
    crown = float(0.3 + 0.7 * u[5]) if u[5] < 0.45 * aged else 0.0
    return {"scalp_hair": float(0.15 + 0.2 * u[0] if shaved else 0.8 + 0.2 * u[0]),
            "hairline_mm": float(50.0 + 20.0 * u[1]), "hair_recession": recession, "crown_baldness": crown}


def _noise3d(points: torch.Tensor, rng: np.random.Generator, scale_mm: float, octaves: int = 3) -> torch.Tensor:
    """Smooth band-limited noise ~N(0, 1) at 3D points [N, 3] (sum of random plane waves per octave)."""
    out = torch.zeros(points.shape[0], dtype=torch.float64)
    p = points.double()
    norm = 0.0
    for o in range(octaves):
        k = 16
        dirs = rng.normal(size=(k, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        freq = (2.0 ** o) / scale_mm * rng.uniform(0.7, 1.3, size=k)
        phase = rng.uniform(0.0, 2 * math.pi, size=k)
        w = torch.from_numpy(dirs * freq[:, None])
        amp = 0.5 ** o
        out += amp * torch.cos(p @ w.T + torch.from_numpy(phase)).sum(1) * math.sqrt(2.0 / k)
        norm += amp * amp
    return (out / math.sqrt(norm)).float()


def procedural_reflectance(identity: IdentityParams, resolution: int = 512,
                           led_nm: float = 850.0) -> tuple[ReflectanceMaps, SkinAppearance]:
    """Reflectance maps (VIS and NIR) of a procedural identity in the head model's UV layout.

    Args:
        identity: the identity (its seed drives every random choice here).
        resolution: map size (e.g. 512 or 1024).
        led_nm: NIR LED (850 or 940 nm) for ``diffuse_nir``.

    Returns:
        (maps, appearance): maps with diffuse_vis [R, R, 3] linear sRGB, diffuse_nir [R, R],
        specular albedo (F0) per spectrum, roughness, and the region masks attached.
    """
    geo = template_uv_geometry(resolution)
    regions = {k: torch.from_numpy(np.array(v)) for k, v in face_regions(resolution).items()}
    app = sample_appearance(identity)
    rng = np.random.Generator(np.random.PCG64([max(identity.seed, 0), 0x5F]))
    model = load_head_model()
    lm = torch.from_numpy(model.template.vertices[model.landmark_vertices["68"]])
    covered = torch.from_numpy(geo.covered)
    pos = torch.from_numpy(geo.position)[covered]                      # [N, 3] template mm
    reg = {k: v[covered] for k, v in regions.items()}
    n = pos.shape[0]

    # --- skin parameter maps ---------------------------------------------------------------
    low = _noise3d(pos, rng, 60.0)                                      # blotchiness
    pores = _noise3d(pos, rng, 0.8, octaves=2)                           # pore-scale variation
    melanin = app.melanin * torch.exp(0.12 * low + 0.04 * pores)
    if app.freckles > 0.02:
        fr = _noise3d(pos, rng, 2.5, octaves=1)
        face_zone = torch.exp(-((pos[:, 1] - lm[30, 1]) / 45.0) ** 2) * (pos[:, 2] > -20).float()
        melanin = melanin * (1.0 + 2.5 * app.freckles * face_zone * (fr > 1.2).float())
    for _ in range(app.n_moles):
        k = int(rng.integers(0, n))
        d = (pos - pos[k]).norm(dim=1)
        melanin = melanin * (1.0 + 6.0 * torch.exp(-(d / rng.uniform(0.8, 2.0)) ** 2))
    # redness: cheeks (between nose wing and jaw), nose tip, plus lips' own blood
    blood = app.blood * torch.exp(0.2 * _noise3d(pos, rng, 25.0))
    for side in (-1.0, 1.0):
        cheek = torch.tensor([side * 0.55 * float(lm[16, 0] - lm[0, 0]) / 2.0, float(lm[31, 1]),
                              float(lm[31, 2]) - 10.0])
        blood = blood * (1.0 + 1.2 * app.cheek_redness * torch.exp(-((pos - cheek).norm(dim=1) / 22.0) ** 2))
    blood = blood * (1.0 + 0.6 * app.cheek_redness * torch.exp(-((pos - lm[30]).norm(dim=1) / 12.0) ** 2))
    lips = reg["lips"]
    blood = blood * (1.0 + (app.lip_blood - 1.0) * lips)
    melanin = melanin * (1.0 - 0.25 * lips)
    thickness = app.epidermis_thickness_um * (1.0 - 0.35 * lips)
    skin_params = SkinParams(melanin=melanin.clamp(1e-4, 0.6), eumelanin_share=app.eumelanin_share,
                             blood=blood.clamp(1e-4, 0.3), oxygen_saturation=app.oxygen_saturation,
                             epidermis_thickness_um=thickness.clamp(5.0, 300.0))
    vis = skin_albedo_vis(skin_params)                                   # [N, 3]
    nir = skin_albedo_nir(skin_params, led_nm=led_nm)                    # [N]

    # --- hair (brows, stubble), eyes, teeth, cavities -----------------------------------------
    wl_v = torch.from_numpy(spectra.VIS_WAVELENGTHS_NM).float()
    wl_n = torch.from_numpy(spectra.NIR_WAVELENGTHS_NM).float()

    def tissue(spec_fn) -> tuple[torch.Tensor, torch.Tensor]:
        return spectrum_to_vis_rgb(spec_fn(wl_v), wl_v).clamp(0, 1), spectrum_to_nir(spec_fn(wl_n), wl_n, led_nm)

    hair_v, hair_n = tissue(lambda wl: hair_reflectance_spectrum(app.hair_eumelanin, app.hair_pheomelanin, wl, 0.04))
    strands = (0.5 + 0.5 * torch.tanh(1.5 * _noise3d(pos, rng, 0.6, octaves=1))).clamp(0, 1)
    brow = (reg["brows"] * app.brow_density * (0.55 + 0.45 * strands)).clamp(0, 1)
    stubble = (reg["beard"] * app.stubble * 0.6 * (0.3 + 0.7 * strands)).clamp(0, 1)
    fine = _noise3d(pos, rng, 0.35, octaves=1)
    scalp_area = torch.from_numpy(hairline_mask(pos.numpy(), lm.numpy(), app.hairline_mm, app.hair_recession,
                                                app.crown_baldness)) * reg["skin"]
    scalp = (scalp_area * app.scalp_hair * (0.8 + 0.3 * torch.tanh(fine))).clamp(0, 1)
    # a hair shell covers unshaved scalps (nirvis.render.hair): only a thin dark root tint is painted there
    painted = scalp * 0.35 if app.scalp_hair >= 0.5 else scalp
    hair_cover = torch.maximum(torch.maximum(brow, stubble), painted).unsqueeze(-1)
    sheen = (1.0 + 0.25 * torch.tanh(_noise3d(pos, rng, 3.0, octaves=2)) * (scalp > 0.05)).unsqueeze(-1)
    vis = vis * (1 - hair_cover) + (hair_v * sheen).clamp(0, 1) * hair_cover
    nir = nir * (1 - hair_cover[:, 0]) + (hair_n * sheen[:, 0]).clamp(0, 1) * hair_cover[:, 0]
    iris_v, iris_n = tissue(lambda wl: iris_reflectance_spectrum(app.iris_melanin, 0.7, 250.0, wl))
    sclera_v, sclera_n = tissue(sclera_reflectance_spectrum)
    teeth_v, teeth_n = tissue(teeth_reflectance_spectrum)
    iris_detail = 1.0 + 0.15 * _noise3d(pos, rng, 0.5, octaves=1)
    pupil_v, pupil_n = torch.full((3,), 0.01), torch.tensor(0.02)
    for name, (cv, cn, detail) in {"sclera": (sclera_v, sclera_n, 1.0), "iris": (iris_v, iris_n, iris_detail),
                                   "pupil": (pupil_v, pupil_n, 1.0), "teeth": (teeth_v, teeth_n, 1.0)}.items():
        m = reg[name]
        d = detail if isinstance(detail, float) else detail.unsqueeze(-1)
        vis = vis * (1 - m.unsqueeze(-1)) + (cv * d).clamp(0, 1) * m.unsqueeze(-1)
        nir = nir * (1 - m) + (cn * (d if isinstance(d, float) else d[:, 0])).clamp(0, 1) * m
    for name, dim in (("mouth_cavity", 0.25), ("eye_cavity", 0.5)):
        m = reg[name]
        vis = vis * (1 - m.unsqueeze(-1) * (1 - dim))
        nir = nir * (1 - m * (1 - dim))

    # --- specular (F0) and roughness --------------------------------------------------------
    t_zone = torch.exp(-(pos[:, 0] / 18.0) ** 2) * (pos[:, 1] > float(lm[33, 1])).float() * (pos[:, 2] > 0).float()
    spec = SKIN_F0 * (1.0 + 0.8 * app.oiliness * t_zone + 0.3 * lips) * (1.0 - 0.7 * hair_cover[:, 0])
    rough = (0.5 - 0.12 * app.oiliness * t_zone - 0.15 * lips + 0.05 * pores + 0.2 * hair_cover[:, 0])
    eye = reg["iris"] + reg["pupil"] + reg["sclera"]
    spec = spec * (1 - eye) + 0.025 * eye                                # cornea/tear film, n = 1.376
    rough = rough * (1 - eye) + 0.06 * eye
    spec = spec * (1 - reg["teeth"]) + 0.04 * reg["teeth"]
    rough = rough * (1 - reg["teeth"]) + 0.25 * reg["teeth"]

    # all maps are grown into the empty texels together (one fill over the stacked channels)
    channels = [(vis, 0.3), (nir, 0.5), (spec, SKIN_F0), (rough, 0.5), (scalp, 0.0)]
    fills = torch.tensor([f for v, f in channels for _ in range(v.shape[1] if v.ndim == 2 else 1)])
    stacked = fills.float().expand(resolution, resolution, len(fills)).clone()
    stacked[covered] = torch.cat([(v if v.ndim == 2 else v.unsqueeze(-1)).float() for v, _ in channels], dim=1)
    filled = fill_uncovered(stacked, covered).clamp(0, 1).numpy()
    vis_m, nir_m, spec_m = filled[..., :3], filled[..., 3], filled[..., 4]
    rough_m, scalp_m = filled[..., 5], filled[..., 6]

    regions_out = {k: np.array(v) for k, v in face_regions(resolution).items()}
    regions_out["hair"] = np.ascontiguousarray(scalp_m)  # this identity's scalp hair, not the template's area
    maps = ReflectanceMaps(
        diffuse_vis=np.ascontiguousarray(vis_m), specular_vis=np.ascontiguousarray(spec_m),
        roughness=np.ascontiguousarray(rough_m), diffuse_nir=np.ascontiguousarray(nir_m),
        specular_nir=np.ascontiguousarray(spec_m), regions=regions_out)
    return maps, app


@functools.lru_cache(maxsize=8)
def _fill_plan(covered_bytes: bytes, shape: tuple[int, int],
               iterations: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per growth step: (texels that get filled [1, 1, H, W] bool, their covered-neighbour counts)."""
    covered = torch.from_numpy(np.frombuffer(covered_bytes, dtype=bool).reshape(shape).copy())
    known = covered.float().view(1, 1, *shape)
    kernel = torch.ones(1, 1, 3, 3)
    plan = []
    for _ in range(iterations):
        weight = torch.nn.functional.conv2d(known, kernel, padding=1)
        grow = (known == 0) & (weight > 0)
        plan.append((grow, weight.clamp(min=1)))
        known = torch.maximum(known, grow.float())
    return plan


def fill_uncovered(values: torch.Tensor, covered: torch.Tensor, iterations: int = 24) -> torch.Tensor:
    """Extend UV islands into the empty texels around them (repeated 3x3 averaging of covered
    neighbours), so mip-mapped and bilinear lookups near island borders see island colours, not
    the background fill. values [H, W] or [H, W, C]; covered bool [H, W]. The growth pattern
    depends on ``covered`` only and is computed once per layout."""
    x = values if values.ndim == 3 else values.unsqueeze(-1)
    x = x.permute(2, 0, 1).unsqueeze(0).clone()                         # [1, C, H, W]
    cov = covered.cpu().numpy().astype(bool)
    known = covered.float().view(1, 1, *covered.shape)
    kernel = torch.ones(1, 1, 3, 3).expand(x.shape[1], 1, 3, 3)
    for grow, weight in _fill_plan(cov.tobytes(), cov.shape, iterations):
        summed = torch.nn.functional.conv2d(x * known, kernel, padding=1, groups=x.shape[1])
        x = torch.where(grow, summed / weight, x)
        known = torch.maximum(known, grow.float())
    out = x[0].permute(1, 2, 0)
    return out if values.ndim == 3 else out[..., 0]


def procedural_face_asset(identity: IdentityParams, expression: Optional[Expression] = None, resolution: int = 512,
                          led_nm: float = 850.0) -> FaceAsset:
    """The complete procedural FaceAsset: head mesh + procedural VIS/NIR reflectance."""
    maps, app = procedural_reflectance(identity, resolution, led_nm)
    asset = procedural_asset(identity, expression, maps=maps)
    meta = dict(asset.metadata)
    meta.update({"appearance": app.to_dict(), "nir_led_nm": float(led_nm), "reflectance": "procedural-biophysical"})
    return asset.replace(metadata=meta)
