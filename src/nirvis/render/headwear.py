"""Headwear as procedural geometry: knit beanies, baseball caps (with a brim) and hair bands.

Geometry. One fixed-topology mesh whatever the kind, so heads with and without headwear batch
together: a shell grid (``SHELL_ROWS`` x ``SHELL_COLS``; the last column repeats the first one at
+180 deg so fabric texture coordinates never jump across a seam) and a brim (a top and a bottom
sheet of ``BRIM_ROWS`` x ``BRIM_COLS`` plus the strip joining their outer edges). Unused parts
(the brim of a beanie or band, everything without headwear) collapse onto one point inside the
head, where their zero-area triangles draw nothing. Shell column j lies at azimuth phi_j (0 = the
face, as in ``nirvis.render.hair``); its rows run from the crown (caps, beanies) or the band's
upper edge down to the lower edge at elevation el_bot(phi), which blends a front, a side and a
back value (fronts are set as a height above the brows, sides as a height above the eyes: ear
tops are ~18 mm above the eyes). Along each ray from ``hair.head_centre`` the fabric lies at

    r = r_head + min(t_hair, 2 + 0.35 t_hair) + thickness      (+ a stand-off at the cap's front)

where r_head is the identity's largest head radius in that direction (``hair.head_radius_grid``)
and t_hair the hair shell's thickness there: hair is compressed under the fabric, and the hair
shell itself is flattened (``flatten_hair``): its vertices under the fabric are pulled in to
1.5 mm inside it, rising again by 4 mm per degree beyond the open edges, so hair never pokes
through and thick hair bulges out from under the edge. The edge rows tuck 1 mm under the fabric
layer onto the hair/skin (no see-through gap). Heads keep their neutral-expression frame (like
the hair shell); the fronts stay >= 18 mm above the brows, clear of raised brows.

Material (``headwear_material``): packed like ``prepared_face.MATERIAL_CHANNELS``; fabric F0
0.03 (polymer fibres n ~ 1.5 give 0.04 for a flat surface, less for a fibrous one), roughness
0.75-0.95. The visible colour comes from a palette (linear sRGB reflectance); the NIR value
from the dye class, not the colour:

* ``dyed``: textile dyes (azo, anthraquinone, reactive, disperse, acid) owe their colour to
  electronic absorption bands in 400-700 nm and are largely transparent beyond ~750 nm, so at
  850/940 nm a dyed fabric reflects about like its undyed fibre, 0.5-0.8 for cotton, wool and
  polyester whatever the visible colour. This is why NIR camouflage textiles need special vat
  dyes or carbon-containing finishes to meet NIR reflectance limits (US military camouflage
  specifications set reflectance windows over 760-1200 nm, as used by Gao et al. 2023, RSC
  Adv. 13, doi:10.1039/d3ra05442j), and why black clothing often looks light grey in NIR
  photographs. The value ranges below are rounded estimates, not measurements of fabrics.
  Drawn here: fibre NIR U(0.5, 0.78), reduced by up to 30 % for the darkest shades (dye
  mixtures for deep shades keep some absorption in the 700-800 nm tail: a heuristic, not a
  measured figure).
* ``undyed``: white (optically brightened) cotton/polyester, NIR U(0.7, 0.85).
* ``carbon``: carbon-black pigmented (spun-dyed) black or charcoal fibres: carbon black absorbs
  broadband, so such fabric stays dark in the NIR, 0.04-0.10 (charcoal 0.08-0.18).

A cheap procedural pattern modulates the albedo (both spectra): knit wales and courses on a
beanie (ribbed cuff), panel seams on a cap, fine ribs on a band; its contrast fades out when the
period gets under ~3 pixels (``mm_per_px``), so it never aliases.

Convention: head frame (mm, +x subject's left, +y up, +z out of the face), neutral expression,
before the pose is applied. Sampled per pair from its own stream (``sampling``), logged under
``accessories["headwear"]``.
"""

from __future__ import annotations

import functools
import math
import weakref
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch

from nirvis.colour import luminance_rec709
from nirvis.render.hair import (GRID_COLS, GRID_ROWS, _EL_BOTTOM, _EL_TOP, head_centre_at, head_radius_grid,
                                max_radius_per_cell)

