"""Fit the head model to 2D landmarks: pose, identity coefficients and expression units.

Model: landmark ``i`` lies at ``X_i(z, e) = M_i + sum_k z_k A_ki + sum_j e_j B_ji`` on the head
(``shape_prior.ShapeBasis`` at the landmarks' surface points; identity ``z`` ~ N(0, I), expression
weights ``e`` in [0, 1]) and projects through the photo's pinhole camera after the rigid pose
``R X + t`` (``photo_camera``). We minimise

    sum_i w_i |pi(R X_i + t) - u_i|^2 / sigma^2 + |z|^2 + lambda_e |e|^2

starting from the mean head posed by OpenCV's ``solvePnP`` (SQPnP, refined by Levenberg-Marquardt),
then bounded Gauss-Newton steps on pose, identity and expression jointly: each step solves the
linearised problem (perspective division included, rotation updated on the left) with the priors
and the bounds (``scipy.optimize.lsq_linear``); 3-5 steps converge. Fitting identity and pose
jointly matters: alternating them creeps along the depth/head-size valley for tens of iterations.
``sigma`` is the landmark noise, a fraction of the inter-ocular distance in the photo, so the
prior's pull does not depend on image size.

Sliding contour points (``sliding``): landmarks on the face outline mark the silhouette, whose
place on the head moves with the pose. For them each iteration re-picks the surface point among
``contour_candidates`` that is currently on the silhouette (largest projected distance from the
face centre along the landmark's direction), the usual treatment of outline landmarks in 3DMM fitting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from nirvis.faces.mesh import SurfacePoints
from nirvis.reconstruct.photo_camera import FRONTAL, PhotoCamera, project
from nirvis.reconstruct.shape_prior import ShapeBasis, shape_basis


@dataclass(frozen=True)
class FitConfig:
    """Settings of ``fit_landmarks``.

    Attributes:
        iterations: at most this many Gauss-Newton steps.
        sigma_iod: landmark noise as a fraction of the inter-ocular distance (px), the data term's scale.
        expression_weight: lambda_e, the pull of expression weights towards 0 (neutral).
        coeff_bound: identity coefficients are kept within +-this many prior standard deviations.
        fit_expression: False fits identity and pose only (neutral face).
        slide_contour: let the ``sliding`` landmarks move along the silhouette. Off by default:
            MediaPipe's outline points are points of its own face mesh, not the silhouette, and on
            ``nirvis bench reconstruct`` renders sliding raised the median face shape error from
            2.50 to 4.03 mm (8 identities; exact synthetic landmarks: 0.70 -> 2.89 mm).
        tolerance: stop when the RMS reprojection error changes by less than this fraction.
    """

    iterations: int = 12
    sigma_iod: float = 0.05
    expression_weight: float = 8.0
    coeff_bound: float = 3.5
    fit_expression: bool = True
    slide_contour: bool = False
    tolerance: float = 2e-3


@dataclass(frozen=True, eq=False)
class LandmarkFit:
    """Result of ``fit_landmarks``.

    Attributes:
        coeffs: float64 [K] identity coefficients (prior units).
        expression: float64 [E] face-unit weights in [0, 1] (``ShapeBasis.expression_names``).
        rotation: float64 [3, 3] head -> camera rotation; translation: float64 [3] mm.
        camera: the PhotoCamera used.
        vertices: float64 [V, 3] the fitted head with its expression (mm, head frame);
            neutral_vertices: the same identity without expression.
        residual_px: float64 [N] per-landmark reprojection error (pixels).
        iod_px: inter-ocular distance in the photo (px) the errors are measured against.
        iterations: Gauss-Newton steps run.
        history_px: weighted RMS reprojection error (px) after each step.
    """

    coeffs: np.ndarray
    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    camera: PhotoCamera
    vertices: np.ndarray
    neutral_vertices: np.ndarray
    residual_px: np.ndarray
    iod_px: float
    iterations: int
    history_px: tuple[float, ...] = field(default=())

    @property
    def mean_error_iod(self) -> float:
        """Mean landmark reprojection error as a fraction of the inter-ocular distance."""
        return float(np.mean(self.residual_px) / self.iod_px)

    def expression_dict(self, names: tuple[str, ...], threshold: float = 1e-3) -> dict[str, float]:
        """The non-zero expression weights by face-unit name."""
        return {n: round(float(w), 4) for n, w in zip(names, self.expression) if w > threshold}


def _solve_pose(obj: np.ndarray, img: np.ndarray, camera: PhotoCamera,
                w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Head -> camera rotation [3, 3] and translation [3] (mm) of 3D points ``obj`` seen at ``img``
    (points with weight 0 left out): SQPnP, refined by Levenberg-Marquardt."""
    import cv2

    keep = w > 0
    obj_k = np.ascontiguousarray(obj[keep], np.float64)
    img_k = np.ascontiguousarray(img[keep], np.float64)
    k = camera.matrix
    ok, rvec, tvec = cv2.solvePnP(obj_k, img_k, k, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:  # pragma: no cover - SQPnP returns a solution for >= 3 non-collinear points
        rvec, tvec = cv2.Rodrigues(FRONTAL)[0], np.array([[0.0], [0.0], [600.0]])
    rvec, tvec = cv2.solvePnPRefineLM(obj_k, img_k, k, None, rvec, tvec)
    return cv2.Rodrigues(rvec)[0], tvec.reshape(3)


def _skew(v: np.ndarray) -> np.ndarray:
    """[N, 3, 3] cross-product matrices of [N, 3] vectors."""
    z = np.zeros(len(v))
    return np.stack([np.stack([z, -v[:, 2], v[:, 1]], -1), np.stack([v[:, 2], z, -v[:, 0]], -1),
                     np.stack([-v[:, 1], v[:, 0], z], -1)], 1)


def _rodrigues(omega: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(np.asarray(omega, np.float64).reshape(3, 1))[0]


def _gauss_newton_step(basis: ShapeBasis, img: np.ndarray, w: np.ndarray, state: tuple, camera: PhotoCamera,
                       sigma_px: float, cfg: FitConfig) -> tuple:
    """One bounded Gauss-Newton step on (rotation, translation, identity, expression) jointly.

    The rotation is updated on the left, ``R <- exp([omega]_x) R``; the step solves the linearised
    problem with the priors and bounds exactly (``scipy.optimize.lsq_linear``)."""
    from scipy.optimize import lsq_linear

    rot, trans, z, e = state
    n_e = len(e) if cfg.fit_expression else 0
    x_head = basis.vertices(z, e)                                  # [N, 3]
    rx = x_head @ rot.T                                            # [N, 3]
    c = rx + trans
    cz = np.maximum(c[:, 2], 1e-3)
    f = camera.focal_px
    u = f * c[:, :2] / cz[:, None] + np.array([camera.cx, camera.cy])
    sw = np.sqrt(w) / sigma_px                                     # [N]
    r = ((u - img) * sw[:, None])                                  # [N, 2]
    # d u / d c: [N, 2, 3]
    duc = np.zeros((len(c), 2, 3))
    duc[:, 0, 0] = duc[:, 1, 1] = f / cz
    duc[:, :, 2] = -f * c[:, :2] / cz[:, None] ** 2
    duc *= sw[:, None, None]
    cols = [np.einsum("nij,njk->nik", duc, -_skew(rx)), duc]      # rotation, translation: [N, 2, 3] each
    units = [basis.identity] + ([basis.expression] if n_e else [])
    a3 = np.concatenate(units, axis=0)                             # [P, N, 3]
    cols.append(np.einsum("nij,pnk,jk->nip", duc, a3, rot))        # [N, 2, P]
    jac = np.concatenate(cols, axis=2).reshape(2 * len(c), -1)     # [2N, 6 + P]
    k_id = len(z)
    p = k_id + n_e
    prior = np.zeros((p, 6 + p))
    prior[np.arange(p), 6 + np.arange(p)] = np.r_[np.ones(k_id), np.full(n_e, np.sqrt(cfg.expression_weight))]
    prior_r = np.r_[z, e[:n_e] * np.sqrt(cfg.expression_weight)] if n_e else z.copy()
    a = np.concatenate([jac, prior], axis=0)
    b = -np.concatenate([r.reshape(-1), prior_r])
    inf = np.full(6, np.inf)
    lo = np.r_[-inf, -cfg.coeff_bound - z, -e[:n_e]]
    hi = np.r_[inf, cfg.coeff_bound - z, 1.0 - e[:n_e]]
    # the same least-squares problem on its square root: |A d - b|^2 = |L^T d - L^-1 A^T b|^2 + const
    # with A^T A = L L^T, so the bounded solver iterates on a (6 + P) x (6 + P) system
    gram = a.T @ a
    gram[np.diag_indices_from(gram)] += 1e-9 * max(float(np.trace(gram)) / len(gram), 1e-12)
    chol = np.linalg.cholesky(gram)
    rhs = np.linalg.solve(chol, a.T @ b)
    d = lsq_linear(chol.T, rhs, bounds=(lo, hi), method="bvls").x
    e_new = e.copy()
    e_new[:n_e] = np.clip(e[:n_e] + d[6 + k_id:], 0.0, 1.0)
    return (_rodrigues(d[:3]) @ rot, trans + d[3:6], z + d[6:6 + k_id], e_new)


#: Sliding points within this distance (mm) of the midline do not slide (chin, forehead top: the
#: outline there moves with pitch only a little); the band of candidate vertices is this tall (mm).
_MIDLINE_MM = 12.0
_BAND_MM = 4.0


def contour_candidates(points: SurfacePoints, sliding: np.ndarray, template: np.ndarray, faces: np.ndarray,
                       skin_faces: np.ndarray) -> list[Optional[np.ndarray]]:
    """Per landmark, the template vertices an outline landmark may slide to (None: fixed).

    A sliding point at template height ``y`` on one side of the face may move to any skin vertex of
    that side within ``_BAND_MM / 2`` of that height and at least half as far from the midline:
    the band the face's outline crosses at that height for any yaw.
    """
    pos = points.positions(template, faces)
    skin = np.unique(faces[skin_faces])
    out: list[Optional[np.ndarray]] = []
    for p, sl in zip(pos, sliding):
        if not sl or abs(p[0]) < _MIDLINE_MM:
            out.append(None)
            continue
        v = template[skin]
        keep = ((np.abs(v[:, 1] - p[1]) < _BAND_MM / 2) & (np.sign(v[:, 0]) == np.sign(p[0]))
                & (np.abs(v[:, 0]) > 0.5 * abs(p[0])) & (v[:, 2] > p[2] - 45.0))
        cand = skin[keep]
        out.append(cand if len(cand) else None)
    return out


def _slide(at: ShapeBasis, cand: list[Optional[np.ndarray]], cand_basis: Optional[ShapeBasis], offsets: list[int],
           img: np.ndarray, state: tuple, camera: PhotoCamera) -> ShapeBasis:
    """``at`` with each sliding landmark moved to its candidate vertex that is on the outline now:
    the one projecting farthest from the face centre towards the detected landmark."""
    if cand_basis is None:
        return at
    rot, trans, z, e = state
    proj = project(cand_basis.vertices(z, e), rot, trans, camera)          # [C, 2]
    centre = np.nanmedian(project(at.vertices(z, e), rot, trans, camera), axis=0)
    mean, ident, expr = at.mean.copy(), at.identity.copy(), at.expression.copy()
    for i, c in enumerate(cand):
        if c is None:
            continue
        d = img[i] - centre
        d = d / max(float(np.linalg.norm(d)), 1e-9)
        j = offsets[i] + int(np.argmax((proj[offsets[i]:offsets[i] + len(c)] - centre) @ d))
        mean[i], ident[:, i], expr[:, i] = cand_basis.mean[j], cand_basis.identity[:, j], cand_basis.expression[:, j]
    return ShapeBasis(mean, ident, expr, at.expression_names, at.explained)


def fit_landmarks(image_points: np.ndarray, points: SurfacePoints, faces: np.ndarray, camera: PhotoCamera,
                  weights: Optional[np.ndarray] = None, eye_points: tuple[int, int] = (0, 1),
                  config: FitConfig = FitConfig(), basis: Optional[ShapeBasis] = None,
                  sliding: Optional[np.ndarray] = None, skin_faces: Optional[np.ndarray] = None,
                  identity: Optional[np.ndarray] = None) -> LandmarkFit:
    """Fit pose, identity and expression of the head model to 2D landmarks of one photo.

    Args:
        image_points: float [N, 2] landmark pixels (OpenCV convention, ``photo_camera``); NaN rows are ignored.
        points: the N landmarks' places on the template surface (face index + barycentric).
        faces: int [F, 3] the template triangles ``points`` index.
        camera: the photo's intrinsics.
        weights: float [N] >= 0 per-landmark weights (default 1).
        eye_points: indices (into the N landmarks) of the two eye centres; their distance in the
            photo sets the noise scale and the reported error unit.
        config: FitConfig.
        basis: the full-head ShapeBasis (default ``shape_basis()``).
        sliding: bool [N], outline landmarks that slide along the silhouette (default none).
        skin_faces: bool [F] triangles the outline may slide over (default: all).
        identity: float [K] identity coefficients to hold fixed (another photo of the same
            person fixed them); only pose and expression are fitted. None: fit the identity too.

    Returns:
        LandmarkFit.
    """
    img = np.asarray(image_points, np.float64)
    if img.ndim != 2 or img.shape[1] != 2 or len(img) != len(points):
        raise ValueError(f"fit_landmarks: image_points must be [{len(points)}, 2], got {list(img.shape)}")
    w = np.ones(len(img)) if weights is None else np.asarray(weights, np.float64).copy()
    bad = ~np.isfinite(img).all(axis=1)
    w[bad] = 0.0
    img = np.where(bad[:, None], 0.0, img)
    if (w > 0).sum() < 6:
        raise ValueError("fit_landmarks: need at least 6 valid landmarks")
    full = basis or shape_basis()
    fixed = None if identity is None else np.asarray(identity, np.float64)
    if fixed is not None:  # the identity folded into the mean: no identity unknowns
        full = ShapeBasis(full.vertices(fixed), full.identity[:0], full.expression, full.expression_names,
                          full.explained)
    at = full.at_points(points, faces)
    iod = float(np.linalg.norm(img[eye_points[0]] - img[eye_points[1]]))
    if not np.isfinite(iod) or iod <= 0:
        raise ValueError("fit_landmarks: the eye landmarks coincide or are missing")
    sigma_px = config.sigma_iod * iod
    cand: list[Optional[np.ndarray]] = [None] * len(img)
    cand_basis, offsets = None, [0] * len(img)
    if config.slide_contour and sliding is not None and np.any(sliding):
        template = full.mean
        cand = contour_candidates(points, np.asarray(sliding, bool), template, faces,
                                  np.ones(len(faces), bool) if skin_faces is None else skin_faces)
        flat = [c for c in cand if c is not None]
        if flat:
            acc = 0
            for i, c in enumerate(cand):
                offsets[i] = acc
                acc += 0 if c is None else len(c)
            verts = np.concatenate(flat)
            cand_basis = ShapeBasis(full.mean[verts], full.identity[:, verts], full.expression[:, verts],
                                    full.expression_names, full.explained)
    coeffs = np.zeros(full.identity.shape[0])
    expr = np.zeros(full.expression.shape[0])
    rot, trans = _solve_pose(at.vertices(coeffs, expr), img, camera, w)
    state = (rot, trans, coeffs, expr)
    history: list[float] = []
    for _ in range(config.iterations):
        at = _slide(at, cand, cand_basis, offsets, img, state, camera)
        state = _gauss_newton_step(at, img, w, state, camera, sigma_px, config)
        res = np.linalg.norm(project(at.vertices(state[2], state[3]), state[0], state[1], camera) - img, axis=1)
        rms = float(np.sqrt(np.sum(w * res ** 2) / np.sum(w)))
        history.append(rms)
        if len(history) > 1 and abs(history[-2] - rms) < config.tolerance * max(rms, 1e-6):
            break
    rot, trans, coeffs, expr = state
    res[bad] = np.nan
    vertices, neutral = full.vertices(coeffs, expr), full.vertices(coeffs)
    if fixed is not None:
        coeffs = fixed
    return LandmarkFit(coeffs=coeffs, expression=expr, rotation=rot, translation=trans, camera=camera,
                       vertices=vertices, neutral_vertices=neutral,
                       residual_px=res, iod_px=iod, iterations=len(history), history_px=tuple(history))

