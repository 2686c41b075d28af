"""``render_pair`` / ``render_batch``: the only place that knows the whole NIR/VIS recipe.

Read top to bottom: sample parameters -> geometry -> camera -> rasterise -> interpolate ->
textures -> VIS and NIR shading -> background -> anti-alias -> exposure -> sensor -> landmarks ->
ArcFace alignment -> uint8. Everything random about a pair lives in ``SampleParams``, drawn from a
``SampleSpace`` with the pair's own seed, so a pair never depends on batch size, worker count or
backend scheduling.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from nirvis.faces import Expression, FaceAsset, IdentityParams, build_heads, load_head_model
from nirvis.faces.head_model import sample_expression
from nirvis.render import align as align_mod
from nirvis.render._linalg import batched_matvec
from nirvis.render.accessories import GlassesParams, glasses_topology, glasses_vertices, sample_glasses
from nirvis.render.antialias import antialias
from nirvis.render.camera import (PerspectiveCamera, clip_to_pixels, focal_length_px, model_view_projection,
                                  pose_rotation, to_clip)
from nirvis.render.interpolate import interpolate
from nirvis.render.lights import (LightingConfig, sample_nir_lighting, sample_vis_lighting,
                                  sh_irradiance)
from nirvis.render.occlusion import orthographic_light_clip, vertex_ambient_occlusion
from nirvis.render.pixels import PixelList, gather_pixels, pixel_list, scatter_pixels
from nirvis.render.raster import rasterize_depth, rasterize_ids, resolve_backend
from nirvis.render.raster.common import barycentrics_from_ids, pixel_centres_ndc
from nirvis.render.sensor import (NirSensorConfig, NirSensorParams, VisSensorConfig, VisSensorParams, apply_nir_sensor,
                                  apply_vis_sensor, sample_nir_sensor, sample_vis_sensor, to_uint8)
from nirvis.render.shading import (SSS_SIGMA_MM, fresnel_schlick, ggx_specular, masked_blur, shadow_lookup,
                                   vertex_normals)
from nirvis.render.texture import MipStack, build_mips, texture, uv_footprint

#: Bumped whenever the same (face, params) would render other bytes. 3: procedural identities
#: gained scalp hair, their lips mask covers the whole lower lip (landmarks 56/58 fixed), lips
#: keep more melanin (they were paler than the skin).
RENDERER_VERSION = "3"
#: Channel layout of ``PreparedFace.material``.
MATERIAL_CHANNELS = ("vis_r", "vis_g", "vis_b", "nir", "vis_specular", "nir_specular", "roughness")


# ------------------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class SampleSpace:
    """Ranges every random choice of a rendered pair is drawn from (uniform, inclusive).

    Attributes:
        yaw_deg, pitch_deg, roll_deg: head pose ranges (see ``camera.pose_rotation`` for signs).
        distance_mm: camera distance to the eye midpoint.
        face_fill: fraction of the raw image height spanned by 200 mm at the head's distance;
            the focal length follows from it (so perspective varies with distance, framing not).
        expression_probability: share of samples with a non-neutral expression.
        glasses_probability: share of samples wearing procedural eyeglasses.
        expression_intensity: maximum face-unit weight of a sampled expression.
        pairing: ``shared`` (VIS and NIR share geometry and camera: pixel-aligned) or
            ``independent`` (each spectrum draws its own pose, expression and camera).
        raw_resolution: size of the render before ArcFace alignment (square).
        led_nm: NIR LED wavelength (850 or 940).
        lighting, vis_sensor, nir_sensor: nested ranges.
    """

    yaw_deg: tuple[float, float] = (-40.0, 40.0)
    pitch_deg: tuple[float, float] = (-20.0, 20.0)
    roll_deg: tuple[float, float] = (-10.0, 10.0)
    distance_mm: tuple[float, float] = (450.0, 1500.0)
    face_fill: tuple[float, float] = (0.55, 0.7)
    expression_probability: float = 0.6
    expression_intensity: float = 0.7
    glasses_probability: float = 0.2
    pairing: str = "shared"
    raw_resolution: int = 160
    led_nm: int = 850
    lighting: LightingConfig = field(default_factory=LightingConfig)
    vis_sensor: VisSensorConfig = field(default_factory=VisSensorConfig)
    nir_sensor: NirSensorConfig = field(default_factory=NirSensorConfig)

    def __post_init__(self) -> None:
        for name in ("yaw_deg", "pitch_deg", "roll_deg", "distance_mm", "face_fill"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"SampleSpace.{name}: lower bound {lo} exceeds upper bound {hi}")
        if self.distance_mm[0] <= 200:
            raise ValueError(f"SampleSpace.distance_mm must stay above 200 mm, got {self.distance_mm}")
        if self.pairing not in ("shared", "independent"):
            raise ValueError(f"SampleSpace.pairing must be 'shared' or 'independent', got {self.pairing!r}")
        if self.led_nm not in (850, 940):
            raise ValueError(f"SampleSpace.led_nm must be 850 or 940, got {self.led_nm}")
        if not 64 <= self.raw_resolution <= 1024:
            raise ValueError(f"SampleSpace.raw_resolution must lie in [64, 1024], got {self.raw_resolution}")
        if not 0.0 <= self.glasses_probability <= 1.0:
            raise ValueError(f"SampleSpace.glasses_probability must lie in [0, 1], got {self.glasses_probability}")
        if not 0.0 <= self.expression_probability <= 1.0:
            raise ValueError(f"SampleSpace.expression_probability must lie in [0, 1], got {self.expression_probability}")


@dataclass(frozen=True)
class View:
    """Geometry and camera of one rendering (one spectrum of a pair)."""

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    distance_mm: float
    focal_mm: float
    expression: dict[str, float]


@dataclass(frozen=True)
class SampleParams:
    """Everything random about one rendered pair; stored verbatim in the sample's JSON."""

    seed: int
    vis_view: View
    nir_view: View
    vis_lighting: dict[str, Any]
    nir_lighting: dict[str, Any]
    vis_sensor: dict[str, Any]
    nir_sensor: dict[str, Any]
    background: dict[str, Any]
    pairing: str
    led_nm: int
    raw_resolution: int
    accessories: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _focal_for_fill(distance_mm: float, fill: float, resolution: int) -> float:
    """35 mm-equivalent focal length (diagonal convention) that makes 200 mm at ``distance_mm``
    span ``fill`` of the image height."""
    f_px = fill * resolution * distance_mm / 200.0
    diag_px = math.hypot(resolution, resolution)
    return f_px * 43.26661530556787 / diag_px


