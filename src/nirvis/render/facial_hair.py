"""Facial hair as geometry: moustache, goatee and full beards as a shell over the head's skin.

The beard shell is a copy of the head's triangles in the beard-capable area (upper lip, chin,
jaw, cheeks below the cheekbones, under the chin; chosen by texture coordinates, so the set is
fixed for a mesh topology and identical for every identity sharing it). Per view its vertices sit
on the expressed head's vertices, displaced along their smoothed normals by the identity's beard
length field (0 at the style's edges; 1 mm inside the skin where the style has no hair), so the
beard follows the jaw when the mouth opens. Its triangles keep the head's texture coordinates:
the material under the beard is the skin texture (with the painted stubble of
``reflectance.maps``), blended with the hair material by the per-vertex beard density, which
fades to 0 at the edges (soft beard outlines; the hair colour is the head hair's melanin colour).

Prior (men only, ``sample_facial_hair``, stream 0x4A1C of the identity seed; logged under
``appearance["facial_hair"]``): none 30 %, stubble 30 % (the painted stubble texture alone),
moustache 8 %, goatee 12 %, full beard 20 % (full beards and moustaches twice as likely from
age 45); length 2-5 mm (moustache), 3-10 mm (goatee), 3-18 mm (full); density 0.6-1.0.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import torch

from nirvis.faces.regions import smoothstep

FACIAL_STYLES = ("none", "stubble", "moustache", "goatee", "full")
_STREAM = 0x4A1C


@dataclass(frozen=True)
class FacialHairParams:
    """One identity's facial hair: ``style`` (``FACIAL_STYLES``), ``length_mm`` (shell thickness),
    ``density`` (0..1, the hair share of the colour at full length)."""

    style: str = "none"
    length_mm: float = 0.0
    density: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FacialHairParams":
        if d.get("style") not in FACIAL_STYLES:
            raise ValueError(f"appearance.facial_hair.style must be one of {FACIAL_STYLES}, got {d.get('style')!r}")
        return cls(**d)


def sample_facial_hair(identity: Any) -> FacialHairParams:
    """Draw an identity's facial hair (see the module docstring for the prior)."""
    rng = np.random.Generator(np.random.PCG64([max(int(identity.seed), 0), _STREAM]))
    u = rng.uniform(0.0, 1.0, size=4)
    if identity.gender <= 0.5:
        return FacialHairParams()
    older = identity.age_years >= 45.0
    w = np.array([0.30, 0.30, 0.08 * (2 if older else 1), 0.12, 0.20 * (2 if older else 1)])
    style = FACIAL_STYLES[int(np.searchsorted(np.cumsum(w / w.sum()), u[0] * 0.999999))]
    lo, hi = {"moustache": (2.0, 5.0), "goatee": (3.0, 10.0), "full": (3.0, 18.0)}.get(style, (0.0, 0.0))
    return FacialHairParams(style=style, length_mm=float(lo + (hi - lo) * u[1]) if hi > 0 else 0.0,
                            density=float(0.6 + 0.4 * u[2]) if hi > 0 else 0.0)




@functools.lru_cache(maxsize=2)
def _capable_uv_mask(resolution: int = 256) -> np.ndarray:
    """bool [R, R]: texels of the template head where some beard style may grow (generous)."""
    from nirvis.faces import load_head_model
    from nirvis.faces.regions import template_uv_geometry

    model = load_head_model()
    lm = model.template.vertices[model.landmark_vertices["68"]]
    geo = template_uv_geometry(resolution)
    p = geo.position
    half_mouth = 0.5 * (lm[54, 0] - lm[48, 0])
    s = np.clip((np.abs(p[..., 0]) - half_mouth) / max(lm[16, 0] - half_mouth, 1.0), 0.0, 1.0)
    y_top = lm[33, 1] + 2.0 + (lm[0, 1] + 24.0 - lm[33, 1]) * s ** 1.5      # above every style's top line
    ok = geo.covered & (geo.part == 0)
    ok &= (p[..., 1] < y_top) & (p[..., 1] > lm[8, 1] - 42.0) & (np.abs(p[..., 0]) < lm[16, 0] + 10.0)
    ok &= p[..., 2] > lm[0, 2] - 40.0
    return ok