KINDS = ("none", "beanie", "cap", "headband")
DYES = ("dyed", "undyed", "carbon")
SHELL_ROWS, SHELL_COLS = 22, GRID_COLS + 1
BRIM_ROWS, BRIM_COLS = 5, 25
N_VERTICES = SHELL_ROWS * SHELL_COLS + 2 * BRIM_ROWS * BRIM_COLS
#: linear sRGB reflectance of the palette, and its draw weights
PALETTE = {"black": (0.025, 0.025, 0.028), "charcoal": (0.07, 0.07, 0.075), "grey": (0.22, 0.22, 0.22),
           "white": (0.72, 0.72, 0.70), "navy": (0.02, 0.03, 0.10), "royal": (0.03, 0.08, 0.40),
           "red": (0.50, 0.03, 0.04), "maroon": (0.14, 0.02, 0.03), "beige": (0.50, 0.40, 0.27),
           "olive": (0.10, 0.11, 0.04), "green": (0.04, 0.20, 0.07), "mustard": (0.55, 0.35, 0.04),
           "pink": (0.70, 0.30, 0.40)}
_WEIGHTS = (0.22, 0.08, 0.12, 0.06, 0.14, 0.04, 0.07, 0.05, 0.07, 0.06, 0.04, 0.03, 0.02)
FABRIC_F0 = 0.03
_COLLAPSED = (0.0, 0.0, -60.0)                  # inside the head, like the glasses
#: the PCG64 stream key of a pair's headwear draws (``sampling.sample_params``)
HEADWEAR_STREAM = 0x4EAD


@dataclass(frozen=True)
class HeadwearParams:
    """One pair's headwear (lengths in mm, angles in degrees). ``kind="none"``: no headwear.

    Attributes:
        kind: one of ``KINDS``.
        thickness_mm: fabric layer over the (compressed) hair or scalp.
        front_mm: lower front edge height above the brows' top (band: its lower edge).
        side_mm: lower edge height above the eyes' top at the sides (ears at ~18 mm).
        back_deg: elevation of the lower edge at the back of the head (from the skull centre).
        width_mm: band width (``headband`` only).
        brim_mm, brim_tilt_deg: visor length and downward tilt (``cap`` only).
        colour: palette name (``PALETTE``); vis_rgb: linear sRGB albedo; dye: one of ``DYES``;
        nir: NIR albedo; roughness: GGX roughness.
        pattern_mm: period of the fabric pattern (knit wales, band ribs; cap seams ignore it).
    """

    kind: str = "none"
    thickness_mm: float = 4.0
    front_mm: float = 25.0
    side_mm: float = 20.0
    back_deg: float = 0.0
    width_mm: float = 0.0
    brim_mm: float = 0.0
    brim_tilt_deg: float = 0.0
    colour: str = "black"
    vis_rgb: tuple[float, float, float] = PALETTE["black"]
    dye: str = "dyed"
    nir: float = 0.6
    roughness: float = 0.85
    pattern_mm: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"HeadwearParams.kind must be one of {KINDS}, got {self.kind!r}")
        if self.dye not in DYES:
            raise ValueError(f"HeadwearParams.dye must be one of {DYES}, got {self.dye!r}")
        if self.colour not in PALETTE:
            raise ValueError(f"HeadwearParams.colour must be one of {sorted(PALETTE)}, got {self.colour!r}")
        if len(self.vis_rgb) != 3 or not all(0.0 <= c <= 1.0 for c in self.vis_rgb) or not 0.0 <= self.nir <= 1.0:
            raise ValueError(f"HeadwearParams: albedos must lie in [0, 1], got {self.vis_rgb}, {self.nir}")
        if not (0.5 <= self.thickness_mm <= 20.0 and self.front_mm >= 10.0 and self.pattern_mm > 0.0
                and 0.0 <= self.width_mm <= 60.0 and 0.0 <= self.brim_mm <= 100.0 and 0.0 < self.roughness <= 1.0):
            raise ValueError(f"HeadwearParams: value out of range in {self}")
        if self.kind == "headband" and self.width_mm < 5.0:
            raise ValueError(f"HeadwearParams: a headband needs width_mm >= 5, got {self.width_mm}")

    @property
    def enabled(self) -> bool:
        return self.kind != "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HeadwearParams":
        d = dict(d)
        if "vis_rgb" in d:
            d["vis_rgb"] = tuple(float(c) for c in d["vis_rgb"])
        return cls(**d)


