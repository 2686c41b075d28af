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
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Optional, cast

import numpy as np
import torch

from nirvis.faces import Expression, FaceAsset, IdentityParams, ReflectanceMaps, load_head_model
from nirvis.faces.procedural import procedural_asset
from nirvis.faces.regions import (EyelidMargins, face_regions, hairline_mask, template_eyelid_margins,
                                  template_uv_geometry)
from nirvis.reflectance import detail_maps, spectra
from nirvis.reflectance.cosmetics import carbon_black_spectrum, pigment_film_spectrum
from nirvis.reflectance.face_detail import EYESHADOW_KINDS, LIPSTICK_KINDS, FaceDetail, sample_face_detail
from nirvis.reflectance.sensors import skin_albedo_nir, skin_albedo_vis, spectrum_to_nir, spectrum_to_vis_rgb
from nirvis.reflectance.skin import SkinParams
from nirvis.reflectance.specular import SKIN_F0
from nirvis.reflectance.tissues import (hair_reflectance_spectrum, iris_reflectance_spectrum,
                                        sclera_reflectance_spectrum, teeth_reflectance_spectrum)
from nirvis.reflectance.wave_noise import plane_wave_noise

# melanin volume-fraction ranges per ancestry component (log-uniform); spans very light to very
# dark skin (cf. Jacques 1998: 1.3-6.3 % light, 11-16 % moderate, 18-43 % dark melanosome fraction).
# Through the NIST-calibrated skin model (``skin``) they give individual typology angles
# ITA = atan((L* - 50) / b*) of about +61..+29 deg (caucasian), +52..0 (asian: East Asian light to
# South Asian tan) and -9..-59 (african): the "very light" (> 55) to "dark" (< -30) classes of
# Chardon et al., Int. J. Cosmet. Sci. 13, 1991, over the measured span of Del Bino et al.,
# Pigment Cell Res. 19, 2006 (about +70 to -55). The undertone follows from the eumelanin share
# (0.6-0.95; pheomelanin is roughly a quarter of epidermal melanin in all skin types, Del Bino
# et al., Pigment Cell Melanoma Res. 28, 2015) and dermal blood (log-normal around 1.2 %,
# within the 0.2-7 % of Jacques 1998) with its oxygen saturation (0.65-0.85).
_MELANIN_RANGE = {"african": (0.10, 0.30), "asian": (0.012, 0.08), "caucasian": (0.004, 0.035)}


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
    detail: Optional[FaceDetail] = None  # brows, lashes, eyes, wrinkles, make-up (``face_detail``)

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
    app = SkinAppearance(
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
        # stromal melanin (cm^-1 at 500 nm): ~1.5 blue .. ~300 dark brown (tissues.iris_reflectance_spectrum);
        # light irises only with European ancestry, brown otherwise
        iris_melanin=float(np.exp(rng.uniform(math.log(1.5), math.log(300.0)) * identity.race[2] ** 2
                                  + math.log(200.0) * (1 - identity.race[2] ** 2))),
        lip_blood=float(rng.uniform(2.0, 4.0)),
        oiliness=float(rng.uniform(0.0, 1.0)),
        **cast(dict[str, Any], _sample_scalp(rng, identity)),
    )
    return replace(app, detail=sample_face_detail(identity, melanin, app.hair_eumelanin, app.hair_pheomelanin,
                                                  app.brow_density))


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


def _noise3d_where(points: torch.Tensor, where: torch.Tensor, rng: np.random.Generator, scale_mm: float,
                   octaves: int = 3) -> torch.Tensor:
    """``plane_wave_noise`` at the points [N, 3] selected by ``where`` bool [N], 0 elsewhere: the noise at a
    point depends on that point only, and the same numbers are drawn from ``rng`` whatever ``where``
    (for noise whose value only matters under a mask)."""
    idx = torch.nonzero(where).squeeze(1)
    out = torch.zeros(points.shape[0])
    out[idx] = plane_wave_noise(points[idx], rng, scale_mm, octaves)
    return out


