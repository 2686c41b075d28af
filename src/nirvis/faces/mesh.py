"""Triangle meshes with UVs, surface points (landmarks) and Wavefront OBJ input/output.

Convention:
    - Vertices are float32 millimetres in a right-handed head frame: +x is the subject's left
      (the viewer's right when the face looks at the camera), +y up, +z out of the face towards a
      frontal camera. The procedural model puts the origin midway between the eyeball centres.
    - UVs are float32 with the origin at the bottom-left of the texture (OBJ convention); texel
      row 0 of an image is the top, i.e. v = 1.
    - Faces and uv_faces are int32 [F, 3], counter-clockwise seen from outside.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nirvis.faces.errors import FaceDataError

#: Names of the mesh parts a face may belong to (``HeadMesh.face_parts`` holds indices into this).
PART_NAMES: tuple[str, ...] = ("skin", "eye_cavity", "mouth_cavity", "eyeball", "teeth")


@dataclass(frozen=True, eq=False)
class HeadMesh:
    """A UV-mapped triangle mesh.

    Attributes:
        vertices: float32 [V, 3], millimetres (see module convention).
        faces: int32 [F, 3], indices into ``vertices``.
        uvs: float32 [T, 2], texture coordinates in [0, 1], origin bottom-left.
        uv_faces: int32 [F, 3], indices into ``uvs`` (UV seams need their own indexing).
        face_parts: uint8 [F], index into ``PART_NAMES`` per face (all 0 = skin when unknown).
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    uv_faces: np.ndarray
    face_parts: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "vertices", np.ascontiguousarray(self.vertices, dtype=np.float32))
        object.__setattr__(self, "faces", np.ascontiguousarray(self.faces, dtype=np.int32))
        object.__setattr__(self, "uvs", np.ascontiguousarray(self.uvs, dtype=np.float32))
        object.__setattr__(self, "uv_faces", np.ascontiguousarray(self.uv_faces, dtype=np.int32))
        parts = self.face_parts
        if parts is None:
            parts = np.zeros(len(self.faces), dtype=np.uint8)
        object.__setattr__(self, "face_parts", np.ascontiguousarray(parts, dtype=np.uint8))
        validate_mesh(self)

    def with_vertices(self, vertices: np.ndarray) -> "HeadMesh":
        """Same topology and UVs, new float32 [V, 3] vertex positions (mm)."""
        return HeadMesh(vertices, self.faces, self.uvs, self.uv_faces, self.face_parts)

    def part_mask(self, *names: str) -> np.ndarray:
        """bool [F]: faces belonging to any of the named parts."""
        unknown = set(names) - set(PART_NAMES)
        if unknown:
            raise KeyError(f"unknown mesh part(s) {sorted(unknown)}; known: {PART_NAMES}")
        ids = [PART_NAMES.index(n) for n in names]
        return np.isin(self.face_parts, ids)


def validate_mesh(mesh: HeadMesh, source: str = "mesh") -> None:
    """Raise FaceDataError naming ``source`` and the field when the mesh is malformed."""
    v, f, t, tf = mesh.vertices, mesh.faces, mesh.uvs, mesh.uv_faces
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise FaceDataError(f"{source}: vertices must have shape [V>0, 3], got {list(v.shape)}")
    if not np.isfinite(v).all():
        bad = int((~np.isfinite(v).all(axis=1)).sum())
        first = int(np.flatnonzero(~np.isfinite(v).all(axis=1))[0])
        raise FaceDataError(f"{source}: {bad} vertices are NaN or infinite (first: vertex {first})")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise FaceDataError(f"{source}: faces must have shape [F>0, 3], got {list(f.shape)}")
    if f.min() < 0 or f.max() >= len(v):
        raise FaceDataError(
            f"{source}: face vertex indices must lie in [0, {len(v) - 1}], "
            f"got range [{int(f.min())}, {int(f.max())}]"
        )
    if t.ndim != 2 or t.shape[1] != 2 or len(t) == 0:
        raise FaceDataError(f"{source}: the mesh has no UV coordinates (need [T>0, 2] uvs)")
    if not np.isfinite(t).all():
        raise FaceDataError(f"{source}: UV coordinates contain NaN or infinite values")
    if tf.shape != f.shape:
        raise FaceDataError(f"{source}: uv_faces shape {list(tf.shape)} differs from faces {list(f.shape)}")
    if tf.min() < 0 or tf.max() >= len(t):
        raise FaceDataError(
            f"{source}: face UV indices must lie in [0, {len(t) - 1}], "
            f"got range [{int(tf.min())}, {int(tf.max())}]"
        )
    if mesh.face_parts.shape != (len(f),) or mesh.face_parts.max(initial=0) >= len(PART_NAMES):
        raise FaceDataError(f"{source}: face_parts must be [F] indices into {PART_NAMES}")