def _uniform(rng: np.random.Generator, r: tuple[float, float]) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def sample_params(space: SampleSpace, seed: int) -> SampleParams:
    """Draw a pair's parameters from ``space``; the same (space, seed) always gives the same pair."""
    rng = np.random.Generator(np.random.PCG64([int(seed), 0x9A12]))
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))

    def view() -> View:
        distance = _uniform(rng, space.distance_mm)
        fill = _uniform(rng, space.face_fill)
        expr: dict[str, float] = {}
        if rng.random() < space.expression_probability:
            expr = dict(sample_expression(int(rng.integers(0, 2**31)), intensity=space.expression_intensity).weights)
        return View(yaw_deg=_uniform(rng, space.yaw_deg), pitch_deg=_uniform(rng, space.pitch_deg),
                    roll_deg=_uniform(rng, space.roll_deg), distance_mm=distance,
                    focal_mm=_focal_for_fill(distance, fill, space.raw_resolution), expression=expr)

    vis_view = view()
    nir_view = view() if space.pairing == "independent" else vis_view
    glasses = sample_glasses(rng, space.glasses_probability)
    vis_light = sample_vis_lighting(space.lighting, 1, gen)
    nir_light = sample_nir_lighting(space.lighting, 1, gen)
    vis_sensor = sample_vis_sensor(space.vis_sensor, 1, gen)
    nir_sensor = sample_nir_sensor(space.nir_sensor, 1, gen)
    background = {
        "vis_colors": torch.rand(2, 3, generator=gen).tolist(),
        "vis_angle_deg": float(torch.rand(1, generator=gen) * 360.0),
        "vis_noise_seed": int(torch.randint(0, 2**31 - 1, (1,), generator=gen)),
        "nir_level": float(torch.rand(1, generator=gen) * 0.06),
    }
    return SampleParams(
        seed=int(seed), vis_view=vis_view, nir_view=nir_view,
        vis_lighting={k: getattr(vis_light, k)[0].tolist() for k in ("sh", "directions", "colors")},
        nir_lighting={k: getattr(nir_light, k)[0].tolist() for k in ("led_intensity", "led_offset_mm", "ambient_sh")},
        vis_sensor=vis_sensor.to_dict(), nir_sensor=nir_sensor.to_dict(), background=background,
        pairing=space.pairing, led_nm=space.led_nm, raw_resolution=space.raw_resolution,
        accessories={"glasses": glasses.to_dict()},
    )


# ------------------------------------------------------------------------------ prepared faces