def procedural_reflectance(identity: IdentityParams, resolution: int = 512, led_nm: float = 850.0,
                           appearance: Optional[SkinAppearance] = None) -> tuple[ReflectanceMaps, SkinAppearance]:
    """Reflectance maps (VIS and NIR) of a procedural identity in the head model's UV layout.

    Args:
        identity: the identity (its seed drives every random choice here).
        resolution: map size (e.g. 512 or 1024).
        led_nm: NIR LED (850 or 940 nm) for ``diffuse_nir``.
        appearance: the appearance to render (default ``sample_appearance(identity)``; pass an
            edited one to vary one factor, e.g. without make-up).

    Returns:
        (maps, appearance): maps with diffuse_vis [R, R, 3] linear sRGB, diffuse_nir [R, R],
        specular albedo (F0) per spectrum, roughness, and the region masks attached.
    """
    covered, pos, reg, skin_front = _texel_layout(resolution)
    app = sample_appearance(identity) if appearance is None else appearance
    rng = np.random.Generator(np.random.PCG64([max(identity.seed, 0), 0x5F]))
    model = load_head_model()
    lm = torch.from_numpy(model.template.vertices[model.landmark_vertices["68"]])
    n = pos.shape[0]
    detail = app.detail if app.detail is not None else sample_appearance(identity).detail
    assert detail is not None
    drng = np.random.Generator(np.random.PCG64([max(identity.seed, 0), 0x62]))   # face-detail placements
    lm68 = lm.numpy()
    lm5 = model.template.vertices[model.landmark_vertices["5"]]
    texel_mm = 0.66 * 512.0 / resolution                                # texel size around the eyes

    # --- skin parameter maps ---------------------------------------------------------------
    low = plane_wave_noise(pos, rng, 60.0)                                      # blotchiness
    pores = plane_wave_noise(pos, rng, 0.8, octaves=2)                           # pore-scale variation
    melanin = app.melanin * torch.exp(0.12 * low + 0.04 * pores)
    if app.freckles > 0.02:
        fr = plane_wave_noise(pos, rng, 1.3, octaves=1)                          # spots of ~1-3 mm
        face_zone = torch.exp(-((pos[:, 1] - lm[30, 1]) / 45.0) ** 2) * (pos[:, 2] > -20).float()
        melanin = melanin * (1.0 + 2.5 * app.freckles * face_zone * ((fr - 1.3) / 0.3).clamp(0.0, 1.0))
    for _ in range(app.n_moles):
        k = int(rng.integers(0, n))
        d = (pos - pos[k]).norm(dim=1)
        melanin = melanin * (1.0 + 6.0 * torch.exp(-(d / rng.uniform(0.8, 2.0)) ** 2))
    # redness: cheeks (between nose wing and jaw), nose tip, plus lips' own blood
    blood = app.blood * torch.exp(0.2 * plane_wave_noise(pos, rng, 25.0))
    for side in (-1.0, 1.0):
        cheek = torch.tensor([side * 0.55 * float(lm[16, 0] - lm[0, 0]) / 2.0, float(lm[31, 1]),
                              float(lm[31, 2]) - 10.0])
        blood = blood * (1.0 + 1.2 * app.cheek_redness * torch.exp(-((pos - cheek).norm(dim=1) / 22.0) ** 2))
    blood = blood * (1.0 + 0.6 * app.cheek_redness * torch.exp(-((pos - lm[30]).norm(dim=1) / 12.0) ** 2))
    lips = reg["lips"]
    blood = blood * (1.0 + (app.lip_blood - 1.0) * lips)
    melanin = melanin * (1.0 - 0.25 * lips)
    mel_mod, blood_mod = detail_maps.skin_modulation(pos, lm68, detail, drng)   # dark circles, blemishes
    melanin, blood = melanin * mel_mod, blood * blood_mod
    thickness = app.epidermis_thickness_um * (1.0 - 0.35 * lips)
    skin_params = SkinParams(melanin=melanin.clamp(1e-4, 0.6), eumelanin_share=app.eumelanin_share,
                             blood=blood.clamp(1e-4, 0.3), oxygen_saturation=app.oxygen_saturation,
                             epidermis_thickness_um=thickness.clamp(5.0, 300.0))
    vis, nir = _skin_albedo_lut(skin_params, led_nm)                     # [N, 3], [N]
    wl_v = torch.from_numpy(spectra.VIS_WAVELENGTHS_NM).float()
    wl_n = torch.from_numpy(spectra.NIR_WAVELENGTHS_NM).float()

    def tissue(spec_fn) -> tuple[torch.Tensor, torch.Tensor]:
        return spectrum_to_vis_rgb(spec_fn(wl_v), wl_v).clamp(0, 1), spectrum_to_nir(spec_fn(wl_n), wl_n, led_nm)

    # --- wrinkles, eye-socket shadow (cavities: geometric, slightly filled by NIR subsurface light)
    wrinkle = detail_maps.wrinkle_darkening(pos, skin_front, lm68, detail, drng, texel_mm)
    margins = template_eyelid_margins()                                 # the mesh's lid margins
    h_lid = detail_maps.upper_margin_height(pos, lm68, margins)         # mm above the upper lid margin
    sulcus = torch.exp(-((h_lid - 7.0) / 4.5) ** 2) * torch.exp(-((pos[:, 0].abs() - 31.0) / 11.0) ** 2)
    medial = sum(torch.exp(-((pos[:, :2] - lm[c, :2]).norm(dim=1) / 5.0) ** 2) for c in (39, 42))
    socket = detail.socket_shadow * (sulcus + 0.6 * medial) * skin_front.float()
    vis = vis * (1.0 - wrinkle - socket).clamp(0.3, 1.0).unsqueeze(-1)
    nir = nir * (1.0 - 0.75 * wrinkle - socket).clamp(0.3, 1.0)
    vis, nir, lipstick = _apply_makeup(vis, nir, pos, reg["lips"], lm68, margins, detail, tissue)

    # --- hair (brows, stubble), eyes, teeth, cavities -----------------------------------------

    hair_v, hair_n = tissue(lambda wl: hair_reflectance_spectrum(app.hair_eumelanin, app.hair_pheomelanin, wl, 0.04))
    # noise that only matters under some mask is evaluated there only (0 elsewhere; same draws)
    beard_zone = reg["beard"] > 0 if app.stubble > 0 else torch.zeros(n, dtype=torch.bool)
    strands = (0.5 + 0.5 * torch.tanh(1.5 * _noise3d_where(pos, beard_zone, rng, 0.6, octaves=1))).clamp(0, 1)
    brow = detail_maps.brow_coverage(pos, skin_front, lm68, lm5, detail, drng, texel_mm)
    lashes = detail_maps.lash_coverage(pos, skin_front, lm68, detail, drng, texel_mm, margins)
    stubble = (reg["beard"] * app.stubble * 0.6 * (0.3 + 0.7 * strands)).clamp(0, 1)
    scalp_area = torch.from_numpy(hairline_mask(pos.numpy(), lm.numpy(), app.hairline_mm, app.hair_recession,
                                                app.crown_baldness)) * reg["skin"]
    fine = _noise3d_where(pos, scalp_area != 0, rng, 0.35, octaves=1)
    scalp = (scalp_area * app.scalp_hair * (0.8 + 0.3 * torch.tanh(fine))).clamp(0, 1)
    # a hair shell covers unshaved scalps (nirvis.render.hair): only a thin dark root tint is painted there
    painted = scalp * 0.35 if app.scalp_hair >= 0.5 else scalp
    hair_cover = torch.maximum(stubble, painted).unsqueeze(-1)
    sheen = (1.0 + 0.25 * torch.tanh(_noise3d_where(pos, scalp > 0.05, rng, 3.0, octaves=2))
             * (scalp > 0.05)).unsqueeze(-1)
    vis = vis * (1 - hair_cover) + (hair_v * sheen).clamp(0, 1) * hair_cover
    nir = nir * (1 - hair_cover[:, 0]) + (hair_n * sheen[:, 0]).clamp(0, 1) * hair_cover[:, 0]
    # brows and lashes in their own colours (lashes: hair melanin, or carbon black under mascara)
    brow_v, brow_n = tissue(lambda wl: hair_reflectance_spectrum(detail.brow_eumelanin, detail.brow_pheomelanin,
                                                                 wl, 0.04))
    lash_v, lash_n = tissue(lambda wl: hair_reflectance_spectrum(detail.lash_eumelanin, 0.02, wl, 0.04))
    if detail.mascara:
        black_v, black_n = tissue(carbon_black_spectrum)
        lash_v, lash_n = 0.3 * lash_v + 0.7 * black_v, 0.3 * lash_n + 0.7 * black_n
    for cover, cv, cn in ((brow, brow_v, brow_n), (lashes, lash_v, lash_n)):
        vis = vis * (1 - cover.unsqueeze(-1)) + cv * cover.unsqueeze(-1)
        nir = nir * (1 - cover) + cn * cover

    # eyes: per-texel iris spectra (pattern), sclera with vessels, the upper lid's shadow
    iris_v, iris_n = _iris_albedo(pos, reg, lm5, app, detail, drng, wl_v, wl_n, led_nm)
    sclera_v, sclera_n = tissue(sclera_reflectance_spectrum)
    vessel_v, vessel_n = tissue(lambda wl: sclera_reflectance_spectrum(wl, blood=0.06))
    on_eye = torch.nonzero(reg["sclera"] > 0).squeeze(1)
    vessel, sclera_shade = torch.zeros(n), torch.ones(n)
    vessel[on_eye], sclera_shade[on_eye] = detail_maps.sclera_maps(pos[on_eye], lm68, lm5, detail, drng, texel_mm)
    sclera_px_v = (sclera_v * (1 - vessel.unsqueeze(-1)) + vessel_v * vessel.unsqueeze(-1)) * sclera_shade.unsqueeze(-1)
    sclera_px_n = (sclera_n * (1 - vessel) + vessel_n * vessel) * sclera_shade
    teeth_v, teeth_n = tissue(teeth_reflectance_spectrum)
    pupil_v, pupil_n = torch.full((3,), 0.01), torch.tensor(0.02)
    for name, cv, cn in (("sclera", sclera_px_v, sclera_px_n), ("iris", iris_v, iris_n),
                         ("pupil", pupil_v, pupil_n), ("teeth", teeth_v, teeth_n)):
        m = reg[name]
        vis = vis * (1 - m.unsqueeze(-1)) + cv.clamp(0, 1) * m.unsqueeze(-1)
        nir = nir * (1 - m) + cn.clamp(0, 1) * m
    eyeball = reg["iris"] + reg["pupil"] + reg["sclera"]
    lid_shadow = 1.0 - 0.55 * eyeball * torch.sigmoid((h_lid + 1.6) / 0.5)
    vis, nir = vis * lid_shadow.unsqueeze(-1), nir * lid_shadow
    for name, dim in (("mouth_cavity", 0.25), ("eye_cavity", 0.5)):
        m = reg[name]
        vis = vis * (1 - m.unsqueeze(-1) * (1 - dim))
        nir = nir * (1 - m * (1 - dim))

    # --- specular (F0) and roughness --------------------------------------------------------
    t_zone = torch.exp(-(pos[:, 0] / 18.0) ** 2) * (pos[:, 1] > float(lm[33, 1])).float() * (pos[:, 2] > 0).float()
    hair_all = torch.maximum(torch.maximum(hair_cover[:, 0], brow), lashes)
    spec = (SKIN_F0 * (1.0 + 0.8 * app.oiliness * t_zone + 0.3 * lips + 0.8 * lipstick) * (1.0 - 0.7 * hair_all)
            * (1.0 - 0.5 * wrinkle))
    rough = (0.5 - 0.12 * app.oiliness * t_zone - 0.15 * lips - 0.1 * lipstick + 0.05 * pores + 0.2 * hair_all)
    eye = reg["iris"] + reg["pupil"] + reg["sclera"]
    spec = spec * (1 - eye) + 0.025 * eye                                # cornea/tear film, n = 1.376
    rough = rough * (1 - eye) + 0.06 * eye
    spec = spec * (1 - reg["teeth"]) + 0.04 * reg["teeth"]
    rough = rough * (1 - reg["teeth"]) + 0.25 * reg["teeth"]

    # all maps are grown into the empty texels together (one fill over the stacked channels)
    channels = [(vis, 0.3), (nir, 0.5), (spec, SKIN_F0), (rough, 0.5), (scalp, 0.0), (brow, 0.0)]
    fills = torch.tensor([f for v, f in channels for _ in range(v.shape[1] if v.ndim == 2 else 1)])
    stacked = fills.float().expand(resolution, resolution, len(fills)).clone()
    stacked[covered] = torch.cat([(v if v.ndim == 2 else v.unsqueeze(-1)).float() for v, _ in channels], dim=1)
    filled = fill_uncovered(stacked, covered).clamp(0, 1).numpy()
    vis_m, nir_m, spec_m = filled[..., :3], filled[..., 3], filled[..., 4]
    rough_m, scalp_m, brow_m = filled[..., 5], filled[..., 6], filled[..., 7]

    regions_out = dict(face_regions(resolution))   # ReflectanceMaps stores quantised copies
    regions_out["hair"] = np.ascontiguousarray(scalp_m)  # this identity's scalp hair, not the template's area
    regions_out["brows"] = np.ascontiguousarray(brow_m)  # this identity's brow hair coverage
    lash_m = np.zeros((resolution, resolution), np.float32)
    lash_m[covered.numpy()] = lashes.clamp(0, 1).numpy()
    regions_out["lashes"] = lash_m                       # this identity's eyelash coverage (covered texels)
    maps = ReflectanceMaps(
        diffuse_vis=np.ascontiguousarray(vis_m), specular_vis=np.ascontiguousarray(spec_m),
        roughness=np.ascontiguousarray(rough_m), diffuse_nir=np.ascontiguousarray(nir_m),
        specular_nir=np.ascontiguousarray(spec_m), regions=regions_out)
    return maps, app


