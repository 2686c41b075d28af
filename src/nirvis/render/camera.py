"""Head pose and a pinhole camera: head-frame millimetres to OpenGL clip space to image pixels.

Convention:
    Head frame (the frame of ``nirvis.faces`` meshes): millimetres, +x = the subject's left,
    +y = up, +z = out of the face (toward a frontal camera); origin midway between the eyeball
    centres.

    World frame: the head frame after the pose, ``p_world = R @ p_head + t``.

    Eye (camera) space, OpenGL style: x right, y up, the camera looks down -z. The camera sits at
    ``target_mm + (0, 0, distance_mm)`` and looks along -z with +y up, so eye space is the world
    frame translated: the subject's left (+x) appears on the IMAGE RIGHT, as for any camera facing
    the subject.

    Clip space, OpenGL style: ``clip = P @ eye``; visible points satisfy ``-w <= x, y, z <= w``
    with ``w = -z_eye > 0``; ndc = clip.xyz / w, ndc z = -1 at ``near_mm`` and +1 at ``far_mm``.

    Pixels (shared with the rasterizer): pixel (column x, row y) covers ``[x, x+1) x [y, y+1)``
    and has its centre at ``(x + 0.5, y + 0.5)``; row 0 is the TOP of the image;
    ``pix_x = (ndc_x * 0.5 + 0.5) * W`` and ``pix_y = (0.5 - ndc_y * 0.5) * H``. The image
    centre is therefore at ``(W / 2, H / 2)``.

    Focal length: ``focal_mm`` is the 35 mm-equivalent focal length in the DIAGONAL convention (the
    one behind crop factors and EXIF ``FocalLengthIn35mmFilm``): the image diagonal corresponds
    to the 43.27 mm diagonal of a 36 x 24 mm frame, so with square pixels
    ``f_px = focal_mm * sqrt(W**2 + H**2) / 43.2666``, principal point at the image centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

from nirvis.render._linalg import batched_matvec
from nirvis.shapes import check_shape

__all__ = ["FULL_FRAME_DIAGONAL_MM", "PerspectiveCamera", "pose_rotation", "focal_length_px", "view_matrix",
           "projection_matrix", "model_view_projection", "to_clip", "clip_to_pixels", "project_points"]

#: Diagonal of a 36 x 24 mm full frame, sqrt(36^2 + 24^2) mm.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# ------------------------------------------------------------------------------ argument checks
# Shared with sensor.py and align.py (private; candidates for a render-wide ``_checks`` module).


def _check_float(x: torch.Tensor, name: str) -> None:
    if x.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")


def _check_resolution(resolution: Any, name: str = "resolution") -> tuple[int, int]:
    try:
        h, w = (int(v) for v in resolution)
        ok = all(float(v) == int(v) for v in resolution)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected (H, W) positive integers, got {resolution!r}") from None
    if not ok or h < 1 or w < 1:
        raise ValueError(f"{name}: expected (H, W) positive integers, got {resolution!r}")
    return h, w


def _per_batch(x: Any, name: str, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``x`` (number, [] or [B]) as a float tensor of ndim 1 on ``like``'s device/dtype."""
    if isinstance(x, torch.Tensor):
        t = x
        if t.dtype not in _FLOAT_DTYPES:
            t = t.to(like.dtype if like is not None else torch.float32)
        if like is not None:
            t = t.to(device=like.device, dtype=like.dtype)
    else:
        try:
            t = torch.as_tensor(x, dtype=like.dtype if like is not None else torch.float32,
                                device=like.device if like is not None else None)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name}: expected a number or a [B] tensor, got {type(x).__name__}") from None
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1:
        raise ValueError(f"{name}: expected shape [B] (or a number), got {list(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return t


# ------------------------------------------------------------------------------------------ pose


def pose_rotation(yaw_deg: Any, pitch_deg: Any, roll_deg: Any) -> torch.Tensor:
    """Head rotation matrices from yaw, pitch and roll in degrees.

    Args:
        yaw_deg: ``[B]`` (or a number) degrees; positive turns the head to the SUBJECT'S LEFT, so the
            nose tip moves toward +x, i.e. toward the IMAGE RIGHT of a frontal camera.
        pitch_deg: ``[B]`` (or a number) degrees; positive = looking UP (the nose tip moves toward +y,
            the top of the image).
        roll_deg: ``[B]`` (or a number) degrees; positive tilts the head toward the subject's right
            shoulder: the subject's left eye (+x) moves up, the face turns counter-clockwise as
            seen in the image.

    Returns:
        ``[B, 3, 3]`` rotations (orthonormal, det +1), dtype/device of the first tensor argument
        (float32 on CPU for plain numbers). Arguments of size 1 broadcast to B.

    Convention:
        Column vectors in the head frame (+x subject's left, +y up, +z out of the face):
        ``p_rotated = R @ p_head`` with ``R = R_roll @ R_pitch @ R_yaw`` (yaw applied first).
        With c/s the cosine/sine of the respective angle::

            R_yaw   = [[ c, 0, s], [0, 1, 0], [-s, 0, c]]    right-handed about +y by +yaw
            R_pitch = [[1, 0, 0], [0, c, s], [0, -s, c]]     right-handed about +x by -pitch
            R_roll  = [[c, -s, 0], [s, c, 0], [0, 0, 1]]     right-handed about +z by +roll

        Pitch is the only angle with a left-handed sign, so that positive pitch means looking up.

    Example:
        >>> import torch
        >>> from nirvis.render.camera import pose_rotation
        >>> R = pose_rotation(torch.tensor([90.0]), torch.tensor([0.0]), torch.tensor([0.0]))
        >>> nose = torch.tensor([0.0, 0.0, 1.0])
        >>> [round(float(v), 4) + 0.0 for v in R[0] @ nose]   # nose points to the subject's left
        [1.0, 0.0, 0.0]
    """
    like = next((a for a in (yaw_deg, pitch_deg, roll_deg)
                 if isinstance(a, torch.Tensor) and a.dtype in _FLOAT_DTYPES), None)
    angles = [_per_batch(a, n, like) for a, n in
              ((yaw_deg, "yaw_deg"), (pitch_deg, "pitch_deg"), (roll_deg, "roll_deg"))]
    b = max(a.shape[0] for a in angles)
    for a, n in zip(angles, ("yaw_deg", "pitch_deg", "roll_deg")):
        if a.shape[0] not in (1, b):
            raise ValueError(f"{n}: expected shape [{b}] or [1] to match the other angles, got {list(a.shape)}")
    yaw, pitch, roll = (torch.deg2rad(a).expand(b) for a in angles)
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)

    def mat(rows):
        return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)

    cy, sy = torch.cos(yaw), torch.sin(yaw)
    cp, sp = torch.cos(pitch), torch.sin(pitch)
    cr, sr = torch.cos(roll), torch.sin(roll)
    r_yaw = mat([[cy, zero, sy], [zero, one, zero], [-sy, zero, cy]])
    r_pitch = mat([[one, zero, zero], [zero, cp, sp], [zero, -sp, cp]])
    r_roll = mat([[cr, -sr, zero], [sr, cr, zero], [zero, zero, one]])
    return r_roll @ r_pitch @ r_yaw


