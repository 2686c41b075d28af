"""``nirvis bench reconstruct``: reconstruction accuracy against our own renderer's ground truth.

Procedural identities are rendered as photo-like raw VIS frames (``render_batch(align=False)``:
pose up to +-45 deg yaw, HDR-environment or directional lighting, white balance, sensor noise,
expressions; no glasses or headwear), written as PNG files and reconstructed by the same code
path as ``nirvis reconstruct`` (the known camera intrinsics are passed, as EXIF would give them).
Each identity is rendered under ``lightings`` lightings with the same pose, so the spread of
its recovered albedos measures lighting invariance.

Figures:
    shape error: per-vertex distance (mm) between the fitted and the true neutral face region
        after the best similarity transform (scale included, as NoW aligns), median and mean
        (stricter than NoW's scan-to-surface distance: sliding along the surface counts too);
        the same for the prior's mean head, the baseline a fit must beat; and NoW's own measure
        (``scan_to_mesh_error``: true face-region points to the fitted surface after similarity
        alignment refined by ICP), with the mean head under it too;
    albedo error: mean |recovered - true| linear RGB over skin texels of the face the photo
        itself sees (``skin_comparison_mask``: brows, lips, eyes, nostrils, beard area excluded),
        as recovered (the gauge of ``delight``) and after one brightness scale per photo (median
        luminance matched to the truth: the part one photo cannot identify), after one scale per
        channel (the whole gauge: what de-lighting leaves spatially), and the floors an exact
        de-lighting would still have with the light colour known (``brightness_floor_error``) and
        with it drawn from the light prior, as in one photo (``single_photo_gauge_floor``);
    albedo spread: mean over those texels of the recovered albedos' mean absolute deviation
        across the lightings; also with each photo's per-channel gauge (median) divided out, which
        separates the skin-tone / light-colour ambiguity from spatial de-lighting errors, and the
        single-photo floor of the spread (``single_photo_gauge_floor``);
    landmark error: mean reprojection error of the fit (fraction of the inter-ocular distance);
    seconds per photo with the stage breakdown.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from nirvis.colour import luminance_rec709


def similarity_aligned_error(fitted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """float64 [N] distances (mm) of ``fitted`` [N, 3] to ``truth`` [N, 3] after the best similarity
    transform (Umeyama 1991: rotation, translation, uniform scale) of ``fitted`` onto ``truth``."""
    a = np.asarray(fitted, np.float64)
    b = np.asarray(truth, np.float64)
    a0, b0 = a - a.mean(0), b - b.mean(0)
    u, s, vt = np.linalg.svd(b0.T @ a0)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    scale = float((s * np.diag(d)).sum() / max((a0 ** 2).sum(), 1e-12))
    return np.linalg.norm(scale * a0 @ rot.T - b0, axis=1)


def _rigid(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation [3, 3] and translation [3] minimising |R src + t - dst| (Kabsch, no scale)."""
    s0, d0 = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((dst - d0).T @ (src - s0))
    rot = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    return rot, d0 - rot @ s0


