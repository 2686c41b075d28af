"""Region masks of the procedural head in UV space (skin, lips, brows, beard, hair, iris, sclera, ...).

Regions are defined geometrically on the template head, from its landmarks and mesh parts, and
rasterised through the UV layout; since every procedural head shares that layout, the masks apply
to all identities. Reflectance models use them to give each region its own spectrum.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from nirvis.faces.head_model import HeadModel, load_head_model
from nirvis.faces.mesh import PART_NAMES
from nirvis.faces.uv import UvGeometry, uv_geometry

#: Names of the masks returned by ``face_regions``.
REGION_NAMES = ("skin", "lips", "brows", "beard", "hair", "iris", "pupil", "sclera", "teeth", "eye_cavity",
                "mouth_cavity")

#: Scalp hairline of the template head (mm): the front hairline's height above the brows spans
#: about 45-70 mm in adults; the region ``hair`` is the scalp above the lowest of these.
HAIRLINE_FRONT_MM = (45.0, 70.0)
_HEAD_CENTRE_Z = -60.0   # the template skull's vertical axis (z, mm), between the nose tip and the occiput

IRIS_RADIUS_MM = 5.9     # human iris diameter ~11.8 mm
PUPIL_RADIUS_MM = 1.8


@dataclass(frozen=True)
class BrowShape:
    """Shape of the eyebrows on the template head (mm; heights above the eye centres, the
    5-point eye landmarks). The defaults are the template's mean brow, on the lower half of its
    brow ridge: head over the inner eye corner, peak two thirds out (above the lateral limbus),
    tail a little beyond the outer corner and lower than the peak.

    Attributes:
        head_inset_mm: inner end's distance medial of the inner eye corner.
        tail_outset_mm: outer end's distance lateral of the outer eye corner.
        head_height_mm, peak_height_mm: centre-line height at the inner end and at the peak.
        peak_position: where the peak lies, 0 (inner end) .. 1 (tail).
        tail_drop_mm: how far the tail's centre line lies below the peak.
        head_thickness_mm, body_thickness_mm, tail_thickness_mm: full height at the inner end,
            at the peak and at the tail.
    """

    head_inset_mm: float = 2.5
    tail_outset_mm: float = 3.0
    head_height_mm: float = 16.0
    peak_height_mm: float = 21.0
    peak_position: float = 0.65
    tail_drop_mm: float = 5.0
    head_thickness_mm: float = 9.0
    body_thickness_mm: float = 6.5
    tail_thickness_mm: float = 2.5


def brow_centreline(landmarks68: np.ndarray, landmarks5: np.ndarray, shape: BrowShape, side: int,
                    n: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One eyebrow's centre line in the template's front (x, y) plane.

    Args:
        landmarks68: float [68, 3] template landmarks (eye corners 36/39 and 42/45).
        landmarks5: float [5, 3] template 5-point landmarks (eye centres 0, 1).
        shape: the brow shape.
        side: -1 for the subject's right brow (x < 0), +1 for the left.
        n: number of samples from the inner end (t = 0) to the tail (t = 1).

    Returns:
        (points float64 [n, 2] (x, y) mm, thickness float64 [n] mm, t float64 [n]).
    """
    lm = np.asarray(landmarks68, np.float64)
    inner, outer = (lm[39], lm[36]) if side < 0 else (lm[42], lm[45])
    eye_y = float(np.asarray(landmarks5, np.float64)[:2, 1].mean())
    x_head = inner[0] - side * shape.head_inset_mm
    x_tail = outer[0] + side * shape.tail_outset_mm
    t = np.linspace(0.0, 1.0, n)
    tp = float(np.clip(shape.peak_position, 0.2, 0.9))
    rise = np.sin(0.5 * np.pi * np.clip(t / tp, 0.0, 1.0))
    fall = np.clip((t - tp) / (1.0 - tp), 0.0, 1.0) ** 1.6
    y = eye_y + shape.head_height_mm + (shape.peak_height_mm - shape.head_height_mm) * rise - shape.tail_drop_mm * fall
    x = x_head + (x_tail - x_head) * t
    head_part = np.clip(t / tp, 0.0, 1.0)
    thick = np.where(t <= tp, shape.head_thickness_mm + (shape.body_thickness_mm - shape.head_thickness_mm) * head_part,
                     shape.body_thickness_mm + (shape.tail_thickness_mm - shape.body_thickness_mm) * fall ** 0.6)
    return np.stack([x, y], axis=1), thick, t


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of 2-D points p [N, 2] to segment a-b."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _polygon_signed_distance(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Signed distance (positive inside) of 2-D points p [N, 2] to a closed polygon [K, 2]."""
    from matplotlib.path import Path

    d = np.min([_segment_distance(p, poly[k], poly[(k + 1) % len(poly)]) for k in range(len(poly))], axis=0)
    inside = Path(poly).contains_points(p)
    return np.where(inside, d, -d)