# ---------------------------------------------------------------------------------------- camera


@dataclass(frozen=True)
class PerspectiveCamera:
    """A pinhole camera on the head-frame +z axis (through ``target_mm``) looking toward -z.

    Attributes:
        distance_mm: distance from ``target_mm`` to the camera centre along +z (> 0).
        focal_mm: 35 mm-equivalent focal length, diagonal convention (see ``focal_length_px``).
        resolution: ``(H, W)`` image size in pixels.
        near_mm: near clip distance along the view axis (0 < near_mm < far_mm).
        far_mm: far clip distance along the view axis.
        target_mm: ``(x, y, z)`` world point the camera aims at; the default, the origin, is the
            midpoint between the eyeball centres of an unposed, untranslated head.

    Convention:
        Camera centre at ``target_mm + (0, 0, distance_mm)``, optical axis -z, up +y; the subject's
        left (+x) is on the image right. Principal point at the image centre ``(W / 2, H / 2)``.

    Example:
        >>> from nirvis.render.camera import PerspectiveCamera
        >>> cam = PerspectiveCamera(distance_mm=600.0, focal_mm=85.0, resolution=(256, 256))
        >>> cam.resolution
        (256, 256)
    """

    distance_mm: float = 700.0
    focal_mm: float = 85.0
    resolution: tuple[int, int] = (256, 256)
    near_mm: float = 100.0
    far_mm: float = 3000.0
    target_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolution", _check_resolution(self.resolution))
        for name in ("distance_mm", "focal_mm", "near_mm", "far_mm"):
            v = getattr(self, name)
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: expected a number, got {v!r}") from None
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"{name}: expected a finite value > 0, got {v!r}")
            object.__setattr__(self, name, v)
        if not self.near_mm < self.far_mm:
            raise ValueError(f"near_mm: must be < far_mm ({self.far_mm:g}), got {self.near_mm:g}")
        try:
            target = tuple(float(v) for v in self.target_mm)
        except (TypeError, ValueError):
            raise ValueError(f"target_mm: expected (x, y, z) numbers, got {self.target_mm!r}") from None
        if len(target) != 3 or not all(math.isfinite(v) for v in target):
            raise ValueError(f"target_mm: expected 3 finite numbers (x, y, z), got {self.target_mm!r}")
        object.__setattr__(self, "target_mm", target)


