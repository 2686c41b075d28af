"""Head hair as geometry: a per-identity hair shell over the scalp, its material and highlight.

The shell is a fixed-topology grid (``GRID_ROWS`` x ``GRID_COLS`` vertices) wrapped around the
head, so heads with any hair style (and imported heads without hair) batch together. Vertex
(row i, column j) lies on the ray from the skull centre at azimuth phi_j (0 = the face, +-180 deg
= the back, around the vertical axis) and elevation el_i (90 deg at the crown down to -75 deg):

* "hug" rows: at the head surface along that ray (``head_radius_grid``: the largest radius of
  the identity's own mesh in that direction) plus a style thickness field t (mm). t is 0 at the
  identity's hairline (``faces.regions.hairline_mask``: front height, recession, bald crown, the
  same field that paints the scalp in ``reflectance.maps``) and rises to the style thickness over
  a few millimetres, so the hair surface meets the skin at the hairline; outside the hair the
  shell dives 1.5-21.5 mm inside the head, where depth testing hides it.
* "curtain" rows (medium and long styles, behind the cheeks): below ear-top level the shell
  falls vertically from the hair's widest radius down to the style's length (``length_y_mm``,
  as low as shoulder level, below the mesh), covering the ears and the nape with a slight flare.

Styles and their prior (``sample_hair``, stream 0x4A1B of the identity seed, drawn from sex,
age and ancestry; logged under ``appearance["hair"]`` of the identity asset):
``short``, ``medium``, ``long``, ``curly`` (bumpy volume), ``coily`` (larger, rounder volume),
``receding`` (short, male-pattern recession / bald crown), ``tied`` (sleek with a bun),
``shaved`` (no shell: the painted stubble-like scalp of ``reflectance.maps`` stays). A side or
centre parting is a groove in t. Women: long 40 %, medium 27 %, tied 13 %, short 10 %, curly
10 % (less long with age); men: short 68 %, medium 10 %, curly 10 %, long 6 %, tied 6 %; men
with visible hair loss wear it ``receding``; curl is replaced by ``coily`` with probability equal
to the African ancestry share, and straight styles turn ``curly``/``coily`` with probability
0.5 x that share (tightly curled hair is the norm in African ancestry, Loussouarn et al. 2007).

Material: hair albedo from the melanin fibre model ``reflectance.tissues.hair_reflectance_spectrum``
(the identity's eumelanin/pheomelanin, already greyed with age in ``sample_appearance``) through
both cameras, so VIS and NIR come from one spectrum (dark hair: VIS ~0.03, NIR ~0.2 at 850 nm,
as melanin absorbs ~7x less there). A strand texture (clumps of 4-7 mm across the flow, long
along it, darker in the gaps between clumps) modulates it per pixel. Specular: Kajiya-Kay
(1989) with shifted tangents (Scheuermann 2004): a white primary lobe (cuticle reflection, F0 of
keratin n = 1.55: 0.046) shifted towards the root, and a secondary lobe tinted by the fibre
albedo (light that passed through the fibre) shifted towards the tip (``hair_specular``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import torch

from nirvis.faces.regions import smoothstep
import torch.nn.functional as F

GRID_ROWS, GRID_COLS = 32, 72
_EL_TOP, _EL_BOTTOM = 90.0, -75.0
STYLES = ("short", "medium", "long", "curly", "coily", "receding", "tied", "shaved")
_CURTAIN = {"medium", "long"}
#: keratin (n = 1.55) reflectance at normal incidence: ((n - 1) / (n + 1))^2
HAIR_F0 = 0.046
_STREAM = 0x4A1B


@dataclass(frozen=True)
class HairParams:
    """One identity's head hair (lengths in mm, head frame: +y up, +z towards the face).

    Attributes:
        style: one of ``STYLES``.
        thickness_mm: shell thickness over the crown (0 for ``shaved``).
        length_y_mm: height the curtain of medium/long styles falls to (unused otherwise).
        curl: 0 straight .. 1 tight curls (bumpy volume and wavy strand texture).
        curl_scale_mm: size of the volume's bumps (>= 18 mm: about three grid cells).
        parting_x_mm: parting offset from the midline (NaN: no parting).
        hairline_mm, recession, crown: the identity's hairline (``faces.regions.hairline_mask``).
        eumelanin, pheomelanin: fibre pigments (``reflectance.tissues``).
        seed: drives the strand texture and the curl noise.
    """

    style: str = "shaved"
    thickness_mm: float = 0.0
    length_y_mm: float = 0.0
    curl: float = 0.0
    curl_scale_mm: float = 12.0
    parting_x_mm: float = float("nan")
    hairline_mm: float = 55.0
    recession: float = 0.0
    crown: float = 0.0
    eumelanin: float = 0.5
    pheomelanin: float = 0.05
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["parting_x_mm"] = None if math.isnan(self.parting_x_mm) else self.parting_x_mm
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HairParams":
        d = dict(d)
        if d.get("parting_x_mm") is None:
            d["parting_x_mm"] = float("nan")
        if d.get("style") not in STYLES:
            raise ValueError(f"appearance.hair.style must be one of {STYLES}, got {d.get('style')!r}")
        return cls(**d)


def sample_hair(identity: Any, appearance: dict[str, Any]) -> HairParams:
    """Draw an identity's hair style (see the module docstring for the prior) from its seed, sex,
    age and ancestry; hairline, recession, crown, shaving and colour come from its ``appearance``
    (``reflectance.maps.SkinAppearance.to_dict()``), so the shell agrees with the painted scalp."""
    rng = np.random.Generator(np.random.PCG64([max(int(identity.seed), 0), _STREAM]))
    u = rng.uniform(0.0, 1.0, size=12)
    male = identity.gender > 0.5
    aged = float(np.clip((identity.age_years - 20.0) / 50.0, 0.0, 1.0))
    african = float(identity.race[0])
    common: dict[str, Any] = dict(
                  hairline_mm=float(appearance["hairline_mm"]), recession=float(appearance["hair_recession"]),
                  crown=float(appearance["crown_baldness"]), eumelanin=float(appearance["hair_eumelanin"]),
                  pheomelanin=float(appearance["hair_pheomelanin"]), seed=int(rng.integers(0, 2 ** 31)))
    if float(appearance["scalp_hair"]) < 0.5:
        return HairParams(style="shaved", **common)
    if male:
        names, weights = ["short", "medium", "curly", "long", "tied"], [0.68, 0.10, 0.10, 0.06, 0.06]
    else:
        long_w = 0.40 * (1.0 - 0.5 * aged)
        names, weights = ["long", "medium", "tied", "short", "curly"], [long_w, 0.27, 0.13, 0.10 + 0.16 * aged, 0.10]
    w = np.array(weights) / sum(weights)
    style = names[int(np.searchsorted(np.cumsum(w), u[0] * 0.999999))]
    if male and (common["recession"] > 0.3 or common["crown"] > 0.0):
        style = "receding"
    if style in ("short", "medium", "long") and u[1] < 0.5 * african:
        style = "curly"
    if style == "curly" and u[2] < african:
        style = "coily"
    thickness = {"short": (3.0, 8.0), "medium": (7.0, 13.0), "long": (7.0, 14.0), "curly": (10.0, 24.0),
                 "coily": (14.0, 34.0), "receding": (2.0, 6.0), "tied": (2.5, 5.0)}[style]
    if style == "medium":
        length = -30.0 - 60.0 * u[4]            # between the ear lobes and the chin
    elif style == "long":
        length = -115.0 - 75.0 * u[4]           # below the chin down to shoulder level
    else:
        length = 0.0
    curl = {"curly": 0.5 + 0.3 * u[5], "coily": 0.85 + 0.15 * u[5]}.get(style, 0.08 * u[5])
    parting = float("nan") if style in ("coily", "tied") or u[6] < 0.3 else float((u[7] - 0.5) * 2.0 * 30.0)
    if not math.isnan(parting) and abs(parting) < 8.0:
        parting = 0.0                           # a centre parting
    return HairParams(style=style, thickness_mm=float(thickness[0] + (thickness[1] - thickness[0]) * u[3]),
                      length_y_mm=float(length), curl=float(curl),
                      curl_scale_mm=float(22.0 + 14.0 * u[8]) if style != "coily" else float(18.0 + 8.0 * u[8]),
                      parting_x_mm=parting, **common)


@functools.lru_cache(maxsize=1)
def hair_topology() -> torch.Tensor:
    """Triangles int64 [F, 3] of the hair grid (rows x columns, wrapping in azimuth), wound so
    that the area-weighted normals point away from the head."""
    i, j = np.meshgrid(np.arange(GRID_ROWS - 1), np.arange(GRID_COLS), indexing="ij")
    a = i * GRID_COLS + j
    b = i * GRID_COLS + (j + 1) % GRID_COLS
    c = (i + 1) * GRID_COLS + j
    d = (i + 1) * GRID_COLS + (j + 1) % GRID_COLS
    f = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    return torch.from_numpy(f.astype(np.int64))


def _grid_angles() -> tuple[np.ndarray, np.ndarray]:
    el = np.radians(np.linspace(_EL_TOP, _EL_BOTTOM, GRID_ROWS))
    phi = np.radians(np.arange(GRID_COLS) * 360.0 / GRID_COLS - 180.0)
    return el, phi


def _directions(el: np.ndarray, phi: np.ndarray) -> np.ndarray:
    e, p = np.meshgrid(el, phi, indexing="ij")
    return np.stack([np.sin(p) * np.cos(e), np.sin(e), np.cos(p) * np.cos(e)], -1)   # [R, C, 3]


def head_centre(vertices: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """The rays' origin (mm): on the midline, a little above eye level, midway front to back of
    the skull (``vertices`` [V, 3], ``landmarks68`` [68, 3]; ``head_centre_at`` their eye level)."""
    return head_centre_at(vertices, float(landmarks68[36:48, 1].mean()))


def head_centre_at(vertices: np.ndarray, eye_y: float) -> np.ndarray:
    """``head_centre`` for a head whose eyes lie at height ``eye_y`` (mm): 5 mm above it, midway
    front to back of the vertices above it."""
    skull = vertices[vertices[:, 1] > eye_y]
    return np.array([0.0, eye_y + 5.0, 0.5 * (skull[:, 2].min() + skull[:, 2].max())])


def max_radius_per_cell(offsets: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``grid`` float64 [R, C] raised, cell by cell, to the largest radius of the points
    ``offsets`` [N, 3] (mm, relative to the rays' origin) whose direction falls in that grid cell
    (nearest row and column of the shell grid; points below the last row are ignored)."""
    r = np.linalg.norm(offsets, axis=1)
    el = np.degrees(np.arcsin(np.clip(offsets[:, 1] / np.maximum(r, 1e-9), -1, 1)))
    phi = np.degrees(np.arctan2(offsets[:, 0], offsets[:, 2]))
    row = np.rint((_EL_TOP - el) / (_EL_TOP - _EL_BOTTOM) * (GRID_ROWS - 1)).astype(int)
    col = np.rint((phi + 180.0) / 360.0 * GRID_COLS).astype(int) % GRID_COLS
    ok = (row >= 0) & (row < GRID_ROWS)
    flat = grid.reshape(-1).copy()
    np.maximum.at(flat, row[ok] * GRID_COLS + col[ok], r[ok])
    return flat.reshape(GRID_ROWS, GRID_COLS)