def beard_triangles(uvs: np.ndarray, uv_faces: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(triangle indices int64 [Fb], vertex indices int64 [Vb]) of the beard-capable head
    triangles: those whose UV centroid lies in the capable area. A function of the topology only."""
    mask = _capable_uv_mask()
    r = mask.shape[0]
    c = uvs[uv_faces].mean(1)                                            # [F, 2], v up
    col = np.clip((c[:, 0] * r).astype(int), 0, r - 1)
    row = np.clip(((1.0 - c[:, 1]) * r).astype(int), 0, r - 1)
    tri = np.flatnonzero(mask[row, col])
    return tri.astype(np.int64), np.unique(faces[tri]).astype(np.int64)


def _inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    from matplotlib.path import Path

    return Path(polygon).contains_points(points)


def beard_field(vertices: np.ndarray, landmarks68: np.ndarray,
                params: Optional[FacialHairParams]) -> tuple[np.ndarray, np.ndarray]:
    """Per beard vertex: displacement along the normal (mm; -1 where no hair) and hair density
    in [0, 1], float32 [Vb] each, at head-frame positions ``vertices`` [Vb, 3] of one identity."""
    n = len(vertices)
    if params is None or params.style not in ("moustache", "goatee", "full") or params.length_mm <= 0:
        return np.full(n, -1.0, np.float32), np.zeros(n, np.float32)
    lm = landmarks68
    x, y = vertices[:, 0], vertices[:, 1]
    half_mouth = 0.5 * (lm[54, 0] - lm[48, 0])
    mouth = lm[48:60, :2]
    centre = mouth.mean(0)
    lip_gap = 1.0 - _inside(vertices[:, :2], centre + (mouth - centre) * 1.1).astype(float)   # lips stay bare
    sub = lm[33, 1]
    upper = lm[50:53, 1].max()
    # moustache: between the nose base and the upper lip, drooping to the mouth corners
    droop = 6.0 * smoothstep(np.abs(x), half_mouth - 4, half_mouth + 4)
    must = (smoothstep(sub - 1.0 - y, 0.0, 2.0) * smoothstep(y - (upper - 1.0) + droop, 0.0, 1.5)
            * smoothstep(half_mouth + 6.0 - np.abs(x), 0.0, 3.0))
    m = must
    if params.style in ("goatee", "full"):
        lower = lm[56:59, 1].min()
        chin = (smoothstep(lower - 1.5 - y, 0.0, 2.0) * smoothstep(y - (lm[8, 1] - 12.0), 0.0, 4.0)
                * smoothstep(half_mouth + 5.0 - np.abs(x), 0.0, 4.0))
        m = np.maximum(m, chin)
    if params.style == "full":
        # below a line from the sideburns (ear-top level at the jaw's width) to the mouth corners
        jaw = lm[16, 0]
        s = np.clip((np.abs(x) - half_mouth) / max(jaw - half_mouth, 1.0), 0.0, 1.0)
        y_top = sub + (lm[0, 1] + 18.0 - sub) * s ** 1.5
        # the cheek line thins out over ~12 mm (hairs grow sparser towards it), the neck line over 10
        full = (smoothstep(y_top - y, -2.0, 10.0) * smoothstep(y - (lm[8, 1] - 40.0), 0.0, 10.0)
                * smoothstep(jaw + 6.0 - np.abs(x), 0.0, 8.0)
                * smoothstep(vertices[:, 2] - (lm[0, 2] - 35.0), 0.0, 8.0))
        m = np.maximum(m, full)
    m = m * lip_gap
    length = params.length_mm * (0.4 if params.style == "moustache" else 1.0) + (1.5 if params.style == "moustache"
                                                                                else 0.0)
    # the shell stays under the skin in the feathered edge (m < 0.25: the painted beard of
    # ``beard_texel_density`` draws it) and then rises smoothly, so its triangle-scale emergence
    # happens where the texture is already beard-coloured and no outline is drawn by geometry
    disp = length * smoothstep(m, 0.25, 1.0) - 1.0 * (1.0 - np.clip(m / 0.25, 0.0, 1.0))
    return disp.astype(np.float32), (params.density * smoothstep(m, 0.0, 0.8)).astype(np.float32)


def beard_texel_density(mesh: Any, landmarks68: Optional[np.ndarray], params: Optional[FacialHairParams],
                        resolution: int) -> Optional[np.ndarray]:
    """The beard's hair density per texel of ``mesh``'s UV layout, float32 [R, R] in [0, 1]
    (``beard_field``'s density at each texel's surface point; None without a beard shell).

    ``prepare_face`` paints the hair colour into the skin texture with it, so the colour of a beard
    comes from a per-texel field with soft, smooth outlines, under the shell and on the shell alike
    (the shell samples the same texture): where the shell emerges from the skin both show the same
    colour, and the shell's triangle-scale edge no longer draws a stair-stepped outline.
    """
    if params is None or params.style not in ("moustache", "goatee", "full") or params.length_mm <= 0 \
            or landmarks68 is None:
        return None
    from nirvis.faces.uv import uv_geometry

    geo = uv_geometry(mesh, resolution)
    out = np.zeros(geo.part.shape, np.float32)
    ok = geo.covered & (geo.part == 0)
    out[ok] = beard_field(geo.position[ok].astype(np.float64), landmarks68, params)[1]
    return out


def prepared_beard(uvs: np.ndarray, uv_faces: np.ndarray, faces: np.ndarray, vertices: np.ndarray,
                   landmarks68: Optional[np.ndarray], params: Optional[FacialHairParams],
                   device: torch.device) -> dict[str, torch.Tensor]:
    """The tensors ``PreparedFace`` keeps for the beard: ``beard_tri`` int64 [Fb] (head triangle
    indices), ``beard_vertex`` int64 [Vb] (head vertex indices), ``beard_disp`` float32 [Vb] mm,
    ``beard_density`` float32 [Vb]."""
    tri, idx = beard_triangles(uvs, uv_faces, faces)
    if landmarks68 is None:
        params = None
        landmarks68 = np.zeros((68, 3))
    disp, dens = beard_field(vertices[idx], landmarks68, params)
    return {"beard_tri": torch.from_numpy(tri).to(device), "beard_vertex": torch.from_numpy(idx).to(device),
            "beard_disp": torch.from_numpy(disp).to(device), "beard_density": torch.from_numpy(dens).to(device)}
