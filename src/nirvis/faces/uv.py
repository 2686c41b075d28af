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
    f_idx, xs, ys, w = _covered_texels(px, res)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(f_idx, minlength=len(px)))])
    for f in np.unique(f_idx):  # in triangle order: later triangles overwrite shared edge texels
        s, e = bounds[f], bounds[f + 1]
        out[ys[s:e], xs[s:e]] = w[s:e] @ attributes[f]
        fid[ys[s:e], xs[s:e]] = f
    for _ in range(pad):
        out, fid = _dilate(out, fid)
    return out, fid


def _covered_texels(px: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The texel centres inside each triangle, all triangles at once.

    Args:
        px: float64 [F, 3, 2] triangle corners in texel coordinates (x = column, y = row).
        res: map size.

    Returns:
        (triangle int64 [M], column int64 [M], row int64 [M], barycentrics float64 [M, 3]),
        grouped by triangle in increasing order, row-major within a triangle's bounding box;
        degenerate triangles (|area| < 1e-12) cover nothing.
    """
    lo = np.clip(np.floor(px.min(axis=1)).astype(int), 0, res - 1)
    hi = np.clip(np.ceil(px.max(axis=1)).astype(int), 0, res - 1)
    nx, ny = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
    a, b, c = px[:, 0], px[:, 1], px[:, 2]
    den = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    count = np.where(np.abs(den) < 1e-12, 0, nx * ny)
    f = np.repeat(np.arange(len(px)), count)                               # [M] candidate texels
    j = np.arange(len(f)) - np.repeat(np.cumsum(count) - count, count)     # index in the box, row-major
    xs, ys = lo[f, 0] + j % nx[f], lo[f, 1] + j // nx[f]
    dx, dy = xs - c[f, 0], ys - c[f, 1]
    w0 = ((b[f, 1] - c[f, 1]) * dx + (c[f, 0] - b[f, 0]) * dy) / den[f]
    w1 = ((c[f, 1] - a[f, 1]) * dx + (a[f, 0] - c[f, 0]) * dy) / den[f]
    w2 = 1.0 - w0 - w1
    inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
    return f[inside], xs[inside], ys[inside], np.stack([w0[inside], w1[inside], w2[inside]], axis=1)


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