def _check_camera(camera: Any) -> PerspectiveCamera:
    if not isinstance(camera, PerspectiveCamera):
        raise ValueError(f"camera: expected a PerspectiveCamera, got {type(camera).__name__}")
    return camera


def focal_length_px(camera: PerspectiveCamera) -> float:
    """Focal length in pixels (square pixels) of ``camera``.

    Args:
        camera: the camera.

    Returns:
        ``focal_mm * sqrt(H**2 + W**2) / 43.2666`` (a Python float).

    Convention:
        35 mm-equivalent focal lengths relate the image DIAGONAL to the 43.27 mm diagonal of a
        36 x 24 mm frame; the image's aspect ratio need not be 3:2.

    Example:
        >>> from nirvis.render.camera import PerspectiveCamera, focal_length_px
        >>> round(focal_length_px(PerspectiveCamera(focal_mm=43.2666, resolution=(300, 400))), 2)
        500.0
    """
    cam = _check_camera(camera)
    h, w = cam.resolution
    return cam.focal_mm * math.hypot(h, w) / FULL_FRAME_DIAGONAL_MM


def view_matrix(camera: PerspectiveCamera, device: Optional[torch.device | str] = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """World-to-eye transform of ``camera``.

    Args:
        camera: the camera.
        device: device of the result (default CPU).
        dtype: floating dtype of the result.

    Returns:
        ``[4, 4]`` homogeneous matrix ``V`` with ``eye = V @ [x, y, z, 1]``: a pure translation by
        ``-(target_mm + (0, 0, distance_mm))``.

    Convention:
        Eye space is OpenGL's: x right, y up, the camera looks down -z; a point at ``target_mm``
        has eye coordinates ``(0, 0, -distance_mm)``.

    Example:
        >>> import torch
        >>> from nirvis.render.camera import PerspectiveCamera, view_matrix
        >>> V = view_matrix(PerspectiveCamera(distance_mm=500.0))
        >>> (V @ torch.tensor([0.0, 0.0, 0.0, 1.0])).tolist()
        [0.0, 0.0, -500.0, 1.0]
    """
    cam = _check_camera(camera)
    if dtype not in _FLOAT_DTYPES:
        raise ValueError(f"dtype: expected a floating dtype, got {dtype}")
    tx, ty, tz = cam.target_mm
    v = torch.eye(4, dtype=torch.float64)
    v[:3, 3] = torch.tensor([-tx, -ty, -(tz + cam.distance_mm)], dtype=torch.float64)
    return v.to(device=device, dtype=dtype)


def projection_matrix(camera: PerspectiveCamera, device: Optional[torch.device | str] = None,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """OpenGL perspective projection of ``camera`` (eye space to clip space).

    Args:
        camera: the camera.
        device: device of the result (default CPU).
        dtype: floating dtype of the result.

    Returns:
        ``[4, 4]`` matrix ``P``::

            [[2 f / W, 0,       0,                  0                  ],
             [0,       2 f / H, 0,                  0                  ],
             [0,       0,       -(F + N) / (F - N), -2 F N / (F - N)   ],
             [0,       0,       -1,                 0                  ]]

        with ``f = focal_length_px(camera)``, ``N = near_mm``, ``F = far_mm``.

    Convention:
        ``clip = P @ eye``, ``w = -z_eye``; ndc = clip.xyz / w in [-1, 1] inside the frustum;
        ndc z = -1 at the near plane, +1 at the far plane; ndc y up (pixel rows go down, see
        ``clip_to_pixels``).

    Example:
        >>> import torch
        >>> from nirvis.render.camera import PerspectiveCamera, projection_matrix
        >>> cam = PerspectiveCamera(near_mm=100.0, far_mm=1000.0)
        >>> clip = projection_matrix(cam) @ torch.tensor([0.0, 0.0, -100.0, 1.0])
        >>> round(float(clip[2] / clip[3]), 6)   # the near plane maps to ndc z = -1
        -1.0
    """
    cam = _check_camera(camera)
    if dtype not in _FLOAT_DTYPES:
        raise ValueError(f"dtype: expected a floating dtype, got {dtype}")
    h, w = cam.resolution
    f = focal_length_px(cam)
    n, fa = cam.near_mm, cam.far_mm
    p = torch.zeros(4, 4, dtype=torch.float64)
    p[0, 0] = 2.0 * f / w
    p[1, 1] = 2.0 * f / h
    p[2, 2] = -(fa + n) / (fa - n)
    p[2, 3] = -2.0 * fa * n / (fa - n)
    p[3, 2] = -1.0
    return p.to(device=device, dtype=dtype)


def model_view_projection(camera: PerspectiveCamera, rotation: torch.Tensor,
                          translation_mm: torch.Tensor) -> torch.Tensor:
    """Head-frame to clip-space matrices ``P @ V @ M`` for a batch of head poses.

    Args:
        camera: the camera.
        rotation: ``[B, 3, 3]`` float head rotations (e.g. from ``pose_rotation``).
        translation_mm: ``[B, 3]`` head translations in mm (world frame), same dtype/device.

    Returns:
        ``[B, 4, 4]`` matrices on ``rotation``'s device and dtype, differentiable with respect to
        ``rotation`` and ``translation_mm``.

    Convention:
        ``M = [[R, t], [0, 0, 0, 1]]`` maps head-frame points to the world: ``p_world = R p + t``;
        ``clip = MVP @ [x, y, z, 1]`` (column vectors). See ``view_matrix`` and
        ``projection_matrix`` for V and P.

    Example:
        >>> import torch
        >>> from nirvis.render.camera import PerspectiveCamera, model_view_projection, pose_rotation
        >>> R = pose_rotation(torch.zeros(2), torch.zeros(2), torch.zeros(2))
        >>> model_view_projection(PerspectiveCamera(), R, torch.zeros(2, 3)).shape
        torch.Size([2, 4, 4])
    """
    cam = _check_camera(camera)
    sizes = check_shape(rotation, ["B", 3, 3], "rotation", kind=torch.Tensor)
    check_shape(translation_mm, ["B", 3], "translation_mm", sizes, kind=torch.Tensor)
    _check_float(rotation, "rotation")
    t = translation_mm.to(device=rotation.device, dtype=rotation.dtype)
    b = rotation.shape[0]
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=rotation.dtype, device=rotation.device).expand(b, 1, 4)
    model = torch.cat([torch.cat([rotation, t[:, :, None]], dim=2), bottom], dim=1)
    pv = projection_matrix(cam, rotation.device, rotation.dtype) @ view_matrix(cam, rotation.device, rotation.dtype)
    return pv @ model


def to_clip(vertices: torch.Tensor, mvp: torch.Tensor) -> torch.Tensor:
    """Transform points to homogeneous clip space.

    Args:
        vertices: ``[B, V, 3]`` (or ``[1, V, 3]``, shared by every matrix) float points in mm.
        mvp: ``[B, 4, 4]`` float matrices (e.g. from ``model_view_projection``).

    Returns:
        ``[B, V, 4]`` clip coordinates (x, y, z, w), in the dtype/device of ``mvp``; the layout the
        rasterizer takes.

    Convention:
        ``clip = mvp @ [x, y, z, 1]`` per vertex (column vectors); OpenGL clip space.

    Example:
        >>> import torch
        >>> from nirvis.render.camera import to_clip
        >>> to_clip(torch.tensor([[[1.0, 2.0, 3.0]]]), torch.eye(4)[None]).tolist()
        [[[1.0, 2.0, 3.0, 1.0]]]
    """
    check_shape(mvp, ["B", 4, 4], "mvp", kind=torch.Tensor)
    _check_float(mvp, "mvp")
    b = mvp.shape[0]
    if not isinstance(vertices, torch.Tensor) or vertices.ndim != 3 or vertices.shape[0] not in (1, b) \
            or vertices.shape[2] != 3:
        got = list(vertices.shape) if isinstance(vertices, torch.Tensor) else type(vertices).__name__
        raise ValueError(f"vertices: expected shape [B, V, 3] or [1, V, 3] (with B={b}), got {got}")
    _check_float(vertices, "vertices")
    v = vertices.to(device=mvp.device, dtype=mvp.dtype)
    # [x, y, z, 1] @ mvp^T, without materialising the homogeneous coordinate.
    return batched_matvec(mvp[:, :, :3].expand(v.shape[0], -1, -1) if b == 1 else mvp[:, :, :3], v) + mvp[:, None, :, 3]


def clip_to_pixels(clip: torch.Tensor, resolution: Sequence[int]) -> torch.Tensor:
    """Perspective-divide clip coordinates and map them to continuous pixel coordinates.

    Args:
        clip: ``[B, N, 4]`` float clip coordinates (x, y, z, w) with w > 0 (points in front of the
            camera; w <= 0 gives meaningless results).
        resolution: ``(H, W)`` image size in pixels.

    Returns:
        ``[B, N, 2]`` pixel coordinates ``(x, y)`` (column, row), same dtype/device; differentiable.

    Convention:
        ``pix_x = (ndc_x * 0.5 + 0.5) * W``, ``pix_y = (0.5 - ndc_y * 0.5) * H``: pixel (column x,
        row y) has its centre at ``(x + 0.5, y + 0.5)``; row 0 is the top of the image; the image
        spans ``[0, W] x [0, H]`` and its centre is ``(W / 2, H / 2)``. This is the rasterizer's
        convention; OpenCV's (centres at integer coordinates) is this minus 0.5.

    Example:
        >>> import torch
        >>> from nirvis.render.camera import clip_to_pixels
        >>> clip_to_pixels(torch.tensor([[[0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 1.0]]]), (100, 200)).tolist()
        [[[100.0, 50.0], [200.0, 0.0]]]
    """
    check_shape(clip, ["B", "N", 4], "clip", kind=torch.Tensor)
    _check_float(clip, "clip")
    h, w = _check_resolution(resolution)
    ndc = clip[..., :2] / clip[..., 3:4]
    x = (ndc[..., 0] * 0.5 + 0.5) * w
    y = (0.5 - ndc[..., 1] * 0.5) * h
    return torch.stack([x, y], dim=-1)


def project_points(points_mm: torch.Tensor, mvp: torch.Tensor, resolution: Sequence[int]) -> torch.Tensor:
    """Project head-frame points (e.g. 3D landmarks) to pixel coordinates: ``to_clip`` then
    ``clip_to_pixels``.

    Args:
        points_mm: ``[B, N, 3]`` (or ``[1, N, 3]``) float points in mm, in front of the camera.
        mvp: ``[B, 4, 4]`` float matrices from ``model_view_projection``.
        resolution: ``(H, W)`` of the image the matrices were built for.

    Returns:
        ``[B, N, 2]`` pixel coordinates (x, y), dtype/device of ``mvp``.

    Convention:
        Pixel centres at ``(x + 0.5, y + 0.5)``, row 0 at the top (see ``clip_to_pixels``).

    Example:
        >>> import torch
        >>> from nirvis.render.camera import PerspectiveCamera, model_view_projection, project_points
        >>> cam = PerspectiveCamera(resolution=(120, 160))
        >>> mvp = model_view_projection(cam, torch.eye(3)[None], torch.zeros(1, 3))
        >>> project_points(torch.zeros(1, 1, 3), mvp, cam.resolution).tolist()   # target -> centre
        [[[80.0, 60.0]]]
    """
    return clip_to_pixels(to_clip(points_mm, mvp), resolution)
