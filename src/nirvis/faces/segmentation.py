"""Face-parsing classes of rendered pixels, and their per-texel part on the head surface.

``SEGMENTATION_CLASSES`` is the label set of the ``segmentation`` pass (class id = position):
background, skin, nose, lips, mouth interior, teeth, sclera, iris (with the pupil), brows, lashes,
head hair, facial hair, ears, neck, glasses frame, lens, headwear.

The renderer decides a pixel's class from what it sees (the G-buffer): which mesh the pixel's
triangle belongs to (head, hair shell, beard shell, glasses frame, headwear; the lenses are drawn
over everything), the head triangle's mesh part (``mesh.PART_NAMES``: eyeballs are sclera,
teeth teeth, the mouth cavity mouth interior) and, on skin and eyeballs, the texel's label from
``head_label_map`` (nearest texel at the pixel's UV). That map combines
  * the identity's own coverage maps (``ReflectanceMaps.regions``): painted scalp hair
    (``hair``), brows, lashes and painted beard density, each where it covers >= 1/2 of the texel;
    the template's lips, iris and pupil masks (>= 1/2);
  * geometric regions of the template head, in its UV layout (so they follow each identity's
    deformation): the nose (inside a polygon around the 68-point nose landmarks 27..35, on
    front-facing skin), the ears (the auricles: skin more than 68 mm from the midline, 98-143 mm
    behind the nose tip, from 48 mm below to 12 mm above the eyes) and the neck (skin below the
    jaw contour 0..16; beyond the jaw's width, skin 55 mm and more below the eyes);
    ``part_masks_from_geometry``.
These boundaries are approximations drawn for the template head, not anatomical annotations.
"""

from __future__ import annotations

import functools
from typing import Mapping, Optional

import numpy as np

from nirvis.faces.head_model import load_head_model
from nirvis.faces.mesh import PART_NAMES
from nirvis.faces.uv import UvGeometry

#: Class names of the ``segmentation`` pass; a pixel's value is the index.
SEGMENTATION_CLASSES: tuple[str, ...] = (
    "background", "skin", "nose", "lips", "mouth_interior", "teeth", "sclera", "iris", "brows", "lashes",
    "head_hair", "facial_hair", "ears", "neck", "glasses_frame", "lens", "headwear")
CLASS_ID = {name: k for k, name in enumerate(SEGMENTATION_CLASSES)}

#: Class of each head mesh part (``mesh.PART_NAMES``) where its texels carry no label.
PART_CLASS = {"skin": CLASS_ID["skin"], "eye_cavity": CLASS_ID["skin"], "mouth_cavity": CLASS_ID["mouth_interior"],
              "eyeball": CLASS_ID["sclera"], "teeth": CLASS_ID["teeth"]}


def part_classes() -> np.ndarray:
    """uint8 [len(PART_NAMES)]: the default class of each head mesh part."""
    return np.array([PART_CLASS[p] for p in PART_NAMES], np.uint8)


def _inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """bool [N]: points [N, 2] inside the closed polygon [K, 2] (even-odd rule)."""
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), bool)
    for k in range(len(poly)):
        (x0, y0), (x1, y1) = poly[k], poly[(k + 1) % len(poly)]
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < xc)
    return inside