def scan_to_mesh_error(fitted: np.ndarray, triangles: np.ndarray, truth: np.ndarray, correspond: np.ndarray,
                       icp_iterations: int = 10, neighbours: int = 8) -> np.ndarray:
    """float64 [P] NoW-style distances (mm): each ``truth`` point [P, 3] (the "scan": the true
    face region) to the closest point of the fitted surface (``fitted`` [V, 3] vertices,
    ``triangles`` int [F, 3]), after the fit is similarity-aligned to the truth on corresponding
    points (``correspond`` int [P]: the fitted vertex of each truth point; NoW uses 7 landmarks,
    we have the whole correspondence) and the alignment is refined rigidly by minimising these
    same distances (ICP), as NoW (Sanyal et al. 2019) does. Sliding along the surface is free here,
    unlike ``similarity_aligned_error``."""
    from scipy.spatial import cKDTree

    from nirvis.faces.mesh import closest_points_on_triangles

    a = np.asarray(fitted, np.float64)
    p = np.asarray(truth, np.float64)
    tri = np.asarray(triangles, np.int64)
    src = a[correspond]
    a0, b0 = src - src.mean(0), p - p.mean(0)
    u, s, vt = np.linalg.svd(b0.T @ a0)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    scale = float((s * np.diag(d)).sum() / max((a0 ** 2).sum(), 1e-12))
    a = scale * (a - src.mean(0)) @ rot.T + p.mean(0)
    # triangles incident to each vertex, padded with -1
    order = np.argsort(tri.ravel(), kind="stable")
    owner = tri.ravel()[order]
    counts = np.bincount(owner, minlength=len(a))
    width = int(counts.max())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    incident = -np.ones((len(a), width), np.int64)
    slot = np.arange(len(owner)) - starts[owner]
    incident[owner, slot] = order // 3
    used = np.unique(tri)

    def closest(verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tree = cKDTree(verts[used])
        _, near = tree.query(p, k=neighbours)
        cand = incident[used[near]].reshape(len(p), -1)            # [P, K * width]
        pi = np.repeat(np.arange(len(p)), cand.shape[1])
        ti = cand.ravel()
        ok = ti >= 0
        pi, ti = pi[ok], ti[ok]
        va, vb, vc = verts[tri[ti, 0]], verts[tri[ti, 1]], verts[tri[ti, 2]]
        bary, dist2 = closest_points_on_triangles(p[pi], va, vb, vc)
        best = np.full(len(p), np.inf)
        np.minimum.at(best, pi, dist2)
        pick = np.flatnonzero(dist2 <= best[pi])
        pick = pick[np.unique(pi[pick], return_index=True)[1]]
        q = (bary[pick, :, None] * np.stack([va[pick], vb[pick], vc[pick]], 1)).sum(1)
        return q, np.sqrt(best)

    for _ in range(icp_iterations):
        q, _ = closest(a)
        r, t = _rigid(q, p)
        a = a @ r.T + t
    return closest(a)[1]


def brightness_floor_error(truth: np.ndarray) -> float:
    """Mean |a - t| of an albedo that is exact but for its brightness, which is inferred from the
    exact chromaticity of the mean skin albedo through the skin prior (``delight.SKIN_LOG_MEAN`` /
    ``SKIN_LOG_COV``: the conditional mean of log brightness given log chromaticity, the best any
    estimator can do without an absolute brightness reference): the error left if de-lighting and
    the light colour were perfect.

    Args:
        truth: float [M, 3] true linear-RGB albedo of the compared skin texels, > 0.
    """
    from nirvis.reconstruct.delight import SKIN_LOG_COV, SKIN_LOG_MEAN

    t = np.asarray(truth, np.float64)
    u = np.ones(3) / np.sqrt(3.0)
    basis = np.stack([u, np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0), np.array([1.0, 1.0, -2.0]) / np.sqrt(6.0)])
    cov = basis @ SKIN_LOG_COV @ basis.T
    mean = basis @ SKIN_LOG_MEAN
    x = basis @ np.log(np.maximum(t.mean(0), 1e-6))
    predicted = mean[0] + cov[0, 1:] @ np.linalg.solve(cov[1:, 1:], x[1:] - mean[1:])
    return float(np.abs(t * np.exp((predicted - x[0]) * u) - t).mean())


