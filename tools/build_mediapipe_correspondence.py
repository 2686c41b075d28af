#!/usr/bin/env python3
"""Build src/nirvis/assets/head_model/mediapipe_478.npz: where MediaPipe's 478 face-mesh points lie on
the head model's template (triangle + barycentric of ``load_head_model().template``).

    PYTHONPATH=src python tools/build_mediapipe_correspondence.py [--identities 24] [--out FILE]

Method (deterministic; no real photos):
  1. Render procedural identities (``procedural_identity_asset(GLOBAL_SEED, k)``, head hair kept,
     facial hair removed) raw, with our own renderer (``render_batch(..., align=False)``), in the
     head poses ``POSES`` (yaw / pitch, degrees), neutral expression, no glasses or headwear;
     lighting, sensor, background and camera distance drawn per view from ``sample_params``.
  2. Run ``nirvis.reconstruct.landmarks.FaceMeshDetector`` on each VIS render.
  3. Back-project every detected point: rasterise triangle ids of the exact head mesh of that
     render (the subdivided, posed head; the hair shell left out, so points under the hair land
     on the scalp), take the triangle at the point (the nearest covered pixel within
     ``MAX_MISS_PX``), its perspective-correct barycentrics at the point's exact position, and map
     the child triangle back to the template triangle (``SubdivisionOperator.root_points``). The
     iris points (468..477) are cast onto the eyeballs only (lids ignored). Every observation
     becomes a template-space position: its (triangle, barycentric) on the neutral template.
  4. Per point: geometric median of the usable observations (hit, surface seen at most
     ``acos(MIN_COS)`` off its normal), observations farther than median + 3 x 1.4826 MAD
     dropped, geometric median again, snapped to the closest point of the template surface
     (triangles of the mesh parts that at least ``PART_SHARE`` of the observations hit). First
     from the frontal views only, then twice from all views, keeping only the observations where
     the previous estimate is visible (the first surface its pixel sees, within ``VISIBLE_MM``):
     the detector also places points hidden behind the nose or beyond the silhouette, and
     back-projecting those would land on the wrong surface. Face-oval points
     (``landmarks.FACE_OVAL``) slide over the head with the pose: they use the frontal views
     only and are flagged ``sliding``; the iris points skip the visibility and angle tests.
  5. ``mirror`` (MediaPipe's own left/right pairing, independent of the head model): for the
     frontal renders, the points found on the horizontally flipped image, flipped back, matched to
     the points of the image by a minimum-cost assignment summed over the renders.

Stored (compressed npz, fixed zip timestamps, so a rebuild gives the same bytes): ``face_index``
int32 [478], ``barycentric`` float32 [478, 3], ``spread_mm`` float32 [478] (median distance of the
kept observations to the chosen point), ``n_obs`` int32 [478] (kept observations), ``sliding``
bool [478], ``mirror`` int32 [478], ``provenance`` (JSON string). Runtime loader:
``nirvis.reconstruct.correspondence.load_mediapipe_correspondence``.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from nirvis.faces import PART_NAMES, SurfacePoints, load_head_model  # noqa: E402
from nirvis.faces.mesh import closest_points_on_triangles  # noqa: E402
from nirvis.faces.head_model import ASSET_DIR, HEAD_MODEL_FILE  # noqa: E402
from nirvis.reconstruct.landmarks import FACE_OVAL, N_POINTS, FaceMeshDetector  # noqa: E402

OUT = ROOT / "src" / "nirvis" / "assets" / "head_model" / "mediapipe_478.npz"
GLOBAL_SEED = 4781
N_IDENTITIES = 24
#: (yaw, pitch) degrees; the first is the frontal view.
POSES = ((0.0, 0.0), (-15.0, 0.0), (15.0, 0.0), (-30.0, 0.0), (30.0, 0.0),
         (-15.0, -15.0), (15.0, -15.0), (-15.0, 15.0), (15.0, 15.0))
RAW_RESOLUTION = 384
FACE_FILL = 0.8            # 200 mm span 80 % of the image height
DISTANCE_MM = (500.0, 1200.0)
MAP_RESOLUTION = 256       # reflectance maps of the identities
MAX_MISS_PX = 3            # a point off the head mask by more than this is not back-projected
PART_SHARE = 0.2
IRIS = tuple(range(468, 478))
MIN_COS = 0.3              # observations on surfaces seen more obliquely than ~73 degrees are dropped
VISIBLE_MM = 3.0           # a point is visible when its pixel's first surface is this close to it


# ----------------------------------------------------------------------------------- renders

def view_params(label: int):
    """The ``SampleParams`` of identity ``label``'s views, one per pose (neutral, no accessories)."""
    from nirvis.render.sampling import SampleSpace, pair_seed, sample_params

    space = SampleSpace(raw_resolution=RAW_RESOLUTION, face_fill=(FACE_FILL, FACE_FILL), distance_mm=DISTANCE_MM,
                        expression_probability=0.0, glasses_probability=0.0, headwear_probability=0.0)
    out = []
    for j, (yaw, pitch) in enumerate(POSES):
        p = sample_params(space, pair_seed(GLOBAL_SEED, label, j))
        v = dataclasses.replace(p.vis_view, yaw_deg=yaw, pitch_deg=pitch, roll_deg=0.0, expression={})
        out.append(dataclasses.replace(p, vis_view=v, nir_view=v))
    return out