def part_masks_from_geometry(geo: UvGeometry, landmarks68: np.ndarray) -> dict[str, np.ndarray]:
    """bool [H, W] masks ``nose``, ``ears``, ``neck`` of the skin texels of a UV geometry of the
    template head (positions in mm: x to the subject's left, y up, z forward; nose tip at
    z ~ 43) with its 68-point landmarks [68, 3]."""
    lm = landmarks68
    pos = geo.position.reshape(-1, 3)
    skin = geo.part.reshape(-1) == PART_NAMES.index("skin")
    front = geo.normal.reshape(-1, 3)[:, 2] > 0.0
    x, y, z = pos[:, 0], pos[:, 1], pos[:, 2]
    # nose: bridge from the nasion (27) widening to the alae, closed by the nostril base 31..35
    top, tip = lm[27], lm[30]
    poly = np.array([[top[0] - 7.0, top[1]], [top[0] + 7.0, top[1]], [lm[35, 0] - 5.0, tip[1] + 12.0],
                     [lm[35, 0] + 4.0, lm[35, 1] + 2.0], [lm[35, 0] + 2.0, lm[35, 1] - 6.0],
                     *lm[[35, 34, 33, 32, 31], :2].tolist(),
                     [lm[31, 0] - 2.0, lm[31, 1] - 6.0], [lm[31, 0] - 4.0, lm[31, 1] + 2.0],
                     [lm[31, 0] + 5.0, tip[1] + 12.0]])
    nose = skin & front & (z > lm[[39, 42], 2].mean() - 4.0) & _inside(pos[:, :2], poly)
    # ears: the auricles stand out of the skull's side (~70 mm from the midline at ear height)
    eye_y = lm[36:48, 1].mean()
    ears = skin & (np.abs(x) > 68.0) & (z < lm[30, 2] - 98.0) & (z > lm[30, 2] - 143.0) \
        & (y > eye_y - 48.0) & (y < eye_y + 12.0)
    # neck: below the jaw contour seen from the front; beyond the jaw's width, below the ears
    jaw_x = np.abs(lm[0:17, 0])
    order = np.argsort(jaw_x)
    jaw_y = np.interp(np.abs(x), jaw_x[order], lm[0:17, 1][order])
    within = np.abs(x) <= jaw_x.max()
    neck = skin & ~ears & ((within & (y < jaw_y - 1.0) & (z > lm[30, 2] - 150.0))
                           | (~within & (y < eye_y - 55.0)))
    h, w = geo.part.shape
    return {"nose": nose.reshape(h, w), "ears": ears.reshape(h, w), "neck": neck.reshape(h, w)}


@functools.lru_cache(maxsize=4)
def template_part_masks(resolution: int) -> dict[str, np.ndarray]:
    """``part_masks_from_geometry`` of the template head at ``resolution`` (cached, read-only)."""
    from nirvis.faces.regions import template_uv_geometry

    model = load_head_model()
    masks = part_masks_from_geometry(template_uv_geometry(resolution),
                                     model.template.vertices[model.landmark_vertices["68"]])
    for m in masks.values():
        m.setflags(write=False)
    return masks


def head_label_map(regions: Mapping[str, np.ndarray], resolution: int,
                   beard_density: Optional[np.ndarray] = None) -> np.ndarray:
    """uint8 [R, R] class per texel of a procedural head's UV layout (0: none, the mesh part's
    class applies): the template's nose, ears and neck, then lips, iris/pupil, painted scalp
    hair, painted beard (``beard_density`` [R, R], optional), brows and lashes from
    ``regions`` (float [R, R] masks, ``ReflectanceMaps.regions``; absent ones are skipped),
    each where >= 0.5, later ones on top.

    Example:
        >>> import numpy as np
        >>> from nirvis.faces.regions import face_regions
        >>> lab = head_label_map(face_regions(64), 64)
        >>> lab.dtype, sorted({SEGMENTATION_CLASSES[c] for c in np.unique(lab)} - {"background"})
        (dtype('uint8'), ['brows', 'ears', 'head_hair', 'iris', 'lips', 'neck', 'nose'])
    """
    out = np.zeros((resolution, resolution), np.uint8)
    for name, mask in template_part_masks(resolution).items():
        out[mask] = CLASS_ID[name]
    layers = [("lips", regions.get("lips")), ("iris", regions.get("iris")), ("iris", regions.get("pupil")),
              ("head_hair", regions.get("hair")), ("facial_hair", beard_density), ("brows", regions.get("brows")),
              ("lashes", regions.get("lashes"))]
    for name, mask in layers:
        if mask is None:
            continue
        m = np.asarray(mask)
        if m.shape != out.shape:
            raise ValueError(f"head_label_map: region {name!r} has shape {list(m.shape)}, expected {list(out.shape)}")
        out[m >= 0.5] = CLASS_ID[name]
    return out
