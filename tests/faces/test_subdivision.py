"""Loop subdivision operator: counts, smoothness, boundaries, odd topology, UVs, surface points, the head."""

from __future__ import annotations

import numpy as np
import pytest

from nirvis.faces import FaceDataError, HeadMesh, SurfacePoints, load_head_model
from nirvis.faces.subdivision import (SparseRows, loop_subdivision, map_surface_points, subdivide_mesh,
                                      subdivision_operator)


def grid(n: int) -> HeadMesh:
    """A flat (n+1) x (n+1) vertex grid in z = 0, every quad split along the same diagonal (interior
    valence 6: the regular case), one UV per vertex."""
    ij = np.stack(np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij"), -1).reshape(-1, 2)
    v = np.concatenate([ij * 10.0, np.zeros((len(ij), 1))], 1)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    f = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return HeadMesh(v, f, ij / n, f)


def icosahedron() -> tuple[np.ndarray, np.ndarray]:
    p = (1 + 5 ** 0.5) / 2
    v = np.array([[-1, p, 0], [1, p, 0], [-1, -p, 0], [1, -p, 0], [0, -1, p], [0, 1, p], [0, -1, -p], [0, 1, -p],
                  [p, 0, -1], [p, 0, 1], [-p, 0, -1], [-p, 0, 1]], np.float64)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
                  [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
                  [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    return v / np.linalg.norm(v, axis=1, keepdims=True), f


def face_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def dihedral_degrees(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Angle between the normals of the two faces of every two-face edge."""
    sides = np.sort(np.stack([f, np.roll(f, -1, 1)], -1).reshape(-1, 2), 1)
    _, inv, counts = np.unique(sides, axis=0, return_inverse=True, return_counts=True)
    order = np.argsort(inv, kind="stable")
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])[counts == 2]
    n = face_normals(v, f)
    cos = (n[order[first] // 3] * n[order[first + 1] // 3]).sum(1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


@pytest.fixture(scope="module")
def template() -> HeadMesh:
    return load_head_model().template


def test_flat_grid_stays_flat_with_the_loop_counts():
    g = grid(6)
    for levels in (1, 2):
        fine, op = subdivide_mesh(g, levels)
        e = 3 * 6 * 6 + 2 * 6                                  # edges of the 6 x 6 quad grid with diagonals
        if levels == 1:
            assert len(fine.vertices) == len(g.vertices) + e
        assert len(fine.faces) == len(g.faces) * 4 ** levels
        assert op.n_vertices == (len(g.vertices), len(fine.vertices))
        assert np.abs(fine.vertices[:, 2]).max() == 0.0        # planar: affine invariance
        # children keep the parent's orientation: every normal still +z
        assert (face_normals(fine.vertices.astype(np.float64), fine.faces)[:, 2] > 0.999).all()


def test_regular_interior_reproduces_linear_positions_and_maps_points_exactly():
    g = grid(8)
    fine, op = subdivide_mesh(g, 1)
    # interior vertices whose whole 1-ring is regular and interior: Loop leaves them in place
    inner = (g.vertices[:, :2].min(1) >= 20) & (g.vertices[:, :2].max(1) <= 60)
    assert np.allclose(fine.vertices[: len(g.vertices)][inner], g.vertices[inner], atol=1e-5)
    rng = np.random.default_rng(0)
    centre = np.flatnonzero(face_normals(g.vertices, g.faces)[:, 2] > 0)      # all faces; pick inner ones
    tri_centres = g.vertices[g.faces].mean(1)[:, :2]
    centre = centre[(tri_centres[centre].min(1) > 30) & (tri_centres[centre].max(1) < 50)]
    w = rng.dirichlet(np.ones(3), size=len(centre))
    pts = SurfacePoints(centre, w)
    moved = op.map_points(pts)
    assert np.allclose(moved.positions(fine.vertices, fine.faces), pts.positions(g.vertices, g.faces), atol=1e-4)


def test_surface_points_keep_their_parametric_place_at_any_level():
    g = grid(3)
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(3), size=200)
    w[:3] = np.eye(3)                                      # exactly on the corners
    w[3] = [0.5, 0.5, 0.0]                                  # exactly on an edge midpoint
    pts = SurfacePoints(rng.integers(0, len(g.faces), 200), w)
    for levels in (1, 2, 3):
        op = loop_subdivision(g.faces, len(g.vertices), levels=levels)
        mapped = map_surface_points(pts, levels)
        assert (mapped.face_index // 4 ** levels == pts.face_index).all()
        assert (mapped.barycentric >= 0).all() and np.allclose(mapped.barycentric.sum(1), 1.0, atol=1e-6)
        # the linear UV mesh (one UV per vertex here) is the parent's parametrisation
        uv = op.uv_matrix.apply(g.uvs)
        assert np.allclose(mapped.positions(uv, op.uv_faces), pts.positions(g.uvs, g.uv_faces), atol=1e-6)


def test_icosahedron_approaches_a_smooth_sphere():
    v, f = icosahedron()
    angles = [dihedral_degrees(v, f).max()]
    spreads = []
    for levels in (1, 2, 3):
        op = loop_subdivision(f, len(v), levels=levels)
        fine = op.apply(v).astype(np.float64)
        r = np.linalg.norm(fine, axis=1)
        spreads.append(r.std() / r.mean())
        angles.append(dihedral_degrees(fine, op.faces).max())
        assert len(op.faces) == 20 * 4 ** levels and len(fine) == 10 * 4 ** levels + 2
    assert angles[0] > 40 and angles[1] < 0.6 * angles[0] and angles[2] < 0.6 * angles[1] and angles[3] < 8.0
    assert spreads[-1] < 0.01                              # nearly constant radius: sphere-like


def test_rows_sum_to_one_and_constants_stay_constant(template):
    for levels in (1, 2):
        op = subdivision_operator(template, levels)
        assert np.allclose(op.matrix.row_sums(), 1.0, atol=1e-12) and (op.matrix.data > 0).all()
        assert np.allclose(op.uv_matrix.row_sums(), 1.0, atol=1e-12)
        const = np.full((len(template.vertices), 2), 7.25)
        assert np.allclose(op.apply(const), 7.25, atol=1e-5)
    assert subdivision_operator(template, 1) is subdivision_operator(template, 1)       # cached per topology


def test_boundary_follows_the_boundary_rule():
    g = grid(4)
    op = loop_subdivision(g.faces, len(g.vertices))
    dense = op.matrix.to_dense()
    # a boundary vertex in the middle of a straight side: 3/4 itself, 1/8 each boundary neighbour
    k = 2 * 5 + 0                                           # vertex (2, 0)
    row = dense[k]
    assert row[k] == pytest.approx(0.75) and row[k - 5] == pytest.approx(0.125) and row[k + 5] == pytest.approx(0.125)
    assert np.count_nonzero(row) == 3
    # a boundary edge's new vertex is its midpoint
    edge_rows = dense[len(g.vertices):]
    assert any(np.count_nonzero(r) == 2 and np.allclose(r[r != 0], 0.5) for r in edge_rows)


def test_odd_topology_does_not_fail():
    v = np.random.default_rng(2).normal(size=(9, 3))
    f = np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4],          # edge (0, 1) shared by three faces
                  [2, 5, 6], [2, 7, 8],                     # vertex 2: a bow-tie of separate fans
                  [3, 3, 4]])                               # degenerate face
    n = 10                                                  # vertex 9 is used by no face
    for levels in (1, 2):
        op = loop_subdivision(f, n, levels=levels)
        out = op.apply(np.concatenate([v, np.zeros((1, 3))]))
        assert np.isfinite(out).all() and np.allclose(op.matrix.row_sums(), 1.0)
    op = loop_subdivision(f, n)
    assert op.matrix.to_dense()[9, 9] == 1.0                # isolated vertex stays


def test_bad_input_names_the_field():
    f = np.array([[0, 1, 2]])
    with pytest.raises(FaceDataError, match="levels"):
        loop_subdivision(f, 3, levels=4)
    with pytest.raises(FaceDataError, match="faces indices"):
        loop_subdivision(f, 2)
    with pytest.raises(FaceDataError, match="uv_faces"):
        loop_subdivision(f, 3, uv_faces=np.array([[0, 1, 2], [0, 1, 2]]))
    with pytest.raises(FaceDataError, match="linear_faces"):
        loop_subdivision(f, 3, linear_faces=np.zeros(2, bool))


def test_apply_is_per_head_and_deterministic(template):
    op = subdivision_operator(template, 1)
    rng = np.random.default_rng(3)
    heads = template.vertices[None] + rng.normal(0, 1, (3, len(template.vertices), 3)).astype(np.float32)
    batch = op.apply(heads)
    assert batch.shape == (3, op.n_vertices[1], 3) and batch.dtype == np.float32
    for k in range(3):
        assert np.array_equal(batch[k], op.apply(heads[k]))
    assert np.array_equal(op.apply(heads[1:2])[0], batch[1])


def test_sparse_product_matches_dense():
    rng = np.random.default_rng(4)
    rows = np.concatenate([np.arange(5), rng.integers(0, 5, 25)])
    a = SparseRows.from_triplets(rows, rng.integers(0, 6, 30), rng.normal(size=30), (5, 6))
    b = SparseRows.from_triplets(np.concatenate([np.arange(6), rng.integers(0, 6, 14)]), rng.integers(0, 4, 20),
                                 rng.normal(size=20), (6, 4))
    assert np.allclose(a.matmul(b).to_dense(), a.to_dense() @ b.to_dense())
    x = rng.normal(size=(6, 2))
    assert np.allclose(a.apply(x), a.to_dense() @ x)


def test_head_uvs_parts_and_landmarks(template):
    fine, op = subdivide_mesh(template, 1)
    # UVs: inside [0, 1], and every child's UV triangle lies inside its parent's
    assert fine.uvs.min() >= 0.0 and fine.uvs.max() <= 1.0
    parent = op.root_face
    tri = template.uvs[template.uv_faces[parent]].astype(np.float64)          # [F', 3, 2]
    c = fine.uvs[fine.uv_faces].mean(1).astype(np.float64)
    m = np.stack([tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]], -1)          # [F', 2, 2]
    ok = np.abs(np.linalg.det(m)) > 1e-12
    bary = np.linalg.solve(m[ok], (c - tri[:, 0])[ok][..., None])[..., 0]
    assert (bary > -1e-6).all() and (bary.sum(1) < 1 + 1e-6).all()
    assert np.array_equal(fine.face_parts, template.face_parts[op.root_face])
    kept = template.part_mask("eyeball", "teeth")
    assert np.bincount(op.root_face, minlength=len(template.faces)).tolist() == np.where(kept, 1, 4).tolist()
    # eyeballs and teeth are kept, the mouth cavity split linearly: their vertices do not move
    for part in ("eyeball", "teeth", "mouth_cavity"):
        rigid = np.unique(template.faces[template.part_mask(part)])
        if part == "mouth_cavity":
            rigid = np.setdiff1d(rigid, template.faces[template.part_mask("skin")])
        assert np.array_equal(fine.vertices[rigid], template.vertices[rigid]), part
    # no T-junction: every edge of the fine mesh has at most two faces, and the holes' borders
    # (neck cut, eye and mouth openings) are just split in two; the kept teeth keep theirs
    def border_edges(f):
        counts = np.unique(np.sort(np.stack([f, np.roll(f, -1, 1)], -1).reshape(-1, 2), 1), axis=0,
                           return_counts=True)[1]
        assert counts.max() <= 2
        return int((counts == 1).sum())
    split_border, kept_border = border_edges(template.faces[~kept]), border_edges(template.faces[kept])
    assert border_edges(fine.faces) == 2 * split_border + kept_border and split_border > 0
    # landmarks follow the smoothed surface closely (the surface moves, the parametric place does not)
    for name, limit in (("5", 1.0), ("68", 2.0)):
        pts = load_head_model().landmarks[name]
        moved = op.map_points(pts).positions(fine.vertices, fine.faces)
        err = np.linalg.norm(moved - pts.positions(template.vertices, template.faces), axis=1)
        assert err.max() < limit, (name, err.max())


def contour_turning_degrees(v: np.ndarray, f: np.ndarray, view: np.ndarray) -> np.ndarray:
    """Turning angle of the projected contour (edges between faces facing towards and away from
    the orthographic ``view`` direction) at every vertex where exactly two contour edges meet:
    the polygon corners of the silhouette."""
    facing = face_normals(v, f) @ view > 0
    sides = np.sort(np.stack([f, np.roll(f, -1, 1)], -1).reshape(-1, 2), 1)
    edges, inv, counts = np.unique(sides, axis=0, return_inverse=True, return_counts=True)
    order = np.argsort(inv, kind="stable")
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])[counts == 2]
    contour = edges[counts == 2][facing[order[first] // 3] != facing[order[first + 1] // 3]]
    basis = np.linalg.svd(np.eye(3) - np.outer(view, view))[0][:, :2]
    p = v @ basis
    angles = []
    for k in np.flatnonzero(np.bincount(contour.ravel(), minlength=len(v)) == 2):
        (a, b) = [e[e != k][0] for e in contour[(contour == k).any(1)]]
        d1, d2 = p[k] - p[a], p[b] - p[k]
        angles.append(np.degrees(np.arccos(np.clip(d1 @ d2 / np.linalg.norm(d1) / np.linalg.norm(d2), -1, 1))))
    return np.array(angles)


def test_head_facets_drop(template):
    skin = template.face_parts == 0
    fine, _ = subdivide_mesh(template, 1)
    fine_skin = fine.face_parts == 0
    v0, v1 = template.vertices.astype(np.float64), fine.vertices.astype(np.float64)
    before = np.percentile(dihedral_degrees(v0, template.faces[skin]), 95)
    after = np.percentile(dihedral_degrees(v1, fine.faces[fine_skin]), 95)
    assert before > 30 and after < 0.5 * before
    for yaw in (0.0, 35.0, 90.0):                         # silhouette corners: the outline's facets
        view = np.array([np.sin(np.radians(yaw)), 0.0, np.cos(np.radians(yaw))])
        turn0 = np.median(contour_turning_degrees(v0, template.faces[skin], view))
        turn1 = np.median(contour_turning_degrees(v1, fine.faces[fine_skin], view))
        assert turn0 > 10 and turn1 < 0.6 * turn0, (yaw, turn0, turn1)


def test_kept_faces_stay_whole_unless_they_touch_split_faces():
    v, f = icosahedron()
    g = grid(2)                                            # a second, separate component
    faces = np.concatenate([f, g.faces + len(v)])
    n = len(v) + len(g.vertices)
    kept = np.zeros(len(faces), bool)
    kept[: len(f)] = True                                  # the whole icosahedron
    op = loop_subdivision(faces, n, kept_faces=kept)
    assert len(op.faces) == len(f) + 4 * len(g.faces)
    assert np.array_equal(op.faces[: len(f)], f) and np.array_equal(op.root_face[: len(f)], np.arange(len(f)))
    verts = np.concatenate([v, g.vertices])
    assert np.array_equal(op.apply(verts)[: len(v)], verts[: len(v)].astype(np.float32))
    pts = SurfacePoints(np.array([3, len(f) + 1]), np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    moved = op.map_points(pts)
    assert moved.face_index[0] == 3 and np.allclose(moved.barycentric[0], [0.2, 0.3, 0.5])
    assert op.root_face[moved.face_index[1]] == len(f) + 1
    # a kept face sharing a vertex with a split one is split too (no T-junctions)
    half = kept.copy()
    half[: len(f) // 2] = False
    assert len(loop_subdivision(faces, n, kept_faces=half).faces) == 4 * len(faces)
