"""Facial anthropometry on procedural heads, and the published norms it is compared with.

Classical soft-tissue landmarks (Farkas' names) are fixed vertices of the template mesh, so they
follow every deformation, like the 68-point landmarks:

    en  endocanthion (inner eye corner)    = 300-W landmarks 39 / 42
    ex  exocanthion (outer eye corner)     = 300-W landmarks 36 / 45
    ch  cheilion (mouth corner)            = 300-W landmarks 48 / 54
    al  alare (most lateral nose wing)     = 300-W landmarks 31 / 35
    sn  subnasale                          = 300-W landmark 33
    prn pronasale (nose tip)               = 300-W landmark 30
    gn  gnathion (lowest chin point)       = 300-W landmark 8
    n   nasion: the deepest midline skin vertex between the brows and landmark 27
    zy  zygion: the most lateral face skin vertex (ears excluded) between the eye-corner and the
        nose-tip heights, in front of the ear
    go  gonion: the most lateral face skin vertex between the lower lip and the chin, in front of
        the ear

Published norms (``NORMS``): young-adult North American whites (NAW) of Farkas, *Anthropometry of
the Head and Face*, 2nd ed., Raven Press 1994, the reference group of Farkas, Katic & Forrest,
"International anthropometric study of facial morphology in various ethnic groups/races",
J Craniofac Surg 16(4):615-646, 2005. Values are rounded to 0.5 mm and approximate (entered from
the published tables without a copy at hand to re-check them): they serve spreads and bounds, not
exact means. The 2005 study finds the nose wider and the eyes set further apart in its Asian and
African groups than in NAW; a pooled analysis of 67 studies (Plast Reconstr Surg Glob Open 2022,
PMC9029890) gives intercanthal widths African 38.5 +- 3.2, Asian 36.4 +- 1.6, White 31.4 +- 2.5 mm.

The mesh measures differ from caliper measures by a definition offset (a vertex at the eye
cavity's boundary is not exactly where a caliper touches the canthus; hm08 soft tissue over the
zygomatic arch is thin): tests compare *spreads* (coefficient of variation) and correlations,
and bound every sampled value by the published mean +- 4 SD after removing the template's offset.

Example:
    >>> from nirvis.faces import build_heads, sample_identity, load_head_model
    >>> m = measure(build_heads([sample_identity(1)]), load_head_model())
    >>> sorted(m)[:3], m["en-en"].shape
    (['al-al', 'ch-ch', 'en-en'], (1,))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nirvis.faces.head_model import HeadModel


@dataclass(frozen=True)
class Norm:
    """Published mean and SD (mm) of one measure for men and women."""

    male: tuple[float, float]
    female: tuple[float, float]

    def cv(self) -> float:
        """Mean coefficient of variation (SD / mean) of the two sexes."""
        return 0.5 * (self.male[1] / self.male[0] + self.female[1] / self.female[0])


#: Farkas 1994 NAW young adults (see module docstring): measure -> Norm (mean, SD) in mm.
NORMS: dict[str, Norm] = {
    "zy-zy": Norm((137.0, 4.5), (130.0, 4.5)),   # face width
    "go-go": Norm((106.0, 5.5), (97.0, 4.5)),    # lower face (jaw) width
    "n-gn": Norm((121.5, 6.5), (112.0, 5.0)),    # morphological face height
    "n-sn": Norm((55.0, 3.5), (50.5, 3.0)),      # nose height
    "al-al": Norm((35.0, 2.0), (31.5, 2.0)),     # nose width
    "ch-ch": Norm((54.0, 3.5), (50.0, 3.0)),     # mouth width
    "en-en": Norm((33.5, 2.5), (32.0, 2.5)),     # intercanthal width
    "ex-en": Norm((31.5, 1.5), (30.5, 1.5)),     # eye fissure length
    "ex-ex": Norm((91.0, 3.0), (88.0, 3.0)),     # biocular width
}


@dataclass(frozen=True)
class _Points:
    """Template vertex indices of the classical landmarks (one per point; pairs as (right, left))."""

    en: tuple[int, int]
    ex: tuple[int, int]
    ch: tuple[int, int]
    al: tuple[int, int]
    zy: tuple[int, int]
    go: tuple[int, int]
    n: int
    sn: int
    prn: int
    gn: int


@functools.lru_cache(maxsize=4)
def _points(model: "HeadModel") -> _Points:
    v = model.template.vertices
    lm = model.landmark_vertices["68"]
    skin = np.unique(model.template.faces[model.template.part_mask("skin")])
    ears = [np.flatnonzero(np.abs(model.offsets[model.target_names.index(f"local/{s}-ear-scale-incr")]
                                  .reshape(-1, 3)).sum(axis=1) > 0) for s in ("l", "r")]
    face = np.setdiff1d(skin, np.concatenate(ears))
    front = face[v[face, 2] > v[lm[0], 2] - 30.0]  # in front of the ear (tragion lies ~45 mm behind lm 0)

    def lateral(y_lo: float, y_hi: float) -> tuple[int, int]:
        out = []
        for sign in (-1.0, 1.0):
            c = front[(np.sign(v[front, 0]) == sign) & (v[front, 1] > y_lo) & (v[front, 1] < y_hi)]
            out.append(int(c[np.argmax(np.abs(v[c, 0]))]))
        return out[0], out[1]

    mid = skin[(np.abs(v[skin, 0]) < 1.0) & (v[skin, 2] > v[lm[27], 2] - 20.0)]
    glabella = mid[(v[mid, 1] >= v[lm[27], 1]) & (v[mid, 1] <= v[lm[21], 1])]
    nasion = int(glabella[np.argmin(v[glabella, 2])])
    return _Points(en=(int(lm[39]), int(lm[42])), ex=(int(lm[36]), int(lm[45])), ch=(int(lm[48]), int(lm[54])),
                   al=(int(lm[31]), int(lm[35])), zy=lateral(v[lm[30], 1], v[lm[36], 1]),
                   go=lateral(v[lm[8], 1] + 10.0, v[lm[57], 1]), n=nasion, sn=int(lm[33]), prn=int(lm[30]),
                   gn=int(lm[8]))


def measure(vertices: np.ndarray, model: "HeadModel") -> dict[str, np.ndarray]:
    """Anthropometric distances of a batch of heads.

    Args:
        vertices: float [B, V, 3] head vertices in mm (``build_heads`` output).
        model: the head model whose template the vertices deform.

    Returns:
        measure name (the keys of ``NORMS``, plus ``sn-prn`` nose-tip protrusion) -> float64 [B] mm;
        ``ex-en`` is the mean of both eyes.
    """
    v = np.asarray(vertices, np.float64)
    if v.ndim != 3 or v.shape[1:] != model.template.vertices.shape:
        raise ValueError(f"vertices: expected [B, {len(model.template.vertices)}, 3], got {list(v.shape)}")
    p = _points(model)

    def dist(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(v[:, a] - v[:, b], axis=1)

    def width(pair: tuple[int, int]) -> np.ndarray:
        return np.abs(v[:, pair[1], 0] - v[:, pair[0], 0])  # projective width, as calipers across the face

    return {
        "zy-zy": width(p.zy), "go-go": width(p.go), "n-gn": dist(p.n, p.gn), "n-sn": dist(p.n, p.sn),
        "al-al": width(p.al), "ch-ch": dist(*p.ch), "en-en": dist(*p.en),
        "ex-en": 0.5 * (dist(p.ex[0], p.en[0]) + dist(p.ex[1], p.en[1])), "ex-ex": dist(*p.ex),
        "sn-prn": dist(p.sn, p.prn),
    }