def smoothstep(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """0 -> 1 cubic ramp of ``x`` from ``a`` to ``b`` (clamped): the one smoothstep of the head's
    masks and shells (``hairline_mask``, ``beard_area``, ``render.hair``, ``render.facial_hair``)."""
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _soft(x: np.ndarray, width: float) -> np.ndarray:
    """0 -> 1 ramp of ``x`` over [-width/2, width/2] (smoothstep)."""
    t = np.clip(x / width + 0.5, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def hairline_mask(points: np.ndarray, landmarks68: np.ndarray, front_mm: float = HAIRLINE_FRONT_MM[0],
                  recession: float = 0.0, crown: float = 0.0, softness_mm: float = 2.0) -> np.ndarray:
    """Scalp-hair coverage in [0, 1] at template-head points: 1 above the hairline.

    The hairline is a height per azimuth around the skull's vertical axis (0 deg = the face,
    180 deg = the back): ``front_mm`` above the brows at the forehead, a little lower at the
    temples, just above the ears at the sides (12 mm above the highest eye landmark) and down to
    mouth level at the nape, joined by smoothsteps.

    Args:
        points: float [N, 3] template-head positions (mm; +y up, +z towards the face).
        landmarks68: float [68, 3] template landmarks.
        front_mm: forehead height from brows to hairline.
        recession: 0..1, receding temples and front (male-pattern hair loss): raises the front by
            up to 25 mm and the temples by up to 45 mm.
        crown: 0..1, a bald crown of up to 70 mm radius around the top-back of the skull.
        softness_mm: width of the hairline's transition.

    Returns:
        float32 [N] coverage.
    """
    p = np.asarray(points, np.float64)
    lm = np.asarray(landmarks68, np.float64)
    brow_y = lm[[19, 24], 1].mean()
    phi = np.degrees(np.arctan2(np.abs(p[:, 0]), p[:, 2] - _HEAD_CENTRE_Z))


    y_front = brow_y + front_mm + 25.0 * recession
    y_temple = brow_y + 0.75 * front_mm + 45.0 * recession
    y_side = lm[36:48, 1].max() + 12.0
    y_back = lm[48:60, 1].mean()
    y_line = (y_front + (y_temple - y_front) * smoothstep(phi, 10, 40) + (y_side - y_temple) * smoothstep(phi, 45, 75)
              + (y_back - y_side) * smoothstep(phi, 100, 150))
    cover = 1.0 / (1.0 + np.exp(np.clip(-(p[:, 1] - y_line) / softness_mm, -60, 60)))
    if crown > 0:
        top = np.array([0.0, p[:, 1].max() - 10.0, _HEAD_CENTRE_Z - 35.0])
        r = 70.0 * crown
        cover = cover * (1.0 - 1.0 / (1.0 + np.exp(np.clip((np.linalg.norm(p - top, axis=1) - r) / 6.0, -60, 60))))
    return cover.astype(np.float32)




def beard_area(points: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """Where facial hair grows, float [N] in [0, 1] at head-frame points [N, 3] (mm) of a head
    with 68-point landmarks [68, 3]: under the cheek line (subnasale level at the mouth, rising
    along ``s^1.5`` to 18 mm above the jaw-end landmarks at the jaw's width), above a line 38 mm
    under the chin, inside the jaw's width; edges feathered (smoothstep over 5-8 mm)."""
    lm = landmarks68
    x, y = np.abs(points[:, 0]), points[:, 1]
    half_mouth = 0.5 * (lm[54, 0] - lm[48, 0])
    jaw = 0.5 * (lm[16, 0] - lm[0, 0])
    s = np.clip((x - half_mouth) / max(jaw - half_mouth, 1.0), 0.0, 1.0)
    y_top = lm[33, 1] + (0.5 * (lm[0, 1] + lm[16, 1]) + 18.0 - lm[33, 1]) * s ** 1.5
    return (smoothstep(y_top - y, -1.0, 5.0) * smoothstep(y - (lm[8, 1] - 38.0), 0.0, 8.0)
            * smoothstep(jaw + 6.0 - x, 0.0, 6.0)).astype(np.float32)


def regions_from_geometry(geo: UvGeometry, model: HeadModel) -> dict[str, np.ndarray]:
    """Region masks float32 [H, W] in [0, 1] from a template UV geometry (see ``face_regions``)."""
    v = model.template.vertices
    lm = v[model.landmark_vertices["68"]]
    five = v[model.landmark_vertices["5"]]
    pos, nrm, part = geo.position, geo.normal, geo.part
    h, w = part.shape
    flat_p = pos.reshape(-1, 3)
    part_f = part.reshape(-1)
    out = {name: np.zeros(h * w, np.float32) for name in REGION_NAMES}
    idx = {n: PART_NAMES.index(n) for n in PART_NAMES}
    skin = part_f == idx["skin"]
    front = nrm.reshape(-1, 3)[:, 2] > -0.2

    # lips: inside the outer lip contour (48..59) seen from the front, on skin or the lip roll into
    # the mouth, and no deeper than 10 mm behind the mouth corners
    lip_candidates = np.flatnonzero((skin | (part_f == idx["mouth_cavity"])) & front
                                    & (flat_p[:, 2] > lm[[48, 54], 2].min() - 10.0))
    sd = _polygon_signed_distance(flat_p[lip_candidates, :2], lm[48:60, :2])
    out["lips"][lip_candidates] = _soft(sd, 1.5)

    # brows: the area the brows of procedural identities lie in, a band around the mean brow
    # centre line (``BrowShape()``; the template's own brow landmarks 17..26 arch too high and
    # drop too low at the tails), 1.3x its thickness, on front-facing skin
    cand = np.flatnonzero(skin & front & (flat_p[:, 1] > lm[36:48, 1].max()))
    for side in (-1, 1):
        line, thick, _ = brow_centreline(lm, five, BrowShape(), side)
        d = np.full(len(cand), np.inf)
        half = np.zeros(len(cand))
        p2 = flat_p[cand, :2]
        for k in range(len(line) - 1):
            dk = _segment_distance(p2, line[k], line[k + 1])
            closer = dk < d
            d = np.where(closer, dk, d)
            half = np.where(closer, 0.65 * (thick[k] + thick[k + 1]) / 2.0, half)
        out["brows"][cand] = np.maximum(out["brows"][cand], _soft(half - d, 1.5))

    # beard area (stubble/beard density maps), excluding the lips: below the cheek line, which runs
    # from the subnasale over the mouth corners up to the sideburns at the jaw's width (as a full
    # beard's upper edge in nature), down to under the chin; every edge feathered over 4-8 mm, so
    # painted stubble fades out instead of ending at a line
    cand = np.flatnonzero(skin & front & (flat_p[:, 1] < lm[0, 1] + 24.0) & (flat_p[:, 1] > lm[8, 1] - 50.0))
    out["beard"][cand] = beard_area(flat_p[cand], lm) * (1.0 - out["lips"][cand])

    # scalp hair area: skin above the lowest hairline (identities draw their own hairline in it)
    out["hair"][skin] = hairline_mask(flat_p[skin], lm, front_mm=HAIRLINE_FRONT_MM[0])

    # eyes: iris and pupil are discs around each cornea apex (5-point eye landmarks)
    eye = np.flatnonzero(part_f == idx["eyeball"])
    d_apex = np.min([np.linalg.norm(flat_p[eye] - c, axis=1) for c in five[:2]], axis=0)
    out["iris"][eye] = _soft(IRIS_RADIUS_MM - d_apex, 0.6)
    out["pupil"][eye] = _soft(PUPIL_RADIUS_MM - d_apex, 0.4)
    out["sclera"][eye] = 1.0 - out["iris"][eye]
    out["iris"][eye] -= out["pupil"][eye]
    out["teeth"][part_f == idx["teeth"]] = 1.0
    out["eye_cavity"][part_f == idx["eye_cavity"]] = 1.0
    out["mouth_cavity"][part_f == idx["mouth_cavity"]] = 1.0 - out["lips"][part_f == idx["mouth_cavity"]]
    out["skin"][skin] = 1.0 - out["lips"][skin]
    return {k: np.clip(m, 0.0, 1.0).reshape(h, w) for k, m in out.items()}


@dataclass(frozen=True)
class EyelidMargins:
    """The free lid margins of the two eyes: where the lid skin meets the eye opening.

    ``upper[e]`` and ``lower[e]`` are float64 [K, 2] (x, y) mm polylines of eye ``e`` (0: the
    subject's right eye, x < 0, iBUG landmarks 36-41; 1: the left eye, 42-47), each ordered from
    the inner corner to the outer corner; both end at the corners.
    """

    upper: tuple[np.ndarray, np.ndarray]
    lower: tuple[np.ndarray, np.ndarray]


def eyelid_margins(model: HeadModel) -> EyelidMargins:
    """The template's lid margins: the mesh edges shared by a skin and an eye-cavity triangle form
    one closed loop per eye through the twelve iBUG eye landmarks (the 4-point landmark lines
    are chords of it, up to 2.5 mm below the real upper margin at the outer third); the loop is cut
    at the eye corners (landmarks 39 / 36 and 42 / 45) into the upper and the lower path."""
    tmpl = model.template
    skin, cavity = PART_NAMES.index("skin"), PART_NAMES.index("eye_cavity")
    faces, parts = np.asarray(tmpl.faces), np.asarray(tmpl.face_parts)
    owners: dict[tuple[int, int], set[int]] = {}
    for f, part in zip(faces, parts):
        for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0])):
            owners.setdefault((min(int(a), int(b)), max(int(a), int(b))), set()).add(int(part))
    neighbours: dict[int, list[int]] = {}
    for (a, b), who in owners.items():
        if skin in who and cavity in who:
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
    lm = np.asarray(model.landmark_vertices["68"])
    xy = np.asarray(tmpl.vertices, np.float64)[:, :2]
    upper, lower = [], []
    for inner, outer in ((int(lm[39]), int(lm[36])), (int(lm[42]), int(lm[45]))):
        if len(neighbours.get(inner, ())) != 2 or len(neighbours.get(outer, ())) != 2:
            raise ValueError("the head model's eye landmarks do not lie on its skin/eye-cavity boundary")
        paths = []
        for first in neighbours[inner]:
            path, prev, cur = [inner], inner, first
            while cur != outer:
                path.append(cur)
                step = [v for v in neighbours[cur] if v != prev]
                if len(step) != 1 or len(path) > len(neighbours):
                    raise ValueError("the skin/eye-cavity boundary of an eye is not a simple loop")
                prev, cur = cur, step[0]
            paths.append(xy[path + [outer]])
        paths.sort(key=lambda p: -float(p[:, 1].mean()))     # the upper path lies higher
        upper.append(paths[0])
        lower.append(paths[1])
    return EyelidMargins((upper[0], upper[1]), (lower[0], lower[1]))


@functools.lru_cache(maxsize=1)
def template_eyelid_margins() -> EyelidMargins:
    """``eyelid_margins`` of the embedded head model (cached; do not modify)."""
    return eyelid_margins(load_head_model())


@functools.lru_cache(maxsize=4)
def template_uv_geometry(resolution: int) -> UvGeometry:
    """UV geometry of the template head (cached per resolution)."""
    return uv_geometry(load_head_model().template, resolution)


@functools.lru_cache(maxsize=4)
def face_regions(resolution: int) -> dict[str, np.ndarray]:
    """Region masks of the procedural head, float32 [H, W] in [0, 1] with H = W = ``resolution``.

    Keys: see ``REGION_NAMES``. ``skin`` excludes lips; ``brows``, ``beard`` and ``hair`` (the
    scalp above the lowest hairline, see ``hairline_mask``) lie on top of skin (hair density
    areas); ``iris``, ``pupil``, ``sclera`` partition the eyeballs. Cached; do not modify the
    returned arrays.
    """
    masks = regions_from_geometry(template_uv_geometry(resolution), load_head_model())
    for m in masks.values():
        m.setflags(write=False)
    return masks