@dataclass(frozen=True, eq=False)
class PreparedFace:
    """A FaceAsset turned into render-ready tensors (build once per identity, reuse per pair).

    Attributes:
        vertices: float32 [V, 3] mm (neutral expression).
        faces, uv_faces: int64 [F, 3]; uvs: float32 [T, 2].
        ao: float32 [V, 1] ambient occlusion of the neutral mesh.
        material: MipStack of the packed maps, channels ``MATERIAL_CHANNELS`` (one trilinear
            lookup serves both spectra).
        skin_vertex: float32 [V, 1], 1 for skin vertices (where subsurface blur applies).
        landmarks5, landmarks68: (face_index int64 [K], barycentric float32 [K, 3]).
        identity: the procedural identity (expressions can be applied) or None.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    uv_faces: torch.Tensor
    uvs: torch.Tensor
    ao: torch.Tensor
    material: MipStack
    skin_vertex: torch.Tensor
    landmarks5: tuple[torch.Tensor, torch.Tensor]
    landmarks68: Optional[tuple[torch.Tensor, torch.Tensor]]
    identity: Optional[IdentityParams]
    led_nm: int


@functools.lru_cache(maxsize=4)
def _template_ao(backend: str) -> torch.Tensor:
    t = load_head_model().template
    v = torch.from_numpy(t.vertices)
    f = torch.from_numpy(t.faces).long()
    return vertex_ambient_occlusion(v, f, vertex_normals(v[None], f)[0], backend=backend)


def prepare_face(asset: FaceAsset, led_nm: int = 850, nir_method: str = "spectral", backend: str = "auto",
                 device: str | torch.device = "cpu") -> PreparedFace:
    """Render-ready tensors of ``asset``; computes the NIR albedo with ``nirvis.reflectance``
    when the asset has none (``nir_method``: ``spectral``, ``red`` or ``luma``)."""
    from nirvis.reflectance.invert import nir_reflectance_maps

    if "5" not in asset.landmarks:
        raise ValueError("prepare_face: the asset has no 5-point landmarks (needed for ArcFace alignment)")
    maps = asset.maps
    stored_led = asset.metadata.get("nir_led_nm")
    if maps.diffuse_nir is None or maps.specular_nir is None or (stored_led is not None and stored_led != led_nm):
        maps = nir_reflectance_maps(maps, led_nm=led_nm, method=nir_method)
    dev = torch.device(device)
    m = asset.mesh
    v = torch.from_numpy(m.vertices).to(dev)
    f = torch.from_numpy(m.faces).long().to(dev)
    model = load_head_model()
    procedural = asset.metadata.get("source") == "procedural" and len(m.vertices) == len(model.template.vertices)
    if procedural:
        ao = _template_ao(resolve_backend(backend)).to(dev)
    else:
        ao = vertex_ambient_occlusion(v, f, vertex_normals(v[None], f)[0], backend=backend)
    skin = torch.zeros(len(v), 1, device=dev)
    skin[f[torch.from_numpy(m.face_parts == 0).to(dev)].reshape(-1)] = 1.0

    packed = np.concatenate([maps.diffuse_vis, maps.diffuse_nir[..., None], maps.specular_vis[..., None],
                             maps.specular_nir[..., None], maps.roughness[..., None]], axis=-1)

    def lm(name: str):
        if name not in asset.landmarks:
            return None
        p = asset.landmarks[name]
        return torch.from_numpy(p.face_index).long().to(dev), torch.from_numpy(p.barycentric).to(dev)

    identity = IdentityParams.from_dict(asset.metadata["identity"]) if procedural else None
    return PreparedFace(
        vertices=v, faces=f, uv_faces=torch.from_numpy(m.uv_faces).long().to(dev), uvs=torch.from_numpy(m.uvs).to(dev),
        ao=ao, material=build_mips(torch.from_numpy(packed).to(dev)), skin_vertex=skin, landmarks5=lm("5"), landmarks68=lm("68"), identity=identity, led_nm=led_nm)


# -------------------------------------------------------------------------------------- output


@dataclass(frozen=True, eq=False)
class RenderedBatch:
    """Rendered pairs (aligned crops, or raw renders of side R = raw_resolution with ``align=False``).

    Attributes:
        vis: uint8 [B, 112, 112, 3] sRGB ([B, R, R, 3] raw).
        nir: uint8 [B, 112, 112] grey ([B, R, R] raw).
        vis_landmarks5, nir_landmarks5: float32 [B, 5, 2] pixel positions in the aligned crops
            (or the raw renders), pixel centres at +0.5, row 0 at the top.
        vis_landmarks68, nir_landmarks68: float32 [B, 68, 2] or None.
        passes: optional aligned extra passes by name (``mask`` [B, 112, 112] float,
            ``depth_mm`` [B, 112, 112], ``normal`` [B, 112, 112, 3]).
        params: the SampleParams of each pair.
    """

    vis: torch.Tensor
    nir: torch.Tensor
    vis_landmarks5: torch.Tensor
    nir_landmarks5: torch.Tensor
    vis_landmarks68: Optional[torch.Tensor]
    nir_landmarks68: Optional[torch.Tensor]
    passes: dict[str, torch.Tensor]
    params: list[SampleParams]


# ------------------------------------------------------------------------------------ pipeline


def _glasses(params: Sequence[SampleParams]) -> list[GlassesParams]:
    out = []
    for p in params:
        g = dict(p.accessories.get("glasses", {"enabled": False}))
        for key in ("frame_vis_rgb",):
            if key in g:
                g[key] = tuple(g[key])
        out.append(GlassesParams(**g))
    return out


def _views_geometry(faces: Sequence[PreparedFace], views: Sequence[View],
                    glasses: Optional[Sequence[GlassesParams]] = None) -> torch.Tensor:
    """World-frame vertices [B, V (+ Vg), 3] (mm) for each (face, view): expression, glasses
    (appended after the head's vertices when ``glasses`` is given), then pose."""
    dev = faces[0].vertices.device
    verts = []
    expr_ids = [k for k, (pf, vw) in enumerate(zip(faces, views)) if pf.identity is not None and vw.expression]
    built = {}
    for k in expr_ids:  # one head at a time: BLAS rounding must not depend on the batch
        out = build_heads([faces[k].identity], [Expression(views[k].expression)])
        built[k] = torch.from_numpy(out[0]).to(dev)
    for k, pf in enumerate(faces):
        verts.append(built.get(k, pf.vertices))
    v = torch.stack(verts)
    if glasses is not None:
        fi, bary = faces[0].landmarks5
        eyes = (v[:, faces[0].faces[fi[:2]]] * bary[:2].view(1, 2, 3, 1)).sum(2)          # [B, 2, 3]
        band = (v[..., 1] - eyes[:, :1, 1]).abs() < 25.0
        half = torch.where(band, v[..., 0].abs(), torch.zeros_like(v[..., 0])).amax(1) * 0.92
        v = torch.cat([v, glasses_vertices(list(glasses), eyes, half)], 1)
    rot = pose_rotation(torch.tensor([vw.yaw_deg for vw in views]), torch.tensor([vw.pitch_deg for vw in views]),
                        torch.tensor([vw.roll_deg for vw in views])).to(v)
    return batched_matvec(rot, v)


def _clip(world: torch.Tensor, views: Sequence[View], res: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip positions [B, V, 4] and focal lengths in pixels [B]."""
    mvps, fpx = [], []
    eye = torch.eye(3).unsqueeze(0)
    for vw in views:
        cam = PerspectiveCamera(distance_mm=vw.distance_mm, focal_mm=vw.focal_mm, resolution=(res, res),
                                near_mm=max(50.0, vw.distance_mm - 400.0), far_mm=vw.distance_mm + 600.0)
        mvps.append(model_view_projection(cam, eye, torch.zeros(1, 3))[0])
        fpx.append(focal_length_px(cam))
    mvp = torch.stack(mvps).to(world)
    return to_clip(world, mvp), torch.tensor(fpx, dtype=world.dtype, device=world.device)


def _stack_dicts(dicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-sample parameter dicts (values as 1-element lists) -> one dict of B-element lists."""
    return {k: [v for d in dicts for v in d[k]] for k in dicts[0]}


def _sample_materials(faces: Sequence[PreparedFace], uv: torch.Tensor, footprint: torch.Tensor) -> torch.Tensor:
    """Packed material [B, H, W, 7]: one texture lookup per distinct face in the batch (textures
    are never copied into a batch tensor)."""
    groups: dict[int, list[int]] = {}
    for k, pf in enumerate(faces):
        groups.setdefault(id(pf), []).append(k)
    out = None
    for ids in groups.values():
        sel = torch.tensor(ids, device=uv.device)
        m = texture(faces[ids[0]].material, uv[sel], footprint[sel])
        if out is None:
            out = m.new_zeros(*uv.shape[:3], m.shape[-1])
        out[sel] = m
    return out


def _vis_background(params: Sequence[SampleParams], res: int, device) -> torch.Tensor:
    """Smooth two-colour gradients with low-frequency noise, linear RGB float32 [B, H, W, 3].

    Built for the whole batch at once: every step is elementwise (or one bicubic upsampling per
    image plane), so a sample's background is the same whatever batch it is in."""
    b = len(params)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    angles = [math.radians(p.background["vis_angle_deg"]) for p in params]
    cos = torch.tensor([math.cos(a) for a in angles]).view(b, 1, 1)
    sin = torch.tensor([math.sin(a) for a in angles]).view(b, 1, 1)
    t = ((xs * cos + ys * sin) * 0.5 + 0.5).unsqueeze(-1)               # [B, H, W, 1]
    colors = torch.tensor([p.background["vis_colors"] for p in params])  # [B, 2, 3]
    c0, c1 = colors[:, 0].view(b, 1, 1, 3), colors[:, 1].view(b, 1, 1, 3)
    coarse = torch.cat([torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(p.background["vis_noise_seed"]))
                        for p in params])                               # [B, 1, 6, 6], each its own seed
    noise = F.interpolate(coarse, size=(res, res), mode="bicubic", align_corners=False)[:, 0].unsqueeze(-1)
    img = (c0 * (1 - t) + c1 * t) * (0.6 + 0.8 * noise)
    return ((img.clamp(0, 1) ** 2.2) * 0.6).to(device)


@dataclass(frozen=True, eq=False)
class GBuffer:
    """Everything the shaders need from one geometry pass (shared by VIS and NIR when paired).

    Surface attributes are stored for the covered pixels only (``pixels``, layout [B, 1, N, C],
    see ``nirvis.render.pixels``); padding slots have ``skin`` 0 and are never written back.
    Lens attributes likewise for the lens pixels (``lens_pixels``, [B, 1, NL, C]).
    """

    world: torch.Tensor        # [B, V + Vg, 3] mm, world frame (head, then glasses)
    tri: torch.Tensor          # [F, 3] opaque triangles (head + glasses frame)
    clip: torch.Tensor         # [B, V + Vg, 4]
    rast: torch.Tensor         # [B, H, W, 4]
    mask: torch.Tensor         # [B, H, W, 1] image
    pixels: PixelList          # covered pixels (N per image, padded)
    pos: torch.Tensor          # [B, 1, N, 3] mm
    normal: torch.Tensor       # [B, 1, N, 3] unit
    view_dir: torch.Tensor     # [B, 1, N, 3] unit, surface -> camera
    ao: torch.Tensor           # [B, 1, N, 1]
    skin: torch.Tensor         # [B, 1, N, 1] subsurface weight (0 on padding)
    material: torch.Tensor     # [B, 1, N, 7] (MATERIAL_CHANNELS)
    cam_pos: torch.Tensor      # [B, 3]
    mm_per_px: torch.Tensor    # [B]
    lens_pixels: Optional[PixelList] = None     # pixels where a lens lies in front of the scene
    lens_normal: Optional[torch.Tensor] = None  # [B, 1, NL, 3]
    lens_view: Optional[torch.Tensor] = None    # [B, 1, NL, 3]
    lens_pos: Optional[torch.Tensor] = None     # [B, 1, NL, 3]


@functools.lru_cache(maxsize=1)
def _glasses_faces() -> tuple[int, torch.Tensor, torch.Tensor]:
    n, f, is_lens = glasses_topology()
    return n, torch.from_numpy(f[~is_lens]), torch.from_numpy(f[is_lens])


def _geometry_pass(faces: Sequence[PreparedFace], views: Sequence[View], res: int, backend: str,
                   glasses: Sequence[GlassesParams]) -> GBuffer:
    pf0 = faces[0]
    n_head = pf0.vertices.shape[0]
    n_glasses, frame_f, lens_f = _glasses_faces()
    dev = pf0.vertices.device
    tri = torch.cat([pf0.faces, frame_f.to(dev) + n_head])
    world = _views_geometry(faces, views, glasses)
    clip, fpx = _clip(world, views, res)
    ids = rasterize_ids(clip, tri, (res, res), backend=backend)
    pixels = pixel_list(ids > 0)
    rast_px = _rasterize_pixels(clip, tri, ids, pixels)                  # [B, 1, N, 4]
    rast = scatter_pixels(rast_px, pixels)
    mask = (rast[..., 3:4] > 0).to(world.dtype)
    mask_px = pixels.valid.to(world.dtype).view(-1, 1, pixels.count, 1)
    # one gather for every per-vertex attribute: position (3), normal (3), AO, skin, glasses frame
    b = len(faces)
    head_attr = torch.stack([torch.cat([pf.ao, pf.skin_vertex, torch.zeros_like(pf.ao)], -1) for pf in faces])
    glass_attr = torch.tensor([1.0, 0.0, 1.0], device=dev).expand(b, n_glasses, 3)
    per_vertex = torch.cat([head_attr, glass_attr], 1)
    attrs = interpolate(torch.cat([world, vertex_normals(world, tri), per_vertex], -1), rast_px, tri)
    pos = attrs[..., 0:3]
    normal = F.normalize(attrs[..., 3:6], dim=-1, eps=1e-12)
    frame = attrs[..., 8:9]
    uvs = torch.cat([pf0.uvs, pf0.uvs.new_zeros(1, 2)])
    uv_faces = torch.cat([pf0.uv_faces, torch.full_like(frame_f, len(pf0.uvs)).to(dev)])
    uv = interpolate(uvs, rast_px, uv_faces)
    # the footprint needs image neighbours: UVs and the textured area go back to images for it
    textured = scatter_pixels(torch.cat([uv, (frame < 0.5).to(uv.dtype)], -1), pixels)
    footprint = uv_footprint(textured[..., :2], (mask[..., 0] > 0) & (textured[..., 2] > 0))
    material = _sample_materials(faces, uv, gather_pixels(footprint.unsqueeze(-1), pixels)[..., 0])
    frame_mat = torch.tensor([[*g.frame_vis_rgb, g.frame_nir, 0.04, 0.04, 0.3] for g in glasses],
                             dtype=material.dtype, device=dev).view(b, 1, 1, 7)
    material = material * (1 - frame) + frame_mat * frame
    cam_pos = torch.tensor([[0.0, 0.0, vw.distance_mm] for vw in views], dtype=world.dtype, device=world.device)
    view_dir = F.normalize(cam_pos.view(-1, 1, 1, 3) - pos, dim=-1, eps=1e-12)
    mm_per_px = torch.tensor([vw.distance_mm for vw in views], dtype=world.dtype, device=world.device) / fpx
    lens_pixels = lens_normal = lens_view = lens_pos = None
    if any(g.enabled for g in glasses):
        lens_tri = lens_f.to(dev) + n_head
        lids = rasterize_ids(clip, lens_tri, (res, res), backend=backend)
        candidates = pixel_list(lids > 0)
        lrast_c = _rasterize_pixels(clip, lens_tri, lids, candidates)
        in_front = (lrast_c[..., 3] > 0) & ((gather_pixels(mask, candidates)[..., 0] == 0)
                                            | (lrast_c[..., 2] < gather_pixels(rast[..., 2:3], candidates)[..., 0]))
        lens_pixels = pixel_list(scatter_pixels(in_front.to(world.dtype).unsqueeze(-1), candidates)[..., 0] > 0)
        lrast = gather_pixels(scatter_pixels(lrast_c, candidates), lens_pixels)
        lattr = interpolate(torch.cat([world, vertex_normals(world, lens_tri)], -1), lrast, lens_tri)
        lens_pos = lattr[..., 0:3]
        lens_view = F.normalize(cam_pos.view(-1, 1, 1, 3) - lens_pos, dim=-1, eps=1e-12)
        n = F.normalize(lattr[..., 3:6], dim=-1, eps=1e-12)
        lens_normal = torch.where((n * lens_view).sum(-1, keepdim=True) < 0, -n, n)   # face the camera
    return GBuffer(world=world, tri=tri, clip=clip, rast=rast, mask=mask, pixels=pixels, pos=pos, normal=normal,
                   view_dir=view_dir, ao=attrs[..., 6:7], skin=attrs[..., 7:8] * mask_px * (1 - frame),
                   material=material, cam_pos=cam_pos, mm_per_px=mm_per_px, lens_pixels=lens_pixels,
                   lens_normal=lens_normal, lens_view=lens_view, lens_pos=lens_pos)


def _rasterize_pixels(clip: torch.Tensor, tri: torch.Tensor, ids: torch.Tensor, pixels: PixelList) -> torch.Tensor:
    """Differentiable rasteriser output [B, 1, N, 4] (u, v, z/w, id + 1) at the listed pixels of
    the triangle-id image ``ids`` int32 [B, H, W] (what ``rasterize`` gives there)."""
    h, w = ids.shape[1:]
    px, py = pixel_centres_ndc(h, w, clip.device, clip.dtype)
    rows, cols = pixels.rows_cols()
    ids_px = gather_pixels(ids.unsqueeze(-1), pixels)[..., 0]             # [B, 1, N]
    return barycentrics_from_ids(clip, tri, ids_px, (px[cols].unsqueeze(1), py[rows].unsqueeze(1)))


def _lens_layer(kind: str, color: torch.Tensor, g: GBuffer, params: Sequence[SampleParams],
                glasses: Sequence[GlassesParams], scale: torch.Tensor) -> torch.Tensor:
    """Composite the clear lenses over ``color``: transmission and a glossy reflection (F0 0.04)."""
    if g.lens_pixels is None:
        return color
    idx = torch.tensor([k for k, gl in enumerate(glasses) if gl.enabled], device=color.device)
    pixels = g.lens_pixels.subset(idx)
    lens = pixels.valid.to(color.dtype).view(len(idx), 1, -1, 1)
    over = _lens_over(kind, gather_pixels(color[idx], pixels), lens, g.lens_normal[idx], g.lens_view[idx],
                      g.lens_pos[idx], g.cam_pos[idx], [params[i] for i in idx.tolist()],
                      [glasses[i] for i in idx.tolist()], scale[idx])
    out = color.clone()
    out[idx] = scatter_pixels(over, pixels, color[idx])
    return out


def _lens_over(kind: str, color: torch.Tensor, lens: torch.Tensor, n: torch.Tensor, v: torch.Tensor,
               lens_pos: torch.Tensor, cam_pos: torch.Tensor, params: Sequence[SampleParams],
               glasses: Sequence[GlassesParams], scale: torch.Tensor) -> torch.Tensor:
    """Lens transmission + reflection for the samples that wear glasses."""
    f0 = torch.full_like(n[..., :1], 0.04)
    rough = torch.full_like(n[..., :1], 0.08)
    fres = fresnel_schlick((n * v).sum(-1, keepdim=True), f0)
    trans = torch.tensor([gl.lens_transmission for gl in glasses], dtype=color.dtype, device=color.device).view(-1, 1, 1, 1)
    if kind == "vis":
        r = F.normalize(2 * (n * v).sum(-1, keepdim=True) * n - v, dim=-1)
        refl = fres * sh_irradiance(r, _params_tensor(params, "vis_lighting", "sh", n)).clamp(min=0) / math.pi
        dirs = _params_tensor(params, "vis_lighting", "directions", n)
        cols = _params_tensor(params, "vis_lighting", "colors", n)
        for k in range(dirs.shape[1]):
            l = dirs[:, k].view(-1, 1, 1, 3).expand_as(n)
            refl = refl + cols[:, k].view(-1, 1, 1, 3) * ggx_specular(n, v, l, rough, f0)
    else:
        inten = _params_tensor(params, "nir_lighting", "led_intensity", n)
        offset = _params_tensor(params, "nir_lighting", "led_offset_mm", n)
        to_led = (cam_pos + offset).view(-1, 1, 1, 3) - lens_pos
        dist = to_led.norm(dim=-1, keepdim=True).clamp(min=1.0)
        refl = inten.view(-1, 1, 1, 1) * (1000.0 / dist) ** 2 * ggx_specular(n, v, to_led / dist, rough, f0)
    over = color * trans * (1 - fres) + refl * scale.view(-1, 1, 1, 1)
    return torch.where(lens > 0, over, color)


def _params_tensor(params: Sequence[SampleParams], group: str, key: str, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor([getattr(p, group)[key] for p in params], dtype=like.dtype, device=like.device)


def _subsurface(irradiance: torch.Tensor, g: GBuffer, spectrum: str) -> torch.Tensor:
    """Blur diffuse irradiance [B, 1, N, C] (covered pixels) over the skin with the spectrum's
    widths (mm -> px); the blur runs on images, the result comes back per covered pixel."""
    sigma_mm = torch.tensor(SSS_SIGMA_MM[spectrum], dtype=irradiance.dtype, device=irradiance.device)
    sigma_px = sigma_mm.view(1, -1) / g.mm_per_px.view(-1, 1)
    img = scatter_pixels(irradiance, g.pixels)
    skin = scatter_pixels(g.skin, g.pixels)
    blurred = masked_blur(img, skin, sigma_px.expand(irradiance.shape[0], irradiance.shape[-1]))
    return gather_pixels(blurred, g.pixels)


def _shade_vis(g: GBuffer, params: Sequence[SampleParams], tri: torch.Tensor) -> torch.Tensor:
    """Linear-RGB radiance [B, 1, N, 3] of the covered pixels: SH environment + directional lights
    (shadowed), SSS, GGX."""
    albedo, spec, rough = g.material[..., 0:3], g.material[..., 4:5], g.material[..., 6:7]
    sh = _params_tensor(params, "vis_lighting", "sh", g.pos)
    dirs = _params_tensor(params, "vis_lighting", "directions", g.pos)
    cols = _params_tensor(params, "vis_lighting", "colors", g.pos)
    irr = sh_irradiance(g.normal, sh).clamp(min=0) * g.ao
    specular = torch.zeros_like(albedo)
    for k in range(dirs.shape[1]):
        active = (cols[:, k].abs().amax(-1) > 0).nonzero()[:, 0]     # samples using light slot k
        if len(active) == 0:
            continue
        n, v, p = g.normal[active], g.view_dir[active], g.pos[active]
        l = dirs[active, k].view(-1, 1, 1, 3).expand_as(n)
        lit = _shadow(g.world[active], tri, dirs[active, k], p)
        c = cols[active, k].view(-1, 1, 1, 3)
        irr = irr.index_add(0, active, c * (n * l).sum(-1, keepdim=True).clamp(min=0) * lit)
        specular = specular.index_add(0, active, c * ggx_specular(n, v, l, rough[active], spec[active]) * lit)
    return albedo * _subsurface(irr, g, "vis") / math.pi + specular


def _shade_nir(g: GBuffer, params: Sequence[SampleParams]) -> torch.Tensor:
    """Linear NIR radiance [B, 1, N, 1] of the covered pixels: LED ring at the camera
    (inverse-square) + ambient share."""
    albedo, spec, rough = g.material[..., 3:4], g.material[..., 5:6], g.material[..., 6:7]
    inten = _params_tensor(params, "nir_lighting", "led_intensity", g.pos)
    offset = _params_tensor(params, "nir_lighting", "led_offset_mm", g.pos)
    amb = _params_tensor(params, "nir_lighting", "ambient_sh", g.pos)
    to_led = (g.cam_pos + offset).view(-1, 1, 1, 3) - g.pos
    dist = to_led.norm(dim=-1, keepdim=True).clamp(min=1.0)
    l = to_led / dist
    e_led = inten.view(-1, 1, 1, 1) * (1000.0 / dist) ** 2
    irr = e_led * (g.normal * l).sum(-1, keepdim=True).clamp(min=0) + sh_irradiance(g.normal, amb).clamp(min=0) * g.ao
    specular = e_led * ggx_specular(g.normal, g.view_dir, l, rough, spec)
    return albedo * _subsurface(irr, g, "nir") / math.pi + specular


def _shadow(world: torch.Tensor, tri: torch.Tensor, direction: torch.Tensor, pos: torch.Tensor,
            res: int = 128) -> torch.Tensor:
    """Directional-light visibility [B, H, W, 1] of surface points ``pos`` [B, H, W, 3] (or a
    covered-pixel list [B, 1, N, 3]) through a shadow map.
    Each sample's map covers its own head (extent from its own vertices), so a pair never depends
    on the batch it is rendered in."""
    half = world.abs().amax(dim=(1, 2)) * 1.05                           # [B]
    depth = rasterize_depth(orthographic_light_clip(world, direction, half, half), tri, (res, res))
    b, h, w, _ = pos.shape
    p_l = orthographic_light_clip(pos.reshape(b, -1, 3), direction, half, half)[..., :3].reshape(b, h, w, 3)
    return shadow_lookup(p_l, depth, bias=6.0 / res)                     # 3 texels of depth


def _auto_exposure(img: torch.Tensor, mask: torch.Tensor, target: float = 0.45) -> torch.Tensor:
    """Per-image exposure scale [B] putting the 90th percentile of the face's luminance at ``target``.

    ``img`` [B, H, W, C] radiance of the covered pixels (``[B, 1, N, C]`` lists; the background
    is black before compositing, so the brightest pixel is the fallback with few face pixels),
    ``mask`` [B, H, W, 1] face weights."""
    lum = img.mean(-1) if img.shape[-1] > 1 else img[..., 0]
    lum = lum.reshape(img.shape[0], -1)                                  # [B, P]
    face = mask.reshape(img.shape[0], -1) > 0                            # [B, P]
    ref = _face_quantile90(lum, face)
    few = face.sum(1) <= 16
    if bool(few.any()):
        ref = torch.where(few, lum.amax(1).clamp(min=0), ref)
    return target / ref.clamp(min=1e-6)


def _face_quantile90(lum: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
    """``torch.quantile(lum[k][face[k]], 0.9)`` for every row k of float [B, P] / bool [B, P],
    as float [B] (same bytes, same gradients; rows with no face pixel give 0).

    Only the upper tail is selected (one batched ``topk`` instead of a full sort per image), then
    combined with ``torch.quantile``'s own linear interpolation: rank ``r = 0.9 (n - 1)`` in the
    input's dtype, ``lerp(v[floor r], v[ceil r], r - floor r)``."""
    n = face.sum(1)                                                      # [B] face pixels per image
    if bool(torch.isnan(lum[face]).any()):                              # quantile's NaN rule: keep it
        return torch.stack([torch.quantile(lum[k][face[k]], 0.9) if int(n[k]) else lum.new_zeros(())
                            for k in range(lum.shape[0])])
    rank = torch.tensor(0.9, dtype=lum.dtype, device=lum.device) * (n - 1).clamp(min=0).to(lum.dtype)
    below = rank.long()
    weight = rank - below
    above = rank.ceil().long()
    # positions counted from the top of each row's face values: the k-th largest has index n-1-k
    depth = int((n - below).max()) if len(n) else 0
    if depth == 0:
        return lum.new_zeros(lum.shape[0])
    top = torch.where(face, lum, torch.full_like(lum, -math.inf)).topk(depth, dim=1).values   # [B, depth]
    from_top = lambda r: (n - 1 - r).clamp(min=0).unsqueeze(1)          # noqa: E731
    v_below = top.gather(1, from_top(below))[:, 0]
    v_above = top.gather(1, from_top(above))[:, 0]
    return torch.where(n > 0, torch.lerp(v_below, v_above, weight), lum.new_zeros(()))


def _landmarks(world: torch.Tensor, lm: Optional[tuple[torch.Tensor, torch.Tensor]], tri: torch.Tensor,
               views: Sequence[View], res: int) -> Optional[torch.Tensor]:
    """Pixel positions [B, K, 2] of surface landmarks (renderer pixel convention)."""
    if lm is None:
        return None
    fi, bary = lm
    pts = (world[:, tri[fi]] * bary.view(1, -1, 3, 1)).sum(2)          # [B, K, 3]
    clip, _ = _clip(pts, views, res)
    return clip_to_pixels(clip, (res, res))


def render_batch(faces: Sequence[PreparedFace], params: Sequence[SampleParams], backend: str = "auto",
                 passes: Sequence[str] = (), align: bool = True) -> RenderedBatch:
    """Render aligned NIR/VIS pairs for prepared faces (same topology) and their sample parameters.

    Args:
        faces: B PreparedFaces sharing one mesh topology (e.g. procedural identities).
        params: B SampleParams (from ``sample_params``), all with the same ``raw_resolution``.
        backend: rasterisation backend name (see ``nirvis.render.raster``).
        passes: extra aligned outputs among ``mask``, ``depth_mm``, ``normal`` (VIS geometry).
        align: True (default): 112 x 112 ArcFace crops. False: the raw ``raw_resolution``
            renders, landmarks in raw pixels (what a camera would deliver; used to test face
            detection and alignment). Aligned outputs are the same bytes either way.

    Returns:
        RenderedBatch of uint8 images (aligned crops or raw renders), landmarks and parameters.
    """
    if len(faces) != len(params) or not faces:
        raise ValueError(f"render_batch: got {len(faces)} faces and {len(params)} params (need equal, > 0)")
    if passes and not align:
        raise ValueError("render_batch: extra passes are only produced with align=True")
    res = params[0].raw_resolution
    if any(p.raw_resolution != res for p in params):
        raise ValueError("render_batch: all params must share raw_resolution")
    tri = faces[0].faces
    if any(pf.faces.shape != tri.shape for pf in faces):
        raise ValueError("render_batch: faces must share one mesh topology; render others separately")
    backend = resolve_backend(backend, tri.device)
    out: dict[str, Any] = {}
    extra: dict[str, torch.Tensor] = {}
    gbuf: dict[str, GBuffer] = {}
    glasses = _glasses(params)
    for kind in ("vis", "nir"):
        views = [p.vis_view if kind == "vis" else p.nir_view for p in params]
        if kind == "nir" and all(p.pairing == "shared" for p in params):
            g = gbuf["vis"]  # pixel-aligned pair: one geometry pass serves both spectra
        else:
            g = _geometry_pass(faces, views, res, backend, glasses)
        gbuf[kind] = g
        color = _shade_vis(g, params, g.tri) if kind == "vis" else _shade_nir(g, params)
        mask, rast, clip, world = g.mask, g.rast, g.clip, g.world
        if kind == "vis":
            bg = _vis_background(params, res, color.device)
        else:
            # dark, falling-off NIR background: little LED light reaches it
            yy, xx = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
            fall = (1.0 - 0.5 * (xx ** 2 + yy ** 2)).clamp(min=0).to(color)
            bg = torch.tensor([p.background["nir_level"] for p in params]).to(color).view(-1, 1, 1, 1) * fall[..., None]
        scale = _auto_exposure(color, g.skin)
        color = scatter_pixels(color * scale.view(-1, 1, 1, 1), g.pixels, bg)
        color = _lens_layer(kind, color, g, params, glasses, scale)
        color = antialias(color, rast, clip, g.tri)
        # each image's noise comes from its own generator: a pair never depends on its batch
        gens = [torch.Generator().manual_seed(p.seed * 2 + (0 if kind == "vis" else 1)) for p in params]
        if kind == "vis":
            sensor = VisSensorParams.from_dict(_stack_dicts([p.vis_sensor for p in params]))
            img = apply_vis_sensor(color.clamp(0, 1), sensor, gens)
        else:
            sensor = NirSensorParams.from_dict(_stack_dicts([p.nir_sensor for p in params]))
            img = apply_nir_sensor(color.clamp(0, 1), sensor, gens)
        lm5 = _landmarks(world, faces[0].landmarks5, tri, views, res)
        lm68 = _landmarks(world, faces[0].landmarks68, tri, views, res)
        if not align:
            out[kind] = (to_uint8(img), lm5, lm68)
            continue
        aligned, m = align_mod.align_to_arcface(img, lm5)
        out[kind] = (to_uint8(aligned), align_mod.transform_points(lm5, m),
                     align_mod.transform_points(lm68, m) if lm68 is not None else None)
        if kind == "vis" and passes:
            depth = scatter_pixels(g.cam_pos[:, 2].view(-1, 1, 1, 1) - g.pos[..., 2:3], g.pixels)
            avail = {"mask": mask, "depth_mm": depth, "normal": scatter_pixels(g.normal, g.pixels)}
            for name in passes:
                if name not in avail:
                    raise ValueError(f"passes: unknown pass {name!r}; choose from {sorted(avail)}")
                extra[name] = align_mod.warp_to_template(avail[name], m)
    vis, vis5, vis68 = out["vis"]
    nir, nir5, nir68 = out["nir"]
    return RenderedBatch(vis=vis, nir=nir[..., 0], vis_landmarks5=vis5, nir_landmarks5=nir5, vis_landmarks68=vis68,
                         nir_landmarks68=nir68, passes=extra, params=list(params))


def render_pair(face: PreparedFace, params: SampleParams, backend: str = "auto",
                passes: Sequence[str] = (), align: bool = True) -> RenderedBatch:
    """One NIR/VIS pair (a batch of one; ``align=False`` gives the raw renders)."""
    return render_batch([face], [params], backend=backend, passes=passes, align=align)



def prepare_procedural_face(global_seed: int, label: int, resolution: int = 256, led_nm: int = 850,
                            nir_method: str = "spectral", backend: str = "auto") -> PreparedFace:
    """The PreparedFace of procedural identity ``label`` of a data set seeded with ``global_seed``
    (the embedded identity source; deterministic per (global_seed, label)). Its NIR albedo comes
    from the biophysical parameters directly (``nirvis.reflectance.maps``); ``nir_method`` only
    matters for assets without a matching NIR map."""
    from nirvis.faces import identity_seed, sample_identity
    from nirvis.reflectance.maps import procedural_face_asset

    identity = sample_identity(identity_seed(global_seed, label))
    asset = procedural_face_asset(identity, resolution=resolution, led_nm=led_nm)
    return prepare_face(asset, led_nm=led_nm, nir_method=nir_method, backend=backend)


def pair_seed(global_seed: int, label: int, index: int) -> int:
    """Seed of pair ``index`` of identity ``label`` (stable: independent of counts and workers)."""
    state = np.random.SeedSequence([int(global_seed), int(label), int(index), 0x9A17]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(2))
