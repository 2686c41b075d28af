"""The pinhole camera of a photo, in OpenCV convention (one owner for reconstruct's projections).

Frames:
    head frame: the head model's (mm, origin between the eyeball centres, x towards the subject's
        left, y up, z out of the face towards a frontal camera).
    camera frame: OpenCV's (x right, y down, z along the optical axis, away from the camera).
    pixels: (x, y) with pixel centres at integers, row 0 at the top (OpenCV / MediaPipe ``* size - 0.5``).

A head point ``X`` maps to the camera frame as ``R @ X + t``; a frontal head at distance ``d``
has ``R = FRONTAL = diag(1, -1, -1)``, ``t = (0, 0, d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nirvis.render.camera import FULL_FRAME_DIAGONAL_MM

#: Rotation of a head that faces the camera squarely (head frame -> camera frame).
FRONTAL = np.diag([1.0, -1.0, -1.0])

#: Default horizontal field of view when a photo carries no focal length (EXIF): 50 degrees,
#: about a 38 mm (35 mm-equivalent) lens, between phone main cameras (~26 mm) and portrait lenses.
DEFAULT_HFOV_DEG = 50.0


@dataclass(frozen=True)
class PhotoCamera:
    """Intrinsics of one photo.

    Attributes:
        width, height: image size in pixels.
        focal_px: focal length in pixels (square pixels).
        cx, cy: principal point in pixels (default: the image centre, ``(W - 1) / 2``).
    """

    width: int
    height: int
    focal_px: float
    cx: float
    cy: float

    @staticmethod
    def default(width: int, height: int, focal_35mm: float | None = None) -> "PhotoCamera":
        """The camera of a ``width x height`` photo: focal length from a 35 mm-equivalent focal
        length (EXIF ``FocalLengthIn35mmFilm``; like the renderer, ``nirvis.render.camera.focal_length_px``,
        it relates the image diagonal to the 43.27 mm diagonal of a 36 x 24 mm frame, the CIPA
        DC-008 definition) or else ``DEFAULT_HFOV_DEG`` over the longer side."""
        long_side = max(width, height)
        if focal_35mm is not None and focal_35mm > 0:
            f = focal_35mm * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
        else:
            f = 0.5 * long_side / math.tan(math.radians(DEFAULT_HFOV_DEG) / 2)
        return PhotoCamera(int(width), int(height), float(f), (width - 1) / 2.0, (height - 1) / 2.0)

    @property
    def matrix(self) -> np.ndarray:
        """float64 [3, 3] intrinsic matrix K."""
        return np.array([[self.focal_px, 0.0, self.cx], [0.0, self.focal_px, self.cy], [0.0, 0.0, 1.0]])


def to_camera(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """float64 [..., 3] camera-frame points (mm) of head-frame points ``points`` [..., 3] (mm)."""
    return np.asarray(points, np.float64) @ np.asarray(rotation, np.float64).T + np.asarray(translation, np.float64)


def project(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray, camera: PhotoCamera) -> np.ndarray:
    """float64 [..., 2] pixel positions of head-frame points [..., 3] (mm); points behind the
    camera get NaN."""
    c = to_camera(points, rotation, translation)
    z = c[..., 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = camera.focal_px * c[..., :2] / z + np.array([camera.cx, camera.cy])
    uv[(z[..., 0] <= 0)] = np.nan
    return uv


def head_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a head -> camera rotation, in the renderer's convention
    (``nirvis.render.camera.pose_rotation``: ``rotation = FRONTAL @ R_roll @ R_pitch @ R_yaw``;
    positive yaw turns the face to the subject's left, positive pitch looks up)."""
    r = FRONTAL.T @ np.asarray(rotation, np.float64)
    pitch = -np.arcsin(np.clip(r[2, 1], -1.0, 1.0))
    yaw = np.arctan2(-r[2, 0], r[2, 2])
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    r_roll = r @ r_yaw.T @ r_pitch.T
    roll = np.arctan2(r_roll[1, 0], r_roll[0, 0])
    return float(np.degrees(yaw)), float(np.degrees(pitch)), float(np.degrees(roll))