def clean_shaven_face(label: int, backend: str):
    """The PreparedFace of procedural identity ``label`` (``GLOBAL_SEED``) without facial hair: a
    beard hides the lips and jaw line, and the detector then places those points off the skin."""
    from nirvis.render.facial_hair import FacialHairParams
    from nirvis.render.prepared_face import prepare_face, procedural_identity_asset

    asset = procedural_identity_asset(GLOBAL_SEED, label, resolution=MAP_RESOLUTION)
    meta = dict(asset.metadata)
    meta["appearance"] = {**meta["appearance"], "facial_hair": FacialHairParams().to_dict()}
    return prepare_face(asset.replace(metadata=meta), backend=backend)


def head_ids(face, view, res: int, backend: str, tri: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(clip positions float32 [1, V', 4] of the posed subdivided head, triangle ids + 1 int32
    [1, res, res] of the triangles ``tri`` [F, 3]) for one render."""
    from nirvis.render.geometry import project_views, views_geometry
    from nirvis.render.raster import rasterize_ids

    world = views_geometry([face], [view])[:, : face.vertices.shape[0]]
    clip, _ = project_views(world, [view], res)
    return clip, rasterize_ids(clip, tri, (res, res), backend=backend)


def back_project(points_px: np.ndarray, clip: torch.Tensor, tri: torch.Tensor, ids: torch.Tensor
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surface points under photo-convention pixels ``points_px`` float [K, 2] (centres at
    integers): (triangle of ``tri`` int64 [K] (-1: missed), barycentric float64 [K, 3], hit bool [K])."""
    from nirvis.render.raster.common import barycentrics_from_ids

    res = ids.shape[-1]
    q = points_px + 0.5                                             # renderer convention
    ids_np = ids[0].numpy()
    col, row = np.floor(q[:, 0]).astype(int), np.floor(q[:, 1]).astype(int)
    best_id = np.zeros(len(q), np.int64)
    best_d = np.full(len(q), np.inf)
    for dy in range(-MAX_MISS_PX, MAX_MISS_PX + 1):                 # nearest covered pixel centre
        for dx in range(-MAX_MISS_PX, MAX_MISS_PX + 1):
            r, c = row + dy, col + dx
            inside = (r >= 0) & (r < res) & (c >= 0) & (c < res)
            got = np.where(inside, ids_np[np.clip(r, 0, res - 1), np.clip(c, 0, res - 1)], 0)
            d = np.hypot(c + 0.5 - q[:, 0], r + 0.5 - q[:, 1])
            better = (got > 0) & (d < best_d) & (d <= MAX_MISS_PX)
            best_id, best_d = np.where(better, got, best_id), np.where(better, d, best_d)
    hit = best_id > 0
    ndc_x = torch.from_numpy(q[:, 0] / res * 2.0 - 1.0).float().view(1, 1, -1)
    ndc_y = torch.from_numpy(1.0 - q[:, 1] / res * 2.0).float().view(1, 1, -1)
    rast = barycentrics_from_ids(clip, tri, torch.from_numpy(best_id).int().view(1, 1, -1), (ndc_x, ndc_y))[0, 0]
    w = rast[:, :2].double().numpy()
    bary = np.clip(np.concatenate([w, 1.0 - w.sum(1, keepdims=True)], 1), 0.0, None)   # onto the triangle
    bary /= np.maximum(bary.sum(1, keepdims=True), 1e-12)
    return np.where(hit, best_id - 1, -1), bary, hit


# ----------------------------------------------------------------------------------- geometry

def geometric_median(p: np.ndarray, iterations: int = 64) -> np.ndarray:
    """float64 [3] point minimising the summed distance to ``p`` [n, 3] (Weiszfeld, started at
    the coordinate-wise median)."""
    m = np.median(p, axis=0)
    for _ in range(iterations):
        d = np.maximum(np.linalg.norm(p - m, axis=1), 1e-9)
        m_new = (p / d[:, None]).sum(0) / (1.0 / d).sum()
        if np.linalg.norm(m_new - m) < 1e-7:
            return m_new
        m = m_new
    return m


def robust_centre(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre float64 [3], kept bool [n]) of observations ``p`` [n, 3]: geometric median,
    observations beyond median + 3 x 1.4826 MAD of the distances dropped, median again."""
    m = geometric_median(p)
    d = np.linalg.norm(p - m, axis=1)
    med = np.median(d)
    keep = d <= med + 3.0 * 1.4826 * np.median(np.abs(d - med)) + 1e-9
    return geometric_median(p[keep]), keep


def snap(x: np.ndarray, vertices: np.ndarray, faces: np.ndarray, candidates: np.ndarray) -> tuple[int, np.ndarray]:
    """(triangle, barycentric float64 [3]) of the closest point to ``x`` [3] on the triangles
    ``candidates`` (int [C]) of the mesh (vertices [V, 3], faces [F, 3])."""
    tri = vertices[faces[candidates]].astype(np.float64)
    bary, d2 = closest_points_on_triangles(np.asarray(x, np.float64), tri[:, 0], tri[:, 1], tri[:, 2])
    k = int(np.argmin(d2))
    return int(candidates[k]), bary[k]


# ----------------------------------------------------------------------------------- the build

def mirror_pairs(flipped_pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """int32 [478]: ``mirror[i]`` is the point on the other side of the face from point i (itself
    on the midline), from (points of an image [478, 2], points of its flip mapped back [478, 2])
    pairs: point i of the flipped image lands where point ``mirror[i]`` of the image is."""
    from scipy.optimize import linear_sum_assignment

    cost = np.zeros((N_POINTS, N_POINTS))
    for pts, flipped in flipped_pairs:
        scale = np.linalg.norm(pts[468] - pts[473])
        cost += ((flipped[:, None] - pts[None]) ** 2).sum(-1) / scale ** 2
    rows, cols = linear_sum_assignment(cost)
    mirror = np.empty(N_POINTS, np.int32)
    mirror[rows] = cols
    return mirror


class Observed(NamedTuple):
    """One render's detections back-projected: template-space positions float64 [478, 3], their
    mesh part uint8 [478], hit bool [478] (back-projected at all), cos float64 [478] (surface
    normal . direction to the camera at the hit); plus what the visibility test needs: the posed
    subdivided head float32 [V', 3], its triangle ids int32 [H, W] (+1) and the view."""

    label: int
    pose: int
    pos: np.ndarray
    part: np.ndarray
    hit: np.ndarray
    cos: np.ndarray
    world: np.ndarray
    ids: np.ndarray
    view: object


def hit_cosines(world: torch.Tensor, tri: torch.Tensor, fi: np.ndarray, bary: np.ndarray, view) -> np.ndarray:
    """float64 [K]: cosine between the outward normal of triangles ``fi`` [K] of the posed head
    ``world`` [1, V', 3] and the direction from their points (``bary`` [K, 3]) to the camera."""
    w = world[0].double().numpy()
    corners = w[tri.numpy()[np.maximum(fi, 0)]]                         # [K, 3, 3]
    n = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    x = (corners * bary[:, :, None]).sum(1)
    to_cam = np.array([0.0, 0.0, view.distance_mm]) - x
    return (n * to_cam).sum(1) / np.maximum(np.linalg.norm(n, axis=1) * np.linalg.norm(to_cam, axis=1), 1e-12)


def observe(n_identities: int, backend: str, log) -> tuple[list[Observed], list, dict]:
    """Render, detect and back-project (steps 1-3): (one ``Observed`` per detected render, the
    (points, flipped points) pairs of the frontal renders for ``mirror_pairs``, counts)."""
    from nirvis.render.geometry import views_geometry
    from nirvis.render.pair import render_batch

    template = load_head_model().template
    parts = np.asarray(template.face_parts)
    iris = np.zeros(N_POINTS, bool)
    iris[list(IRIS)] = True
    out, flips, stats = [], [], {"renders": 0, "detected": 0}
    detector = FaceMeshDetector()
    for label in range(n_identities):
        t0 = time.time()
        face = clean_shaven_face(label, backend)
        op = face.subdivision
        eye_kids = torch.from_numpy(np.flatnonzero(parts[op.root_face] == PART_NAMES.index("eyeball")))
        params = view_params(label)
        images = render_batch([face] * len(params), params, backend=backend, align=False).vis.numpy()
        for j, (p, img) in enumerate(zip(params, images)):
            stats["renders"] += 1
            r = detector(img)
            if not r.ok:
                log(f"  identity {label} pose {POSES[j]}: {r.status} ({r.reason})")
                continue
            stats["detected"] += 1
            clip, ids = head_ids(face, p.vis_view, RAW_RESOLUTION, backend, face.faces)
            fi, bary, hit = back_project(r.points, clip, face.faces, ids)
            _, eye_ids = head_ids(face, p.vis_view, RAW_RESOLUTION, backend, face.faces[eye_kids])
            efi, ebary, ehit = back_project(r.points, clip, face.faces[eye_kids], eye_ids)
            fi = np.where(iris, np.where(ehit, eye_kids.numpy()[np.maximum(efi, 0)], -1), fi)
            bary = np.where(iris[:, None], ebary, bary)
            hit = np.where(iris, ehit, hit)
            world = views_geometry([face], [p.vis_view])[:, : face.vertices.shape[0]]
            roots = op.root_points(SurfacePoints(np.maximum(fi, 0), bary))
            out.append(Observed(label, j, roots.positions(template.vertices, template.faces).astype(np.float64),
                                parts[roots.face_index], hit, hit_cosines(world, face.faces, fi, bary, p.vis_view),
                                world[0].numpy(), ids[0].numpy(), p.vis_view))
            if j == 0:
                f = detector(np.ascontiguousarray(img[:, ::-1]))
                if f.ok:
                    flips.append((r.points, np.stack([img.shape[1] - 1 - f.points[:, 0], f.points[:, 1]], 1)))
        log(f"identity {label + 1}/{n_identities}: {time.time() - t0:.1f} s")
    detector.close()
    return out, flips, stats


def visible(o: Observed, points: SurfacePoints, op) -> np.ndarray:
    """bool [478]: the template points ``points`` (on identity ``o.label``'s subdivided head,
    posed as in ``o``) are the first surface their pixel sees (within ``VISIBLE_MM``)."""
    from nirvis.render.geometry import project_views
    from nirvis.render.raster.common import barycentrics_from_ids

    kids = op.map_points(points)
    tri = op.faces.astype(np.int64)
    x = (o.world[tri[kids.face_index]] * kids.barycentric[:, :, None]).sum(1)        # [478, 3]
    res = o.ids.shape[-1]
    clip, _ = project_views(torch.from_numpy(x).float()[None], [o.view], res)
    ndc = (clip[0, :, :2] / clip[0, :, 3:]).double().numpy()
    col = np.clip(np.floor((ndc[:, 0] * 0.5 + 0.5) * res), 0, res - 1).astype(int)
    row = np.clip(np.floor((0.5 - ndc[:, 1] * 0.5) * res), 0, res - 1).astype(int)
    ids = o.ids[row, col]
    head_clip, _ = project_views(torch.from_numpy(o.world)[None], [o.view], res)
    rast = barycentrics_from_ids(head_clip, torch.from_numpy(tri), torch.from_numpy(ids).view(1, 1, -1),
                                 (torch.from_numpy(ndc[:, 0]).float().view(1, 1, -1),
                                  torch.from_numpy(ndc[:, 1]).float().view(1, 1, -1)))[0, 0].double().numpy()
    w = np.concatenate([rast[:, :2], 1.0 - rast[:, :2].sum(1, keepdims=True)], 1)
    seen = (o.world[tri[np.maximum(ids - 1, 0)]] * w[:, :, None]).sum(1)
    return (ids > 0) & (np.linalg.norm(seen - x, axis=1) < VISIBLE_MM)


def aggregate(observed: list[Observed], flips: list, estimate: SurfacePoints | None = None,
              frontal_only: bool = False) -> dict:
    """The correspondence arrays (step 4) from the observations that pass the filters: hit,
    not grazing (``cos >= MIN_COS``), visible at the current ``estimate`` (all when None), frontal
    only for sliding points (for all with ``frontal_only``); iris points skip the visibility and
    grazing tests (cast onto the eyeballs through the lids)."""
    template = load_head_model().template
    verts, faces, parts = template.vertices, template.faces, np.asarray(template.face_parts)
    op = None
    if estimate is not None:
        from nirvis.faces.subdivision import subdivision_operator

        op = subdivision_operator(template, 1)
    sliding = np.zeros(N_POINTS, bool)
    sliding[list(FACE_OVAL)] = True
    iris = np.zeros(N_POINTS, bool)
    iris[list(IRIS)] = True
    use = []
    for o in observed:
        ok = o.hit & ((o.cos >= MIN_COS) | iris | sliding) & ((o.pose == 0) | ~(sliding | frontal_only))
        if op is not None:
            ok &= visible(o, estimate, op) | iris | sliding
        use.append(ok)
    use = np.stack(use)                                                  # [R, 478]
    pos = np.stack([o.pos for o in observed])
    part = np.stack([o.part for o in observed])
    face_index = np.zeros(N_POINTS, np.int32)
    bary = np.zeros((N_POINTS, 3), np.float32)
    spread = np.zeros(N_POINTS, np.float32)
    n_obs = np.zeros(N_POINTS, np.int32)
    for i in range(N_POINTS):
        p, pt = pos[use[:, i], i], part[use[:, i], i]
        if len(p) < 3:
            raise SystemExit(f"point {i}: only {len(p)} usable observations")
        centre, keep = robust_centre(p)
        counts = np.bincount(pt[keep], minlength=len(PART_NAMES))
        candidates = np.flatnonzero(np.isin(parts, np.flatnonzero(counts >= PART_SHARE * keep.sum())))
        f, w = snap(centre, verts, faces, candidates)
        q = (verts[faces[f]].astype(np.float64) * w[:, None]).sum(0)
        face_index[i], bary[i] = f, w
        spread[i] = np.median(np.linalg.norm(p[keep] - q, axis=1))
        n_obs[i] = keep.sum()
    return {"face_index": face_index, "barycentric": bary, "spread_mm": spread, "n_obs": n_obs, "sliding": sliding,
            "mirror": mirror_pairs(flips)}


def build(observed: list[Observed], flips: list, rounds: int = 2) -> dict:
    """Step 4 with visibility: a first estimate from the frontal views (where every point but
    the contour is in sight), then ``rounds`` estimates from all views, keeping only the
    observations where the previous estimate is visible."""
    result = aggregate(observed, flips, frontal_only=True)
    for _ in range(rounds):
        result = aggregate(observed, flips, SurfacePoints(result["face_index"], result["barycentric"]))
    return result


def write_npz(path: Path, arrays: dict) -> None:
    """A compressed npz with fixed member timestamps (same arrays -> same bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, member.getvalue(), compresslevel=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def summary(result: dict) -> dict:
    s = result["spread_mm"]
    sl = result["sliding"]
    pct = {k: [round(float(np.median(x)), 2), round(float(np.percentile(x, 90)), 2)]
           for k, x in (("all", s), ("fixed", s[~sl]), ("sliding", s[sl]), ("iris", s[list(IRIS)]))}
    return {"spread_mm_median_p90": pct, "n_obs_min": int(result["n_obs"].min()),
            "mirror_self": int((result["mirror"] == np.arange(N_POINTS)).sum()),
            "mirror_involution": bool((result["mirror"][result["mirror"]] == np.arange(N_POINTS)).all())}


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=N_IDENTITIES)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    import mediapipe

    from nirvis.render.pair import RENDERER_VERSION
    from nirvis.render.raster import resolve_backend

    t0 = time.time()
    backend = resolve_backend(args.backend)
    observed, flips, counts = observe(args.identities, backend, lambda m: print(m, flush=True))
    result = build(observed, flips)
    stats = {**counts, **summary(result)}
    provenance = {
        "asset": "mediapipe_478", "format": 1, "tool": "tools/build_mediapipe_correspondence.py",
        "mediapipe": mediapipe.__version__, "renderer_version": RENDERER_VERSION,
        "head_model": {"file": HEAD_MODEL_FILE, "sha256": _sha256(ASSET_DIR / HEAD_MODEL_FILE),
                       "vertices": len(load_head_model().template.vertices),
                       "triangles": len(load_head_model().template.faces)},
        "identities": {"global_seed": GLOBAL_SEED, "labels": [0, args.identities - 1], "facial_hair": "none",
                       "map_resolution": MAP_RESOLUTION},
        "poses_yaw_pitch_deg": [list(p) for p in POSES], "raw_resolution": RAW_RESOLUTION, "face_fill": FACE_FILL,
        "distance_mm": list(DISTANCE_MM), "view_seeds": "pair_seed(global_seed, label, pose index)",
        "backend": backend, "sliding": "face-oval points: frontal views only", "stats": stats,
        "licence": "derived from the CC0 head model and MediaPipe (Apache-2.0) model outputs; see LICENSES.md",
    }
    result["provenance"] = np.array(json.dumps(provenance, sort_keys=True))
    write_npz(args.out, result)
    print(json.dumps(stats, indent=1))
    print(f"wrote {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
