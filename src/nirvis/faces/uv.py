"""Rasterisation of mesh attributes into UV (texture) space.

Convention: texel (row i, column j) of an H x W map has its centre at
``u = (j + 0.5) / W``, ``v = 1 - (i + 0.5) / H`` (row 0 is the top of the image, v = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nirvis.faces.mesh import HeadMesh


@dataclass(frozen=True, eq=False)
class UvGeometry:
    """Per-texel surface geometry of a mesh's UV layout.

    Attributes:
        position: float32 [H, W, 3] mm, the surface point each texel maps to (0 where uncovered).
        normal: float32 [H, W, 3] unit surface normal (interpolated vertex normals).
        part: int8 [H, W] index into ``mesh.PART_NAMES`` (-1 where no triangle covers the texel).
    """

    position: np.ndarray
    normal: np.ndarray
    part: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """bool [H, W]: texels covered by some triangle."""
        return self.part >= 0


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """float32 [V, 3] area-weighted unit vertex normals of a triangle mesh."""
    v = vertices.astype(np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def rasterize_uv(mesh: HeadMesh, attributes: np.ndarray, resolution: int,
                 pad: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate per-corner attributes over the UV triangles.

    Args:
        mesh: mesh whose ``uvs``/``uv_faces`` define the layout.
        attributes: float32 [F, 3, C], the attribute at each triangle corner.
        resolution: output H = W.
        pad: texels of edge padding (dilation) around each UV island, against seams under
            bilinear/mip-mapped sampling.

    Returns:
        (values float32 [H, W, C], face_id int32 [H, W] with -1 where uncovered).
    """
    res = int(resolution)
    uv = mesh.uvs[mesh.uv_faces].astype(np.float64)  # [F, 3, 2]
    px = np.stack([uv[..., 0] * res - 0.5, (1.0 - uv[..., 1]) * res - 0.5], axis=-1)  # texel coords (x=col, y=row)
    c = attributes.shape[-1]
    out = np.zeros((res, res, c), np.float32)
    fid = -np.ones((res, res), np.int32)
    lo = np.clip(np.floor(px.min(axis=1)).astype(int), 0, res - 1)
    hi = np.clip(np.ceil(px.max(axis=1)).astype(int), 0, res - 1)
    for f in range(len(px)):
        (x0, y0), (x1, y1) = lo[f], hi[f]
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        a, b, cc = px[f]
        den = (b[1] - cc[1]) * (a[0] - cc[0]) + (cc[0] - b[0]) * (a[1] - cc[1])
        if abs(den) < 1e-12:
            continue
        w0 = ((b[1] - cc[1]) * (xs - cc[0]) + (cc[0] - b[0]) * (ys - cc[1])) / den
        w1 = ((cc[1] - a[1]) * (xs - cc[0]) + (a[0] - cc[0]) * (ys - cc[1])) / den
        w2 = 1.0 - w0 - w1
        inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
        if not inside.any():
            continue
        w = np.stack([w0[inside], w1[inside], w2[inside]], axis=1)
        out[ys[inside], xs[inside]] = w @ attributes[f]
        fid[ys[inside], xs[inside]] = f
    for _ in range(pad):
        out, fid = _dilate(out, fid)
    return out, fid


def _dilate(values: np.ndarray, fid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grow covered regions by one texel (4-neighbourhood), copying a neighbour's value."""
    values, fid = values.copy(), fid.copy()
    empty = fid < 0
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        src_f = np.roll(fid, (dy, dx), axis=(0, 1))
        take = empty & (src_f >= 0)
        values[take] = np.roll(values, (dy, dx), axis=(0, 1))[take]
        fid[take] = src_f[take]
        empty &= ~take
    return values, fid


def uv_geometry(mesh: HeadMesh, resolution: int) -> UvGeometry:
    """Position, normal and part maps of ``mesh`` in its UV layout at ``resolution`` x ``resolution``."""
    normals = vertex_normals(mesh.vertices, mesh.faces)
    attrs = np.concatenate([mesh.vertices[mesh.faces], normals[mesh.faces]], axis=-1)  # [F, 3, 6]
    values, fid = rasterize_uv(mesh, attrs, resolution)
    n = values[..., 3:]
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    part = np.where(fid >= 0, mesh.face_parts[np.maximum(fid, 0)].astype(np.int8), np.int8(-1)).astype(np.int8)
    return UvGeometry(values[..., :3], n.astype(np.float32), part)