def sample_headwear(rng: np.random.Generator, probability: float) -> HeadwearParams:
    """Draw a pair's headwear (none with probability 1 - ``probability``): beanie 40 %, cap 35 %,
    headband 25 %; colour from the palette, NIR albedo from the dye class (module docstring).

    Example:
        >>> p = sample_headwear(np.random.default_rng(0), 1.0)
        >>> p.enabled, p.kind in KINDS, HeadwearParams.from_dict(p.to_dict()) == p
        (True, True, True)
    """
    u = rng.uniform(0.0, 1.0, size=16)            # a fixed number of draws whatever the outcome
    if u[0] >= probability:
        return HeadwearParams()
    kind = ("beanie", "cap", "headband")[int(np.searchsorted([0.40, 0.75], u[1], side="right"))]
    w = np.cumsum(_WEIGHTS) / sum(_WEIGHTS)
    colour = list(PALETTE)[int(np.searchsorted(w, u[2] * 0.999999, side="right"))]
    gain = 0.8 + 0.4 * u[3]
    vis = tuple(float(np.clip(c * gain * (0.92 + 0.16 * x), 0.005, 0.95)) for c, x in zip(PALETTE[colour], u[4:7]))
    luma = float(luminance_rec709(np.asarray(vis)))
    carbon_share = {"black": 0.5, "charcoal": 0.6}.get(colour, 0.0)
    if u[7] < carbon_share:
        dye, nir = "carbon", (0.04 + 0.06 * u[8]) if colour == "black" else (0.08 + 0.10 * u[8])
    elif colour == "white":
        dye, nir = "undyed", 0.70 + 0.15 * u[8]
    else:
        dye, nir = "dyed", (0.50 + 0.28 * u[8]) * (1.0 - 0.3 * float(np.clip(1.0 - luma / 0.2, 0.0, 1.0)))
    common = dict(kind=kind, colour=colour, vis_rgb=vis, dye=dye, nir=float(nir), roughness=float(0.75 + 0.2 * u[9]))
    if kind == "beanie":
        return HeadwearParams(thickness_mm=float(3.0 + 3.0 * u[10]), front_mm=float(18.0 + 17.0 * u[11]),
                              side_mm=float(10.0 + 12.0 * u[12]), back_deg=float(-8.0 + 12.0 * u[13]),
                              pattern_mm=float(4.0 + 2.5 * u[14]), **common)
    if kind == "cap":
        return HeadwearParams(thickness_mm=float(2.0 + 1.5 * u[10]), front_mm=float(22.0 + 12.0 * u[11]),
                              side_mm=float(24.0 + 8.0 * u[12]), back_deg=float(4.0 + 10.0 * u[13]),
                              brim_mm=float(60.0 + 16.0 * u[14]), brim_tilt_deg=float(5.0 + 15.0 * u[15]),
                              pattern_mm=60.0, **common)
    return HeadwearParams(thickness_mm=float(2.0 + 2.0 * u[10]), front_mm=float(35.0 + 25.0 * u[11]),
                          side_mm=float(28.0 + 14.0 * u[12]), back_deg=float(5.0 + 15.0 * u[13]),
                          width_mm=float(10.0 + 30.0 * u[14]), pattern_mm=float(3.0 + 2.0 * u[15]), **common)


@dataclass(frozen=True)
class HeadFrame:
    """What headwear needs of one identity's neutral head (numpy, mm, head frame): the rays'
    ``centre`` [3], head and hair-shell radii [GRID_ROWS, GRID_COLS] on the hair grid
    (``hair.head_radius_grid``), the brows' top and the eyes' top heights."""

    centre: np.ndarray
    r_head: np.ndarray
    r_hair: np.ndarray
    brow_y: float
    eye_top_y: float


