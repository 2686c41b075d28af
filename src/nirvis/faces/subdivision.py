"""Loop subdivision as a precomputed sparse linear operator of a mesh topology.

Loop's scheme (C. Loop, "Smooth Subdivision Surfaces Based on Triangles", M.S. thesis, University
of Utah, 1987) splits every triangle into four at its edge midpoints and moves every vertex to a
fixed linear combination of its neighbours, so the limit surface is smooth (C2 away from
extraordinary vertices, C1 there). Every new position is a linear function of the old ones that
depends only on the connectivity: one sparse matrix ``S`` [V', V] per topology turns any posed or
expressed head of that topology into its subdivided version (``S @ v``), so the operator is built
once (``loop_subdivision``, cached per topology) and applied per head.

Rules (weights of the old vertices, n = valence):
    - new edge vertex, interior edge (two faces): 3/8 of each end + 1/8 of each opposite corner;
    - new edge vertex, boundary edge (one face: neck cut, eye and mouth openings) or non-manifold
      edge (three or more faces): the midpoint (such edges are kept as creases);
    - old vertex, smooth (no or one crease edge): ``(1 - n b) v + b sum(neighbours)`` with Loop's
      ``b = (5/8 - (3/8 + cos(2 pi / n) / 4)^2) / n``;
    - old vertex on exactly two crease/boundary edges: ``3/4 v + 1/8`` of each of those two neighbours
      (the boundary curve is subdivided as a cubic B-spline);
    - old vertex on three or more crease edges (a corner, two holes touching): kept in place.
  Every row sums to 1 (affine invariance). Degenerate faces and isolated vertices do not fail:
  isolated vertices stay where they are.

UVs are per corner (``uv_faces``): the UV mesh is subdivided linearly (new UV vertex at the UV-edge
midpoint, old UVs kept), so UV islands keep their outline inside [0, 1] and seams stay seams. The
texture slides by the small distance the smoothed surface moves (see below) but stays continuous.
Face parts are inherited: the children of a face follow each other in the order of their parents
(corner 0, corner 1, corner 2, centre), ``root_face`` gives each new face's original face. Separate
closed parts whose outline is hidden (the eyeballs behind the lids, the teeth) can be kept as they
are (``kept_faces``): a quarter of the triangles there, same smooth shading from interpolated
normals.

Surface points (``SurfacePoints``: landmarks as triangle + barycentric) are carried over exactly in
the parametric sense: a point of a parent triangle lies in one of its four children, with new
barycentric weights that give the same point of the parent's linear triangle
(``map_surface_points``). The subdivided surface is a smoothed version of the polygonal one: it
shrinks on convex parts and bulges on concave ones by a fraction of the local edge length (on the
procedural head a landmark moves by well under 1 mm, tested), so a landmark follows the surface it
sat on.

The operator is a ``SparseRows`` (CSR) applied by ``apply``: a float64 product summed per row in
a fixed order, one head at a time, so the result of a head never depends on a batch or a thread.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from nirvis.faces.errors import FaceDataError
from nirvis.faces.mesh import HeadMesh, SurfacePoints

#: Subdivision levels ``loop_subdivision`` accepts (each one multiplies the triangles by 4).
MAX_LEVELS = 3


@dataclass(frozen=True, eq=False)
class SparseRows:
    """A sparse float64 matrix [R, C] in compressed-row form (what ``S @ x`` needs, nothing more).

    Attributes:
        indptr: int64 [R + 1], row r holds entries ``indptr[r] : indptr[r + 1]`` (every row >= 1).
        indices: int64 [nnz] column of each entry, ascending within a row.
        data: float64 [nnz] weights.
        shape: (R, C).
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    _rows: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rows", np.repeat(np.arange(self.shape[0]), np.diff(self.indptr)))

    @staticmethod
    def from_triplets(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> "SparseRows":
        """Sum duplicate (row, col) entries (in a fixed order) and compress; every row must get one."""
        rows = np.asarray(rows, np.int64)
        cols = np.asarray(cols, np.int64)
        key = rows * shape[1] + cols
        uniq, inverse = np.unique(key, return_inverse=True)
        data = np.bincount(inverse, weights=np.asarray(vals, np.float64), minlength=len(uniq))
        r, c = uniq // shape[1], uniq % shape[1]
        counts = np.bincount(r, minlength=shape[0])
        if (counts == 0).any():
            raise ValueError(f"SparseRows: row {int(np.flatnonzero(counts == 0)[0])} has no entry")
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return SparseRows(indptr, c.astype(np.int64), data, (int(shape[0]), int(shape[1])))

    @property
    def nnz(self) -> int:
        return len(self.data)

    def row_ids(self) -> np.ndarray:
        """int64 [nnz]: the row of each entry."""
        return self._rows

    def row_sums(self) -> np.ndarray:
        """float64 [R]."""
        return np.add.reduceat(self.data, self.indptr[:-1])

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``self @ x`` for x [C, D] (any float dtype) -> float64 [R, D]: float64 products summed per
        row in entry order (``np.bincount``: sequential, no threads), so the result depends on
        nothing but ``x``."""
        if x.shape[0] != self.shape[1]:
            raise ValueError(f"SparseRows.apply: x has {x.shape[0]} rows, the operator needs {self.shape[1]}")
        cols = np.asarray(x, np.float64).reshape(x.shape[0], -1).T                 # [D, C]
        prod = np.take(cols, self.indices, axis=1) * self.data                    # [D, nnz]
        out = [np.bincount(self._rows, weights=p, minlength=self.shape[0]) for p in prod]
        return np.stack(out, axis=1).reshape((self.shape[0],) + x.shape[1:])

    def matmul(self, other: "SparseRows") -> "SparseRows":
        """The product ``self @ other`` (float64, duplicates summed in a fixed order)."""
        if self.shape[1] != other.shape[0]:
            raise ValueError(f"SparseRows.matmul: shapes {self.shape} and {other.shape} do not chain")
        reps = np.diff(other.indptr)[self.indices]                    # entries of other's row per entry
        rows = np.repeat(self.row_ids(), reps)
        starts = np.repeat(other.indptr[self.indices], reps)
        offset = np.arange(len(rows)) - np.repeat(np.cumsum(reps) - reps, reps)
        pick = starts + offset
        vals = np.repeat(self.data, reps) * other.data[pick]
        return SparseRows.from_triplets(rows, other.indices[pick], vals, (self.shape[0], other.shape[1]))

    def to_dense(self) -> np.ndarray:
        """float64 [R, C] (for tests and small meshes)."""
        out = np.zeros(self.shape)
        np.add.at(out, (self.row_ids(), self.indices), self.data)
        return out


@dataclass(frozen=True, eq=False)
class SubdivisionOperator:
    """``levels`` Loop subdivisions of one topology (positions, UVs, parts, surface points).

    Attributes:
        levels: number of 1-to-4 splits (0 = identity).
        matrix: SparseRows [V', V]: subdivided positions = ``matrix @ vertices`` (rows sum to 1).
        faces: int32 [F', 3]; the children of a face follow each other in the order of their
            parents (a split face has four: corner 0, corner 1, corner 2, centre; a kept face one).
        uv_matrix: SparseRows [T', T]: subdivided UVs = ``uv_matrix @ uvs`` (linear midpoints).
        uv_faces: int32 [F', 3].
        root_face: int64 [F']: the original face each new face lies in.
        steps: per level, (first child int64 [F_l], kept bool [F_l]) of that level's faces.
    """

    levels: int
    matrix: SparseRows
    faces: np.ndarray
    uv_matrix: SparseRows
    uv_faces: np.ndarray
    root_face: np.ndarray
    steps: tuple[tuple[np.ndarray, np.ndarray], ...]

    @property
    def n_vertices(self) -> tuple[int, int]:
        """(V before, V' after)."""
        return self.matrix.shape[1], self.matrix.shape[0]

    def apply(self, vertices: np.ndarray) -> np.ndarray:
        """Subdivided float32 [..., V', C] of per-vertex values [..., V, C] (positions, AO, weights),
        computed one leading index (one head) at a time, so a head's result never depends on the
        rest of the batch."""
        v = np.asarray(vertices)
        if v.ndim < 2 or v.shape[-2] != self.matrix.shape[1]:
            raise ValueError(f"SubdivisionOperator.apply: expected [..., {self.matrix.shape[1]}, C] values, "
                             f"got {list(v.shape)}")
        flat = v.reshape((-1,) + v.shape[-2:])
        out = np.stack([self.matrix.apply(h) for h in flat]).astype(np.float32)
        return out.reshape(v.shape[:-2] + out.shape[-2:])

    def face_parts(self, face_parts: np.ndarray) -> np.ndarray:
        """uint8 [F']: each child face inherits its root face's part."""
        return np.asarray(face_parts, np.uint8)[self.root_face]

    def mesh(self, mesh: HeadMesh) -> HeadMesh:
        """The subdivided HeadMesh (positions, UVs, parts) of ``mesh`` (which must have this topology)."""
        if len(mesh.faces) != len(self.steps[0][0] if self.steps else self.faces) \
                or len(mesh.vertices) != self.matrix.shape[1]:
            raise ValueError("SubdivisionOperator.mesh: the mesh does not have the operator's topology")
        uvs = self.uv_matrix.apply(mesh.uvs).astype(np.float32)
        return HeadMesh(self.apply(mesh.vertices), self.faces, uvs, self.uv_faces, self.face_parts(mesh.face_parts))

    def map_points(self, points: SurfacePoints) -> SurfacePoints:
        """``points`` on the subdivided mesh: same parametric place, in the child triangle holding it
        (``map_surface_points`` in split faces; a kept face's points keep their weights)."""
        fi = points.face_index.astype(np.int64)
        w = points.barycentric.astype(np.float32)
        for first, kept in self.steps:
            split = map_surface_points(SurfacePoints(np.zeros(len(fi), np.int32), w), 1)
            keep = kept[fi]
            w = np.where(keep[:, None], w, split.barycentric)
            fi = first[fi] + np.where(keep, 0, split.face_index)
        return SurfacePoints(fi.astype(np.int32), w)


def map_surface_points(points: SurfacePoints, levels: int = 1) -> SurfacePoints:
    """Surface points of a mesh carried onto its ``levels``-times 1-to-4 split (``loop_subdivision``
    child order): a point with barycentric (a, b, c) in face f lies in child ``4 f + k`` of the
    corner k whose weight is >= 1/2 (weights there ``2 w - 1`` at that corner and ``2 w`` at the
    others), else in the centre child ``4 f + 3`` (weights ``1 - 2 w`` of the opposite corners).

    Example:
        >>> p = map_surface_points(SurfacePoints(np.array([2]), np.array([[0.6, 0.3, 0.1]])))
        >>> int(p.face_index[0]), [round(float(w), 3) for w in p.barycentric[0]]
        (8, [0.2, 0.6, 0.2])
    """
    fi = points.face_index.astype(np.int64)
    w = points.barycentric.astype(np.float64)
    for _ in range(levels):
        corner = np.argmax(w, axis=1)
        big = w[np.arange(len(w)), corner] >= 0.5
        at_corner = 2.0 * w
        at_corner[np.arange(len(w)), corner] -= 1.0
        # centre child (m01, m12, m20): weights (1 - 2 c, 1 - 2 a, 1 - 2 b)
        centre = 1.0 - 2.0 * w[:, [2, 0, 1]]
        w = np.where(big[:, None], at_corner, centre)
        fi = 4 * fi + np.where(big, corner, 3)
    w = np.clip(w, 0.0, None)
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    return SurfacePoints(fi.astype(np.int32), w.astype(np.float32))


def loop_subdivision(faces: np.ndarray, n_vertices: int, uv_faces: Optional[np.ndarray] = None,
                     n_uvs: Optional[int] = None, levels: int = 1, linear_faces: Optional[np.ndarray] = None,
                     kept_faces: Optional[np.ndarray] = None) -> SubdivisionOperator:
    """The Loop subdivision operator of a topology (cached per topology and level count).

    Args:
        faces: int [F, 3] vertex indices in [0, n_vertices).
        n_vertices: V (vertices no face uses stay where they are).
        uv_faces: int [F, 3] UV indices (default: ``faces``, i.e. one UV per vertex).
        n_uvs: T (default: n_vertices when uv_faces is None, else uv_faces.max() + 1).
        levels: 0 .. ``MAX_LEVELS`` splits.
        linear_faces: optional bool [F]: faces split linearly instead of smoothed (small rigid
            parts such as teeth, which Loop's rule would round off): their vertices stay in
            place, their edges get midpoints, and their border is a crease of the smooth rest.
        kept_faces: optional bool [F]: faces left as they are (not split, vertices unmoved), for
            separate closed parts whose outline is hidden (eyeballs behind the lids): 4x fewer
            triangles there. Only faces none of whose vertices a split face uses are kept (no
            T-junctions); the others in the mask are split normally.

    Raises:
        FaceDataError: faces/uv_faces of the wrong shape or indices out of range, or ``levels``
            outside [0, MAX_LEVELS].

    Example:
        >>> tet = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]])
        >>> op = loop_subdivision(tet, 4)
        >>> op.n_vertices, op.faces.shape, bool(np.allclose(op.matrix.row_sums(), 1.0))
        ((4, 10), (16, 3), True)
    """
    f = np.ascontiguousarray(faces, dtype=np.int64)
    tf = f if uv_faces is None else np.ascontiguousarray(uv_faces, dtype=np.int64)
    if n_uvs is None:
        n_uvs = n_vertices if uv_faces is None else int(tf.max(initial=-1)) + 1
    if not 0 <= levels <= MAX_LEVELS:
        raise FaceDataError(f"subdivision: levels must lie in [0, {MAX_LEVELS}], got {levels}")
    for name, arr, count in (("faces", f, n_vertices), ("uv_faces", tf, n_uvs)):
        if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) == 0:
            raise FaceDataError(f"subdivision: {name} must have shape [F>0, 3], got {list(arr.shape)}")
        if arr.min() < 0 or arr.max() >= count:
            raise FaceDataError(f"subdivision: {name} indices must lie in [0, {count - 1}]")
    if tf.shape != f.shape:
        raise FaceDataError(f"subdivision: uv_faces shape {list(tf.shape)} differs from faces {list(f.shape)}")
    lin = np.zeros(len(f), bool) if linear_faces is None else np.asarray(linear_faces, bool)
    if lin.shape != (len(f),):
        raise FaceDataError(f"subdivision: linear_faces must be a bool [F={len(f)}] mask, got {list(lin.shape)}")
    keep = np.zeros(len(f), bool) if kept_faces is None else np.asarray(kept_faces, bool)
    if keep.shape != (len(f),):
        raise FaceDataError(f"subdivision: kept_faces must be a bool [F={len(f)}] mask, got {list(keep.shape)}")
    while keep.any():  # keep only faces whose vertices (and UVs) no split face shares
        split_v = np.bincount(f[~keep].reshape(-1), minlength=n_vertices) > 0
        split_t = np.bincount(tf[~keep].reshape(-1), minlength=n_uvs) > 0
        still = keep & ~split_v[f].any(1) & ~split_t[tf].any(1)
        if np.array_equal(still, keep):
            break
        keep = still
    return _cached_operator(f.tobytes(), len(f), int(n_vertices), tf.tobytes(), int(n_uvs), int(levels),
                            np.packbits(lin).tobytes(), np.packbits(keep).tobytes())


#: Mesh parts split linearly by ``subdivide_mesh``: the teeth are small boxes that Loop's rule would
#: shrink by ~3 mm into rounded pebbles, the mouth cavity a coarse dark bag behind the lips.
LINEAR_PARTS: tuple[str, ...] = ("mouth_cavity", "teeth")

#: Mesh parts ``subdivide_mesh`` leaves as they are: separate closed parts whose outline is hidden
#: behind the lids and lips (their shading is smooth from interpolated normals anyway); 15% of the
#: head's triangles, that would cost 4x as much to rasterise.
KEPT_PARTS: tuple[str, ...] = ("eyeball", "teeth")


def subdivision_operator(mesh: HeadMesh, levels: int = 1, linear_parts: tuple[str, ...] = LINEAR_PARTS,
                         kept_parts: tuple[str, ...] = KEPT_PARTS) -> SubdivisionOperator:
    """The (cached) Loop operator of ``mesh``'s topology: faces of ``linear_parts`` split linearly,
    separate components of ``kept_parts`` left as they are."""
    return loop_subdivision(mesh.faces, len(mesh.vertices), mesh.uv_faces, len(mesh.uvs), levels,
                            linear_faces=mesh.part_mask(*linear_parts), kept_faces=mesh.part_mask(*kept_parts))


def subdivide_mesh(mesh: HeadMesh, levels: int = 1, linear_parts: tuple[str, ...] = LINEAR_PARTS,
                   kept_parts: tuple[str, ...] = KEPT_PARTS) -> tuple[HeadMesh, SubdivisionOperator]:
    """(subdivided mesh, its operator) of ``mesh`` (``levels`` Loop steps; see ``subdivision_operator``).

    Example:
        >>> from nirvis.faces import load_head_model
        >>> template = load_head_model().template
        >>> fine, op = subdivide_mesh(template)
        >>> kept = template.part_mask("eyeball", "teeth")
        >>> bool(len(fine.faces) == 4 * (~kept).sum() + kept.sum()), op.n_vertices[0] == len(template.vertices)
        (True, True)
    """
    op = subdivision_operator(mesh, levels, linear_parts, kept_parts)
    return op.mesh(mesh), op


@functools.lru_cache(maxsize=8)
def _cached_operator(faces_bytes: bytes, n_faces: int, n_vertices: int, uv_bytes: bytes, n_uvs: int,
                     levels: int, linear_bits: bytes, kept_bits: bytes) -> SubdivisionOperator:
    f = np.frombuffer(faces_bytes, np.int64).reshape(n_faces, 3)
    tf = np.frombuffer(uv_bytes, np.int64).reshape(n_faces, 3)
    linear = np.unpackbits(np.frombuffer(linear_bits, np.uint8), count=n_faces).astype(bool)
    kept = np.unpackbits(np.frombuffer(kept_bits, np.uint8), count=n_faces).astype(bool)
    matrix = _identity(n_vertices)
    uv_matrix = _identity(n_uvs)
    root = np.arange(n_faces, dtype=np.int64)
    steps = []
    for _ in range(levels):
        split = ~kept
        step, kids = _loop_step(f[split], matrix.shape[0], linear[split])
        uv_step, uv_kids = _linear_step(tf[split], uv_matrix.shape[0])
        matrix, uv_matrix = step.matmul(matrix), uv_step.matmul(uv_matrix)
        counts = np.where(kept, 1, 4)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        from_split = np.repeat(split, counts)
        f_next = np.empty((counts.sum(), 3), np.int64)
        tf_next = np.empty_like(f_next)
        f_next[from_split], tf_next[from_split] = kids, uv_kids
        f_next[first[kept]], tf_next[first[kept]] = f[kept], tf[kept]
        steps.append((first, kept))
        f, tf = f_next, tf_next
        root, linear, kept = np.repeat(root, counts), np.repeat(linear, counts), np.repeat(kept, counts)
    return SubdivisionOperator(levels, matrix, f.astype(np.int32), uv_matrix, tf.astype(np.int32), root, tuple(steps))


def _identity(n: int) -> SparseRows:
    return SparseRows(np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64), np.ones(n), (n, n))


def _edges(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique edges int64 [E, 2] sorted, edge id of each face side [F, 3] (side k = corners k, k+1),
    faces per edge [E])."""
    sides = np.stack([f, np.roll(f, -1, axis=1)], axis=-1).reshape(-1, 2)       # [3F, 2]
    edges, inverse, counts = np.unique(np.sort(sides, axis=1), axis=0, return_inverse=True, return_counts=True)
    return edges, inverse.reshape(-1, 3), counts


def _split_faces(f: np.ndarray, mid: np.ndarray) -> np.ndarray:
    """Children [4F, 3] of faces f [F, 3] with side-midpoint indices mid [F, 3] (side k = k..k+1):
    corner 0, corner 1, corner 2, centre; each keeps the parent's orientation."""
    a, b, c = f[:, 0], f[:, 1], f[:, 2]
    ab, bc, ca = mid[:, 0], mid[:, 1], mid[:, 2]
    kids = np.stack([np.stack([a, ab, ca], 1), np.stack([ab, b, bc], 1), np.stack([ca, bc, c], 1),
                     np.stack([ab, bc, ca], 1)], axis=1)
    return kids.reshape(-1, 3)


def _linear_step(f: np.ndarray, n: int) -> tuple[SparseRows, np.ndarray]:
    """One linear 1-to-4 split (new vertex at each edge midpoint): operator [n + E, n] and faces."""
    edges, side_edge, _ = _edges(f)
    e = len(edges)
    rows = np.concatenate([np.arange(n), np.repeat(n + np.arange(e), 2)])
    cols = np.concatenate([np.arange(n), edges.reshape(-1)])
    vals = np.concatenate([np.ones(n), np.full(2 * e, 0.5)])
    return SparseRows.from_triplets(rows, cols, vals, (n + e, n)), _split_faces(f, n + side_edge)


def _loop_beta(valence: np.ndarray) -> np.ndarray:
    n = np.maximum(valence, 1).astype(np.float64)
    return (5.0 / 8.0 - (3.0 / 8.0 + 0.25 * np.cos(2.0 * np.pi / n)) ** 2) / n


def _loop_step(f: np.ndarray, n: int, linear: np.ndarray) -> tuple[SparseRows, np.ndarray]:
    """One Loop step on faces f [F, 3] over n vertices (``linear`` bool [F]: faces split linearly):
    operator [n + E, n] and the child faces."""
    edges, side_edge, counts = _edges(f)
    e = len(edges)
    proper = edges[:, 0] != edges[:, 1]                     # degenerate faces give self-edges: ignored
    on_linear = np.bincount(side_edge.reshape(-1), weights=np.repeat(linear, 3).astype(np.float64), minlength=e) > 0
    crease = (counts != 2) | ~proper | on_linear
    # --- edge vertices
    opposite = np.roll(f, -2, axis=1).reshape(-1)            # corner opposite side k is k + 2
    order = np.argsort(side_edge.reshape(-1), kind="stable")
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    opp1 = opposite[order[first]]
    opp2 = opposite[order[np.minimum(first + 1, len(order) - 1)]]
    smooth_e = np.flatnonzero(~crease)
    sharp_e = np.flatnonzero(crease)
    er = [np.repeat(n + smooth_e, 4), np.repeat(n + sharp_e, 2)]
    ec = [np.stack([edges[smooth_e, 0], edges[smooth_e, 1], opp1[smooth_e], opp2[smooth_e]], 1).reshape(-1),
          edges[sharp_e].reshape(-1)]
    ev = [np.tile([3 / 8, 3 / 8, 1 / 8, 1 / 8], len(smooth_e)), np.full(2 * len(sharp_e), 0.5)]
    # --- old vertices: valence, crease edges per vertex -> smooth / crease / corner rule
    ends = edges[proper]
    valence = np.bincount(ends.reshape(-1), minlength=n)
    n_crease = np.bincount(edges[crease & proper].reshape(-1), minlength=n)
    beta = _loop_beta(valence)
    kind = np.where(n_crease >= 3, 2, np.where(n_crease == 2, 1, 0))          # 0 smooth, 1 crease, 2 corner
    smooth_user = np.bincount(f[~linear].reshape(-1), minlength=n) > 0
    kind = np.where((valence == 0) | ~smooth_user, 2, kind)                    # isolated or linear only: fixed
    centre = np.select([kind == 0, kind == 1], [1.0 - valence * beta, 0.75], 1.0)
    ecrease = crease[proper]
    vr, vc, vv = [np.arange(n)], [np.arange(n)], [centre]
    for here, there in ((0, 1), (1, 0)):
        a, b = ends[:, here], ends[:, there]
        w = np.select([kind[a] == 0, (kind[a] == 1) & ecrease], [beta[a], 1.0 / 8.0], 0.0)
        vr.append(a)
        vc.append(b)
        vv.append(w)
    rows = np.concatenate(vr + er)
    cols = np.concatenate(vc + ec)
    vals = np.concatenate(vv + ev)
    keep = vals != 0.0
    op = SparseRows.from_triplets(rows[keep], cols[keep], vals[keep], (n + e, n))
    return op, _split_faces(f, n + side_edge)
