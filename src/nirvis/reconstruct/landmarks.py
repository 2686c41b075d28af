"""Photo landmarks: MediaPipe's 478-point face mesh (468 mesh points + 10 iris points) of one face.

``FaceMeshDetector()(image)`` finds the faces of a uint8 RGB photo with MediaPipe's face detector
(full-range model first, then the short-range one), takes the largest, crops a square around it
(``CROP_MARGIN`` times the box side, padded with black where it leaves the image), resizes the
crop to ``CROP_SIDE`` pixels and runs the face mesh (static images, iris refinement, one face) on
it; the points are mapped back to the photo. When the detector finds nothing, the face mesh runs
on the whole photo (it has a detector of its own). Every outcome is a ``FaceMeshResult`` with a
``status`` and a ``reason`` (no exceptions for photos without a usable face), so a batch can
report and continue.

Convention:
    Pixels as in ``nirvis.reconstruct.photo_camera`` (OpenCV / MediaPipe): (x, y), pixel centres
    at integers, row 0 at the top; MediaPipe's normalised ``x`` becomes ``x * W - 0.5``.
    ``z`` is MediaPipe's relative depth (smaller = nearer the camera, about 0 at the face's
    centre), converted to pixels of the photo with the scale of ``x``.
    Left/right are the subject's: the right iris centre 468 appears on the image left of a
    frontal photo.

Needs ``mediapipe==0.10.14`` (only when a detector is created; nothing here imports it at module
level). The index sets below are literals, so using them needs no mediapipe.

Example:
    >>> from nirvis.reconstruct.landmarks import FaceMeshDetector        # doctest: +SKIP
    >>> result = FaceMeshDetector()(rgb)                                 # doctest: +SKIP
    >>> result.status, result.points.shape                               # doctest: +SKIP
    ('ok', (478, 2))
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from nirvis.errors import NirvisError
from nirvis.shapes import check_shape

__all__ = ["N_POINTS", "N_MESH_POINTS", "FACE_OVAL", "RIGHT_IRIS", "LEFT_IRIS", "RIGHT_IRIS_CENTRE",
           "LEFT_IRIS_CENTRE", "NOSE_TIP", "MOUTH_CORNERS", "EYE_CORNERS", "INNER_LIPS", "STATUSES", "MIN_FACE_SIZE_PX",
           "DetectorUnavailableError", "FaceMeshResult", "FaceMeshDetector"]

#: Points of the refined face mesh: 468 mesh points, then 5 right-iris and 5 left-iris points.
N_POINTS = 478
N_MESH_POINTS = 468

#: The face-oval contour (vertices of MediaPipe's ``FACEMESH_FACE_OVAL`` connections), in order
#: around the face starting at the top of the forehead (10) and going down the subject's left
#: side (image right) first. These points lie on the silhouette, so they slide over the head
#: surface as the head turns.
FACE_OVAL: tuple[int, ...] = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                              400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                              54, 103, 67, 109)
#: Iris points (centre first, then the four ring points) of the subject's right and left eye.
RIGHT_IRIS: tuple[int, ...] = (468, 469, 470, 471, 472)
LEFT_IRIS: tuple[int, ...] = (473, 474, 475, 476, 477)
RIGHT_IRIS_CENTRE = 468
LEFT_IRIS_CENTRE = 473
NOSE_TIP = 1
#: Mouth corners (subject's right, left).
MOUTH_CORNERS: tuple[int, int] = (61, 291)
#: Eye corners: (right outer, right inner, left inner, left outer).
EYE_CORNERS: tuple[int, int, int, int] = (33, 133, 362, 263)
#: The inner lip contour (the inner ring of MediaPipe's ``FACEMESH_LIPS``), in order: the mouth opening.
INNER_LIPS: tuple[int, ...] = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178,
                               88, 95)

#: ``FaceMeshResult.status`` values.
STATUSES = ("ok", "no_face", "too_small")
#: Below this distance between the iris centres (pixels) the points are too coarse to use.
MIN_FACE_SIZE_PX = 12.0
#: Crop side relative to the detector box's longer side, and the crop's side after resizing.
CROP_MARGIN = 1.8
CROP_SIDE = 320
#: Face detector models tried in order (MediaPipe ``model_selection``: 1 full range, 0 short range).
DETECTOR_MODELS = (1, 0)


class DetectorUnavailableError(NirvisError, RuntimeError):
    """MediaPipe, which the landmark detector needs, is not installed."""


@dataclass(frozen=True)
class FaceMeshResult:
    """The face mesh of one photo, or why there is none.

    Attributes:
        status: ``ok``; ``no_face`` (no face found; the arrays are None); ``too_small`` (a face
            was found but ``face_size_px < MIN_FACE_SIZE_PX``; the arrays are filled).
        reason: one line for reports ("" when ok).
        points: float64 [478, 2] (x, y) photo pixels (see the module convention), or None.
        z: float64 [478] relative depth in photo pixels (smaller = nearer), or None.
        box: (x0, y0, x1, y1) photo pixels of the face-detector box of the face used (the mesh
            points' bounding box when the mesh ran on the whole photo), or None.
        n_faces: faces the detector found (0 when it found none, even if the mesh found one).
        face_size_px: distance between the iris centres 468 and 473 (pixels; 0 without points).
        score: the detector's confidence for the face used (0 when the mesh ran on the whole photo).
        flags: notes, any of ``several_faces`` (the largest was taken), ``short_range_detector``
            (only the short-range model found it), ``full_image_mesh`` (no detection: the mesh
            ran on the whole photo), ``padded_crop`` (the crop left the photo), ``grey_input``.
    """

    status: str
    reason: str = ""
    points: Optional[np.ndarray] = None
    z: Optional[np.ndarray] = None
    box: Optional[tuple[float, float, float, float]] = None
    n_faces: int = 0
    face_size_px: float = 0.0
    score: float = 0.0
    flags: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def import_mediapipe(purpose: str = "finding photo landmarks") -> tuple[Any, Any, Any]:
    """(mediapipe, face_detection, face_mesh) imported with its log output and warnings muted; the
    one place nirvis imports MediaPipe (``evaluate.align`` uses it too).

    Raises:
        DetectorUnavailableError: MediaPipe is missing; the message starts with ``purpose``.
    """
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import mediapipe as mp
            from mediapipe.python.solutions import face_detection, face_mesh
        except ImportError as exc:
            raise DetectorUnavailableError(
                f"{purpose} needs mediapipe 0.10.14 (`make install` installs it; by hand: "
                "pip install --no-deps mediapipe==0.10.14 absl-py attrs flatbuffers 'protobuf>=4.25.3,<5'): "
                f"{exc}") from None
    return mp, face_detection, face_mesh


class FaceMeshDetector:
    """The 478 face-mesh points of the largest face of a photo (see the module docstring).

    Args:
        min_detection_confidence: of the face detector and the face mesh's own detector.

    Call with a uint8 ``[H, W, 3]`` RGB (or ``[H, W]`` grey) photo; returns a ``FaceMeshResult``.
    Holds MediaPipe graphs: reuse one detector for many photos; ``close()`` (or ``with``) frees them.
    """

    name = "mediapipe-facemesh-478"

    def __init__(self, min_detection_confidence: float = 0.5):
        mp, face_detection, face_mesh = import_mediapipe()
        self.version = str(getattr(mp, "__version__", "unknown"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._detectors = [face_detection.FaceDetection(model_selection=m,
                                                            min_detection_confidence=min_detection_confidence)
                               for m in DETECTOR_MODELS]
            self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                            min_detection_confidence=min_detection_confidence)

    def close(self) -> None:
        for g in self._detectors + [self._mesh]:
            g.close()
        self._detectors = []

    def __enter__(self) -> "FaceMeshDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------- steps

    def detect_faces(self, rgb: np.ndarray) -> tuple[list[tuple[np.ndarray, float]], int]:
        """Face boxes of ``rgb`` uint8 [H, W, 3]: ([(float64 [4] (x0, y0, x1, y1) pixels, score),
        ...] largest first, the model that found them, -1 for none)."""
        h, w = rgb.shape[:2]
        for model, det in zip(DETECTOR_MODELS, self._detectors):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = det.process(rgb)
            boxes = []
            for d in res.detections or []:
                b = d.location_data.relative_bounding_box
                box = np.array([b.xmin * w - 0.5, b.ymin * h - 0.5, (b.xmin + b.width) * w - 0.5,
                                (b.ymin + b.height) * h - 0.5])
                if b.width > 0 and b.height > 0:
                    boxes.append((box, float(d.score[0]) if d.score else 0.0))
            if boxes:
                boxes.sort(key=lambda bs: -(bs[0][2] - bs[0][0]) * (bs[0][3] - bs[0][1]))
                return boxes, model
        return [], -1

    def mesh(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        """float64 [478, 3] (x, y, z) of the face mesh on ``rgb`` uint8 [S, S', 3], in that
        image's pixels (z scaled like x), or None."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = self._mesh.process(np.ascontiguousarray(rgb))
        if not res.multi_face_landmarks:
            return None
        lm = res.multi_face_landmarks[0].landmark
        if len(lm) != N_POINTS:
            return None
        h, w = rgb.shape[:2]
        xyz = np.array([[p.x, p.y, p.z] for p in lm], np.float64)
        return np.stack([xyz[:, 0] * w - 0.5, xyz[:, 1] * h - 0.5, xyz[:, 2] * w], axis=1)

    # ------------------------------------------------------------------------------- the call

    def __call__(self, image: np.ndarray) -> FaceMeshResult:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise ValueError(f"FaceMeshDetector: expected a uint8 numpy image, got "
                             f"{getattr(image, 'dtype', type(image).__name__)}")
        flags: list[str] = []
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
            flags.append("grey_input")
        check_shape(image, ["H", "W", 3], "FaceMeshDetector image", kind=np.ndarray)
        rgb = np.ascontiguousarray(image)
        boxes, model = self.detect_faces(rgb)
        if model == 0:
            flags.append("short_range_detector")
        if len(boxes) > 1:
            flags.append("several_faces")
        xyz, box, score = None, None, 0.0
        if boxes:
            box, score = boxes[0]
            xyz, padded = self._mesh_in_crop(rgb, box)
            if padded:
                flags.append("padded_crop")
        if xyz is None:                                  # no detection, or the mesh missed the crop
            xyz = self.mesh(rgb)
            if xyz is not None:
                flags.append("full_image_mesh")
                if box is None:
                    box = np.concatenate([xyz[:, :2].min(0), xyz[:, :2].max(0)])
        if xyz is None:
            reason = ("the face detector found no face, nor did the face mesh on the whole image" if not boxes else
                      f"the face detector found {len(boxes)} face(s) but the face mesh found none")
            return FaceMeshResult("no_face", reason, n_faces=len(boxes), flags=tuple(flags))
        size = float(np.linalg.norm(xyz[RIGHT_IRIS_CENTRE, :2] - xyz[LEFT_IRIS_CENTRE, :2]))
        status, reason = "ok", ""
        if size < MIN_FACE_SIZE_PX:
            status = "too_small"
            reason = f"the iris centres are {size:.1f} px apart (need >= {MIN_FACE_SIZE_PX:g} px)"
        return FaceMeshResult(status, reason, points=xyz[:, :2].copy(), z=xyz[:, 2].copy(),
                              box=tuple(float(c) for c in box), n_faces=len(boxes), face_size_px=size,
                              score=score, flags=tuple(flags))

    def _mesh_in_crop(self, rgb: np.ndarray, box: np.ndarray) -> tuple[Optional[np.ndarray], bool]:
        """The face mesh (float64 [478, 3] photo pixels) on the square crop around ``box``, and
        whether the crop needed padding."""
        import cv2

        h, w = rgb.shape[:2]
        side = max(int(round(CROP_MARGIN * max(box[2] - box[0], box[3] - box[1]))), 8)
        cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
        x0, y0 = int(round(cx - (side - 1) / 2.0)), int(round(cy - (side - 1) / 2.0))
        pad = (max(0, -y0), max(0, y0 + side - h), max(0, -x0), max(0, x0 + side - w))   # top, bottom, left, right
        crop = rgb[max(0, y0):min(h, y0 + side), max(0, x0):min(w, x0 + side)]
        if any(pad):
            crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_CONSTANT, value=0)
        interp = cv2.INTER_AREA if side > CROP_SIDE else cv2.INTER_LINEAR
        scaled = cv2.resize(crop, (CROP_SIDE, CROP_SIDE), interpolation=interp)
        xyz = self.mesh(scaled)
        if xyz is None:
            return None, any(pad)
        s = side / CROP_SIDE                              # OpenCV resize: c_crop = (c + 0.5) * s - 0.5
        xyz[:, :2] = (xyz[:, :2] + 0.5) * s - 0.5 + np.array([x0, y0])
        xyz[:, 2] *= s
        return xyz, any(pad)
