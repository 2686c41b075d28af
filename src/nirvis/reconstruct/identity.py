"""One identity from one or more photos: read, landmarks, fit, texture, face asset + report.

Per photo: ``photo_io.read_photo`` -> ``landmarks.FaceMeshDetector`` (478 points) -> ``fit.fit_landmarks``
through the MediaPipe-to-head-model correspondence (``correspondence``) -> the photo's texture
(``texture``; the mouth opening left out, ``photo_surface_mask``) -> optionally the photometric
refinement of a one-photo identity (``refine``). Several photos of one person share one shape (the
photos' identity coefficients averaged by their landmark counts, then every photo re-posed with
that shape) and one texture (per-photo de-lit albedos blended by their confidence). The hair shell
comes from the most frontal photo (``hair_estimate``) and is stored in the asset's ``appearance``.

Nothing here raises for a bad photo: each photo gets a status (``PHOTO_STATUSES``) and a reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from nirvis.faces.asset import FaceAsset
from nirvis.faces.head_model import load_head_model
from nirvis.reconstruct.fit import FitConfig, LandmarkFit, fit_landmarks
from nirvis.reconstruct.photo_camera import PhotoCamera, head_angles
from nirvis.reconstruct.photo_io import Photo, read_photo

#: Statuses a photo's report may carry.
PHOTO_STATUSES = ("ok", "unreadable", "greyscale", "no_face", "too_small", "extreme_pose", "fit_failed")

#: Weight of the iris points (their place on the eyeball follows the gaze, which the head model
#: does not have) relative to the mesh points.
IRIS_WEIGHT = 0.3


def landmark_weights(spread_mm: np.ndarray, n_points: int, iris: Sequence[int]) -> np.ndarray:
    """float64 [N] per-landmark weights: ``1 / (1 + (spread / 2 mm)^2)`` from the correspondence's
    spread (points MediaPipe places less consistently on our heads count less), iris points x
    ``IRIS_WEIGHT``."""
    w = 1.0 / (1.0 + (np.asarray(spread_mm, np.float64)[:n_points] / 2.0) ** 2)
    w[list(iris)] *= IRIS_WEIGHT
    return w


def _photo_entry(photo: Photo) -> dict[str, Any]:
    return {"file": photo.path, "sha256": photo.sha256, "status": photo.status, "reason": photo.reason}


def fit_photo(photo: Photo, detector, config, fit_config: Optional[FitConfig] = None,
              known_camera: Optional[PhotoCamera] = None) -> tuple[Optional[LandmarkFit], dict[str, Any], Any]:
    """Landmarks and head fit of one read photo.

    Returns:
        (fit or None, the photo's report entry, the landmark result or None).
    """
    entry = _photo_entry(photo)
    seconds: dict[str, float] = {}
    entry["seconds"] = seconds
    if photo.status != "ok":
        return None, entry, None
    t0 = time.perf_counter()
    lm = detector(photo.rgb)
    seconds["landmarks"] = round(time.perf_counter() - t0, 4)
    entry.update(n_faces=int(lm.n_faces), flags=list(lm.flags), iod_px=round(float(lm.face_size_px), 2))
    if lm.status != "ok":
        entry.update(status=lm.status, reason=lm.reason)
        return None, entry, lm
    if lm.face_size_px < config.min_iod_px:
        entry.update(status="too_small", reason=f"the eyes are {lm.face_size_px:.1f} px apart "
                                                 f"(need >= {config.min_iod_px:g} px)")
        return None, entry, lm
    h, w = photo.rgb.shape[:2]
    camera = known_camera or PhotoCamera.default(w, h, photo.focal_35mm)
    entry["focal_px"] = round(camera.focal_px, 2)
    entry["focal_source"] = "given" if known_camera else ("exif" if photo.focal_35mm else "default")
    t0 = time.perf_counter()
    try:
        fit = _fit(lm.points, camera, fit_config or config.fit)
    except (ValueError, np.linalg.LinAlgError) as exc:
        entry.update(status="fit_failed", reason=f"the landmark fit failed: {exc}")
        return None, entry, lm
    seconds["fit"] = round(time.perf_counter() - t0, 4)
    yaw, pitch, roll = head_angles(fit.rotation)
    entry.update(yaw_deg=round(yaw, 2), pitch_deg=round(pitch, 2), roll_deg=round(roll, 2),
                 distance_mm=round(float(np.linalg.norm(fit.translation)), 1),
                 error_iod=round(fit.mean_error_iod, 5), fit_steps=fit.iterations,
                 expression=fit.expression_dict(load_shape_names()))
    if abs(yaw) > config.max_yaw_deg:
        entry.update(status="extreme_pose", reason=f"head turned {yaw:.0f} deg (|yaw| > {config.max_yaw_deg:g})")
        return None, entry, lm
    if not np.isfinite(fit.mean_error_iod) or fit.mean_error_iod > config.max_error_iod:
        entry.update(status="fit_failed", reason=f"landmark error {fit.mean_error_iod:.3f} of the eye distance "
                                                 f"(> {config.max_error_iod:g})")
        return None, entry, lm
    return fit, entry, lm


#: The mouth opening is left out of the texture with this margin (fraction of the eye distance).
MOUTH_MARGIN_IOD = 0.03


def photo_surface_mask(shape: tuple[int, int], points: np.ndarray, iod_px: float) -> np.ndarray:
    """float32 [H, W]: 1 where the photo shows the head's surface, 0 inside the mouth opening (the
    inner lip contour, ``landmarks.INNER_LIPS``, grown by ``MOUTH_MARGIN_IOD``): teeth, tongue and
    the dark mouth would otherwise be painted onto the lips of a closed-mouth (neutral) asset."""
    import cv2

    from nirvis.reconstruct.landmarks import INNER_LIPS

    mask = np.ones(shape, np.uint8)
    poly = np.asarray(points, np.float64)[list(INNER_LIPS)]
    if np.isfinite(poly).all():
        cv2.fillPoly(mask, [np.rint(poly * 16).astype(np.int32)], 0, shift=4)
        grow = int(round(MOUTH_MARGIN_IOD * iod_px))
        if grow > 0:
            mask = cv2.erode(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return mask.astype(np.float32)


def load_shape_names() -> tuple[str, ...]:
    from nirvis.reconstruct.shape_prior import shape_basis

    return shape_basis().expression_names


@dataclass(frozen=True, eq=False)
class Reconstruction:
    """One person's reconstruction with its intermediate results.

    Attributes:
        asset: the face asset, or None when no photo could be used.
        report: the identity's report (``batch`` writes it as JSON).
        fits: the landmark fits of the used photos (after the shared-identity refit).
        textures: their ``texture.PhotoTexture`` results, in the same order.
    """

    asset: Optional[FaceAsset]
    report: dict[str, Any]
    fits: list[LandmarkFit] = field(default_factory=list)
    textures: list[Any] = field(default_factory=list)


def reconstruct_identity(files: Sequence[str], config, cache: dict[str, Any],
                         known_camera: Optional[PhotoCamera] = None) -> tuple[Optional[FaceAsset], dict[str, Any]]:
    """The face asset of one person from their photos, and the identity's report.

    Args:
        files: photo paths of one person.
        config: ``batch.ReconstructConfig``.
        cache: per-process objects kept between identities (the landmark detector).
        known_camera: the intrinsics when known (benchmarks); else EXIF or the default.

    Returns:
        (asset or None when no photo could be used, report dict).
    """
    r = reconstruct_person(files, config, cache, known_camera)
    return r.asset, r.report


def reconstruct_person(files: Sequence[str], config, cache: dict[str, Any],
                       known_camera: Optional[PhotoCamera] = None) -> Reconstruction:
    """``reconstruct_identity`` keeping the fits and textures (``Reconstruction``)."""
    from nirvis.reconstruct.fuse import fuse_textures
    from nirvis.reconstruct.landmarks import FaceMeshDetector
    from nirvis.reconstruct.texture import TextureSettings, photo_texture

    if "detector" not in cache:
        cache["detector"] = FaceMeshDetector()
    detector = cache["detector"]
    model = load_head_model()
    start = time.perf_counter()
    fitted: list[tuple[Photo, LandmarkFit, dict[str, Any], Any]] = []
    entries = []
    for f in files:
        t0 = time.perf_counter()
        photo = read_photo(f)
        read_s = time.perf_counter() - t0
        fit, entry, lm = fit_photo(photo, detector, config, known_camera=known_camera)
        entry["seconds"]["read"] = round(read_s, 4)
        entries.append(entry)
        if fit is not None:
            fitted.append((photo, fit, entry, lm))
    report: dict[str, Any] = {"status": "ok" if fitted else "failed", "photos": entries}
    if not fitted:
        report["reason"] = "no usable photo: " + "; ".join(f"{e['file']}: {e['status']}" for e in entries)
        _total(entries, start)
        return Reconstruction(None, report)
    if len(fitted) > 1:  # one shape for the person: average, then re-pose every photo with it
        counts = np.array([float(np.isfinite(fit.residual_px).sum()) for _, fit, _, _ in fitted])
        coeffs = (np.stack([fit.coeffs for _, fit, _, _ in fitted]) * counts[:, None]).sum(0) / counts.sum()
        fitted = [(p, _refit(fit, lm, coeffs, config), e, lm) for p, fit, e, lm in fitted]
    textures = []
    settings = TextureSettings(resolution=config.texture_resolution, led_nm=float(config.led_nm))
    for k, (photo, fit, entry, lm) in enumerate(fitted):
        t0 = time.perf_counter()
        tex = photo_texture(photo.rgb, fit.vertices, fit.rotation, fit.translation, fit.camera, settings,
                            photo_mask=photo_surface_mask(photo.rgb.shape[:2], lm.points, fit.iod_px))
        entry["seconds"]["texture"] = round(time.perf_counter() - t0, 4)
        entry["visible_texture_fraction"] = round(float(tex.visible_fraction), 4)
        textures.append(tex)
        if config.refine and len(fitted) == 1:
            from nirvis.reconstruct.refine import refine_photometric

            t0 = time.perf_counter()
            fit = refine_photometric(photo.rgb, fit, tex, lm.points, _landmark_weights(),
                                     sigma_iod=config.fit.sigma_iod)
            entry["seconds"]["refine"] = round(time.perf_counter() - t0, 4)
            entry["error_iod_refined"] = round(fit.mean_error_iod, 5)
            fitted[k] = (photo, fit, entry, lm)
    t0 = time.perf_counter()
    maps = fuse_textures(textures, settings)
    report["seconds_fuse"] = round(time.perf_counter() - t0, 4)
    appearance: dict[str, Any] = {}
    if config.estimate_hair:
        from nirvis.reconstruct.hair_estimate import estimate_hair

        # from the most frontal photo: the top of its head is seen best
        k = int(np.argmin([abs(e.get("yaw_deg", 0.0)) for _, _, e, _ in fitted]))
        photo, _, _, lm = fitted[k]
        tex = textures[k]
        hair, hair_report = estimate_hair(photo.rgb, lm.points, tex.mean_albedo / np.maximum(tex.mean_colour, 1e-6),
                                          float(config.led_nm), seed=int(photo.sha256[:8], 16) % 2 ** 31)
        report["hair"] = hair_report
        if hair is not None:
            appearance["hair"] = hair
    coeffs = fitted[0][1].coeffs
    mesh = model.template.with_vertices(fitted[0][1].neutral_vertices.astype(np.float32))
    metadata = {
        "source": "reconstruct",
        "photos": [{"file": p.path, "sha256": p.sha256} for p, _, _, _ in fitted],
        "identity_coeffs": [round(float(c), 5) for c in coeffs],
        "nir_led_nm": float(config.led_nm),
        "head_model": model.provenance,
    }
    if appearance:
        metadata["appearance"] = appearance
    asset = FaceAsset(mesh=mesh, maps=maps, landmarks=dict(model.landmarks), metadata=metadata)
    _total(entries, start)
    report["visible_texture_fraction"] = round(float(max(t.visible_fraction for t in textures)), 4)
    return Reconstruction(asset, report, [fit for _, fit, _, _ in fitted], textures)


def _fit(points: np.ndarray, camera: PhotoCamera, fit_config: FitConfig,
         identity: Optional[np.ndarray] = None) -> LandmarkFit:
    """``fit_landmarks`` on the 478 MediaPipe points through the correspondence, with its
    per-point weights, iris eye centres and outline points (``identity``: held fixed)."""
    from nirvis.reconstruct.correspondence import load_mediapipe_correspondence
    from nirvis.reconstruct.landmarks import LEFT_IRIS_CENTRE, RIGHT_IRIS_CENTRE

    corr = load_mediapipe_correspondence()
    model = load_head_model()
    return fit_landmarks(points, corr.points, model.template.faces, camera,
                         weights=_landmark_weights(),
                         eye_points=(RIGHT_IRIS_CENTRE, LEFT_IRIS_CENTRE), config=fit_config,
                         sliding=corr.sliding, skin_faces=model.template.face_parts == 0, identity=identity)


def _landmark_weights() -> np.ndarray:
    """float64 [478] the fit's per-landmark weights (``landmark_weights`` of the correspondence)."""
    from nirvis.reconstruct.correspondence import load_mediapipe_correspondence
    from nirvis.reconstruct.landmarks import LEFT_IRIS, N_POINTS, RIGHT_IRIS

    return landmark_weights(load_mediapipe_correspondence().spread_mm, N_POINTS, RIGHT_IRIS + LEFT_IRIS)


def _refit(fit: LandmarkFit, lm, coeffs: np.ndarray, config) -> LandmarkFit:
    """``fit`` again with the person's shared identity ``coeffs`` held: pose and expression only."""
    return _fit(lm.points, fit.camera, config.fit, identity=coeffs)


def _total(entries: list[dict[str, Any]], start: float) -> None:
    total = time.perf_counter() - start
    for e in entries:
        e["seconds"]["total"] = round(total / max(len(entries), 1), 4)