@functools.lru_cache(maxsize=4)
def _texel_layout(resolution: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """The template's covered texels at ``resolution``, shared by every identity (cached; do not
    modify): (covered bool [R, R], their template positions float32 [N, 3] mm, the region masks
    ``face_regions`` at them {name: float32 [N]}, front-facing skin bool [N])."""
    geo = template_uv_geometry(resolution)
    covered = torch.from_numpy(geo.covered)
    pos = torch.from_numpy(geo.position)[covered]
    reg = {k: torch.from_numpy(np.array(v))[covered] for k, v in face_regions(resolution).items()}
    skin_front = (reg["skin"] > 0.5) & (torch.from_numpy(geo.normal)[covered][:, 2] > 0.0)
    return covered, pos, reg, skin_front


def _skin_albedo_lut(params: SkinParams, led_nm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Skin albedo (VIS [N, 3], NIR [N]) of per-texel ``params`` whose melanin, blood and
    epidermis thickness vary (eumelanin share and oxygen saturation are per identity): the
    forward model on a 24 x 16 x 4 grid over the texels' (log melanin, log blood, thickness)
    range, interpolated trilinearly (smooth in these; max error ~4e-4 albedo, tested), ~50x fewer
    spectra than texels."""
    share, sat = params.eumelanin_share.reshape(-1), params.oxygen_saturation.reshape(-1)
    if bool((share != share[0]).any()) or bool((sat != sat[0]).any()):
        return skin_albedo_vis(params), skin_albedo_nir(params, led_nm=led_nm)
    mel, blood, thick = params.melanin.float(), params.blood.float(), params.epidermis_thickness_um.float()
    axes = []
    for values, size, log in ((mel, 24, True), (blood, 16, True), (thick, 4, False)):
        v = values.log() if log else values
        lo, hi = float(v.min()), float(v.max())
        hi = hi if hi > lo else lo + 1e-3
        axes.append((v, lo, hi, size, log))
    grids = [torch.linspace(lo, hi, size) for _, lo, hi, size, _ in axes]
    g_mel, g_blood, g_thick = torch.meshgrid(grids[0].exp(), grids[1].exp(), grids[2], indexing="ij")
    table_params = SkinParams(melanin=g_mel, eumelanin_share=float(share[0]),
                              blood=g_blood, oxygen_saturation=float(sat[0]),
                              epidermis_thickness_um=g_thick)
    table = torch.cat([skin_albedo_vis(table_params), skin_albedo_nir(table_params, led_nm=led_nm)[..., None]],
                      dim=-1).float()                                     # [24, 16, 4, 4]
    # grid_sample 3-D: input [1, C, D, H, W] with (x, y, z) = (W, H, D) = (mel, blood, thickness)
    vol = table.permute(3, 2, 1, 0)[None]                                 # [1, 4, thick, blood, mel]
    coords = torch.stack([(v - lo) / (hi - lo) * 2 - 1 for v, lo, hi, _, _ in axes], dim=1)
    out = torch.nn.functional.grid_sample(vol, coords.view(1, 1, 1, -1, 3), mode="bilinear",
                                          align_corners=True)[0, :, 0, 0].T  # [N, 4]
    return out[:, :3], out[:, 3]


def _iris_albedo(pos: torch.Tensor, reg: dict[str, torch.Tensor], lm5: np.ndarray, app: SkinAppearance,
                 detail: FaceDetail, rng: np.random.Generator, wl_v: torch.Tensor, wl_n: torch.Tensor,
                 led_nm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Iris albedo (VIS [N, 3], NIR [N]) from per-texel stroma parameters: the identity's melanin
    and scattering modulated by the pattern of ``detail_maps.iris_maps``; both spectra come from
    ``iris_reflectance_spectrum``, so every iris colour is mid-grey in the NIR."""
    vis = torch.zeros(pos.shape[0], 3)
    nir = torch.zeros(pos.shape[0])
    idx = torch.nonzero((reg["iris"] + reg["pupil"]) > 0).squeeze(1)
    if len(idx) == 0:
        return vis, nir
    mel_m, sc_m, alb_m = detail_maps.iris_maps(pos[idx], lm5, detail, rng)
    share = detail.iris_eumelanin_share
    mel = (app.iris_melanin * mel_m).clamp(0.2, 2000.0)
    sc = (detail.iris_scattering * sc_m).clamp(2.0, 2000.0)
    # the spectra on a 16 x 10 grid of (log melanin, log scattering), interpolated per texel
    lm_lo, lm_hi = float(mel.log().min()), float(mel.log().max()) + 1e-3
    ls_lo, ls_hi = float(sc.log().min()), float(sc.log().max()) + 1e-3
    g_mel = torch.linspace(lm_lo, lm_hi, 16).exp()[:, None].expand(16, 10)
    g_sc = torch.linspace(ls_lo, ls_hi, 10).exp()[None, :].expand(16, 10)
    table = torch.cat([spectrum_to_vis_rgb(iris_reflectance_spectrum(g_mel, share, g_sc, wl_v), wl_v).clamp(0, 1),
                       spectrum_to_nir(iris_reflectance_spectrum(g_mel, share, g_sc, wl_n), wl_n, led_nm)[..., None]],
                      dim=-1)                                               # [16, 10, 4]
    where = torch.stack([(sc.log() - ls_lo) / (ls_hi - ls_lo), (mel.log() - lm_lo) / (lm_hi - lm_lo)], 1) * 2 - 1
    looked = torch.nn.functional.grid_sample(table.permute(2, 0, 1)[None], where.view(1, 1, -1, 2).float(),
                                             align_corners=True)[0, :, 0].T   # [n, 4]
    vis[idx] = looked[:, :3] * alb_m[:, None]
    nir[idx] = looked[:, 3] * alb_m
    return vis, nir


def _apply_makeup(vis: torch.Tensor, nir: torch.Tensor, pos: torch.Tensor, lips: torch.Tensor, lm68: np.ndarray,
                  margins: EyelidMargins, detail: FaceDetail,
                  tissue) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Make-up films mixed over the skin albedo (eye shadow on the upper lid, eyeliner along the
    lash line with a short wing, both from the lid ``margins``; lipstick on the lips); spectra from
    ``cosmetics``.
    Returns (vis [N, 3], nir [N], lipstick coverage [N])."""
    none = torch.zeros(pos.shape[0])
    if not detail.makeup:
        return vis, nir, none
    layers: list[tuple[torch.Tensor, Callable[..., torch.Tensor]]] = []
    if detail.eyeshadow:
        edge, floor, high, band = EYESHADOW_KINDS[detail.eyeshadow]
        lid = detail_maps.lid_band(pos, lm68, 0.0, 9.0, margins=margins)
        fade = torch.exp(-((detail_maps.upper_margin_height(pos, lm68, margins) - 2.0).clamp(min=0) / 5.0) ** 2)
        layers.append((detail.eyeshadow_opacity * lid * fade, functools.partial(
            pigment_film_spectrum, edge_nm=edge, floor=floor, high=high, iron_band=band)))
    if detail.eyeliner > 0:
        layers.append((detail.eyeliner * detail_maps.lid_band(pos, lm68, 0.3, 1.3, outer_wing_mm=4.0, margins=margins),
                       carbon_black_spectrum))
    lip = none
    if detail.lipstick:
        edge, floor, high, band = LIPSTICK_KINDS[detail.lipstick]
        lip = detail.lipstick_opacity * lips
        layers.append((lip, functools.partial(pigment_film_spectrum, edge_nm=edge, floor=floor, high=high,
                                              iron_band=band)))
    for cover, spec_fn in layers:
        fv, fn = tissue(spec_fn)
        vis = vis * (1 - cover.unsqueeze(-1)) + fv * cover.unsqueeze(-1)
        nir = nir * (1 - cover) + fn * cover
    return vis, nir, lip


@functools.lru_cache(maxsize=8)
def _fill_plan(covered_bytes: bytes, shape: tuple[int, int],
               iterations: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per growth step: (flat indices int64 [n] of the texels filled in that step, their 3x3
    neighbours' flat indices int64 [n, 9] (clamped at the border), which of those neighbours are
    known before the step, float32 [n, 9], and their count float32 [n, 1])."""
    h, w = shape
    known = np.frombuffer(covered_bytes, dtype=bool).reshape(shape).copy()
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    plan = []
    for _ in range(iterations):
        padded = np.pad(known, 1)
        count = sum(padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w].astype(np.int32) for dy, dx in offsets)
        grow = ~known & (count > 0)
        ys, xs = np.nonzero(grow)
        if len(ys) == 0:
            break
        nb_y = np.stack([ys + dy for dy, _ in offsets], 1)
        nb_x = np.stack([xs + dx for _, dx in offsets], 1)
        inside = (nb_y >= 0) & (nb_y < h) & (nb_x >= 0) & (nb_x < w)
        nb_y, nb_x = nb_y.clip(0, h - 1), nb_x.clip(0, w - 1)
        k = (known[nb_y, nb_x] & inside).astype(np.float32)
        plan.append((torch.from_numpy(ys * w + xs), torch.from_numpy(nb_y * w + nb_x), torch.from_numpy(k),
                     torch.from_numpy(k.sum(1, keepdims=True))))
        known = known | grow
    return plan


def fill_uncovered(values: torch.Tensor, covered: torch.Tensor, iterations: int = 24) -> torch.Tensor:
    """Extend UV islands into the empty texels around them (repeated 3x3 averaging of covered
    neighbours), so mip-mapped and bilinear lookups near island borders see island colours, not
    the background fill. values [H, W] or [H, W, C]; covered bool [H, W]. The growth pattern
    depends on ``covered`` only and is computed once per layout; each step touches only the ring
    of texels it fills (a gather of their 3x3 neighbours), not the whole map.

    Example:
        >>> v = torch.zeros(1, 4); v[0, 0] = 1.0
        >>> fill_uncovered(v, v > 0).tolist()       # one covered texel grows to its neighbours
        [[1.0, 1.0, 1.0, 1.0]]
    """
    x = values if values.ndim == 3 else values.unsqueeze(-1)
    h, w, c = x.shape
    cov = covered.cpu().numpy().astype(bool)
    flat = x.reshape(h * w, c).clone()
    for idx, nb, known, count in _fill_plan(cov.tobytes(), cov.shape, iterations):
        flat[idx] = (flat[nb] * known.unsqueeze(-1)).sum(1) / count
    out = flat.reshape(h, w, c)
    return out if values.ndim == 3 else out[..., 0]


def procedural_face_asset(identity: IdentityParams, expression: Optional[Expression] = None, resolution: int = 512,
                          led_nm: float = 850.0) -> FaceAsset:
    """The complete procedural FaceAsset: head mesh + procedural VIS/NIR reflectance."""
    maps, app = procedural_reflectance(identity, resolution, led_nm)
    asset = procedural_asset(identity, expression, maps=maps)
    meta = dict(asset.metadata)
    meta.update({"appearance": app.to_dict(), "nir_led_nm": float(led_nm), "reflectance": "procedural-biophysical"})
    return asset.replace(metadata=meta)