_NO_FRAME = HeadFrame(np.zeros(3), np.zeros((GRID_ROWS, GRID_COLS)), np.zeros((GRID_ROWS, GRID_COLS)), 0.0, 0.0)
_FRAMES: "weakref.WeakKeyDictionary[Any, HeadFrame]" = weakref.WeakKeyDictionary()


def head_frame(pf: Any) -> HeadFrame:
    """The ``HeadFrame`` of a ``PreparedFace`` (cached per face object; computed from its coarse
    cage when subdivided, the hair shell and the 68 landmarks, else the 5-point eyes)."""
    if pf in _FRAMES:
        return _FRAMES[pf]
    v = pf.vertices.detach().cpu().numpy().astype(np.float64)
    f = pf.faces.cpu().numpy()
    if pf.cage_faces is not None and pf.subdivision is not None:
        v, f = v[:pf.subdivision.n_vertices[0]], pf.cage_faces.cpu().numpy()
    full = pf.vertices.detach().cpu().numpy().astype(np.float64)
    tri = pf.faces.cpu().numpy()
    lm = pf.landmarks68 if pf.landmarks68 is not None else pf.landmarks5
    pts = (full[tri[lm[0].cpu().numpy()]] * lm[1].cpu().numpy()[..., None]).sum(1)
    if pf.landmarks68 is not None:
        eye_y, eye_top, brow = float(pts[36:48, 1].mean()), float(pts[36:48, 1].max()), float(pts[17:27, 1].max())
    else:
        eye_y = float(pts[:2, 1].mean())
        eye_top, brow = eye_y + 5.0, eye_y + 18.0
    centre = head_centre_at(v, eye_y)
    r_head = head_radius_grid(v, f, centre)
    r_hair = r_head.copy()
    if pf.hair_vertices is not None:
        r_hair = max_radius_per_cell(pf.hair_vertices.detach().cpu().numpy().astype(np.float64) - centre, r_hair)
    out = HeadFrame(centre=centre, r_head=r_head, r_hair=r_hair, brow_y=brow, eye_top_y=eye_top)
    _FRAMES[pf] = out
    return out


