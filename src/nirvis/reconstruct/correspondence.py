"""Where MediaPipe's 478 face-mesh points lie on the head model (the package data
``nirvis/assets/head_model/mediapipe_478.npz``, built by ``tools/build_mediapipe_correspondence.py``).

Each point is a surface point (triangle + barycentric) of the template topology
(``load_head_model().template``: 5336 vertices, 10536 triangles), which every procedural identity
shares, so ``positions(vertices)`` gives the 478 points on any head of that topology. They were
found by running ``nirvis.reconstruct.landmarks.FaceMeshDetector`` on raw renders of procedural
identities in several poses and back-projecting the detections onto the rendered heads (robust
median in template space, see the tool's docstring).

Convention:
    Surface points are parametric places: on the Loop-subdivided head the renderer draws (map
    them with ``SubdivisionOperator.map_points``) they are exactly where the detections were
    back-projected; evaluated on the coarse mesh (``positions``) they move by well under 1 mm.
    Positions are in the head frame (mm, x towards the subject's left, y up, z out of the face).
    ``sliding`` points (the face-oval contour, ``landmarks.FACE_OVAL``) lie on the silhouette
    of a frontal view and slide over the head as it turns; their place is that of frontal views.
    ``mirror[i]`` is MediaPipe's own left/right partner of point i (i itself on the midline),
    found from flipped images, independent of the head model.

Example:
    >>> from nirvis.reconstruct.correspondence import load_mediapipe_correspondence
    >>> corr = load_mediapipe_correspondence()
    >>> len(corr.points), corr.spread_mm.dtype, int(corr.sliding.sum()), corr.provenance["mediapipe"]
    (478, dtype('float32'), 36, '0.10.14')
    >>> from nirvis.faces import load_head_model
    >>> corr.positions(load_head_model().template.vertices).shape
    (478, 3)
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from nirvis.faces import FaceDataError, SurfacePoints, load_head_model
from nirvis.faces.head_model import ASSET_DIR
from nirvis.reconstruct.landmarks import N_POINTS

__all__ = ["CORRESPONDENCE_FILE", "MediaPipeCorrespondence", "load_mediapipe_correspondence"]

CORRESPONDENCE_FILE = "mediapipe_478.npz"
_FIELDS = ("face_index", "barycentric", "spread_mm", "n_obs", "sliding", "mirror", "provenance")


@dataclass(frozen=True, eq=False)
class MediaPipeCorrespondence:
    """MediaPipe's 478 points as surface points of the head model's template topology.

    Attributes:
        points: SurfacePoints (face_index int32 [478] into the template's triangles,
            barycentric float32 [478, 3]).
        spread_mm: float32 [478], median distance (mm, template space) of the build's kept
            observations to the chosen point: how far the detector's point wanders over
            identities, poses and lighting (a weight for fitting: e.g. ``1 / spread_mm**2``).
        n_obs: int32 [478], observations kept per point.
        sliding: bool [478], contour points whose place depends on the pose.
        mirror: int32 [478], left/right partner of each point (an involution).
        provenance: the build's record (mediapipe and renderer versions, identities, poses,
            seeds, statistics).
    """

    points: SurfacePoints
    spread_mm: np.ndarray
    n_obs: np.ndarray
    sliding: np.ndarray
    mirror: np.ndarray
    provenance: dict[str, Any]

    def positions(self, vertices: np.ndarray, faces: Optional[np.ndarray] = None) -> np.ndarray:
        """float32 [..., 478, 3] head-frame positions (mm) of the points on heads ``vertices``
        float [..., V, 3] of the template topology (``faces`` int [F, 3]: default the template's
        triangles; pass another mesh's only if it has the template's triangle order)."""
        f = load_head_model().template.faces if faces is None else np.asarray(faces)
        v = np.asarray(vertices)
        if v.ndim < 2 or v.shape[-1] != 3 or int(f.max()) >= v.shape[-2]:
            raise ValueError(f"MediaPipeCorrespondence.positions: expected vertices [..., V, 3] of the template "
                             f"topology, got {list(v.shape)}")
        return self.points.positions(v, f)


def _read(path: Path) -> MediaPipeCorrespondence:
    if not path.is_file():
        raise FaceDataError(f"{path}: MediaPipe correspondence asset not found "
                            "(rebuild it with tools/build_mediapipe_correspondence.py)")
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in _FIELDS if k not in z.files]
        if missing:
            raise FaceDataError(f"{path}: missing arrays {missing}")
        data = {k: z[k] for k in _FIELDS}
    points = SurfacePoints(data["face_index"], data["barycentric"])
    if len(points) != N_POINTS:
        raise FaceDataError(f"{path}: face_index: expected {N_POINTS} points, got {len(points)}")
    points.validate(len(load_head_model().template.faces), str(path))
    return MediaPipeCorrespondence(points=points, spread_mm=data["spread_mm"].astype(np.float32),
                                   n_obs=data["n_obs"].astype(np.int32), sliding=data["sliding"].astype(bool),
                                   mirror=data["mirror"].astype(np.int32),
                                   provenance=json.loads(str(data["provenance"])))


@functools.lru_cache(maxsize=2)
def load_mediapipe_correspondence(path: Optional[str] = None) -> MediaPipeCorrespondence:
    """The MediaPipe correspondence (cached per process): the package data
    ``nirvis/assets/head_model/mediapipe_478.npz`` (or ``$NIRVIS_ASSETS/head_model/``), or ``path``."""
    if path:
        return _read(Path(path))
    with importlib.resources.as_file(ASSET_DIR / CORRESPONDENCE_FILE) as file:
        return _read(Path(file))