@dataclass(frozen=True, eq=False)
class SurfacePoints:
    """Points on a mesh surface given as (triangle, barycentric) pairs; they follow deformation.

    Attributes:
        face_index: int32 [K], triangle of each point.
        barycentric: float32 [K, 3], weights of the triangle's three vertices (sum 1).
    """

    face_index: np.ndarray
    barycentric: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "face_index", np.ascontiguousarray(self.face_index, dtype=np.int32))
        object.__setattr__(self, "barycentric", np.ascontiguousarray(self.barycentric, dtype=np.float32))
        if self.barycentric.shape != (len(self.face_index), 3):
            raise FaceDataError(
                f"landmarks: barycentric must be [K, 3] for K={len(self.face_index)}, "
                f"got {list(self.barycentric.shape)}"
            )

    def __len__(self) -> int:
        return len(self.face_index)

    def positions(self, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """float32 [..., K, 3] positions for vertices [..., V, 3] and faces [F, 3]."""
        corners = vertices[..., faces[self.face_index], :]  # [..., K, 3, 3]
        return np.einsum("...kcd,kc->...kd", corners, self.barycentric).astype(np.float32)

    def validate(self, n_faces: int, source: str) -> None:
        if len(self.face_index) and (self.face_index.min() < 0 or self.face_index.max() >= n_faces):
            raise FaceDataError(f"{source}: landmark triangle indices must lie in [0, {n_faces - 1}]")
        if not np.isfinite(self.barycentric).all():
            raise FaceDataError(f"{source}: landmark barycentric weights are not finite")

    @staticmethod
    def at_vertices(vertex_ids: np.ndarray, faces: np.ndarray) -> "SurfacePoints":
        """Surface points exactly on the given vertices (one-hot barycentric in an adjacent face)."""
        vertex_ids = np.asarray(vertex_ids, dtype=np.int64)
        # first face using each vertex, and which corner it is
        flat = faces.reshape(-1)
        order = np.argsort(flat, kind="stable")
        first = np.searchsorted(flat[order], vertex_ids)
        if (first >= len(flat)).any() or (flat[order][np.minimum(first, len(flat) - 1)] != vertex_ids).any():
            raise FaceDataError("landmarks: some landmark vertices belong to no face")
        pos = order[first]
        bary = np.zeros((len(vertex_ids), 3), np.float32)
        bary[np.arange(len(vertex_ids)), pos % 3] = 1.0
        return SurfacePoints(pos // 3, bary)


# --------------------------------------------------------------------------------------------- OBJ


def read_obj(path: str | os.PathLike) -> tuple[HeadMesh, dict[str, np.ndarray]]:
    """Read a Wavefront OBJ with UVs. Polygons are fan-triangulated.

    Groups (``g``/``o`` lines) whose name is in ``PART_NAMES`` set ``face_parts``; other faces are skin.

    Returns:
        (mesh, extras): ``extras`` may hold ``"vertex_colors"`` float32 [V, 3] when present.

    Raises:
        FaceDataError: the file is missing or unreadable, has no UVs, NaN/inf vertices or
            out-of-range indices. The message names the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceDataError(f"{path}: mesh file not found")
    verts: list[list[float]] = []
    colors: list[list[float]] = []
    uvs: list[list[float]] = []
    faces: list[list[int]] = []
    uv_faces: list[list[int]] = []
    parts: list[int] = []
    part = 0
    try:
        lines = path.read_text(encoding="utf-8", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FaceDataError(f"{path}: cannot read mesh file ({exc})") from exc
    for lineno, line in enumerate(lines, 1):
        if not line or line[0] == "#":
            continue
        tok = line.split()
        if not tok:
            continue
        key = tok[0]
        try:
            if key == "v":
                verts.append([float(x) for x in tok[1:4]])
                if len(tok) >= 7:
                    colors.append([float(x) for x in tok[4:7]])
                if len(verts[-1]) != 3:
                    raise ValueError("a vertex needs 3 coordinates")
            elif key == "vt":
                uvs.append([float(x) for x in tok[1:3]])
                if len(uvs[-1]) != 2:
                    raise ValueError("a texture coordinate needs 2 values")
            elif key == "f":
                vi, ti = [], []
                for corner in tok[1:]:
                    fields = corner.split("/")
                    vi.append(_obj_index(fields[0], len(verts)))
                    if len(fields) < 2 or fields[1] == "":
                        raise FaceDataError(
                            f"{path}:{lineno}: face has no UV index (the mesh has no UVs; "
                            "export it with texture coordinates)"
                        )
                    ti.append(_obj_index(fields[1], len(uvs)))
                if len(vi) < 3:
                    raise ValueError("a face needs at least 3 corners")
                for k in range(1, len(vi) - 1):
                    faces.append([vi[0], vi[k], vi[k + 1]])
                    uv_faces.append([ti[0], ti[k], ti[k + 1]])
                    parts.append(part)
            elif key in ("g", "o"):
                name = tok[1] if len(tok) > 1 else ""
                part = PART_NAMES.index(name) if name in PART_NAMES else 0
        except FaceDataError:
            raise
        except (ValueError, IndexError) as exc:
            raise FaceDataError(f"{path}:{lineno}: malformed '{key}' line ({exc}): {line[:80]!r}") from exc
    if not faces:
        raise FaceDataError(f"{path}: no faces found")
    if not uvs:
        raise FaceDataError(f"{path}: the mesh has no UV coordinates (no 'vt' lines)")
    with np.errstate(over="ignore"):  # out-of-range values become inf and are reported below
        v32 = np.array(verts, np.float64).astype(np.float32)
    try:
        mesh = HeadMesh(v32, np.array(faces), np.array(uvs), np.array(uv_faces), np.array(parts))
    except FaceDataError as exc:
        raise FaceDataError(f"{path}: {str(exc).removeprefix('mesh: ')}") from None
    extras = {}
    if colors and len(colors) == len(verts):
        extras["vertex_colors"] = np.array(colors, np.float32)
    return mesh, extras


def _obj_index(text: str, count: int) -> int:
    i = int(text)
    return i - 1 if i > 0 else count + i  # OBJ is 1-based; negative indices count from the end


def write_obj(path: str | os.PathLike, mesh: HeadMesh, header: str = "") -> None:
    """Write ``mesh`` as OBJ. Coordinates use 9 significant digits, so float32 values round-trip
    exactly; faces are grouped by part with ``g <part>`` lines so ``read_obj`` restores face_parts."""
    path = Path(path)
    out: list[str] = []
    if header:
        out.extend("# " + line for line in header.splitlines())
    out.append("\n".join("v %.9g %.9g %.9g" % tuple(r) for r in mesh.vertices.astype(np.float64)))
    out.append("\n".join("vt %.9g %.9g" % tuple(r) for r in mesh.uvs.astype(np.float64)))
    f1 = mesh.faces + 1
    t1 = mesh.uv_faces + 1
    current = -1
    lines: list[str] = []
    for i in range(len(f1)):
        p = int(mesh.face_parts[i])
        if p != current:
            lines.append(f"g {PART_NAMES[p]}")
            current = p
        a, b, c = f1[i]
        x, y, z = t1[i]
        lines.append(f"f {a}/{x} {b}/{y} {c}/{z}")
    out.append("\n".join(lines))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def closest_points_on_triangles(x: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray]:
    """Closest points of triangles (a, b, c) [F, 3] to the point ``x`` [3]: (barycentric float64
    [F, 3], squared distance [F]) (Ericson, Real-Time Collision Detection, 5.1.5)."""
    ab, ac, ap = b - a, c - a, x - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = x - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = x - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v_in, w_in = vb / denom, vc / denom
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    n = len(a)
    bary = np.stack([1.0 - v_in - w_in, v_in, w_in], 1)
    cases = [  # Ericson's tests in reverse order: where several hold (region borders), his first one wins
        ((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), np.stack([np.zeros(n), 1 - t_bc, t_bc], 1)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), np.stack([1 - t_ac, np.zeros(n), t_ac], 1)),
        ((d6 >= 0) & (d5 <= d6), np.tile([0.0, 0.0, 1.0], (n, 1))),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), np.stack([1 - t_ab, t_ab, np.zeros(n)], 1)),
        ((d3 >= 0) & (d4 <= d3), np.tile([0.0, 1.0, 0.0], (n, 1))),
        ((d1 <= 0) & (d2 <= 0), np.tile([1.0, 0.0, 0.0], (n, 1))),
    ]
    for cond, w in cases:
        bary = np.where(cond[:, None], w, bary)
    bary = np.nan_to_num(bary, nan=1.0 / 3)
    q = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    return bary, ((q - x) ** 2).sum(1)