def single_photo_gauge_floor(truth: np.ndarray, lightings: int = 3, draws: int = 30,
                             seed: int = 0) -> tuple[float, float]:
    """(albedo error, spread over ``lightings``) that a perfect de-lighting would still have from one
    photo: the mean skin colour ``abar * l`` is exact, the light ``l`` is drawn from the de-lighting's
    light prior (``delight.light_chroma_cov``, any brightness), and the gauge is ``skin_gauge``'s
    MAP estimate, the per-channel posterior median in log RGB (the L1-optimal estimate under the
    priors). What no single-photo estimator can beat without a colour or brightness reference.

    Args:
        truth: float [M, 3] true linear-RGB albedo of the compared skin texels, > 0.
        lightings: photos per identity for the spread (as the bench's).
        draws: lights drawn (a multiple of ``lightings`` is used).
        seed: the draws' seed.
    """
    from nirvis.reconstruct.delight import light_chroma_cov, skin_gauge

    t = np.asarray(truth, np.float64)
    abar = t.mean(0)
    w, vec = np.linalg.eigh(light_chroma_cov())
    rng = np.random.default_rng(seed)
    groups = max(1, draws // lightings)
    err, spread = [], []
    for _ in range(groups):
        est = []
        for _ in range(lightings):
            log_light = vec @ (np.sqrt(np.clip(w, 0.0, None)) * rng.standard_normal(3)) + rng.normal(0.0, 3.0)
            est.append(t * skin_gauge(abar * np.exp(log_light)) / abar)
            err.append(float(np.abs(est[-1] - t).mean()))
        e = np.stack(est)
        spread.append(float(np.abs(e - e.mean(0)).mean()))
    return float(np.mean(err)), float(np.mean(spread))


def _render_frames(count: int, lightings: int, resolution: int, seed: int, out: Path, map_resolution: int = 256):
    """Raw VIS frames: [(label, [paths], truth asset, views, cameras)]."""
    from PIL import Image

    from nirvis.reconstruct.photo_camera import PhotoCamera
    from nirvis.render.camera import PerspectiveCamera, focal_length_px
    from nirvis.render.pair import render_batch
    from nirvis.render.prepared_face import prepare_face, procedural_identity_asset
    from nirvis.render.sampling import SampleSpace, pair_seed, sample_params

    space = SampleSpace(yaw_deg=(-45.0, 45.0), glasses_probability=0.0, headwear_probability=0.0,
                        raw_resolution=resolution, expression_probability=0.5)
    frames = []
    for label in range(count):
        asset = procedural_identity_asset(seed, label, resolution=map_resolution)
        face = prepare_face(asset)
        first = sample_params(space, pair_seed(seed, label, 0))
        params = [first] + [dataclasses.replace(sample_params(space, pair_seed(seed, label, k)),
                                                vis_view=first.vis_view, nir_view=first.nir_view)
                            for k in range(1, lightings)]
        raw = render_batch([face] * len(params), params, align=False)
        paths = []
        for k in range(len(params)):
            p = out / f"id{label:03d}_light{k}.png"
            Image.fromarray(raw.vis[k].numpy()).save(p)
            paths.append(str(p))
        v = first.vis_view
        f = focal_length_px(PerspectiveCamera(focal_mm=v.focal_mm, resolution=(resolution, resolution)))
        cam = PhotoCamera(resolution, resolution, f, (resolution - 1) / 2.0, (resolution - 1) / 2.0)
        frames.append((label, paths, asset, v, cam))
    return frames


def skin_comparison_mask(resolution: int, confidence: np.ndarray, min_confidence: float = 0.5) -> np.ndarray:
    """bool [R, R]: texels where a recovered albedo is compared with the truth: the skin the
    lighting is fitted on (``texture.texture_masks`` ``fit``: no lips, brows, eyes, nostrils,
    beard area, scalp), on the front of the face (``face``), seen by the photo itself with
    ``confidence >= min_confidence`` (not mirrored or filled in from the prior)."""
    from nirvis.reconstruct.texture import texture_masks

    m = texture_masks(int(resolution))
    return m["fit"] & m["face"] & (np.asarray(confidence) >= min_confidence)


def bench_reconstruct(count: int = 20, lightings: int = 3, resolution: int = 512, seed: int = 2024,
                      texture_resolution: int = 512, progress: bool = True,
                      config: Any = None) -> dict[str, Any]:
    """Reconstruct ``count`` rendered identities x ``lightings`` lightings; return the figures.

    Timings are per photo, by stage, for every photo but the first (which also builds the shape
    prior and loads the landmark model once per process: ``first_photo_seconds``)."""
    from tqdm import tqdm

    from nirvis.faces.head_model import IdentityParams, build_heads, load_head_model
    from nirvis.reconstruct.batch import ReconstructConfig
    from nirvis.reconstruct.identity import reconstruct_person
    from nirvis.reconstruct.shape_prior import shape_basis

    model = load_head_model()
    cfg = config or ReconstructConfig(texture_resolution=texture_resolution)
    cache: dict[str, Any] = {}
    mean_head = shape_basis().mean
    baseline: list[float] = []
    skin_triangles = model.template.faces[model.template.part_mask("skin")]
    region_ids = np.flatnonzero(model.face_region)
    now_med, now_mean, now_baseline = [], [], []
    shape_med, shape_mean, albedo_err, albedo_scaled, spread, lm_err = [], [], [], [], [], []
    spread_gauge: list[float] = []
    albedo_gauge: list[float] = []
    albedo_floor: list[float] = []
    photo_floor: list[float] = []
    spread_floor: list[float] = []
    stage: dict[str, list[float]] = {}
    first: dict[str, float] = {}
    per_identity = []
    region = model.face_region
    with tempfile.TemporaryDirectory(prefix="nirvis-bench-reconstruct-") as tmp:
        t0 = time.perf_counter()
        frames = _render_frames(count, lightings, resolution, seed, Path(tmp), texture_resolution)
        render_s = time.perf_counter() - t0
        n_photo = 0
        bar = tqdm(total=count * lightings, desc="bench reconstruct", unit="photo", disable=not progress)
        for label, paths, truth, view, cam in frames:
            identity = IdentityParams.from_dict(truth.metadata["identity"])
            true_neutral = build_heads([identity], None, model)[0]
            truth_albedo = _resize(truth.maps.diffuse_vis, texture_resolution)
            baseline.append(float(np.median(similarity_aligned_error(mean_head[region], true_neutral[region]))))
            now_baseline.append(float(np.median(scan_to_mesh_error(mean_head, skin_triangles, true_neutral[region],
                                                                   region_ids))))
            albedos, masks = [], []
            row: dict[str, Any] = {"label": label, "yaw_deg": round(view.yaw_deg, 1),
                                   "pitch_deg": round(view.pitch_deg, 1)}
            for path in paths:
                rec = reconstruct_person([path], cfg, cache, known_camera=cam)
                photo = rec.report["photos"][0]
                secs = dict(photo.get("seconds", {}))
                if n_photo == 0:
                    first = secs
                else:
                    for k, v in secs.items():
                        stage.setdefault(k, []).append(v)
                n_photo += 1
                bar.update(1)
                if rec.asset is None:
                    row.setdefault("failed", []).append(photo["status"])
                    continue
                err = similarity_aligned_error(rec.asset.mesh.vertices[region], true_neutral[region])
                shape_med.append(float(np.median(err)))
                shape_mean.append(float(err.mean()))
                now = scan_to_mesh_error(rec.asset.mesh.vertices, skin_triangles, true_neutral[region], region_ids)
                now_med.append(float(np.median(now)))
                now_mean.append(float(now.mean()))
                lm_err.append(photo["error_iod"])
                albedo = rec.asset.maps.diffuse_vis
                mask = skin_comparison_mask(texture_resolution, rec.textures[0].confidence)
                if mask.sum() < 50:
                    row.setdefault("failed", []).append("too_little_skin_seen")
                    continue
                a, t = albedo[mask].astype(np.float64), truth_albedo[mask].astype(np.float64)
                albedo_err.append(float(np.abs(a - t).mean()))
                # the unidentifiable brightness gauge (delight's docstring) taken out: one scale
                scale = float(np.median(luminance_rec709(t)) / max(np.median(luminance_rec709(a)), 1e-6))
                albedo_scaled.append(float(np.abs(scale * a - t).mean()))
                # one scale per channel (the whole gauge: brightness and light colour) taken out
                per_channel = np.median(t, 0) / np.maximum(np.median(a, 0), 1e-6)
                albedo_gauge.append(float(np.abs(per_channel * a - t).mean()))
                albedo_floor.append(brightness_floor_error(t))
                if len(albedos) == 0:     # once per identity (it depends on the truth only)
                    floor = single_photo_gauge_floor(t, lightings, seed=label)
                    photo_floor.append(floor[0])
                    spread_floor.append(floor[1])
                albedos.append(albedo)
                masks.append(mask)
            if albedos:
                row.update(shape_median_mm=round(shape_med[-1], 3), albedo_error=round(albedo_err[-1], 4))
            both = np.logical_and.reduce(masks) if masks else None
            if len(albedos) > 1 and both is not None and both.sum() >= 50:
                stack = np.stack(albedos)[:, both].astype(np.float64)          # [L, M, 3]
                spread.append(float(np.abs(stack - stack.mean(0)).mean()))
                row["albedo_spread"] = round(spread[-1], 4)
                # the same with each photo's per-channel gauge divided out (median over the texels):
                # what is left is the de-lighting's spatial inconsistency (shadows, shading residue)
                med = np.median(stack, axis=1, keepdims=True)
                flat = stack / np.maximum(med, 1e-6) * med.mean(0, keepdims=True)
                spread_gauge.append(float(np.abs(flat - flat.mean(0)).mean()))
            per_identity.append(row)
        bar.close()

    def stats(x: list[float]) -> dict[str, Any]:
        return {"median": round(float(np.median(x)), 4), "mean": round(float(np.mean(x)), 4),
                "p90": round(float(np.percentile(x, 90)), 4), "n": len(x)} if x else {"n": 0}

    per_photo = {k: round(float(np.mean(v)), 4) for k, v in sorted(stage.items())}
    failed = sum(len(r.get("failed", [])) for r in per_identity)
    return {
        "benchmark": "reconstruct", "identities": count, "lightings": lightings, "photos": count * lightings,
        "failed_photos": failed, "resolution": resolution, "texture_resolution": texture_resolution, "seed": seed,
        "shape_error_median_mm": stats(shape_med), "shape_error_mean_mm": stats(shape_mean),
        "shape_error_median_mm_of_the_mean_head": stats(baseline),
        "scan_to_mesh_error_median_mm": stats(now_med), "scan_to_mesh_error_mean_mm": stats(now_mean),
        "scan_to_mesh_error_median_mm_of_the_mean_head": stats(now_baseline),
        "albedo_error_linear_rgb": stats(albedo_err), "albedo_error_scale_aligned": stats(albedo_scaled),
        "albedo_error_per_channel_gauge_removed": stats(albedo_gauge),
        "albedo_error_floor_light_colour_known": stats(albedo_floor),
        "albedo_error_floor_single_photo": stats(photo_floor),
        "albedo_spread_floor_single_photo": stats(spread_floor),
        "albedo_spread_over_lightings": stats(spread),
        "albedo_spread_per_channel_gauge_removed": stats(spread_gauge), "landmark_error_iod": stats(lm_err),
        "seconds_per_photo": per_photo, "first_photo_seconds": first,
        "render_seconds": round(render_s, 2), "per_identity": per_identity,
    }


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size:
        return img
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(img, np.float32)).permute(2, 0, 1)[None]
    return F.interpolate(t, size=(size, size), mode="area")[0].permute(1, 2, 0).numpy()
