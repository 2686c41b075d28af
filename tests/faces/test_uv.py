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


def test_rasterize_uv_is_the_per_triangle_painting_it_replaced():
    """The cached layout gives the values and triangle ids of painting triangles in order (later
    ones win shared edge texels) and then padding by copying 4-neighbours, at any map size."""
    from nirvis.faces.uv import _dilate, rasterize_uv, uv_layout

    mesh = load_head_model().template
    attrs = np.random.default_rng(0).normal(size=(len(mesh.faces), 3, 4)).astype(np.float32)
    for res in (32, 64):
        uv = mesh.uvs[mesh.uv_faces].astype(np.float64)
        px = np.stack([uv[..., 0] * res - 0.5, (1.0 - uv[..., 1]) * res - 0.5], axis=-1)
        f, xs, ys, w = _covered_texels(px, res)
        want, fid = np.zeros((res, res, 4), np.float32), -np.ones((res, res), np.int32)
        for k in range(len(f)):
            want[ys[k], xs[k]] = w[k] @ attrs[f[k]].astype(np.float64)
            fid[ys[k], xs[k]] = f[k]
        for _ in range(2):
            want, fid = _dilate(want, fid)
        got, got_fid = rasterize_uv(mesh, attrs, res)
        np.testing.assert_array_equal(got_fid, fid)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        assert (fid >= 0).mean() > 0.3
        assert uv_layout(mesh.uvs, mesh.uv_faces, res) is uv_layout(mesh.uvs, mesh.uv_faces, res)   # cached