def _polar(p: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(elevation deg, azimuth deg, radius) [N] of points [N, 3] seen from ``centre``."""
    d = p - centre
    r = np.maximum(np.linalg.norm(d, axis=-1), 1e-9)
    return np.degrees(np.arcsin(np.clip(d[..., 1] / r, -1, 1))), np.degrees(np.arctan2(d[..., 0], d[..., 2])), r


def _lookup(grid: np.ndarray, el: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Bilinear value of a hair-grid field [GRID_ROWS, GRID_COLS] at directions (deg), wrapping in phi."""
    y = np.clip((_EL_TOP - el) / (_EL_TOP - _EL_BOTTOM) * (GRID_ROWS - 1), 0, GRID_ROWS - 1 - 1e-9)
    x = ((phi + 180.0) / 360.0 * GRID_COLS) % GRID_COLS
    i, j = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = y - i, x - j
    j1 = (j + 1) % GRID_COLS
    top = grid[i, j] * (1 - fx) + grid[i, j1] * fx
    bot = grid[i + 1, j] * (1 - fx) + grid[i + 1, j1] * fx
    return top * (1 - fy) + bot * fy


def _el_at_height(fr: HeadFrame, y: float, phi: float) -> float:
    """Elevation (deg) where the head surface at azimuth ``phi`` reaches height ``y``."""
    el = np.arange(-40.0, 89.0, 0.5)
    hy = fr.centre[1] + _lookup(fr.r_head, el, np.full_like(el, phi)) * np.sin(np.radians(el))
    return float(np.interp(y, np.maximum.accumulate(hy), el))


def _edges(fr: HeadFrame, p: HeadwearParams, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge elevations (deg) [N] of the fabric at azimuths ``phi`` (deg)."""
    front = _el_at_height(fr, fr.brow_y + p.front_mm, 0.0)
    side = _el_at_height(fr, fr.eye_top_y + p.side_mm, 90.0)
    a = np.abs(phi)
    s1 = 0.5 - 0.5 * np.cos(np.pi * np.clip(a / 90.0, 0, 1))
    s2 = 0.5 - 0.5 * np.cos(np.pi * np.clip((a - 90.0) / 90.0, 0, 1))
    bot = np.where(a <= 90.0, front + (side - front) * s1, side + (p.back_deg - side) * s2)
    if p.kind != "headband":
        return bot, np.full_like(bot, 90.0)
    r = _lookup(fr.r_head, bot, phi)
    return bot, np.minimum(bot + np.degrees(p.width_mm / r), 88.0)


def _radius(fr: HeadFrame, p: HeadwearParams, el: np.ndarray, phi: np.ndarray, tuck: bool = False) -> np.ndarray:
    """Fabric radius (mm) at directions (deg): head + compressed hair + thickness (``tuck``: the
    edge, 1 mm under the fabric layer)."""
    r_head = _lookup(fr.r_head, el, phi)
    t_hair = np.maximum(_lookup(fr.r_hair, el, phi) - r_head, 0.0)
    base = r_head + np.minimum(t_hair, 2.0 + 0.35 * t_hair)
    if tuck:
        return base - 1.0
    if p.kind == "cap":                           # the structured front panels stand off the forehead
        base = base + 6.0 * np.exp(-(phi / 35.0) ** 2) * np.exp(-((el - 35.0) / 20.0) ** 2)
    return base + p.thickness_mm


def _point(fr: HeadFrame, el: np.ndarray, phi: np.ndarray, r: np.ndarray) -> np.ndarray:
    e, q = np.radians(el), np.radians(phi)
    return fr.centre + r[..., None] * np.stack([np.sin(q) * np.cos(e), np.sin(e), np.cos(q) * np.cos(e)], -1)


@functools.lru_cache(maxsize=1)
def headwear_topology() -> torch.Tensor:
    """Triangles int64 [F, 3] of the headwear mesh (fixed): shell grid, brim top, brim bottom,
    brim outer strip; wound so that area-weighted normals point outwards."""
    def grid(rows: int, cols: int, base: int, flip: bool) -> np.ndarray:
        i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
        a, b = base + i * cols + j, base + i * cols + j + 1
        c, d = a + cols, b + cols
        f = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
        return f[:, ::-1] if flip else f

    n_shell, n_sheet = SHELL_ROWS * SHELL_COLS, BRIM_ROWS * BRIM_COLS
    top_outer = n_shell + (BRIM_ROWS - 1) * BRIM_COLS + np.arange(BRIM_COLS)
    j = np.arange(BRIM_COLS - 1)
    a, b, c, d = top_outer[j], top_outer[j + 1], top_outer[j] + n_sheet, top_outer[j + 1] + n_sheet
    strip = np.concatenate([np.stack([a, c, b], -1), np.stack([b, c, d], -1)])
    f = np.concatenate([grid(SHELL_ROWS, SHELL_COLS, 0, False), grid(BRIM_ROWS, BRIM_COLS, n_shell, True),
                        grid(BRIM_ROWS, BRIM_COLS, n_shell + n_sheet, False), strip])
    return torch.from_numpy(f.astype(np.int64))


def headwear_mesh(p: HeadwearParams, fr: HeadFrame) -> tuple[np.ndarray, np.ndarray]:
    """Vertices float32 [N_VERTICES, 3] (mm, head frame) and attributes float32 [N_VERTICES, 4]
    (weight 1, pattern coordinates across (azimuth, deg) and up (mm above the lower edge), AO)
    of headwear ``p`` on the head ``fr``; all collapsed inside the head without headwear."""
    v = np.tile(np.array(_COLLAPSED), (N_VERTICES, 1))
    attr = np.zeros((N_VERTICES, 4))
    if not p.enabled:
        return v.astype(np.float32), attr.astype(np.float32)
    phi = np.arange(SHELL_COLS) * 360.0 / GRID_COLS - 180.0
    bot, top = _edges(fr, p, phi)
    s = np.linspace(0.0, 1.0, SHELL_ROWS)[:, None]
    el = top[None] + (bot - top)[None] * s                               # [R, C], top row first
    ph = np.broadcast_to(phi, el.shape)
    r = _radius(fr, p, el, ph)
    edge = np.zeros(el.shape, bool)
    edge[-1] = True
    if p.kind == "headband":
        edge[0] = True
    elif p.kind == "beanie":                                             # the folded cuff: 2 mm more
        height = (el - bot[None]) * np.radians(1.0) * r
        r = r + 2.0 / (1.0 + np.exp((height - 35.0) / 2.0))
    r = np.where(edge, _radius(fr, p, el, ph, tuck=True), r)
    n_shell = SHELL_ROWS * SHELL_COLS
    v[:n_shell] = _point(fr, el, ph, r).reshape(-1, 3)
    up_mm = (el - bot[None]) * np.radians(1.0) * r
    ao = 1.0 - 0.15 * np.exp(-up_mm / 6.0) - 0.15 * edge
    attr[:n_shell] = np.stack([np.ones_like(el), ph, up_mm, ao], -1).reshape(-1, 4)
    if p.kind == "cap":
        v[n_shell:], attr[n_shell:] = _brim(fr, p)
    return v.astype(np.float32), attr.astype(np.float32)


def _brim(fr: HeadFrame, p: HeadwearParams) -> tuple[np.ndarray, np.ndarray]:
    """Brim vertices [2 * BRIM_ROWS * BRIM_COLS, 3] and attributes [.., 4]: a visor from the
    cap's lower front edge (|phi| <= 72 deg) reaching ``brim_mm`` forward (fanning out a little),
    tilted down, its sides curving down 12 mm; the bottom sheet 2.5 mm under the top one."""
    phi = np.linspace(-72.0, 72.0, BRIM_COLS)
    bot, _ = _edges(fr, p, phi)
    el0 = bot + 1.5
    inner = _point(fr, el0, phi, _radius(fr, p, el0, phi))               # [C, 3]
    q, t = np.radians(phi), math.radians(p.brim_tilt_deg)
    fwd = np.stack([0.45 * np.sin(q), np.zeros_like(q), np.cos(q)], -1)  # mostly forward, fanning out a little
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    out_dir = fwd * math.cos(t) - np.array([0.0, math.sin(t), 0.0])
    length = p.brim_mm * np.clip(np.cos(np.radians(phi) * 1.2), 0.0, 1.0) ** 0.8 + 3.0
    s = np.linspace(0.0, 1.0, BRIM_ROWS)[:, None, None]
    droop = np.array([0.0, 1.0, 0.0]) * (-12.0 * (phi / 72.0) ** 2)[None, :, None]     # sides curve down
    topv = inner[None] + s * (length[None, :, None] * out_dir[None] + droop)
    botv = topv - np.array([0.0, 2.5, 0.0])
    coords = np.stack(np.broadcast_arrays(phi[None], 200.0 + s[..., 0] * length[None]), -1)
    ones = np.ones((BRIM_ROWS, BRIM_COLS, 1))
    a_top = np.concatenate([ones, coords, ones * 0.95], -1)
    a_bot = np.concatenate([ones, coords, ones * 0.6], -1)             # the underside faces the face
    return (np.concatenate([topv, botv], 0).reshape(-1, 3), np.concatenate([a_top, a_bot], 0).reshape(-1, 4))


def headwear_vertices(faces: Sequence[Any], params: Sequence[HeadwearParams]) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched headwear vertices float32 [B, N_VERTICES, 3] (head frame) and attributes [B,
    N_VERTICES, 4] of B (PreparedFace, HeadwearParams) pairs, on the faces' device."""
    out = [headwear_mesh(p, head_frame(pf) if p.enabled else _NO_FRAME) for pf, p in zip(faces, params)]
    dev = faces[0].vertices.device
    return (torch.from_numpy(np.stack([o[0] for o in out])).to(dev),
            torch.from_numpy(np.stack([o[1] for o in out])).to(dev))


def flatten_hair(hair: torch.Tensor, pf: Any, p: HeadwearParams) -> torch.Tensor:
    """The hair shell [Vh, 3] pulled in under the fabric of ``p`` on face ``pf`` (unchanged
    without headwear): radii capped at 1.5 mm inside the fabric, the cap rising by 4 mm per
    degree beyond the fabric's open edges."""
    if not p.enabled:
        return hair
    fr = head_frame(pf)
    pts = hair.detach().cpu().numpy().astype(np.float64)
    el, phi, r = _polar(pts, fr.centre)
    bot, top = _edges(fr, p, phi)
    outside = np.maximum(bot - el, 0.0) + np.maximum(el - top, 0.0)
    cap = _radius(fr, p, np.clip(el, bot, top), phi) - 1.5 + 4.0 * outside
    scale = np.minimum(r, cap) / r
    out = fr.centre + (pts - fr.centre) * scale[:, None]
    return torch.from_numpy(out.astype(np.float32)).to(hair)


def fabric_pattern(kind: torch.Tensor, across: torch.Tensor, up_mm: torch.Tensor, period_mm: torch.Tensor,
                   mm_per_px: torch.Tensor) -> torch.Tensor:
    """Albedo multiplier float [B, 1, N, 1] of the fabric pattern.

    Args:
        kind: float [B, 1, 1, 1] index in ``KINDS``.
        across: float [B, 1, N, 1] azimuth (deg); up_mm: [B, 1, N, 1] mm above the lower edge
            (>= 200 on the brim).
        period_mm: float [B, 1, 1, 1] knit / rib period; mm_per_px: [B, 1, 1, 1] image scale.
    """
    arc = across * (math.pi / 180.0 * 85.0)                              # ~mm around the head
    fade = ((period_mm / mm_per_px - 3.0) / 2.0).clamp(0.0, 1.0)        # contrast off below 3 px
    wale = torch.cos(arc * (2 * math.pi) / period_mm)
    course = torch.cos(up_mm * (2 * math.pi) / (0.8 * period_mm) + 0.8 * wale)
    cuff = torch.sigmoid((35.0 - up_mm) / 2.0)
    knit = 1.0 + fade * (0.10 * wale * (1 + cuff) + 0.06 * course * (1 - cuff))
    seam = torch.remainder(across + 30.0, 60.0) - 30.0                   # six panels, a seam at the front
    seam_w = (1.6 / mm_per_px).clamp(max=1.0)             # line coverage of a pixel
    seams = 1.0 - 0.25 * seam_w * torch.exp(-(seam * math.pi / 180.0 * 85.0 / 1.2) ** 2) * (up_mm < 199).to(arc)
    ribs = 1.0 + fade * 0.08 * torch.cos(up_mm * (2 * math.pi) / period_mm)
    return torch.where(kind == 1, knit, torch.where(kind == 2, seams, torch.where(kind == 3, ribs, 1.0 + 0 * arc)))


def headwear_material(params: Sequence[HeadwearParams], attr: torch.Tensor, mm_per_px: torch.Tensor) -> torch.Tensor:
    """Packed fabric material float [B, 1, N, 7] (``MATERIAL_CHANNELS``) at the covered pixels
    from the interpolated headwear attributes ``attr`` [B, 1, N, 2] (across, up) and the image
    scales ``mm_per_px`` [B]."""
    b = len(params)
    dev, dt = attr.device, attr.dtype
    table = torch.tensor([[*p.vis_rgb, p.nir, FABRIC_F0, FABRIC_F0, p.roughness] for p in params], dtype=dt, device=dev)
    kind = torch.tensor([float(KINDS.index(p.kind)) for p in params], dtype=dt, device=dev).view(b, 1, 1, 1)
    period = torch.tensor([p.pattern_mm for p in params], dtype=dt, device=dev).view(b, 1, 1, 1)
    pattern = fabric_pattern(kind, attr[..., 0:1], attr[..., 1:2], period, mm_per_px.view(b, 1, 1, 1).to(dt))
    albedo = (table[:, :4].view(b, 1, 1, 4) * pattern).clamp(0.0, 1.0)
    return torch.cat([albedo, table[:, 4:].view(b, 1, 1, 3).expand(*albedo.shape[:3], 3)], -1)
