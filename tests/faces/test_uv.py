"""UV rasterisation: the vectorised texel coverage is the per-triangle scan it replaced."""

from __future__ import annotations

import numpy as np

from nirvis.faces import load_head_model
from nirvis.faces.uv import _covered_texels


def _per_triangle(px: np.ndarray, res: int):
    """The former loop: each triangle's bounding box, its texels inside (row-major), barycentrics."""
    lo = np.clip(np.floor(px.min(axis=1)).astype(int), 0, res - 1)
    hi = np.clip(np.ceil(px.max(axis=1)).astype(int), 0, res - 1)
    rows = []
    for f in range(len(px)):
        xs, ys = np.meshgrid(np.arange(lo[f, 0], hi[f, 0] + 1), np.arange(lo[f, 1], hi[f, 1] + 1))
        a, b, c = px[f]
        den = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        if abs(den) < 1e-12:
            continue
        w0 = ((b[1] - c[1]) * (xs - c[0]) + (c[0] - b[0]) * (ys - c[1])) / den
        w1 = ((c[1] - a[1]) * (xs - c[0]) + (a[0] - c[0]) * (ys - c[1])) / den
        w2 = 1.0 - w0 - w1
        inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
        rows += [(f, x, y, p, q, r) for x, y, p, q, r in zip(xs[inside], ys[inside], w0[inside], w1[inside],
                                                                w2[inside])]
    return rows


def test_covered_texels_match_the_per_triangle_scan():
    mesh = load_head_model().template
    res = 64
    uv = mesh.uvs[mesh.uv_faces].astype(np.float64)
    px = np.stack([uv[..., 0] * res - 0.5, (1.0 - uv[..., 1]) * res - 0.5], axis=-1)
    px = np.concatenate([px, px[:1] * 0.0 + px[:1, :1]])         # plus a degenerate triangle
    f, xs, ys, w = _covered_texels(px, res)
    got = list(zip(f.tolist(), xs.tolist(), ys.tolist(), *w.T.tolist()))
    want = [(int(a), int(b), int(c), float(p), float(q), float(r)) for a, b, c, p, q, r in _per_triangle(px, res)]
    assert got == want
    assert len(px) - 1 not in set(f.tolist())
