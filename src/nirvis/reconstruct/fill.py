"""Filling the texels a photo does not see: mirror symmetry, then a colour-matched prior blended in
the gradient domain.

UV convention: ``nirvis.faces.uv`` (texel (row i, column j) has its centre at ``u = (j + 0.5) / R``,
``v = 1 - (i + 0.5) / R``). Texel coordinates below are (column, row) with texel centres at
integers, as ``cv2.remap`` reads them.

* ``texel_layout``: which template triangle and barycentric weights each texel maps to (the UV
  layout is shared by every head of the model; cached per resolution).
* ``texel_mirror``: the texel coordinates of each texel's mirror image (x -> -x). The template is
  exactly symmetric (every vertex has a mirror vertex, max distance 2e-15 mm), so a texel in
  triangle ``f`` with weights ``b`` mirrors to the point with weights ``b`` in the triangle of the
  mirrored vertices, whose UVs give its texel position. Cached per resolution.
* ``match_prior``: the prior albedo recoloured to the person per region class (log-space mean and
  standard deviation per channel over the texels seen in the photo).
* ``membrane_fill``: gradient-domain (Poisson) blending as in Perez et al. 2003, "Poisson image
  editing": inside the unseen texels the result keeps the gradients of the recoloured prior and
  meets the observed texels at the boundary. Solved as the harmonic membrane of the difference
  observed - prior (Dirichlet on the observed texels) on the 4-neighbour graph of covered texels
  (UV islands are not joined across their seams), screened towards the mean difference so islands
  with no observed texel are well posed (scipy sparse LU).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from scipy.spatial import cKDTree

from nirvis.faces.head_model import load_head_model
from nirvis.faces.uv import rasterize_uv

__all__ = ["TexelLayout", "texel_layout", "texel_mirror", "locate_points", "mirror_fill", "match_prior",
           "membrane_fill"]


@dataclass(frozen=True, eq=False)
class TexelLayout:
    """Where the texels of an R x R map lie on the template topology.

    Attributes:
        face: int32 [R, R] triangle index, -1 where no triangle covers the texel (2 texels of edge
            padding copy their neighbour's triangle, as ``uv.rasterize_uv`` does).
        bary: float32 [R, R, 3] barycentric weights of the triangle's vertices.
        rows, cols: int64 [M] the covered texels (``face >= 0``), row-major.
    """

    face: np.ndarray
    bary: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """bool [R, R]."""
        return self.face >= 0

    def interpolate(self, vertex_values: np.ndarray) -> np.ndarray:
        """float32 [M, C] per-vertex values [V, C] at the covered texels."""
        faces = load_head_model().template.faces
        f = self.face[self.rows, self.cols]
        b = self.bary[self.rows, self.cols]
        v = np.asarray(vertex_values, np.float32)
        return np.einsum("mk,mkc->mc", b, v[faces[f]])


@functools.lru_cache(maxsize=4)
def texel_layout(resolution: int) -> TexelLayout:
    """``TexelLayout`` of the head model's template at ``resolution`` (cached; read-only arrays)."""
    t = load_head_model().template
    corners = np.broadcast_to(np.eye(3, dtype=np.float32), (len(t.faces), 3, 3))
    bary, face = rasterize_uv(t, np.ascontiguousarray(corners), int(resolution))
    rows, cols = np.nonzero(face >= 0)
    for a in (bary, face, rows, cols):
        a.setflags(write=False)
    return TexelLayout(face=face, bary=bary, rows=rows, cols=cols)


@functools.lru_cache(maxsize=4)
def texel_mirror(resolution: int) -> np.ndarray:
    """float32 [R, R, 2] (column, row) texel coordinates of each texel's mirror image (the head
    frame's x -> -x on the template), -1 where the texel is uncovered or no triangle of the same
    part holds the mirrored point (cached; read-only).

    The template is mirror-symmetric in its vertices (max mismatch 2e-15 mm) but not in its
    triangulation (quads split along the same diagonal on both sides), so the mirrored point is
    located in the nearest triangles (``locate_points``) rather than in a mirror triangle."""
    t = load_head_model().template
    res = int(resolution)
    lay = texel_layout(res)
    v = t.vertices.astype(np.float64)
    f = lay.face[lay.rows, lay.cols]
    b = lay.bary[lay.rows, lay.cols].astype(np.float64)
    points = np.einsum("mk,mkc->mc", b, v[t.faces[f]]) * np.array([-1.0, 1.0, 1.0])
    face, bary = locate_points(points, t.face_parts[f])
    ok = face >= 0
    uv = np.einsum("mk,mkc->mc", bary, t.uvs[t.uv_faces[np.maximum(face, 0)]].astype(np.float64))
    out = np.full((res, res, 2), -1.0, np.float32)
    out[lay.rows[ok], lay.cols[ok], 0] = uv[ok, 0] * res - 0.5
    out[lay.rows[ok], lay.cols[ok], 1] = (1.0 - uv[ok, 1]) * res - 0.5
    out.setflags(write=False)
    return out


def locate_points(points: np.ndarray, parts: np.ndarray, candidates: int = 6,
                  tolerance_mm: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The template triangle (of the given part) each point lies on, and its barycentric weights.

    Args:
        points: float [N, 3] mm, on or near the template surface.
        parts: int [N] the part index each point must lie on (``mesh.PART_NAMES``).
        candidates: triangles tried per point (nearest centroids).
        tolerance_mm: largest distance from the triangle accepted.

    Returns:
        (face int64 [N], -1 where none; bary float64 [N, 3], clipped to the triangle).
    """
    t = load_head_model().template
    tri = t.vertices.astype(np.float64)[t.faces]                          # [F, 3, 3]
    _, cand = _centroid_tree().query(points, k=candidates)               # [N, K]
    a, e1, e2 = tri[cand, 0], tri[cand, 1] - tri[cand, 0], tri[cand, 2] - tri[cand, 0]
    d = points[:, None, :] - a
    d11, d12, d22 = (e1 * e1).sum(-1), (e1 * e2).sum(-1), (e2 * e2).sum(-1)
    p1, p2 = (d * e1).sum(-1), (d * e2).sum(-1)
    den = np.maximum(d11 * d22 - d12 * d12, 1e-18)
    s = (d22 * p1 - d12 * p2) / den
    r = (d11 * p2 - d12 * p1) / den
    bary = np.clip(np.stack([1.0 - s - r, s, r], -1), 0.0, 1.0)
    bary /= bary.sum(-1, keepdims=True)
    closest = np.einsum("nkc,nkcd->nkd", bary, tri[cand])
    dist = np.linalg.norm(closest - points[:, None, :], axis=-1)
    dist = np.where(t.face_parts[cand] == np.asarray(parts)[:, None], dist, np.inf)
    best = dist.argmin(1)
    rows = np.arange(len(points))
    face = np.where(dist[rows, best] <= tolerance_mm, cand[rows, best], -1)
    return face, bary[rows, best]


@functools.lru_cache(maxsize=1)
def _centroid_tree() -> cKDTree:
    t = load_head_model().template
    return cKDTree(t.vertices.astype(np.float64)[t.faces].mean(1))


def _sample(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Bilinear lookup of float32 [R, R, C] (or [R, R]) at (column, row) coords [R, R, 2]; 0 outside."""
    return cv2.remap(np.ascontiguousarray(image, np.float32), np.ascontiguousarray(coords[..., 0]),
                     np.ascontiguousarray(coords[..., 1]), cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0)


def mirror_fill(albedo: np.ndarray, weight: np.ndarray, mirror: np.ndarray,
                trust: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Blend in each texel's mirror image where the texel itself is less well seen.

    Args:
        albedo: float32 [R, R, 3]; weight: float32 [R, R] in [0, 1] (0 = unseen).
        mirror: ``texel_mirror(R)``.
        trust: how much a mirrored observation counts relative to a direct one.

    Returns:
        (albedo float32 [R, R, 3], weight float32 [R, R]): ``w' = w + trust * w_m * (1 - w)``, the
        albedo the matching weighted mean (the mirror's colour is the weight-normalised bilinear
        lookup, so unseen neighbours do not darken it).
    """
    wm = _sample(weight, mirror)
    am = _sample(albedo * weight[..., None], mirror) / np.maximum(wm, 1e-6)[..., None]
    valid = (mirror[..., 0] >= 0) & (wm > 1e-4)
    wm = np.where(valid, wm, 0.0) * trust * (1.0 - weight)
    total = weight + wm
    out = (albedo * weight[..., None] + am * wm[..., None]) / np.maximum(total, 1e-6)[..., None]
    return np.where(total[..., None] > 0, out, 0.0).astype(np.float32), np.clip(total, 0.0, 1.0).astype(np.float32)


def match_prior(prior: np.ndarray, observed: np.ndarray, weight: np.ndarray, classes: Mapping[str, np.ndarray],
                min_weight: float = 0.3, min_texels: int = 20, max_contrast: float = 1.5) -> np.ndarray:
    """Recolour a prior albedo to a person, class by class (e.g. skin, lips, brows).

    Per class and channel, in log albedo: ``log p' = mu_obs + k (log p - mu_prior)`` with the
    means over the class's texels seen with ``weight >= min_weight`` (weighted by class mask times
    weight) and ``k`` the ratio of standard deviations clipped to [1 / max_contrast, max_contrast].
    A class with fewer than ``min_texels`` such texels takes the first class's transfer.

    Args:
        prior: float32 [R, R, 3] prior albedo in (0, 1].
        observed: float32 [R, R, 3] observed albedo; weight: float32 [R, R].
        classes: ordered name -> float [R, R] soft mask in [0, 1] (the first is the fallback);
            texels outside every class keep the prior.

    Returns:
        float32 [R, R, 3] in [0, 1].
    """
    lp = np.log(np.clip(prior, 1e-4, 1.0))
    lo = np.log(np.clip(observed, 1e-4, 1.0))
    out = np.zeros_like(lp)
    total = np.zeros(prior.shape[:2], np.float32)
    fallback = None
    for name, mask in classes.items():
        m = np.asarray(mask, np.float32)
        w = m * np.where(weight >= min_weight, weight, 0.0)
        if (w > 0.5 * w.max(initial=0)).sum() >= min_texels and w.sum() > 0:
            ww = w.reshape(-1) / w.sum()
            po, pp = lo.reshape(-1, 3), lp.reshape(-1, 3)
            mo, mp = ww @ po, ww @ pp
            so = np.sqrt(ww @ (po - mo) ** 2) + 1e-6
            spr = np.sqrt(ww @ (pp - mp) ** 2) + 1e-6
            transfer = (mo, mp, np.clip(so / spr, 1.0 / max_contrast, max_contrast))
        elif fallback is not None:
            transfer = fallback
        else:
            raise ValueError(f"match_prior: the first class {name!r} has fewer than {min_texels} seen texels")
        fallback = fallback or transfer
        mo, mp, k = transfer
        out += m[..., None] * (mo + k * (lp - mp))
        total += m
    rest = np.clip(1.0 - total, 0.0, 1.0)[..., None]
    mixed = out + rest * lp
    return np.clip(np.exp(mixed), 0.0, 1.0).astype(np.float32)


def membrane_fill(observed: np.ndarray, known: np.ndarray, guide: np.ndarray, domain: np.ndarray,
                  screening_length: float = 0.06) -> np.ndarray:
    """Poisson blending of a guide image into the unknown texels.

    Args:
        observed: float32 [R, R, C] values at the ``known`` texels.
        known: bool [R, R] Dirichlet texels.
        guide: float32 [R, R, C] the image whose gradients fill the rest (the recoloured prior).
        domain: bool [R, R] texels that take part (covered texels); neighbours outside it are not
            linked.
        screening_length: decay length (UV units) of the screening term that pulls the
            difference towards its mean over the known texels far from them (and on islands with
            none): ``(L - 1 / (s R)^2) d = 0`` with ``L`` the graph Laplacian.

    Returns:
        float32 [R, R, C]: ``observed`` on known texels, ``guide + d`` on the other domain texels
        (``d`` the screened harmonic membrane of ``observed - guide``), ``guide`` outside the domain.
    """
    res_h, res_w = known.shape
    diff = np.where(known[..., None], observed - guide, 0.0).astype(np.float64)
    kn = known & domain
    mean = diff[kn].mean(0) if kn.any() else np.zeros(diff.shape[-1])
    unknown = domain & ~known
    n = int(unknown.sum())
    out = np.where(known[..., None], observed, guide).astype(np.float32)
    if n == 0:
        return out
    idx = -np.ones((res_h, res_w), np.int64)
    ys, xs = np.nonzero(unknown)
    idx[ys, xs] = np.arange(n)
    eps = 1.0 / (screening_length * res_h) ** 2
    rhs = np.tile(eps * mean, (n, 1))
    diag = np.full(n, eps)
    rows, cols = [], []
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        y2, x2 = ys + dy, xs + dx
        inside = (y2 >= 0) & (y2 < res_h) & (x2 >= 0) & (x2 < res_w)
        y2, x2 = np.clip(y2, 0, res_h - 1), np.clip(x2, 0, res_w - 1)
        link = inside & domain[y2, x2]
        diag += link
        j = idx[y2, x2]
        free = link & (j >= 0)
        rows.append(np.flatnonzero(free))
        cols.append(j[free])
        fixed = link & (j < 0)
        np.add.at(rhs, np.flatnonzero(fixed), diff[y2[fixed], x2[fixed]])
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    mat = sp.csc_matrix((np.concatenate([-np.ones(len(r)), diag]),
                         (np.concatenate([r, np.arange(n)]), np.concatenate([c, np.arange(n)]))), shape=(n, n))
    d = spl.splu(mat, permc_spec="COLAMD").solve(rhs)
    out[ys, xs] = (guide[ys, xs] + d).astype(np.float32)
    return out
