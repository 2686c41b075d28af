"""Per-identity local shape variation anchored at the 68 face landmarks (shape prior v4, issue 12).

The MakeHuman targets move whole features (eye size, nose width, lip volume) along a few fixed
directions, so two sampled identities of one sex and ancestry keep nearly the same eye outline,
nostrils and lip contour; a face recognizer trained on real photographs finds them alike (the
realism report, ``nirvis bench realism``). This module adds what the targets lack: each identity
moves the 68 landmark points of the template (300-W / iBUG layout: jaw 0-16, brows 17-26, nose
27-35, eyes 36-47, lips 48-67) by a few millimetres, and a smooth field carries the surface with
them:

    d(v) = sum_i w_i(v) o_i / (sum_i w_i(v) + EPS),   w_i(v) = exp(-|v - l_i|^2 / (2 RADIUS_MM^2))

for template vertex ``v``, landmark position ``l_i`` and offset ``o_i`` (mm). Near the landmarks
the surface follows them (a normalised radial-basis interpolation); far from every landmark
(scalp, ears, neck) ``d`` fades to 0 because of ``EPS``. Each eyeball and the teeth move rigidly
(the mean of their vertices' field), so the eyes stay spheres and the bite stays whole.

The offsets (``sample_landmark_offsets``): per region and axis an N(0, sd) draw clipped at
``TRUNCATE_SD``, mirror-symmetric (the right-side point gets the left one's offset with x negated;
midline points move in y and z only), plus an independent asymmetric part of ``ASYMMETRY`` x sd
times the identity's asymmetry trait; the inner lip points take the offsets of the outer lip
points above/below them so the lips move as a whole instead of crossing. The jaw outline (points
0-16) has sd 0: it stays with the chin/jaw targets and the facial adiposity, and its fixed points
keep the field off the cheeks and chin (offsets there also washed out the correlation of face
width and height that overall size gives). The spreads are a few mm, the size of the between-person
standard deviations of linear face measures (Farkas 1994: 1.5-4 mm for eye fissure, nose, mouth
and lower-face widths); the whole prior stays inside the published anthropometric bounds
(tests/faces/test_anthropometry.py), and the realism report measures what it buys (README).

Example:
    >>> from nirvis.faces.local_shape import sample_landmark_offsets
    >>> offsets = sample_landmark_offsets(3)
    >>> offsets.shape, offsets.dtype
    ((68, 3), dtype('float64'))
"""

from __future__ import annotations

import numpy as np

#: iBUG 68-point mirror partner of every landmark (x -> -x maps point i onto MIRROR_68[i]).
MIRROR_68: tuple[int, ...] = (
    tuple(range(16, -1, -1)) + tuple(range(26, 16, -1)) + (27, 28, 29, 30) + (35, 34, 33, 32, 31)
    + (45, 44, 43, 42, 47, 46) + (39, 38, 37, 36, 41, 40) + (54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55)
    + (64, 63, 62, 61, 60, 67, 66, 65))

#: Per region: landmark indices and the (x, y, z) standard deviation of their offsets in mm.
#: Bilateral x offsets are small because the two sides move in opposite x (a mouth-corner sd of
#: 1 mm changes the mouth width by an sd of 2 mm); lid points move little in y (the eyeball does
#: not move with them).
REGION_SD_MM: dict[str, tuple[range, tuple[float, float, float]]] = {
    "jaw": (range(0, 17), (0.0, 0.0, 0.0)),
    "brows": (range(17, 27), (2.0, 4.0, 2.0)),
    "nose": (range(27, 36), (1.5, 2.5, 2.0)),
    "eyes": (range(36, 48), (1.5, 2.0, 1.5)),
    "lips": (range(48, 60), (1.0, 3.0, 2.0)),
}
#: Inner lip point -> the outer lip point whose offset it takes.
INNER_LIP_FROM_OUTER: dict[int, int] = {60: 48, 61: 50, 62: 51, 63: 52, 64: 54, 65: 56, 66: 57, 67: 58}
#: Radius (mm) of each landmark's Gaussian weight and the fall-off constant of the normalised field.
RADIUS_MM = 7.0
EPS = 0.3
#: Asymmetric part of the offsets, relative to the region sd (times the identity's asymmetry trait).
ASYMMETRY = 0.2
#: Draws are clipped at this many sd (no caricature from one extreme draw).
TRUNCATE_SD = 2.0
#: PCG64 stream id of the offset draws.
LOCAL_SHAPE_STREAM = 0x3A7E
#: Offsets are rounded to this many mm when sampled, so their JSON round trip is exact.
ROUND_MM = 0.01


def sample_landmark_offsets(seed: int, asymmetry: float = 1.0) -> np.ndarray:
    """float64 [68, 3] landmark offsets in mm for the identity of ``seed`` (see the module docstring).

    Args:
        seed: the identity's seed (its own PCG64 stream ``LOCAL_SHAPE_STREAM``).
        asymmetry: the identity's asymmetry factor (``IdentityParams.shape["asymmetry"]``, ~1).
    """
    rng = np.random.Generator(np.random.PCG64([int(seed), LOCAL_SHAPE_STREAM]))
    sd = np.zeros((68, 3))
    for index, axes in REGION_SD_MM.values():
        sd[list(index)] = axes
    for inner, outer in INNER_LIP_FROM_OUTER.items():
        sd[inner] = sd[outer]
    draw = np.clip(rng.normal(size=(68, 3)), -TRUNCATE_SD, TRUNCATE_SD) * sd
    asym = np.clip(rng.normal(size=(68, 3)), -TRUNCATE_SD, TRUNCATE_SD) * sd * (ASYMMETRY * float(asymmetry))
    mirror = np.asarray(MIRROR_68)
    offsets = draw.copy()
    flip = np.array([-1.0, 1.0, 1.0])
    for i, j in enumerate(mirror):
        if j < i:              # right-side point: the mirror of its left partner
            offsets[i] = draw[j] * flip
        elif j == i:           # midline point: no sideways shift
            offsets[i, 0] = 0.0
    for inner, outer in INNER_LIP_FROM_OUTER.items():
        offsets[inner] = offsets[outer]
        asym[inner] = asym[outer]
    return np.round((offsets + asym) / ROUND_MM) * ROUND_MM


def displacement_basis(vertices: np.ndarray, landmark_vertices: np.ndarray,
                       rigid_groups: list[np.ndarray]) -> np.ndarray:
    """float32 [V, 68] weights: the displacement of the template is ``basis @ offsets`` ([V, 3] mm).

    Args:
        vertices: float [V, 3] template vertices (mm).
        landmark_vertices: int [68] template vertex index of each landmark.
        rigid_groups: int index arrays of vertex groups that move as one (each eyeball, the teeth):
            their rows are replaced by the group's mean row.
    """
    v = np.asarray(vertices, np.float64)
    centres = v[np.asarray(landmark_vertices)]
    r2 = ((v[:, None, :] - centres[None]) ** 2).sum(-1)
    w = np.exp(-r2 / (2.0 * RADIUS_MM ** 2))
    basis = w / (w.sum(axis=1, keepdims=True) + EPS)
    for group in rigid_groups:
        if len(group):
            basis[group] = basis[group].mean(axis=0)
    return basis.astype(np.float32)
