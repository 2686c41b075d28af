"""The geometry pass: posed meshes -> a ``GBuffer`` of everything the spectra shade from.

``geometry_pass(faces, views, res, backend, glasses)`` builds each (face, view)'s world-frame
vertices (expression, glasses, pose), projects them (``project_views``), rasterises triangle ids,
lists the covered pixels once (``nirvis.render.pixels``), and interpolates there every surface
attribute (position, normal, ambient occlusion, skin weight, packed material of both spectra;
plus the clear lenses in front of the scene). A pixel-aligned pair runs it once for both spectra.
Nothing here depends on the spectrum.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from nirvis.faces import Expression, load_head_model
from nirvis.render._linalg import batched_matvec
from nirvis.render.accessories import GlassesParams, glasses_topology, glasses_vertices
from nirvis.render.headwear import (HeadwearParams, flatten_hair, headwear_material, headwear_topology,
                                    headwear_vertices)
from nirvis.render.hair import GRID_COLS, GRID_ROWS, hair_topology, strand_texture
from nirvis.render.compiled import use_compiled
from nirvis.render.camera import (PerspectiveCamera, clip_to_pixels, focal_length_px, model_view_projection,
                                  pose_rotation, to_clip)
from nirvis.render.interpolate import interpolate
from nirvis.render.pixels import PixelList, gather_pixels, pixel_list, scatter_pixels
from nirvis.render.prepared_face import PreparedFace
from nirvis.render.raster import rasterize_ids
from nirvis.render.raster.common import barycentrics_from_ids, pixel_centres_ndc
from nirvis.render.sampling import View
from nirvis.render.shading import vertex_normals
from nirvis.render.texture import texture, uv_footprint


@dataclass(frozen=True, eq=False)
class GBuffer:
    """Everything the shaders need from one geometry pass (shared by VIS and NIR when paired).

    Surface attributes are stored for the covered pixels only (``pixels``, layout [B, 1, N, C],
    see ``nirvis.render.pixels``); padding slots have ``skin`` 0 and are never written back.
    Lens attributes likewise for the lens pixels (``lens_pixels``, [B, 1, NL, C]). All float
    tensors are float32 on the faces' device.
    """

    world: torch.Tensor        # [B, V + Vh + Vb + Vg + Vw, 3] mm, world frame (head, hair, beard, glasses, headwear)
    tri: torch.Tensor          # [F, 3] opaque triangles (head + hair + beard + glasses frame + headwear)
    clip: torch.Tensor         # [B, V + Vh + Vb + Vg + Vw, 4]
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
    hair: Optional[torch.Tensor] = None         # [B, 1, N, 1] 1 on the hair shell (Kajiya-Kay specular)
    hair_tangent: Optional[torch.Tensor] = None  # [B, 1, N, 3] unit hair direction (root -> tip)
    shadow_world: Optional[torch.Tensor] = None  # [B, Vs, 3] shadow casters (None: ``world`` / ``tri``): a
    shadow_tri: Optional[torch.Tensor] = None    # [Fs, 3] the head's coarse cage, shells, glasses frame, headwear
    # the rasteriser hint (``raster.rasterize_ids``): triangle ranges of the beard shell, glasses
    # frame and headwear in ``tri`` / in the shadow casters, and which images use them (bool [B, 3])
    draw_groups: Optional[list] = None
    shadow_groups: Optional[list] = None
    group_use: Optional[torch.Tensor] = None
    backend: str = "torch"                       # the rasteriser that made it; ``cpu``: compiled kernels downstream
    uv: Optional[torch.Tensor] = None            # [B, 1, N, 2] head texture coordinates (0 off the head's UVs)
    # where each mesh's triangles start in ``tri``: head, hair shell, beard shell, glasses frame,
    # headwear, end (the segmentation pass's mesh classes)
    tri_starts: Optional[tuple[int, ...]] = None


def views_geometry(faces: Sequence[PreparedFace], views: Sequence[View],
                   glasses: Optional[Sequence[GlassesParams]] = None,
                   headwear: Optional[Sequence[HeadwearParams]] = None) -> torch.Tensor:
    """World-frame vertices float32 [B, V + Vh + Vb (+ Vg (+ Vw)), 3] (mm) for each (face, view):
    expression, the hair shell (``PreparedFace.hair_vertices``, Vh = ``hair.GRID_ROWS *
    hair.GRID_COLS``, collapsed inside the head for faces without hair; flattened under headwear,
    ``headwear.flatten_hair``), the beard shell, glasses (when ``glasses`` is given), headwear
    (when ``headwear`` is given, Vw = ``headwear.N_VERTICES``; glasses then default to none), then pose.

    Example:
        >>> from nirvis.render.prepared_face import prepare_procedural_face
        >>> from nirvis.render.sampling import SampleSpace, sample_params
        >>> face = prepare_procedural_face(0, 0, resolution=16)
        >>> views = [sample_params(SampleSpace(), k).vis_view for k in range(2)]
        >>> world = views_geometry([face, face], views)
        >>> n = face.vertices.shape[0] + face.hair_vertices.shape[0] + face.beard_vertex.shape[0]
        >>> world.shape == (2, n, 3), world.dtype
        (True, torch.float32)
    """
    dev = faces[0].vertices.device
    verts = []
    expressive = {k: pf.identity for k, (pf, vw) in enumerate(zip(faces, views))
                  if pf.identity is not None and vw.expression}
    built = {}
    model = load_head_model() if expressive else None
    for k in expressive:  # the neutral head plus the expression's displacement, one head at a time
        assert model is not None
        d = model.expression_displacement(Expression(views[k].expression))
        op = faces[k].subdivision                 # the face's mesh is subdivided: the displacement too
        built[k] = faces[k].vertices + torch.from_numpy(d if op is None else op.apply(d)).to(dev)
    for k, pf in enumerate(faces):
        verts.append(built.get(k, pf.vertices))
    head = torch.stack(verts)
    hair = [_hair_vertices(pf) for pf in faces]
    if headwear is not None:
        glasses = [GlassesParams()] * len(faces) if glasses is None else glasses
        hair = [flatten_hair(h, pf, p) for h, pf, p in zip(hair, faces, headwear)]
    parts = [head, torch.stack(hair), _beard_vertices(faces, head)]
    if glasses is not None:
        fi, bary = faces[0].landmarks5
        eyes = (head[:, faces[0].faces[fi[:2]]] * bary[:2].view(1, 2, 3, 1)).sum(2)          # [B, 2, 3]
        band = (head[..., 1] - eyes[:, :1, 1]).abs() < 25.0
        half = torch.where(band, head[..., 0].abs(), torch.zeros_like(head[..., 0])).amax(1) * 0.92
        parts.append(glasses_vertices(list(glasses), eyes, half).to(head))
    if headwear is not None:
        parts.append(headwear_vertices(faces, headwear)[0].to(head))
    v = torch.cat(parts, 1)
    return batched_matvec(view_rotations(views).to(v), v)


def view_rotations(views: Sequence[View]) -> torch.Tensor:
    """Head-pose rotations float32 [B, 3, 3] (CPU) of ``views`` (``camera.pose_rotation``)."""
    return pose_rotation(torch.tensor([vw.yaw_deg for vw in views]), torch.tensor([vw.pitch_deg for vw in views]),
                         torch.tensor([vw.roll_deg for vw in views]))


def _hair_vertices(pf: PreparedFace) -> torch.Tensor:
    """The face's hair shell [Vh, 3], or the grid collapsed at the mesh centroid without one."""
    if pf.hair_vertices is not None:
        return pf.hair_vertices
    return pf.vertices.mean(0).expand(GRID_ROWS * GRID_COLS, 3)


