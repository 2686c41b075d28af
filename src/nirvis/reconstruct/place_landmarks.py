"""Place the 5- and 68-point landmarks on an imported face mesh automatically.

``nirvis import-face`` without ``--landmarks`` (or an asset without them) gets its landmarks as a
user would place them by eye, from a picture of the mesh:

1. ``render_frontal``: the textured mesh rendered frontally (head frame as ``photo_camera``:
   +y up, +z out of the face; the mesh's bounding box centred, its height 95 % of a 512 px frame,
   Lambert shading with smooth vertex normals under a light at the camera, sRGB), facing +z and
   turned 180 deg about y (a mesh facing -z); the orientation in which MediaPipe finds the face in
   more views (then: whose back-projected points agree better between views) is used and reported.
2. MediaPipe's 478 points (``landmarks.FaceMeshDetector``) back-projected onto the mesh through
   the rasteriser's triangle ids and barycentrics (the same step that built the correspondence),
   in ``VIEWS`` (frontal, +-15 deg yaw, +-10 deg pitch); per point the median over the views.
3. ``landmark_regressor``: each landmark of the head model (the 68-point and 5-point sets) as an
   affine combination of its ``NEIGHBOURS`` nearest MediaPipe points (iris points excluded:
   imported meshes may have no eyeballs), weights learned by least squares over ``TRAIN_HEADS``
   heads drawn from the shape prior (``shape_prior.shape_basis``), where both are known exactly.
4. Each regressed point snapped to the closest point of the mesh surface.

The report gives the MediaPipe hit count, how far the regressed points were off the surface and
the regressor's own error on held-out prior heads (mm). ``tests/reconstruct/test_place_landmarks.py``
measures the placement error on a head exported as OBJ, whose true landmarks are known.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nirvis.colour import encode_srgb
from nirvis.errors import NirvisError
from nirvis.faces.asset import FaceAsset
from nirvis.faces.mesh import SurfacePoints, closest_points_on_triangles
from nirvis.reconstruct.photo_camera import FRONTAL, PhotoCamera, project

__all__ = ["LandmarkRegressor", "landmark_regressor", "render_frontal", "place_landmarks", "PlacementError",
           "NEIGHBOURS", "TRAIN_HEADS"]

#: MediaPipe points each landmark is regressed from.
NEIGHBOURS = 8
#: Prior heads the regressor is fitted on (and ``TEST_HEADS`` more it is checked on).
TRAIN_HEADS = 300
TEST_HEADS = 100
_SEED = 0x1A4D
#: Size of the frontal render (px) and the share of its height the mesh spans.
RENDER_PX = 512
FILL = 0.95


class PlacementError(NirvisError, ValueError):
    """The landmarks could not be placed (no face found in renders of the mesh)."""


@dataclass(frozen=True, eq=False)
class LandmarkRegressor:
    """Landmarks as affine combinations of MediaPipe points.

    Attributes:
        sets: landmark set name -> (neighbour indices int64 [K, NEIGHBOURS] into the 478 points,
            weights float64 [K, NEIGHBOURS], each row summing to 1).
        held_out_error_mm: set name -> median / p90 / max 3D error (mm) on ``TEST_HEADS`` prior heads.
    """

    sets: dict[str, tuple[np.ndarray, np.ndarray]]
    held_out_error_mm: dict[str, dict[str, float]] = field(default_factory=dict)

    def apply(self, name: str, points: np.ndarray) -> np.ndarray:
        """float64 [K, 3] landmarks of set ``name`` from MediaPipe points [478, 3] (NaN rows: missed;
        a landmark whose neighbours are partly missed uses the rest, re-normalised; all missed: NaN)."""
        idx, w = self.sets[name]
        p = np.asarray(points, np.float64)[idx]                        # [K, N, 3]
        ok = np.isfinite(p).all(axis=2)
        ww = np.where(ok, w, 0.0)
        s = ww.sum(axis=1, keepdims=True)
        ww = np.where(np.abs(s) > 0.5, ww / np.where(np.abs(s) > 0.5, s, 1.0), np.nan)
        return np.einsum("kn,knc->kc", ww, np.where(ok[..., None], p, 0.0))


def _prior_heads(count: int, seed: int) -> np.ndarray:
    from nirvis.reconstruct.shape_prior import shape_basis

    basis = shape_basis()
    z = np.random.default_rng(seed).standard_normal((count, basis.identity.shape[0]))
    return basis.mean[None] + np.tensordot(z, basis.identity, axes=1)  # [H, V, 3]


@functools.lru_cache(maxsize=1)
def landmark_regressor() -> LandmarkRegressor:
    """The cached regressor of the default head model (~5 s with the shape prior, once per process)."""
    from nirvis.faces.head_model import load_head_model
    from nirvis.reconstruct.correspondence import load_mediapipe_correspondence
    from nirvis.reconstruct.landmarks import LEFT_IRIS, RIGHT_IRIS

    model = load_head_model()
    corr = load_mediapipe_correspondence()
    faces = model.template.faces
    heads = _prior_heads(TRAIN_HEADS + TEST_HEADS, _SEED)
    mp = np.stack([corr.positions(h, faces) for h in heads])          # [H, 478, 3]
    usable = np.ones(mp.shape[1], bool)
    usable[list(RIGHT_IRIS) + list(LEFT_IRIS)] = False
    cand = np.where(usable)[0]
    mean_mp = mp[:TRAIN_HEADS].mean(0)
    sets, errors = {}, {}
    for name in ("68", "5"):
        pts = model.landmarks[name]
        lm = np.stack([pts.positions(h, faces) for h in heads]).astype(np.float64)   # [H, K, 3]
        mean_lm = lm[:TRAIN_HEADS].mean(0)
        idx = np.zeros((len(mean_lm), NEIGHBOURS), np.int64)
        wts = np.zeros((len(mean_lm), NEIGHBOURS))
        for k, target in enumerate(mean_lm):
            near = cand[np.argsort(np.linalg.norm(mean_mp[cand] - target, axis=1))[:NEIGHBOURS]]
            # sum-to-one weights: L - P_last = sum_{n<N} w_n (P_n - P_last), least squares over heads
            base = mp[:TRAIN_HEADS, near[-1]]                          # [H, 3]
            a = (mp[:TRAIN_HEADS, near[:-1]] - base[:, None]).transpose(0, 2, 1).reshape(-1, NEIGHBOURS - 1)
            b = (lm[:TRAIN_HEADS, k] - base).reshape(-1)
            ridge = 1e-3 * np.trace(a.T @ a) / (NEIGHBOURS - 1)
            w = np.linalg.solve(a.T @ a + ridge * np.eye(NEIGHBOURS - 1), a.T @ b)
            idx[k], wts[k] = near, np.r_[w, 1.0 - w.sum()]
        reg = LandmarkRegressor({name: (idx, wts)})
        test = np.stack([reg.apply(name, mp[h]) for h in range(TRAIN_HEADS, len(heads))])
        err = np.linalg.norm(test - lm[TRAIN_HEADS:], axis=2)
        sets[name] = (idx, wts)
        errors[name] = {"median": round(float(np.median(err)), 3), "p90": round(float(np.percentile(err, 90)), 3),
                        "max": round(float(err.max()), 3)}
    return LandmarkRegressor(sets, errors)


#: (yaw, pitch) degrees of the renders whose back-projected points are combined (median).
VIEWS = ((0.0, 0.0), (-15.0, 0.0), (15.0, 0.0), (0.0, -10.0), (0.0, 10.0))
#: A face counts as found when MediaPipe finds it in at least this many views and its points
#: agree between views within this median distance (mm). Measured: a procedural head 5 views,
#: 0.96 mm; the back of that head 3 views, 7.7 mm; a grey sphere 2 views, 7.6-8.4 mm.
MIN_VIEWS = 3
MAX_VIEW_SPREAD_MM = 3.0


def _frontal_pose(vertices: np.ndarray, flip: bool, camera: PhotoCamera, yaw: float = 0.0, pitch: float = 0.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = vertices.min(0), vertices.max(0)
    centre = (lo + hi) / 2.0
    turn = np.diag([-1.0, 1.0, -1.0]) if flip else np.eye(3)          # 180 deg about y
    cy, sy = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
    cp, sp = np.cos(np.radians(pitch)), np.sin(np.radians(pitch))
    r_yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    r_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rot = FRONTAL @ r_pitch @ r_yaw @ turn
    height = float(hi[1] - lo[1])
    distance = camera.focal_px * height / (FILL * camera.height) + float(hi[2] - lo[2]) / 2.0
    return rot, np.array([0.0, 0.0, distance]) - rot @ centre


def render_frontal(asset: FaceAsset, rotation: np.ndarray, translation: np.ndarray, camera: PhotoCamera,
                   backend: str = "auto") -> tuple[np.ndarray, torch.Tensor]:
    """The textured mesh seen by ``camera`` after the pose (head -> camera frame).

    Returns:
        (uint8 [H, W, 3] sRGB image, raster float32 [1, H, W, 4] = (u, v, z/w, triangle id + 1)
        as ``render.raster.rasterize``).
    """
    import cv2

    from nirvis.faces.uv import vertex_normals
    from nirvis.reconstruct.unwrap import photo_clip_positions
    from nirvis.render.raster import rasterize

    mesh = asset.mesh
    v_cam = mesh.vertices.astype(np.float64) @ np.asarray(rotation).T + np.asarray(translation)
    near, far = max(float(v_cam[:, 2].min()) * 0.5, 1.0), float(v_cam[:, 2].max()) * 2.0
    clip = photo_clip_positions(v_cam, camera, near, far)
    tri = torch.from_numpy(mesh.faces.astype(np.int64))
    rast = rasterize(clip, tri, (camera.height, camera.width), backend=backend)
    r = rast[0].numpy()
    ids = r[..., 3].astype(np.int64)
    cov = ids > 0
    f = np.maximum(ids - 1, 0)
    bary = np.stack([r[..., 0], r[..., 1], 1.0 - r[..., 0] - r[..., 1]], -1)
    uv = (mesh.uvs[mesh.uv_faces[f]] * bary[..., None]).sum(-2)        # [H, W, 2]
    tex = np.asarray(asset.maps.diffuse_vis, np.float32)
    th, tw = tex.shape[:2]
    mx = (uv[..., 0] * tw - 0.5).astype(np.float32)
    my = ((1.0 - uv[..., 1]) * th - 0.5).astype(np.float32)
    albedo = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    tv = v_cam[mesh.faces]                                             # [F, 3, 3]
    vn = vertex_normals(v_cam, mesh.faces)
    n = (vn[mesh.faces[f]] * bary[..., None]).sum(-2)                  # smooth (Phong-interpolated) normals
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    p = (tv[f] * bary[..., None]).sum(-2)
    view = -p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-12)
    lambert = np.abs((n * view).sum(-1))                               # light at the camera; either winding
    linear = albedo * (0.15 + 0.85 * lambert)[..., None]
    linear = np.where(cov[..., None], linear, 0.5)                     # mid-grey background
    img = np.clip(np.rint(encode_srgb(np.clip(linear, 0.0, 1.0)) * 255.0), 0, 255).astype(np.uint8)
    return img, rast


def _back_project(points_px: np.ndarray, rast: torch.Tensor, vertices: np.ndarray, faces: np.ndarray
                  ) -> np.ndarray:
    """float64 [N, 3] mesh points (head frame) under pixels [N, 2] (NaN: no triangle there)."""
    r = rast[0].numpy()
    h, w = r.shape[:2]
    col = np.clip(np.rint(points_px[:, 0]).astype(int), 0, w - 1)
    row = np.clip(np.rint(points_px[:, 1]).astype(int), 0, h - 1)
    s = r[row, col]
    ids = s[:, 3].astype(np.int64)
    bary = np.stack([s[:, 0], s[:, 1], 1.0 - s[:, 0] - s[:, 1]], -1).astype(np.float64)
    out = (vertices[faces[np.maximum(ids - 1, 0)]].astype(np.float64) * bary[..., None]).sum(1)
    out[ids <= 0] = np.nan
    return out


def _snap(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> tuple[SurfacePoints, np.ndarray]:
    """(closest surface points of the mesh to ``points`` [K, 3], their distances [K] mm)."""
    from scipy.spatial import cKDTree

    v = vertices.astype(np.float64)
    tree = cKDTree(v)
    by_vertex: dict[int, list[int]] = {}
    for fi, tri in enumerate(faces):
        for vi in tri:
            by_vertex.setdefault(int(vi), []).append(fi)
    fidx, bary, dist = [], [], []
    for p in points:
        _, near = tree.query(p, k=min(16, len(v)))
        cand = np.unique(np.concatenate([by_vertex.get(int(i), []) for i in np.atleast_1d(near)])).astype(np.int64)
        a, b, c = (v[faces[cand, j]] for j in range(3))
        bb, d2 = closest_points_on_triangles(p, a, b, c)
        k = int(np.argmin(d2))
        fidx.append(cand[k])
        bary.append(bb[k])
        dist.append(float(np.sqrt(d2[k])))
    return SurfacePoints(np.asarray(fidx), np.asarray(bary, np.float32)), np.asarray(dist)


def place_landmarks(asset: FaceAsset, backend: str = "auto") -> tuple[FaceAsset, dict[str, Any]]:
    """``asset`` with ``landmarks["68"]`` and ``["5"]`` placed automatically, and the report.

    Raises:
        PlacementError: MediaPipe finds no face in renders of the mesh (either orientation).
    """
    from nirvis.reconstruct.landmarks import FaceMeshDetector

    camera = PhotoCamera.default(RENDER_PX, RENDER_PX)
    detector = FaceMeshDetector()
    mesh = asset.mesh
    verts = mesh.vertices.astype(np.float64)
    best = None
    for flip in (False, True):
        views, pose = [], None
        for yaw, pitch in VIEWS:
            rot, trans = _frontal_pose(verts, flip, camera, yaw, pitch)
            img, rast = render_frontal(asset, rot, trans, camera, backend)
            lm = detector(img)
            if lm.status == "ok":
                views.append(_back_project(lm.points, rast, mesh.vertices, mesh.faces))
                if pose is None:
                    pose = (rot, trans)
        if not views:
            continue
        stack = np.stack(views)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centre = np.nanmedian(stack, axis=0)
            spread = float(np.nanmedian(np.linalg.norm(stack - centre, axis=2)))
        # a face seen in more of the views wins; the back of a head can pass for a face in a few
        # of them, with back-projected points that disagree between views (larger spread)
        score = (len(views), -spread)
        if best is None or score > best[0]:
            best = (score, flip, centre, spread, pose)
    if best is None or best[0][0] < MIN_VIEWS or best[3] > MAX_VIEW_SPREAD_MM:
        seen = "" if best is None else (f" (best: a face in {best[0][0]} of {len(VIEWS)} views, points "
                                        f"{best[3]:.1f} mm apart between views)")
        raise PlacementError("place_landmarks: MediaPipe finds no face consistently in renders of the mesh facing "
                             f"+z or -z{seen}; the mesh must be a face with +y up; or give the landmarks (--landmarks)")
    (n_views, _), flip, mp3d, spread, (rot, trans) = best
    reg = landmark_regressor()
    landmarks = dict(asset.landmarks)
    report: dict[str, Any] = {"orientation": "facing -z (turned 180 deg about y)" if flip else "facing +z",
                              "views_used": n_views, "view_spread_mm": round(spread, 3),
                              "mediapipe_points_on_mesh": int(np.isfinite(mp3d).all(1).sum()),
                              "regressor_held_out_error_mm": reg.held_out_error_mm}
    for name in ("68", "5"):
        raw = reg.apply(name, mp3d)
        if not np.isfinite(raw).all():
            raise PlacementError(f"place_landmarks: {int((~np.isfinite(raw).all(1)).sum())} of the {name}-point "
                                 "landmarks fall off the mesh in its frontal render; give the landmarks (--landmarks)")
        pts, dist = _snap(raw, mesh.vertices, mesh.faces)
        landmarks[name] = pts
        report[f"snap_distance_mm_{name}"] = {"median": round(float(np.median(dist)), 3),
                                              "max": round(float(dist.max()), 3)}
    reproj = project(landmarks["5"].positions(verts, mesh.faces), rot, trans, camera)
    report["render_px"] = RENDER_PX
    report["landmarks_5_px"] = np.round(reproj, 1).tolist()
    meta = dict(asset.metadata)
    meta["landmarks_placed"] = {k: v for k, v in report.items() if k != "landmarks_5_px"}
    return asset.replace(landmarks=landmarks, metadata=meta), report
