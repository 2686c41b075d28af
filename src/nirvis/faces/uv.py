"""Rasterisation of mesh attributes into UV (texture) space.

Convention: texel (row i, column j) of an H x W map has its centre at
``u = (j + 0.5) / W``, ``v = 1 - (i + 0.5) / H`` (row 0 is the top of the image, v = 1).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
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


@dataclass(frozen=True, eq=False)
class UvLayout:
    """Where each texel of a UV layout lands on its mesh: the part of ``rasterize_uv`` that depends
    on the UVs only (``uv_layout`` computes it once per layout and size).

    Attributes:
        resolution: map side R.
        texel: int64 [M] flat index (row * R + column) of each texel a triangle covers.
        face: int64 [M] the triangle covering it (the last one in triangle order on shared edges).
        bary: float64 [M, 3] its barycentric coordinates in that triangle.
        source: int64 [R * R]: for every texel, the position in ``texel`` whose value it holds
            after the edge padding (its own for covered texels); M where it stays empty.
    """

    resolution: int
    texel: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    source: np.ndarray

    def face_ids(self) -> np.ndarray:
        """int32 [R, R]: the triangle each (padded) texel takes its value from, -1 where none."""
        return np.append(self.face, -1).astype(np.int32)[self.source].reshape(self.resolution, self.resolution)


_LAYOUTS: "OrderedDict[tuple, UvLayout]" = OrderedDict()


def uv_layout(uvs: np.ndarray, uv_faces: np.ndarray, resolution: int, pad: int = 2) -> UvLayout:
    """The ``UvLayout`` of float [T, 2] ``uvs`` and int [F, 3] ``uv_faces`` at ``resolution`` with
    ``pad`` texels of edge padding; the last few are kept, keyed by the layout's bytes (every
    procedural head shares one layout, so its texels are found once per process)."""
    uvs, uv_faces = np.ascontiguousarray(uvs), np.ascontiguousarray(uv_faces)
    digest = hashlib.sha1(uvs.tobytes() + uv_faces.tobytes() + str((uvs.dtype, uv_faces.shape)).encode()).hexdigest()
    key = (digest, int(resolution), int(pad))
    if key in _LAYOUTS:
        _LAYOUTS.move_to_end(key)
        return _LAYOUTS[key]
    res = int(resolution)
    uv = uvs[uv_faces].astype(np.float64)  # [F, 3, 2]
    px = np.stack([uv[..., 0] * res - 0.5, (1.0 - uv[..., 1]) * res - 0.5], axis=-1)  # texel coords (x=col, y=row)
    f_idx, xs, ys, w = _covered_texels(px, res)
    flat = ys * res + xs
    # texels on shared edges go to the last triangle in order: the first hit in reversed order
    texel, first_rev = np.unique(flat[::-1], return_index=True)
    last = len(flat) - 1 - first_rev
    source = np.full(res * res, len(texel), np.int64)
    source[texel] = np.arange(len(texel))
    src, fid = source.reshape(res, res), np.full((res, res), -1, np.int64)
    fid.reshape(-1)[texel] = f_idx[last]
    for _ in range(pad):
        src, fid = _dilate(src, fid)
    layout = UvLayout(res, texel, f_idx[last], w[last], src.reshape(-1))
    _LAYOUTS[key] = layout
    while len(_LAYOUTS) > 4:
        _LAYOUTS.popitem(last=False)
    return layout


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
    layout = uv_layout(mesh.uvs, mesh.uv_faces, resolution, pad)
    c = attributes.shape[-1]
    corners = np.asarray(attributes)[layout.face].astype(np.float64)                     # [M, 3, C]
    values = np.einsum("mk,mkc->mc", layout.bary, corners).astype(np.float32)
    values = np.concatenate([values, np.zeros((1, c), np.float32)])[layout.source]
    return values.reshape(layout.resolution, layout.resolution, c), layout.face_ids()


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
