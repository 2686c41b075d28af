"""Reflectance maps of a person from one photo and a head already fitted to it.

``photo_texture`` runs the texture stage; each step's module says how:

1. ``unwrap.unwrap_photo``: the photo resampled into the template UV layout through the fitted
   mesh, with a z-buffer visibility test and a view-angle / edge-distance weight.
2. ``delight.delight``: 2nd-order SH lighting fitted over visible skin (no lips, brows, scalp,
   beard area, eye surroundings), albedo = colour / irradiance; the skin-tone gauge from the skin
   prior (``delight``'s docstring says what is and is not identifiable).
3. ``fill``: mirror symmetry (``mirror_fill``), then the procedural prior albedo
   (``prior_reflectance``) recoloured per class (skin, lips, brows: ``match_prior``) and blended in
   the gradient domain (``membrane_fill``). Eyes (iris, pupil, sclera) come from the prior, the
   photo's eye pixels being few and shadowed; the iris is scaled per channel to the observed iris
   where enough of it is seen. Brows and lips keep the photo's colour where observed.
4. NIR diffuse albedo from the VIS albedo per region (``reflectance.invert.nir_reflectance_maps``;
   brows, scalp hair and beard as hair coverage estimated from how much darker than the skin a
   texel is, inside those regions); specular albedo and roughness from the prior.

Frames: head frame and camera as ``photo_camera``; lighting and normals in the renderer's world
frame (``render.lights``: +x right, +y up, +z towards the camera), ``FRONTAL @ R @ n``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from nirvis.colour import luminance_rec709
from nirvis.faces.asset import ReflectanceMaps
from nirvis.faces.head_model import IdentityParams, load_head_model
from nirvis.faces.mesh import PART_NAMES
from nirvis.faces.regions import face_regions, smoothstep, template_uv_geometry
from nirvis.reconstruct.delight import delight
from nirvis.reconstruct.fill import match_prior, membrane_fill, mirror_fill, texel_mirror
from nirvis.reconstruct.photo_camera import PhotoCamera
from nirvis.reconstruct.unwrap import UnwrappedPhoto, unwrap_photo

__all__ = ["TextureSettings", "PhotoTexture", "photo_texture", "prior_reflectance", "texture_masks"]


@dataclass(frozen=True)
class TextureSettings:
    """Settings of the texture stage (lengths in mm on the face).

    Attributes:
        resolution: UV map size R (maps are R x R).
        max_photo_px, min_cos, edge_margin_mm, depth_jump_mm, saturation, backend:
            ``unwrap.unwrap_photo``.
        fit_iterations, outlier_sigma, sh_ridge, highlight_sigma: ``delight.delight``.
        mirror_trust: ``fill.mirror_fill``.
        blend_low, blend_high: confidence (after mirroring) at and below which a texel is filled,
            at and above which the observation is kept unchanged; between, a smoothstep mix.
        screening_length: ``fill.membrane_fill``.
        hair_contrast: a texel of the brow, scalp or beard area this much darker (relative
            luminance) than the skin counts as fully hair-covered for the NIR conversion.
        led_nm: NIR LED peak of ``diffuse_nir`` (850 or 940).
        prior_seed: the procedural identity whose maps fill in (``prior_reflectance``).
    """

    resolution: int = 512
    max_photo_px: int = 1024
    min_cos: float = 0.2
    edge_margin_mm: float = 4.0
    depth_jump_mm: float = 8.0
    saturation: int = 250
    backend: str = "auto"
    fit_iterations: int = 5
    outlier_sigma: float = 2.5
    sh_ridge: float = 1e-3
    highlight_sigma: float = 3.0
    mirror_trust: float = 0.8
    blend_low: float = 0.02
    blend_high: float = 0.3
    screening_length: float = 0.06
    hair_contrast: float = 0.6
    led_nm: float = 850.0
    prior_seed: int = 0


@dataclass(frozen=True, eq=False)
class PhotoTexture:
    """The texture stage's result.

    Attributes:
        maps: ``ReflectanceMaps`` at R x R: diffuse_vis (filled albedo, linear sRGB in [0, 1]),
            diffuse_nir, specular_vis/specular_nir/roughness from the prior, region masks
            (``face_regions`` names; brows/hair/beard are estimated hair coverage).
        visible_fraction: share of the face's skin texels (``texture_masks`` ``face``) seen with
            weight >= 0.05, in [0, 1].
        sh: float64 [9, 3] SH radiance coefficients of the photo's light (``delight.Delighting.sh``).
        mean_albedo: float64 [3] the skin-tone gauge (``delight.skin_gauge``).
        mean_colour: float64 [3] the mean fitted photo value of the skin (``delight.Delighting.mean_colour``).
        unwrapped: the resampled photo (``unwrap.UnwrappedPhoto``).
        delit: float32 [R, R, 3] de-lit albedo before filling (0 where not seen).
        confidence: float32 [R, R] in [0, 1]: weight of the photo in the final albedo (after
            mirroring; 0 = from the prior).
        timings: seconds per step: ``unwrap``, ``delight``, ``fill``, ``nir``, ``total``.
    """

    maps: ReflectanceMaps
    visible_fraction: float
    sh: np.ndarray
    mean_albedo: np.ndarray
    mean_colour: np.ndarray
    unwrapped: UnwrappedPhoto
    delit: np.ndarray
    confidence: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def prior_reflectance(resolution: int, seed: int = 0, led_nm: float = 850.0) -> ReflectanceMaps:
    """The procedural maps that fill in what a photo does not show (cached per arguments): the
    identity ``IdentityParams(seed=seed)`` (default sex, age and ancestry mix) with its moles,
    freckles and make-up removed (``reflectance.maps.procedural_reflectance``)."""
    from nirvis.reflectance.maps import procedural_reflectance, sample_appearance

    identity = IdentityParams(seed=int(seed))
    app = sample_appearance(identity)
    detail = app.detail
    if detail is not None:
        detail = dataclasses.replace(detail, makeup=False, lipstick="", lipstick_opacity=0.0, eyeliner=0.0,
                                     eyeshadow="", eyeshadow_opacity=0.0, mascara=False, n_blemishes=0)
    app = dataclasses.replace(app, n_moles=0, freckles=0.0, detail=detail)
    return procedural_reflectance(identity, int(resolution), led_nm, appearance=app)[0]


@functools.lru_cache(maxsize=4)
def texture_masks(resolution: int) -> dict[str, np.ndarray]:
    """Fixed masks of the UV layout at ``resolution`` (cached; read-only), all [R, R]:

    ``fit`` bool: skin texels the lighting may be fitted on: skin part, no lips, brows (area
    dilated by 3 mm), beard area (>= 0.5), scalp (> 0.05), not within 7 mm of the eye contours
    (landmarks 36-47: lids, lashes) nor 5 mm of the nostrils (31-35).
    ``face`` bool: the face's skin for ``visible_fraction``: skin part, front of the head
    (template normal z > 0.3), below the hairline (scalp < 0.5), no lips.
    ``eyes`` float32: iris + pupil + sclera. ``hair_area`` float32: the larger of the brow area
    (dilated), scalp and beard masks, where hair coverage is estimated.
    """
    res = int(resolution)
    reg = face_regions(res)
    geo = template_uv_geometry(res)
    model = load_head_model()
    lm = model.template.vertices[model.landmark_vertices["68"]].astype(np.float64)
    pos = geo.position.reshape(-1, 3).astype(np.float64)
    skin_part = geo.part == PART_NAMES.index("skin")

    def near(indices: range, mm: float) -> np.ndarray:
        d = np.min([np.linalg.norm(pos - lm[i], axis=1) for i in indices], axis=0)
        return (d < mm).reshape(res, res)

    brow_area = _dilate_mm(reg["brows"] > 0.02, geo.position, 3.0)
    fit = (skin_part & (reg["skin"] > 0.95) & ~brow_area & (reg["beard"] < 0.5) & (reg["hair"] <= 0.05)
           & ~near(range(36, 48), 7.0) & ~near(range(31, 36), 5.0))
    face = skin_part & (geo.normal[..., 2] > 0.3) & (reg["hair"] < 0.5) & (reg["lips"] < 0.5)
    eyes = np.clip(reg["iris"] + reg["pupil"] + reg["sclera"], 0.0, 1.0).astype(np.float32)
    hair_area = np.maximum(np.maximum(brow_area.astype(np.float32), reg["hair"]), reg["beard"]).astype(np.float32)
    out = {"fit": fit, "face": face, "eyes": eyes, "hair_area": hair_area, "brow_area": brow_area}
    for m in out.values():
        m.setflags(write=False)
    return out


def _dilate_mm(mask: np.ndarray, position: np.ndarray, mm: float) -> np.ndarray:
    """bool [R, R]: texels within ``mm`` (3D, on the template) of a texel of ``mask``."""
    from scipy.spatial import cKDTree

    pts = position[mask].astype(np.float64)
    if len(pts) == 0:
        return mask.copy()
    d, _ = cKDTree(pts).query(position.reshape(-1, 3).astype(np.float64), distance_upper_bound=mm)
    return (np.isfinite(d).reshape(mask.shape)) | mask


def photo_texture(photo: np.ndarray, vertices: np.ndarray, rotation: np.ndarray, translation: np.ndarray,
                  camera: PhotoCamera, settings: TextureSettings = TextureSettings(),
                  prior: Optional[ReflectanceMaps] = None, photo_mask: Optional[np.ndarray] = None) -> PhotoTexture:
    """Reflectance maps of the person in ``photo`` on the head model's UV layout.

    Args:
        photo: uint8 [H, W, 3] sRGB-encoded RGB (H, W = ``camera.height``, ``camera.width``).
        vertices: float [V, 3] mm, the fitted head in the template's topology (head frame).
        rotation: float [3, 3], translation: float [3] mm: head frame -> camera frame (OpenCV).
        camera: the photo's ``PhotoCamera``.
        settings: ``TextureSettings``.
        prior: maps at ``settings.resolution`` to fill in from (default ``prior_reflectance``).
        photo_mask: optional float [H, W] weight of the photo's pixels (``unwrap.unwrap_photo``).

    Returns:
        ``PhotoTexture``.
    """
    s = settings
    res = int(s.resolution)
    t0 = time.perf_counter()
    times: dict[str, float] = {}
    un = unwrap_photo(photo, vertices, rotation, translation, camera, res, max_photo_px=s.max_photo_px,
                      min_cos=s.min_cos, edge_margin_mm=s.edge_margin_mm, depth_jump_mm=s.depth_jump_mm,
                      saturation=s.saturation, backend=s.backend, photo_mask=photo_mask)
    times["unwrap"] = time.perf_counter() - t0
    masks = texture_masks(res)
    t1 = time.perf_counter()
    dl = delight(un.colour, un.normal, un.weight, masks["fit"], un.saturated, s.fit_iterations, s.outlier_sigma,
                 s.sh_ridge, s.highlight_sigma)
    times["delight"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    prior = prior if prior is not None else prior_reflectance(res, s.prior_seed, s.led_nm)
    if prior.resolution != (res, res):
        raise ValueError(f"prior: expected maps of {res} x {res}, got {prior.resolution}")
    albedo, confidence = _fill(dl.albedo, dl.weight, prior, masks, s)
    times["fill"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    maps = _with_nir(albedo, prior, masks, s)
    times["nir"] = time.perf_counter() - t3
    times["total"] = time.perf_counter() - t0
    face = masks["face"]
    visible = float((un.weight[face] >= 0.05).mean()) if face.any() else 0.0
    return PhotoTexture(maps=maps, visible_fraction=visible, sh=dl.sh, mean_albedo=dl.mean_albedo,
                        mean_colour=dl.mean_colour, unwrapped=un,
                        delit=dl.albedo, confidence=confidence, timings=times)


def _fill(albedo: np.ndarray, weight: np.ndarray, prior: ReflectanceMaps, masks: dict[str, np.ndarray],
          s: TextureSettings) -> tuple[np.ndarray, np.ndarray]:
    """(filled albedo float32 [R, R, 3], confidence float32 [R, R]) from the de-lit albedo."""
    res = albedo.shape[0]
    reg = face_regions(res)
    eyes = masks["eyes"]
    a1, c1 = mirror_fill(albedo, weight * (1.0 - eyes), texel_mirror(res), s.mirror_trust)   # eyes: prior
    brows = np.asarray(prior.regions.get("brows", reg["brows"]), np.float32)
    lips = reg["lips"]
    rest = np.clip(1.0 - lips - brows - eyes - reg["teeth"], 0.0, 1.0)
    guide = match_prior(prior.diffuse_vis, a1, c1, {"skin": rest, "lips": lips, "brows": brows})
    guide = _recolour_iris(guide, prior.diffuse_vis, albedo, weight, reg)
    covered = template_uv_geometry(res).covered
    known = (c1 >= s.blend_high) & covered
    domain = covered & (eyes < 0.5)
    filled = membrane_fill(a1, known, guide, domain, s.screening_length)
    alpha = smoothstep(c1, s.blend_low, s.blend_high)[..., None]
    out = alpha * a1 + (1.0 - alpha) * filled
    out = eyes[..., None] * guide + (1.0 - eyes[..., None]) * out
    return np.clip(out, 0.0, 1.0).astype(np.float32), (c1 * (1.0 - eyes)).astype(np.float32)


def _recolour_iris(guide: np.ndarray, prior: np.ndarray, observed: np.ndarray, weight: np.ndarray,
                   reg: dict[str, np.ndarray], min_texels: int = 8) -> np.ndarray:
    """The prior's iris scaled per channel by median(observed) / median(prior) over the iris texels
    seen with weight >= 0.2 (ratio clipped to [0.25, 4]); unchanged with fewer than ``min_texels``."""
    iris = reg["iris"]
    seen = (iris > 0.5) & (weight >= 0.2) & np.all(observed > 0, axis=-1)
    if seen.sum() < min_texels:
        return guide
    ratio = np.clip(np.median(observed[seen], axis=0) / np.maximum(np.median(prior[seen], axis=0), 1e-4), 0.25, 4.0)
    return (guide * (1.0 + iris[..., None] * (ratio - 1.0))).astype(np.float32)


def _with_nir(albedo: np.ndarray, prior: ReflectanceMaps, masks: dict[str, np.ndarray],
              s: TextureSettings) -> ReflectanceMaps:
    """``ReflectanceMaps`` of the filled albedo with the regions and NIR albedo.

    A texel of the brow, scalp or beard area is a mix of hair (coverage ``c``, from how much
    darker than the skin it is) and skin. Its NIR albedo is that mix of the NIR albedos of the
    un-mixed hair colour ``(a - (1 - c) skin) / c`` and of the skin (``skin`` = the median skin
    albedo), each converted on its own: converting the mixed colour as hair would read thin
    brows as light hair, which is bright in NIR (on rendered identities NIR brows come out 0.104
    too bright that way, 0.097 with the un-mixing). The un-mixed value is blended in only where
    the coverage is high (smoothstep 0.4 .. 0.8): at low coverage it left a bright seam along the
    hairline."""
    import torch

    from nirvis.reflectance.invert import nir_reflectance_maps, vis_to_nir_albedo

    res = albedo.shape[0]
    regions = {k: np.array(v) for k, v in face_regions(res).items()}
    lum = luminance_rec709(albedo)
    skin = masks["fit"]
    skin_rgb = np.median(albedo[skin], axis=0) if skin.any() else np.median(albedo.reshape(-1, 3), axis=0)
    skin_lum = float(luminance_rec709(skin_rgb))
    dark = np.clip((1.0 - lum / max(skin_lum, 1e-4)) / s.hair_contrast, 0.0, 1.0)
    regions["brows"] = (masks["brow_area"] * dark).astype(np.float32)
    regions["hair"] = (regions["hair"] * dark).astype(np.float32)
    regions["beard"] = (regions["beard"] * dark).astype(np.float32)
    maps = ReflectanceMaps(diffuse_vis=albedo, specular_vis=prior.specular_vis, roughness=prior.roughness,
                           normal=prior.normal, regions=regions)
    out = nir_reflectance_maps(maps, led_nm=s.led_nm)
    cover = np.clip(regions["brows"] + regions["hair"] + regions["beard"], 0.0, 1.0)
    hairy = cover > 1e-3
    if not hairy.any():
        return out
    c = cover[hairy][:, None]
    hair_rgb = np.clip((albedo[hairy] - (1.0 - c) * skin_rgb) / np.maximum(c, 0.2), 0.005, 1.0)
    one = torch.ones(len(hair_rgb), 1)
    nir_hair = vis_to_nir_albedo(torch.from_numpy(hair_rgb[:, None].astype(np.float32)), {"hair": one},
                                 led_nm=s.led_nm).numpy()[:, 0]
    nir_skin = vis_to_nir_albedo(torch.from_numpy(skin_rgb.reshape(1, 1, 3).astype(np.float32)),
                                 led_nm=s.led_nm).numpy().reshape(())
    nir = np.array(out.diffuse_nir, copy=True)
    unmixed = c[:, 0] * nir_hair + (1.0 - c[:, 0]) * float(nir_skin)
    # only where the hair clearly dominates: at low coverage the un-mixing divides the texel's
    # difference from the median skin by a small c (a bright seam along the hairline)
    trust = smoothstep(c[:, 0], 0.4, 0.8)
    nir[hairy] = (trust * unmixed + (1.0 - trust) * nir[hairy]).astype(nir.dtype)
    return dataclasses.replace(out, diffuse_nir=nir)