def head_radius_grid(vertices: np.ndarray, faces: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Largest head radius (mm) per grid direction, float64 [R, C]: points sampled on every
    triangle (10 per triangle) binned by direction from ``centre``, empty bins filled from their
    neighbours, then a light blur."""
    bary = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [.5, .5, 0], [0, .5, .5], [.5, 0, .5], [1 / 3] * 3,
                     [.6, .2, .2], [.2, .6, .2], [.2, .2, .6]])
    pts = np.einsum("kc,fcd->fkd", bary, vertices[faces]).reshape(-1, 3) - centre
    grid = max_radius_per_cell(pts, np.full((GRID_ROWS, GRID_COLS), -1.0))
    for _ in range(GRID_ROWS):
        empty = grid < 0
        if not empty.any():
            break
        nb = np.stack([np.roll(grid, 1, 1), np.roll(grid, -1, 1), np.vstack([grid[:1], grid[:-1]]),
                       np.vstack([grid[1:], grid[-1:]])])
        grid = np.where(empty, nb.max(0), grid)
    grid[grid < 0] = np.median(grid[grid > 0])
    grid[0] = grid[0].mean()                               # the crown pole
    blur = (np.roll(grid, 1, 1) + 2 * grid + np.roll(grid, -1, 1)) / 4.0
    return np.vstack([blur[:1], (blur[:-2] + 2 * blur[1:-1] + blur[2:]) / 4.0, blur[-1:]])


def _noise3d(points: np.ndarray, rng: np.random.Generator, scale_mm: float, waves: int = 12) -> np.ndarray:
    """Smooth noise ~N(0, 1) at points [..., 3]: a sum of random plane waves of wavelength ~scale."""
    dirs = rng.normal(size=(waves, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    k = dirs * (2 * math.pi / scale_mm) * rng.uniform(0.7, 1.3, size=(waves, 1))
    return np.cos(points @ k.T + rng.uniform(0, 2 * math.pi, waves)).sum(-1) * math.sqrt(2.0 / waves)




def hair_grid(vertices: np.ndarray, faces: np.ndarray, landmarks68: np.ndarray,
              params: Optional[HairParams]) -> tuple[np.ndarray, np.ndarray]:
    """The hair shell of one head: vertices float32 [R * C, 3] (mm, head frame, neutral
    expression) and per-vertex attributes float32 [R * C, 4] (hair weight 1 where shown, strand
    coordinates across and along the flow in mm, ambient occlusion in [0, 1]).

    ``params`` None or ``shaved``: the whole grid collapses to one point inside the head.

    Example:
        >>> from nirvis.faces import load_head_model
        >>> m = load_head_model()
        >>> lm = m.template.vertices[m.landmark_vertices["68"]]
        >>> v, a = hair_grid(m.template.vertices, m.template.faces, lm, HairParams("short", 6.0))
        >>> v.shape == (GRID_ROWS * GRID_COLS, 3), a.shape[1], bool(v[:, 1].max() > m.template.vertices[:, 1].max())
        (True, 4, True)
    """
    n = GRID_ROWS * GRID_COLS
    centre = head_centre(vertices, landmarks68)
    if params is None or params.style == "shaved" or params.thickness_mm <= 0:
        return np.tile(centre.astype(np.float32), (n, 1)), np.zeros((n, 4), np.float32)
    from nirvis.faces.regions import hairline_mask

    rng = np.random.Generator(np.random.PCG64([params.seed, _STREAM + 1]))
    el, phi = _grid_angles()
    dirs = _directions(el, phi)                                          # [R, C, 3]
    r_head = head_radius_grid(vertices, faces, centre)
    surf = centre + dirs * r_head[..., None]                             # head surface points
    aphi = np.degrees(np.abs(phi))[None, :]                              # 0 face .. 180 back
    eye_top = float(landmarks68[36:48, 1].max())
    cover = hairline_mask(surf.reshape(-1, 3), landmarks68, params.hairline_mm, params.recession, params.crown,
                          softness_mm=3.0 + 0.15 * params.thickness_mm).reshape(GRID_ROWS, GRID_COLS).astype(np.float64)
    # short styles stop above the ears (ear tops ~18 mm above the eyes): sides and back cut higher
    y_low = eye_top + 20.0 + (float(landmarks68[48:60, 1].mean()) - eye_top - 20.0) * smoothstep(aphi, 115, 160)
    cover = cover * (1.0 / (1.0 + np.exp(-np.clip((surf[..., 1] - y_low) / 3.0, -60, 60))))
    a = np.clip(2.0 * cover - 1.0, 0.0, 1.0)
    t = params.thickness_mm * (0.55 + 0.45 * smoothstep(np.degrees(el)[:, None], -10.0, 60.0))   # fuller on top
    if params.curl > 0:
        t = t * np.clip(1.0 + 0.3 * params.curl * _noise3d(surf, rng, params.curl_scale_mm), 0.5, 1.6)
    if not math.isnan(params.parting_x_mm):
        top_front = (smoothstep(surf[..., 1], centre[1] + 40.0, centre[1] + 60.0)
                     * smoothstep(surf[..., 2], centre[2] - 20, centre[2] + 10))
        t = t * (1.0 - 0.6 * top_front * np.exp(-((surf[..., 0] - params.parting_x_mm) / 4.0) ** 2))
    if params.style == "tied":
        bun = centre + np.array([0.0, 20.0, -100.0])                    # a bun at the back of the head
        t = t + 22.0 * np.exp(-np.sum((surf - bun) ** 2, -1) / (2 * 22.0 ** 2))
    disp = t * a ** 0.7 - 1.5 * (1.0 - a) - 20.0 * np.clip(1.0 - 2.0 * cover, 0.0, 1.0)
    pos = centre + dirs * (r_head + disp)[..., None]
    ao = 0.7 + 0.3 * smoothstep(np.degrees(el)[:, None] + 0 * aphi, -30.0, 50.0)
    if params.style in _CURTAIN:
        pos, ao = _curtain(pos, ao, surf, r_head + disp, el, phi, centre, params)
    arc_phi = np.broadcast_to(phi[None, :] * 80.0, (GRID_ROWS, GRID_COLS))
    arc_el = np.broadcast_to((_EL_TOP - np.degrees(el))[:, None] * 2.2, (GRID_ROWS, GRID_COLS))
    attr = np.stack([np.ones((GRID_ROWS, GRID_COLS)), arc_phi, arc_el, ao], -1)
    return pos.reshape(-1, 3).astype(np.float32), attr.reshape(-1, 4).astype(np.float32)


def _curtain(pos: np.ndarray, ao: np.ndarray, surf: np.ndarray, r_hug: np.ndarray, el: np.ndarray, phi: np.ndarray,
             centre: np.ndarray, params: HairParams) -> tuple[np.ndarray, np.ndarray]:
    """Rows below ear-top level behind the cheeks fall vertically to ``params.length_y_mm``."""
    el_deg = np.degrees(el)
    start = int(np.argmin(np.abs(el_deg - 12.0)))                       # ear-top level
    hug_h = np.hypot(pos[..., 0], pos[..., 2] - centre[2])              # horizontal radius of the hug rows
    head_h = np.hypot(surf[..., 0], surf[..., 2] - centre[2])
    below = (np.arange(GRID_ROWS) > start)[:, None] & (surf[..., 1] > params.length_y_mm)
    r_c = np.maximum(hug_h[start], np.where(below, head_h + 4.0, 0.0).max(0))
    r_c = (np.roll(r_c, 2) + np.roll(r_c, 1) + r_c + np.roll(r_c, -1) + np.roll(r_c, -2)) / 5.0
    y0 = pos[start, :, 1]
    frac = (np.arange(GRID_ROWS) - start).clip(min=0) / (GRID_ROWS - 1 - start)            # 0 at start .. 1 at end
    y = y0[None, :] + frac[:, None] * (params.length_y_mm - y0[None, :])
    flare = r_c[None, :] + 0.06 * (y0[None, :] - y)
    curtain = np.stack([centre[0] + np.sin(phi)[None, :] * flare, y, centre[2] + np.cos(phi)[None, :] * flare], -1)
    front = 68.0 if params.style == "long" else 74.0
    w = smoothstep(np.degrees(np.abs(phi)), front, front + 22.0)[None, :] * (frac > 0)[:, None]
    out = pos * (1 - w[..., None]) + curtain * w[..., None]
    return out, ao * (1.0 - 0.25 * w * frac[:, None])


def hair_albedo(eumelanin: float, pheomelanin: float, led_nm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hair fibre albedo of one identity: VIS linear sRGB float32 [3] and NIR float32 [] for
    ``led_nm`` (``reflectance.tissues.hair_reflectance_spectrum`` with a 4 % surface share)."""
    from nirvis.reflectance import spectra
    from nirvis.reflectance.sensors import spectrum_to_nir, spectrum_to_vis_rgb
    from nirvis.reflectance.tissues import hair_reflectance_spectrum

    wl_v = torch.from_numpy(spectra.VIS_WAVELENGTHS_NM).float()
    wl_n = torch.from_numpy(spectra.NIR_WAVELENGTHS_NM).float()
    vis = spectrum_to_vis_rgb(hair_reflectance_spectrum(eumelanin, pheomelanin, wl_v, 0.04), wl_v).clamp(0, 1)
    nir = spectrum_to_nir(hair_reflectance_spectrum(eumelanin, pheomelanin, wl_n, 0.04), wl_n, led_nm).clamp(0, 1)
    return vis.float(), nir.float()


def hair_material(params: Optional[HairParams], led_nm: float) -> torch.Tensor:
    """Hair material float32 [9]: the 7 ``MATERIAL_CHANNELS`` (VIS RGB, NIR, VIS and NIR
    specular F0 of keratin, roughness), then curl and a strand-phase seed in [0, 10) for
    ``strand_texture`` (``params`` None: zeros; a shaved head keeps its colour for the beard)."""
    if params is None:
        return torch.zeros(9)
    vis, nir = hair_albedo(params.eumelanin, params.pheomelanin, led_nm)
    order = 1.0 - 0.6 * params.curl                 # curls scatter the highlight
    extra = [HAIR_F0 * order, HAIR_F0 * order, 0.45 - 0.2 * params.curl, params.curl, (params.seed % 1000) / 100.0]
    return torch.cat([vis, nir.view(1), torch.tensor(extra)]).float()


def strand_texture(across_mm: torch.Tensor, along_mm: torch.Tensor, curl: torch.Tensor,
                   seed: torch.Tensor) -> torch.Tensor:
    """Strand brightness multiplier float [..., 1] in [0.7, 1.1] at strand coordinates
    ``across_mm``/``along_mm`` [..., 1]: clumps 4-7 mm wide across the flow (finer strands
    would alias at ~1.5 mm per pixel), long along it (wavy
    with ``curl`` [..., 1]), darker in the gaps between clumps (roots and depth). ``seed``
    [..., 1] shifts the phases per identity."""
    s = seed * 0.618
    wave = (0.6 + 3.0 * curl) * torch.sin(along_mm * (0.08 + 0.5 * curl) + s)
    x = across_mm + wave + 2.5 * torch.sin(along_mm * 0.011 + across_mm * 0.05 + s * 2.3)
    c = (0.6 * torch.sin(x * (2 * math.pi / 7.3) + 2.1 * torch.sin(along_mm * 0.023 + x * 0.11 + s * 3.1) + s)
         + 0.4 * torch.sin(x * (2 * math.pi / 4.1) + 2.9 * torch.sin(along_mm * 0.041 + x * 0.07 + s * 1.3) + 2 * s))
    return 0.9 + 0.2 * c.clamp(-1.0, 1.0)


def hair_specular(t: torch.Tensor, n: torch.Tensor, v: torch.Tensor, l: torch.Tensor,  # noqa: E741 (BRDF n, v, l)
                  albedo: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
    """Kajiya-Kay specular with shifted tangents (Scheuermann 2004) times cos(theta_l), [..., C].

    Args:
        t: float [..., 3] unit hair tangent (root -> tip); n, v, l: unit normal, directions to the
            viewer and the light [..., 3].
        albedo: float [..., C] fibre albedo of the spectrum (tints the secondary lobe).
        f0: float [..., 1] the material's specular channel: keratin's F0 (0.046) times the
            strand pattern and the hair's order (``hair_material``, less for curls and beards).

    Returns:
        float [..., C]: primary lobe 0.10 f0 (white, exponent 120, shifted 0.08 to the root) +
        secondary lobe (albedo^0.5 x 0.25 f0, exponent 24, shifted 0.12 to the tip), each
        normalised by (p + 2) / (2 pi), times max(n.l, 0). The 0.10 and 0.25 (set by eye) stand
        for the strands' self-shadowing and the light scattered out of the viewer's strand.
    """
    h = F.normalize(v + l, dim=-1, eps=1e-12)
    nl = (n * l).sum(-1, keepdim=True).clamp(min=0.0)
    out = torch.zeros_like(albedo)
    for shift, p, colour in ((-0.08, 120.0, 0.10 * torch.ones_like(albedo)),
                             (0.12, 24.0, 0.25 * albedo.clamp(0, 1).sqrt())):
        ts = F.normalize(t + shift * n, dim=-1, eps=1e-12)
        th = (ts * h).sum(-1, keepdim=True)
        lobe = (1.0 - th * th).clamp(min=0.0) ** (0.5 * p)
        out = out + colour * f0 * (p + 2) / (2 * math.pi) * lobe
    return out * nl


def specular(n: torch.Tensor, v: torch.Tensor, l: torch.Tensor, roughness: torch.Tensor,  # noqa: E741 (BRDF n, v, l)
             f0: torch.Tensor, albedo: torch.Tensor, hair: Optional[torch.Tensor], tangent: Optional[torch.Tensor],
             backend: str = "torch") -> torch.Tensor:
    """A light's specular term times cos(theta_l): GGX (``shading.ggx_specular``) blended into
    Kajiya-Kay on hair (``blend_hair_specular``); [..., C] with hair, [..., 1] without. On the
    ``cpu`` backend one compiled pass per pixel (``compiled.specular``; no gradients)."""
    from nirvis.render.compiled import use_compiled

    if use_compiled(backend, n, v, l, roughness, f0, albedo):
        from nirvis.render.compiled.specular import surface_specular
        return surface_specular(n, v, l, roughness, f0, albedo, hair, tangent)
    from nirvis.render.shading import ggx_specular

    return blend_hair_specular(ggx_specular(n, v, l, roughness, f0), hair, tangent, n, v, l, albedo, f0)


def blend_hair_specular(surface: torch.Tensor, hair: Optional[torch.Tensor], tangent: Optional[torch.Tensor],
                        n: torch.Tensor, v: torch.Tensor, l: torch.Tensor,  # noqa: E741 (BRDF n, v, l)
                        albedo: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
    """``surface`` specular [..., 1] (GGX) where ``hair`` [..., 1] is 0, Kajiya-Kay
    (``hair_specular``, [..., C]) where it is 1; unchanged when the GBuffer has no hair."""
    if hair is None or tangent is None:
        return surface
    on = hair[..., 0] > 0                                                # Kajiya-Kay only where hair is
    out = surface.expand(*surface.shape[:-1], albedo.shape[-1]).clone()
    w = hair[on]
    out[on] = surface[on] * (1 - w) + w * hair_specular(tangent[on], n[on], v[on], l[on], albedo[on], f0[on])
    return out
