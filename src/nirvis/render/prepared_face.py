"""Face preparation: a ``FaceAsset`` turned into render-ready tensors, once per identity.

``prepare_face(asset, device=...)`` builds a ``PreparedFace`` (mesh, per-vertex ambient occlusion
and skin weights, one mip-mapped material texture packing both spectra, landmark sets) on any
device; the mesh is Loop-subdivided (``nirvis.faces.subdivision``, ``subdivision_levels``, default
1: smooth silhouettes and shading) with everything per vertex or per surface point carried over;
``prepare_procedural_face(global_seed, label, device=...)`` does the same for the embedded
procedural identities, whose asset comes from ``procedural_identity_asset`` (biophysical VIS and
NIR maps). The device only decides where the tensors live: every path builds the same asset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from nirvis.faces import FaceAsset, IdentityParams, load_head_model
from nirvis.faces.mesh import HeadMesh, SurfacePoints
from nirvis.faces.segmentation import head_label_map
from nirvis.faces.subdivision import SubdivisionOperator, subdivision_operator
from nirvis.render.occlusion import vertex_ambient_occlusion
from nirvis.render.raster import resolve_backend
from nirvis.render.shading import vertex_normals
from nirvis.render.texture import MipStack, build_mips

#: Loop subdivision levels of ``prepare_face`` by default (1: 3.4x the triangles; no facets at the default
#: 160 px raw render, see docs/ARCHITECTURE.md).
DEFAULT_SUBDIVISION_LEVELS = 1

#: Channel layout of ``PreparedFace.material``.
MATERIAL_CHANNELS = ("vis_r", "vis_g", "vis_b", "nir", "vis_specular", "nir_specular", "roughness")


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
        led_nm: the NIR LED wavelength the NIR albedo is for.
        hair_vertices: float32 [Vh, 3] mm, the head-hair shell (``nirvis.render.hair``; fixed
            topology, collapsed inside the head without hair); hair_attr float32 [Vh, 4]
            (weight, strand coordinates across/along mm, AO); hair_material float32 [9]
            (``hair.hair_material``). None: no hair (treated as collapsed).
        beard_tri: int64 [Fb] head triangles of the beard shell, beard_vertex int64 [Vb] their
            vertices, beard_disp float32 [Vb] mm along the normal, beard_density float32 [Vb]
            (``facial_hair.prepared_beard``; fixed per topology). None: no beard shell.
        subdivision: the Loop operator from the asset's mesh to ``vertices``/``faces`` (None when not
            subdivided); heads rebuilt from ``identity`` on the asset's topology go through it.
        cage_faces: int64 [F0, 3] the asset's own triangles, indexing the first V0 vertices (the
            subdivision keeps old vertices first, at their smoothed positions): a coarse copy of
            the surface for shadow maps, 4**levels times fewer triangles to rasterise; None when
            not subdivided.
        face_parts: uint8 [F] each triangle's mesh part (``faces.mesh.PART_NAMES``).
        labels: uint8 [R, R] segmentation class per texel (``faces.segmentation.head_label_map``;
            0: the part's class) of heads in the template's UV layout; None for other layouts.
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
    hair_vertices: Optional[torch.Tensor] = None
    hair_attr: Optional[torch.Tensor] = None
    hair_material: Optional[torch.Tensor] = None
    beard_tri: Optional[torch.Tensor] = None
    beard_vertex: Optional[torch.Tensor] = None
    beard_disp: Optional[torch.Tensor] = None
    beard_density: Optional[torch.Tensor] = None
    subdivision: Optional[SubdivisionOperator] = None
    cage_faces: Optional[torch.Tensor] = None
    face_parts: Optional[torch.Tensor] = None
    labels: Optional[torch.Tensor] = None


def template_ao(backend: str, device: str | torch.device = "cpu") -> torch.Tensor:
    """Ambient occlusion float32 [V, 1] in [0, 1] of the head model's neutral template, computed
    once per (backend, device) and shared by every procedural identity.

    It is computed on ``device`` when ``backend`` is ``cuda`` (that rasteriser needs CUDA
    tensors), on the CPU otherwise, and returned on ``device``.

    Example:
        >>> backend = resolve_backend("auto")        # gl where EGL works, else torch
        >>> ao = template_ao(backend)
        >>> ao.shape[1], ao.dtype, bool(((ao >= 0) & (ao <= 1)).all())
        (1, torch.float32, True)
        >>> template_ao(backend) is ao    # cached
        True
    """
    dev = torch.device(device)
    where = dev if backend == "cuda" else torch.device("cpu")
    ao = _template_ao(backend, str(where))
    return ao if ao.device == dev else ao.to(dev)


@functools.lru_cache(maxsize=4)
def _template_ao(backend: str, device: str) -> torch.Tensor:
    t = load_head_model().template
    v = torch.from_numpy(t.vertices).to(device)
    f = torch.from_numpy(t.faces).long().to(device)
    return vertex_ambient_occlusion(v, f, vertex_normals(v[None], f)[0], backend=backend)


def prepare_face(asset: FaceAsset, led_nm: int = 850, nir_method: str = "spectral", backend: str = "auto",
                 device: str | torch.device = "cpu",
                 subdivision_levels: int = DEFAULT_SUBDIVISION_LEVELS) -> PreparedFace:
    """Render-ready tensors of ``asset`` on ``device``; computes the NIR albedo with
    ``nirvis.reflectance`` when the asset has none for ``led_nm`` (``nir_method``: ``spectral``,
    ``red`` or ``luma``). ``backend`` rasterises the ambient-occlusion maps.

    ``subdivision_levels`` Loop steps (0 = the asset's mesh as is) smooth the mesh: ambient
    occlusion and skin weights are computed on the asset's mesh and carried by the same operator,
    UVs split linearly, landmarks mapped into the child triangles (``nirvis.faces.subdivision``).

    Example:
        >>> from nirvis.faces import sample_identity
        >>> from nirvis.faces.procedural import procedural_asset
        >>> face = prepare_face(procedural_asset(sample_identity(1), resolution=16), nir_method="red")
        >>> face.vertices.shape[1], face.faces.dtype, face.material.levels[0].shape[:2]
        (3, torch.int64, torch.Size([1, 7]))
        >>> face.landmarks5[0].shape, face.identity.seed
        (torch.Size([5]), 1)
        >>> coarse = prepare_face(procedural_asset(sample_identity(1), resolution=16), nir_method="red",
        ...                       subdivision_levels=0)
        >>> face.faces.shape[0] > 3 * coarse.faces.shape[0], coarse.subdivision is None
        (True, True)
    """
    from nirvis.reflectance.invert import nir_reflectance_maps

    if "5" not in asset.landmarks:
        raise ValueError("prepare_face: the asset has no 5-point landmarks (needed for ArcFace alignment)")
    maps = asset.maps
    stored_led = asset.metadata.get("nir_led_nm")
    if maps.diffuse_nir is None or maps.specular_nir is None or (stored_led is not None and stored_led != led_nm):
        maps = nir_reflectance_maps(maps, led_nm=led_nm, method=nir_method)
    assert maps.diffuse_nir is not None and maps.specular_nir is not None
    dev = torch.device(device)
    m = asset.mesh
    v = torch.from_numpy(m.vertices).to(dev)
    f = torch.from_numpy(m.faces).long().to(dev)
    model = load_head_model()
    procedural = asset.metadata.get("source") == "procedural" and len(m.vertices) == len(model.template.vertices)
    if procedural:
        ao = template_ao(resolve_backend(backend), dev)
    else:
        ao = vertex_ambient_occlusion(v, f, vertex_normals(v[None], f)[0], backend=backend)
    skin = torch.zeros(len(v), 1, device=dev)
    skin[f[torch.from_numpy(m.face_parts == 0).to(dev)].reshape(-1)] = 1.0
    op = subdivision_operator(m, subdivision_levels) if subdivision_levels > 0 else None
    landmarks = dict(asset.landmarks)
    cage = None
    if op is not None:  # everything per vertex goes through the same operator (one head at a time)
        fine = op.mesh(m)
        ao, skin = (torch.from_numpy(op.apply(x.cpu().numpy())).to(dev) for x in (ao, skin))
        landmarks = {k: op.map_points(p) for k, p in landmarks.items()}
        m, cage = fine, f
        v = torch.from_numpy(m.vertices).to(dev)
        f = torch.from_numpy(m.faces).long().to(dev)

    packed = np.concatenate([maps.diffuse_vis, maps.diffuse_nir[..., None], maps.specular_vis[..., None],
                             maps.specular_nir[..., None], maps.roughness[..., None]], axis=-1)

    def lm(name: str):
        if name not in landmarks:
            return None
        p = landmarks[name]
        return torch.from_numpy(p.face_index).long().to(dev), torch.from_numpy(p.barycentric).to(dev)

    identity = IdentityParams.from_dict(asset.metadata["identity"]) if procedural else None
    hair_v, hair_a, hair_m, beard, beard_density = _prepare_hair(asset, m, landmarks.get("68"), led_nm, dev,
                                                                 packed.shape[0])
    packed = _paint_beard(packed, beard_density, hair_m.cpu().numpy())
    labels = None
    t = model.template
    if asset.mesh.uv_faces.shape == t.uv_faces.shape and np.array_equal(asset.mesh.uv_faces, t.uv_faces):
        labels = torch.from_numpy(head_label_map(maps.regions, packed.shape[0], beard_density)).to(dev)
    return PreparedFace(
        vertices=v, faces=f, uv_faces=torch.from_numpy(m.uv_faces).long().to(dev), uvs=torch.from_numpy(m.uvs).to(dev),
        ao=ao, material=build_mips(torch.from_numpy(packed).to(dev)), skin_vertex=skin, landmarks5=lm("5"),
        landmarks68=lm("68"), identity=identity, led_nm=led_nm, subdivision=op, cage_faces=cage,
        hair_vertices=hair_v, hair_attr=hair_a, hair_material=hair_m,
        face_parts=torch.from_numpy(np.ascontiguousarray(m.face_parts)).to(dev), labels=labels, **beard)


def _paint_beard(packed: np.ndarray, density: Optional[np.ndarray], hair_material: np.ndarray) -> np.ndarray:
    """``packed`` [R, R, 7] with the beard's hair colour (``hair_material`` [9]: VIS RGB, NIR)
    painted over the diffuse channels by its per-texel ``density`` [R, R]
    (``facial_hair.beard_texel_density``; None: unchanged)."""
    if density is None:
        return packed
    out = packed.copy()
    w = density[..., None]
    out[..., 0:4] = (packed[..., 0:4] * (1.0 - w) + hair_material[0:4] * w).astype(packed.dtype)
    return out


def _prepare_hair(asset: FaceAsset, mesh: HeadMesh, lm68_points: Optional[SurfacePoints], led_nm: int,
                  dev: torch.device, resolution: int):
    """The hair and beard shells of ``asset`` (``metadata["appearance"]["hair"]`` and
    ``["facial_hair"]``; collapsed without them) and the beard's per-texel density at the map
    ``resolution`` (None without a beard shell). The hair grid is cast onto the asset's own mesh;
    the beard shell copies triangles of ``mesh``, the mesh the face is rendered with (subdivided or
    not), placed with its 68 landmarks ``lm68_points``."""
    from nirvis.render.facial_hair import FacialHairParams, beard_texel_density, prepared_beard
    from nirvis.render.hair import HairParams, hair_grid, hair_material

    appearance = asset.metadata.get("appearance") or {}
    params = None if appearance.get("hair") is None else HairParams.from_dict(appearance["hair"])
    facial = appearance.get("facial_hair")
    beard_params = None if facial is None else FacialHairParams.from_dict(facial)
    m = asset.mesh
    lm = asset.landmarks.get("68")
    lm68 = None if lm is None else lm.positions(m.vertices, m.faces)
    v, a = hair_grid(m.vertices, m.faces, np.zeros((68, 3)) if lm68 is None else lm68, None if lm68 is None else params)
    lm68_mesh = None if lm68_points is None else lm68_points.positions(mesh.vertices, mesh.faces)
    beard = prepared_beard(mesh.uvs, mesh.uv_faces, mesh.faces, mesh.vertices, lm68_mesh, beard_params, dev)
    density = beard_texel_density(m, lm68, beard_params, resolution)
    if params is None and beard_params is not None:       # a beard without head-hair colour: a dark brown one
        params = HairParams(style="short", thickness_mm=0.0, eumelanin=0.8)
    return (torch.from_numpy(v).to(dev), torch.from_numpy(a).to(dev), hair_material(params, led_nm).to(dev), beard,
            density)


def procedural_identity_asset(global_seed: int, label: int, resolution: int = 512, led_nm: int = 850) -> FaceAsset:
    """The FaceAsset of procedural identity ``label`` of a data set seeded with ``global_seed``
    (deterministic per (global_seed, label)): head mesh plus biophysical VIS and NIR reflectance
    maps (``nirvis.reflectance.maps.procedural_face_asset``) at ``resolution`` for ``led_nm``.

    This is the one recipe for procedural identities, whatever device they are rendered on.

    Example:
        >>> asset = procedural_identity_asset(0, 3, resolution=16)
        >>> asset.maps.diffuse_vis.shape, asset.maps.diffuse_nir.shape, asset.metadata["nir_led_nm"]
        ((16, 16, 3), (16, 16), 850.0)
    """
    from nirvis.faces import identity_seed, sample_identity
    from nirvis.reflectance.maps import procedural_face_asset

    from nirvis.render.facial_hair import sample_facial_hair
    from nirvis.render.hair import sample_hair

    identity = sample_identity(identity_seed(global_seed, label))
    asset = procedural_face_asset(identity, resolution=resolution, led_nm=led_nm)
    meta = dict(asset.metadata)
    meta["appearance"] = {**meta["appearance"], "hair": sample_hair(identity, meta["appearance"]).to_dict(),
                          "facial_hair": sample_facial_hair(identity).to_dict()}
    return asset.replace(metadata=meta)


def prepare_procedural_face(global_seed: int, label: int, resolution: int = 512, led_nm: int = 850,
                            nir_method: str = "spectral", backend: str = "auto",
                            device: str | torch.device = "cpu",
                            subdivision_levels: int = DEFAULT_SUBDIVISION_LEVELS) -> PreparedFace:
    """The PreparedFace of procedural identity ``label`` of a data set seeded with ``global_seed``
    (the embedded identity source), on ``device``: ``prepare_face`` of
    ``procedural_identity_asset``. Its NIR albedo comes from the biophysical parameters directly
    (``nirvis.reflectance.maps``); ``nir_method`` only matters for assets without a matching NIR map.

    Example:
        >>> face = prepare_procedural_face(0, 3, resolution=16)
        >>> face.identity is not None, face.led_nm, face.vertices.device.type
        (True, 850, 'cpu')
    """
    asset = procedural_identity_asset(global_seed, label, resolution=resolution, led_nm=led_nm)
    return prepare_face(asset, led_nm=led_nm, nir_method=nir_method, backend=backend, device=device,
                        subdivision_levels=subdivision_levels)