def _beard_vertices(faces: Sequence[PreparedFace], head: torch.Tensor) -> torch.Tensor:
    """The beard shells [B, Vb, 3]: the (expressed) head's beard vertices ``head`` [B, V, 3]
    moved along their smoothed normals by each face's ``beard_disp`` (Vb = 0 without)."""
    idx, tri = faces[0].beard_vertex, faces[0].beard_tri
    if idx is None or tri is None:
        return head[:, :0]
    shell = head[:, idx]
    normals = vertex_normals(shell, torch.searchsorted(idx, faces[0].faces[tri]))   # from the beard area's triangles
    disp = torch.stack([pf.beard_disp if pf.beard_disp is not None else torch.full_like(idx, -1.0, dtype=head.dtype)
                        for pf in faces])
    return shell + normals * disp.unsqueeze(-1)


def _hair_attributes(pf: PreparedFace) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-vertex attributes [Vh, 4], material [9]) of the face's hair (zeros without one)."""
    if pf.hair_attr is not None and pf.hair_material is not None:
        return pf.hair_attr, pf.hair_material
    return pf.vertices.new_zeros(GRID_ROWS * GRID_COLS, 4), pf.vertices.new_zeros(9)


def project_views(world: torch.Tensor, views: Sequence[View], res: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip positions float [B, V, 4] of world points [B, V, 3] (mm) seen by each view's camera
    (``res`` x ``res`` pixels), and the focal lengths in pixels [B].

    Example:
        >>> from nirvis.render.sampling import View
        >>> view = View(0.0, 0.0, 0.0, distance_mm=600.0, focal_mm=50.0, expression={})
        >>> clip, fpx = project_views(torch.zeros(1, 1, 3), [view], 64)
        >>> clip.shape, [round(float(c), 3) for c in clip[0, 0, :2] / clip[0, 0, 3]]   # centre of the image
        (torch.Size([1, 1, 4]), [0.0, 0.0])
    """
    mvps, fpx = [], []
    eye = torch.eye(3).unsqueeze(0)
    for vw in views:
        cam = PerspectiveCamera(distance_mm=vw.distance_mm, focal_mm=vw.focal_mm, resolution=(res, res),
                                near_mm=max(50.0, vw.distance_mm - 400.0), far_mm=vw.distance_mm + 600.0)
        mvps.append(model_view_projection(cam, eye, torch.zeros(1, 3))[0])
        fpx.append(focal_length_px(cam))
    mvp = torch.stack(mvps).to(world)
    return to_clip(world, mvp), torch.tensor(fpx, dtype=world.dtype, device=world.device)


def project_landmarks(world: torch.Tensor, lm: tuple[torch.Tensor, torch.Tensor], tri: torch.Tensor,
                      views: Sequence[View], res: int) -> torch.Tensor:
    """Pixel positions float [B, K, 2] (renderer pixel convention) of the surface landmarks
    ``lm`` = (face index int64 [K], barycentric [K, 3]) of the posed vertices ``world`` [B, V, 3]."""
    fi, bary = lm
    pts = (world[:, tri[fi]] * bary.view(1, -1, 3, 1)).sum(2)          # [B, K, 3]
    clip, _ = project_views(pts, views, res)
    return clip_to_pixels(clip, (res, res))


def sample_materials(faces: Sequence[PreparedFace], uv: torch.Tensor, footprint: torch.Tensor) -> torch.Tensor:
    """Packed material [B, H, W, 7] (``MATERIAL_CHANNELS``) at texture coordinates ``uv``
    [B, H, W, 2] with mip footprints [B, H, W]: one texture lookup per distinct face in the batch
    (textures are never copied into a batch tensor)."""
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
    assert out is not None  # faces is never empty
    return out


@functools.lru_cache(maxsize=1)
def _glasses_faces() -> tuple[int, torch.Tensor, torch.Tensor]:
    n, f, is_lens = glasses_topology()
    return n, torch.from_numpy(f[~is_lens]), torch.from_numpy(f[is_lens])


def rasterize_pixels(clip: torch.Tensor, tri: torch.Tensor, ids: torch.Tensor, pixels: PixelList,
                     backend: str = "torch") -> torch.Tensor:
    """Differentiable rasteriser output [B, 1, N, 4] (u, v, z/w, id + 1) at the listed pixels of
    the triangle-id image ``ids`` int32 [B, H, W] (what ``rasterize`` gives there); ``cpu``:
    the compiled loop (``compiled.geometry``), without gradients."""
    h, w = ids.shape[1:]
    ids_px = gather_pixels(ids.unsqueeze(-1), pixels)[..., 0]             # [B, 1, N]
    if use_compiled(backend, clip):
        from nirvis.render.compiled import geometry as compiled_geometry
        return compiled_geometry.pixel_barycentrics(clip, tri, ids_px[:, 0], pixels.index, h, w)
    px, py = pixel_centres_ndc(h, w, clip.device, clip.dtype)
    rows, cols = pixels.rows_cols()
    return barycentrics_from_ids(clip, tri, ids_px, (px[cols].unsqueeze(1), py[rows].unsqueeze(1)))


def _interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor, backend: str) -> torch.Tensor:
    """``interpolate`` on a pixel list, compiled on the ``cpu`` backend."""
    if use_compiled(backend, attr, rast):
        from nirvis.render.compiled import geometry as compiled_geometry
        return compiled_geometry.interpolate(attr, rast, tri)
    return interpolate(attr, rast, tri)


def _interpolate_blocks(blocks: list[torch.Tensor], rast: torch.Tensor, tri: torch.Tensor,
                        backend: str) -> torch.Tensor:
    """``interpolate`` of ``torch.cat(blocks, -1)`` ([B, V, Ck] each); on the ``cpu`` backend the
    blocks are interpolated in place without the concatenated copy (the same values)."""
    if use_compiled(backend, rast, *blocks):
        from nirvis.render.compiled import geometry as compiled_geometry
        return compiled_geometry.interpolate_blocks(blocks, rast, tri)
    return interpolate(torch.cat(blocks, -1), rast, tri)


def _vertex_normals(world: torch.Tensor, tri: torch.Tensor, backend: str) -> torch.Tensor:
    """``vertex_normals``, compiled on the ``cpu`` backend."""
    if use_compiled(backend, world):
        from nirvis.render.compiled import geometry as compiled_geometry
        return compiled_geometry.vertex_normals(world, tri)
    return vertex_normals(world, tri)


def surface_attributes(attrs: torch.Tensor, material: torch.Tensor, hair_mat: torch.Tensor, strands: torch.Tensor,
                       cam_pos: torch.Tensor, mask_px: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The surface of the covered pixels from their interpolated attributes: the hair shell's strand
    material blended into the surface material by the hair weight, unit normals, hair tangents
    tilted by the strand pattern, unit view directions and the subsurface weight.

    Args:
        attrs: float [B, 1, N, 19] ``geometry_pass``'s interpolated attributes: position (0:3),
            normal (3:6), AO, skin, glasses frame, hair weight, strand coordinates (10:12),
            beard (12), hair tangent (13:16), headwear weight (16), headwear coordinates (17:19).
        material: float [B, 1, N, 7] surface material (``MATERIAL_CHANNELS``).
        hair_mat: float [B, 1, 1, 9] each face's ``hair_material``.
        strands: float [B, 1, N, 1] ``hair.strand_texture`` at the pixels.
        cam_pos: float [B, 3] camera centres (0, 0, distance) mm.
        mask_px: float [B, 1, N, 1] 1 on listed pixels, 0 on padding.

    Returns:
        (material [B, 1, N, 7], normal, hair tangent, view direction [B, 1, N, 3], skin [B, 1, N, 1]).
    """
    hair_w = attrs[..., 9:10]
    normal = F.normalize(attrs[..., 3:6], dim=-1, eps=1e-12)
    # beards are less ordered than combed scalp hair: a third of the highlight (``hair_specular``)
    order = 1.0 - 0.65 * attrs[..., 12:13]
    hair_px = torch.cat([hair_mat[..., 0:4] * strands, hair_mat[..., 4:6] * order,
                         hair_mat[..., 6:7].expand_as(strands)], -1)
    material = material * (1 - hair_w) + hair_px * hair_w
    # strand-scale disorder tilts the tangents with the strand pattern (breaks the highlight band)
    tangent = F.normalize(attrs[..., 13:16] + 0.5 * (strands - 0.9) * normal, dim=-1, eps=1e-12)
    view_dir = F.normalize(cam_pos.view(-1, 1, 1, 3) - attrs[..., 0:3], dim=-1, eps=1e-12)
    skin = attrs[..., 7:8] * mask_px * (1 - attrs[..., 8:9]) * (1 - hair_w) * (1 - attrs[..., 16:17])
    return material, normal, tangent, view_dir, skin


def geometry_pass(faces: Sequence[PreparedFace], views: Sequence[View], res: int, backend: str,
                  glasses: Sequence[GlassesParams], headwear: Optional[Sequence[HeadwearParams]] = None) -> GBuffer:
    """The GBuffer of B (face, view, glasses, headwear) at ``res`` x ``res`` pixels.

    Args:
        faces: B PreparedFaces sharing one mesh topology.
        views: B Views (pose, expression, camera).
        res: image side in pixels.
        backend: concrete rasterisation backend (``gl``, ``torch`` or ``cuda``).
        glasses: B GlassesParams (``enabled=False`` collapses them).
        headwear: B HeadwearParams (None or ``kind="none"``: collapsed; ``headwear``).

    Example:
        >>> from nirvis.render.prepared_face import prepare_procedural_face
        >>> from nirvis.render.raster import resolve_backend
        >>> from nirvis.render.sampling import SampleSpace, glasses_params, sample_params
        >>> face = prepare_procedural_face(0, 0, resolution=16)
        >>> p = sample_params(SampleSpace(), 0)
        >>> g = geometry_pass([face], [p.vis_view], 64, resolve_backend("auto"), glasses_params([p]))
        >>> g.mask.shape, g.material.shape[-1], g.pixels.count == int(g.mask.sum())
        (torch.Size([1, 64, 64, 1]), 7, True)
    """
    pf0 = faces[0]
    n_head = pf0.vertices.shape[0]
    n_hair = GRID_ROWS * GRID_COLS
    n_glasses, frame_f, lens_f = _glasses_faces()
    dev = pf0.vertices.device
    hair_f = hair_topology().to(dev)
    beard_t = pf0.beard_tri if pf0.beard_tri is not None else pf0.faces.new_zeros(0)
    beard_v = pf0.beard_vertex if pf0.beard_vertex is not None else pf0.faces.new_zeros(0)
    n_beard = len(beard_v)
    beard_f = torch.searchsorted(beard_v, pf0.faces[beard_t])
    n_shells = n_hair + n_beard
    headwear = [HeadwearParams()] * len(faces) if headwear is None else list(headwear)
    wear_f = headwear_topology().to(dev) + n_shells + n_glasses
    tri = torch.cat([pf0.faces, hair_f + n_head, beard_f + n_head + n_hair, frame_f.to(dev) + n_head + n_shells,
                     wear_f + n_head])
    world = views_geometry(faces, views, glasses, headwear)
    shadow_world = shadow_tri = None
    if pf0.cage_faces is not None and pf0.subdivision is not None:  # shadows from the cage (old vertices first)
        n_cage = pf0.subdivision.n_vertices[0]                        # plus the hair and beard shells and glasses
        shadow_world = torch.cat([world[:, :n_cage], world[:, n_head:]], 1)
        shadow_tri = torch.cat([pf0.cage_faces, hair_f + n_cage, beard_f + n_cage + n_hair,
                                frame_f.to(dev) + n_cage + n_shells, wear_f + n_cage])
    # which images draw the beard shell (faces without one keep it 1 mm inside the skin), the
    # glasses frame and the headwear (both collapsed to a point when absent): a rasteriser hint
    n_f = [len(pf0.faces), len(hair_f), len(beard_f), len(frame_f), len(wear_f)]
    starts = np.cumsum([0] + n_f)
    draw_groups = [(int(starts[k]), int(starts[k + 1])) for k in (2, 3, 4)]
    group_use = torch.tensor([[pf.beard_disp is not None and bool((pf.beard_disp > 0).any()), g.enabled,
                               hw.kind != "none"] for pf, g, hw in zip(faces, glasses, headwear)], dtype=torch.bool)
    shadow_groups = None
    if shadow_tri is not None:
        s0 = len(pf0.cage_faces) + len(hair_f)
        shadow_groups = [(s0, s0 + n_f[2]), (s0 + n_f[2], s0 + n_f[2] + n_f[3]),
                         (s0 + n_f[2] + n_f[3], s0 + n_f[2] + n_f[3] + n_f[4])]
    clip, fpx = project_views(world, views, res)
    ids = rasterize_ids(clip, tri, (res, res), backend=backend, groups=draw_groups, use=group_use)
    pixels = pixel_list(ids > 0)
    rast_px = rasterize_pixels(clip, tri, ids, pixels, backend)          # [B, 1, N, 4]
    rast = scatter_pixels(rast_px, pixels)
    mask = (rast[..., 3:4] > 0).to(world.dtype)
    mask_px = pixels.valid.to(world.dtype).view(-1, 1, pixels.count, 1)
    # one gather for every per-vertex attribute: position (3), normal (3), AO, skin, glasses frame,
    # hair weight, strand coordinates (2), textured (head UVs), hair tangent (3)
    b = len(faces)
    hair = [_hair_attributes(pf) for pf in faces]
    head_attr = torch.stack([torch.cat([pf.ao, pf.skin_vertex, pf.ao.new_zeros(len(pf.ao), 4), torch.ones_like(pf.ao)],
                                       -1) for pf in faces])
    hair_attr = torch.stack([torch.cat([a[:, 3:4], a.new_zeros(len(a), 2), a[:, 0:3], a.new_zeros(len(a), 1)], -1)
                             for a, _ in hair])
    beard_attr = torch.stack([torch.cat([pf.ao[beard_v], (1 - pf.beard_density).unsqueeze(-1),
                                         pf.ao.new_zeros(n_beard, 1), pf.beard_density.unsqueeze(-1),
                                         pf.vertices[beard_v][:, :2] * 3.0, pf.ao.new_ones(n_beard, 1)], -1)
                              if pf.beard_density is not None else pf.ao.new_zeros(n_beard, 7) for pf in faces])
    glass_attr = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], device=dev).expand(b, n_glasses, 7)
    wear_attr = headwear_vertices(faces, headwear)[1]                   # weight, pattern coordinates, AO
    n_wear = wear_attr.shape[1]
    wear_pv = torch.cat([wear_attr[..., 3:4], wear_attr.new_zeros(b, n_wear, 6)], -1)
    per_vertex = torch.cat([head_attr, hair_attr, beard_attr, glass_attr, wear_pv], 1)
    wear_block = torch.cat([world.new_zeros(b, world.shape[1] - n_wear, 3), wear_attr[..., 0:3]], 1)
    grid = world[:, n_head:n_head + n_hair].reshape(b, GRID_ROWS, GRID_COLS, 3)
    down = torch.cat([grid[:, 1:2] - grid[:, 0:1], grid[:, 2:] - grid[:, :-2], grid[:, -1:] - grid[:, -2:-1]], 1)
    tangent = torch.zeros_like(world)
    tangent[:, n_head:n_head + n_hair] = F.normalize(down, dim=-1, eps=1e-12).reshape(b, n_hair, 3)
    rot = view_rotations(views).to(world)
    tangent[:, n_head + n_hair:n_head + n_shells] = -rot[:, :, 1].unsqueeze(1)       # beards grow downwards
    attrs = _interpolate_blocks([world, _vertex_normals(world, tri, backend), per_vertex, tangent, wear_block],
                                rast_px, tri, backend)
    pos = attrs[..., 0:3]
    frame = attrs[..., 8:9]
    hair_w = attrs[..., 9:10]
    uvs = torch.cat([pf0.uvs, pf0.uvs.new_zeros(1, 2)])
    uv_faces = torch.cat([pf0.uv_faces, torch.full_like(hair_f, len(pf0.uvs)), pf0.uv_faces[beard_t],
                          torch.full_like(frame_f.to(dev), len(pf0.uvs)), torch.full_like(wear_f, len(pf0.uvs))])
    uv = _interpolate(uvs, rast_px, uv_faces, backend)
    # the footprint needs image neighbours: UVs and the textured area go back to images for it
    textured = scatter_pixels(torch.cat([uv, (attrs[..., 12:13] > 0.5).to(uv.dtype)], -1), pixels)
    valid_uv = (mask[..., 0] > 0) & (textured[..., 2] > 0)
    if use_compiled(backend, textured, uv):
        from nirvis.render.compiled import texture as compiled_texture
        material = compiled_texture.sample_materials([pf.material for pf in faces], textured[..., :2], valid_uv,
                                                     pixels.index, uv)
    else:
        footprint = uv_footprint(textured[..., :2], valid_uv)
        material = sample_materials(faces, uv, gather_pixels(footprint.unsqueeze(-1), pixels)[..., 0])
    # glasses frames and headwear, on the images that have them (elsewhere their weights are 0)
    with_glasses = [k for k, g in enumerate(glasses) if g.enabled]
    if with_glasses:
        on = torch.tensor(with_glasses, device=dev)
        frame_mat = torch.tensor([[*glasses[k].frame_vis_rgb, glasses[k].frame_nir, 0.04, 0.04, 0.3]
                                  for k in with_glasses], dtype=material.dtype, device=dev).view(-1, 1, 1, 7)
        material = material.index_put((on,), material[on] * (1 - frame[on]) + frame_mat * frame[on])
    wear = attrs[..., 16:17]                                             # fabric (``headwear``)
    mm_per_px = torch.tensor([vw.distance_mm for vw in views], dtype=world.dtype, device=world.device) / fpx
    with_headwear = [k for k, p in enumerate(headwear) if p.enabled]
    if with_headwear:
        on = torch.tensor(with_headwear, device=dev)
        fabric = headwear_material([headwear[k] for k in with_headwear], attrs[on][..., 17:19], mm_per_px[on])
        material = material.index_put((on,), material[on] * (1 - wear[on]) + fabric * wear[on])
    hair_mat = torch.stack([m for _, m in hair]).view(b, 1, 1, 9)
    strands = strand_texture(attrs[..., 10:11], attrs[..., 11:12], hair_mat[..., 7:8], hair_mat[..., 8:9])
    cam_pos = torch.tensor([[0.0, 0.0, vw.distance_mm] for vw in views], dtype=world.dtype, device=world.device)
    if use_compiled(backend, attrs, material):
        from nirvis.render.compiled.surface import surface_attributes as compiled_surface
        material, normal, tangent_px, view_dir, skin = compiled_surface(attrs, material, hair_mat, strands, cam_pos,
                                                                        mask_px)
    else:
        material, normal, tangent_px, view_dir, skin = surface_attributes(attrs, material, hair_mat, strands, cam_pos,
                                                                          mask_px)
    lens_pixels = lens_normal = lens_view = lens_pos = None
    if any(g.enabled for g in glasses):
        lens_tri = lens_f.to(dev) + n_head + n_shells
        lids = rasterize_ids(clip, lens_tri, (res, res), backend=backend)
        candidates = pixel_list(lids > 0)
        lrast_c = rasterize_pixels(clip, lens_tri, lids, candidates, backend)
        in_front = (lrast_c[..., 3] > 0) & ((gather_pixels(mask, candidates)[..., 0] == 0)
                                            | (lrast_c[..., 2] < gather_pixels(rast[..., 2:3], candidates)[..., 0]))
        lens_pixels = pixel_list(scatter_pixels(in_front.to(world.dtype).unsqueeze(-1), candidates)[..., 0] > 0)
        lrast = gather_pixels(scatter_pixels(lrast_c, candidates), lens_pixels)
        lattr = _interpolate_blocks([world, _vertex_normals(world, lens_tri, backend)], lrast, lens_tri, backend)
        lens_pos = lattr[..., 0:3]
        lens_view = F.normalize(cam_pos.view(-1, 1, 1, 3) - lens_pos, dim=-1, eps=1e-12)
        n = F.normalize(lattr[..., 3:6], dim=-1, eps=1e-12)
        lens_normal = torch.where((n * lens_view).sum(-1, keepdim=True) < 0, -n, n)   # face the camera
    return GBuffer(world=world, tri=tri, clip=clip, rast=rast, mask=mask, pixels=pixels, pos=pos, normal=normal,
                   view_dir=view_dir, ao=attrs[..., 6:7], skin=skin,
                   material=material, cam_pos=cam_pos, mm_per_px=mm_per_px, lens_pixels=lens_pixels,
                   lens_normal=lens_normal, lens_view=lens_view, lens_pos=lens_pos, hair=hair_w * mask_px,
                   hair_tangent=tangent_px, shadow_world=shadow_world, shadow_tri=shadow_tri,
                   draw_groups=draw_groups, shadow_groups=shadow_groups if shadow_tri is not None else draw_groups,
                   group_use=group_use, backend=backend, uv=uv, tri_starts=tuple(int(x) for x in starts))
