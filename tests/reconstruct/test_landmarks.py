"""nirvis.reconstruct.landmarks: the 478-point MediaPipe face mesh of photos (a real photo, composed
group pictures, blank and tiny images) and the literal index sets."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nirvis.reconstruct import landmarks as lm

mediapipe = pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")
cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def detector():
    with lm.FaceMeshDetector() as d:
        yield d


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()          # 512 x 512 RGB, one face (public-domain NASA photo)


def test_index_sets_match_mediapipe():
    from mediapipe.python.solutions import face_mesh_connections as c

    oval = {i for e in c.FACEMESH_FACE_OVAL for i in e}
    assert set(lm.FACE_OVAL) == oval and len(lm.FACE_OVAL) == len(oval)
    ring = list(lm.FACE_OVAL) + [lm.FACE_OVAL[0]]                  # consecutive points are connected
    edges = {frozenset(e) for e in c.FACEMESH_FACE_OVAL}
    assert all(frozenset((a, b)) in edges for a, b in zip(ring, ring[1:]))
    assert set(lm.RIGHT_IRIS[1:]) == {i for e in c.FACEMESH_RIGHT_IRIS for i in e}
    assert set(lm.LEFT_IRIS[1:]) == {i for e in c.FACEMESH_LEFT_IRIS for i in e}
    right_eye = {i for e in c.FACEMESH_RIGHT_EYE for i in e}
    left_eye = {i for e in c.FACEMESH_LEFT_EYE for i in e}
    assert {33, 133} <= right_eye and {362, 263} <= left_eye


def test_photo_gives_478_points_in_photo_pixels(detector, astronaut):
    r = detector(astronaut)
    assert r.ok and r.status == "ok" and r.reason == "" and r.n_faces == 1 and r.flags == ()
    assert r.points.shape == (lm.N_POINTS, 2) and r.points.dtype == np.float64
    assert r.z.shape == (lm.N_POINTS,) and r.z.dtype == np.float64
    x0, y0, x1, y1 = r.box
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 200                       # the astronaut's face
    inside = ((r.points >= [x0 - 30, y0 - 60]) & (r.points <= [x1 + 30, y1 + 30])).all(1)
    assert inside.all()
    right, left = r.points[lm.RIGHT_IRIS_CENTRE], r.points[lm.LEFT_IRIS_CENTRE]
    assert right[0] < left[0]                                     # subject's right eye on the image left
    assert r.face_size_px == pytest.approx(float(np.linalg.norm(right - left)))
    assert 35 < r.face_size_px < 55
    nose, (m_r, m_l) = r.points[lm.NOSE_TIP], r.points[list(lm.MOUTH_CORNERS)]
    assert right[1] < nose[1] < m_r[1] and m_r[0] < nose[0] < m_l[0]
    assert r.z[lm.NOSE_TIP] < np.median(r.z)                      # the nose is nearer the camera


def test_points_follow_shifts_and_scales_of_the_photo(detector, astronaut):
    """The crop, resize and back-mapping keep OpenCV's pixel convention: a shifted or 2x photo
    gives the same points, shifted or mapped by p -> (p + 0.5) * 2 - 0.5 (MediaPipe's own jitter
    between crops is about half a pixel)."""
    ref = detector(astronaut).points
    shifted = detector(cv2.copyMakeBorder(astronaut, 11, 0, 37, 0, cv2.BORDER_CONSTANT, value=0))
    d = np.linalg.norm(shifted.points - (ref + [37, 11]), axis=1)
    assert np.median(d) < 0.6
    big = detector(cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_LINEAR))
    d = np.linalg.norm(big.points - ((ref + 0.5) * 2 - 0.5), axis=1)
    assert np.median(d) < 1.2                                     # 0.6 px of the original photo
    assert big.face_size_px == pytest.approx(2 * detector(astronaut).face_size_px, rel=0.03)


def test_grey_and_border_faces(detector, astronaut):
    grey = detector(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))
    assert grey.ok and "grey_input" in grey.flags
    cut = detector(np.ascontiguousarray(astronaut[60:, 150:]))     # the face near the top-left corner
    assert cut.ok and "padded_crop" in cut.flags
    assert np.median(np.linalg.norm(cut.points + [150, 60] - detector(astronaut).points, axis=1)) < 1.5


def test_group_picture_takes_the_largest_face(detector, astronaut):
    face = astronaut[20:260, 110:350]                             # 240 x 240 around the face
    canvas = np.full((480, 640, 3), 200, np.uint8)
    canvas[240:480, 400:640] = face                               # large copy
    small = cv2.resize(face, (180, 180), interpolation=cv2.INTER_AREA)
    canvas[20:200, 20:200] = small
    canvas[250:430, 220:400] = small
    r = detector(canvas)
    assert r.ok and r.n_faces == 3 and "several_faces" in r.flags
    assert r.points[:, 0].min() > 400 and r.points[:, 1].min() > 240   # on the large copy
    ref = detector(astronaut).points
    assert np.median(np.linalg.norm(r.points - (ref + [290, 220]), axis=1)) < 1.5


def test_no_face_and_too_small(detector, astronaut):
    blank = detector(np.zeros((256, 256, 3), np.uint8))
    assert blank.status == "no_face" and not blank.ok and blank.reason
    assert blank.points is None and blank.z is None and blank.box is None and blank.n_faces == 0
    noise = detector(np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8))
    assert noise.status == "no_face"
    tiny = detector(cv2.resize(astronaut, (64, 64), interpolation=cv2.INTER_AREA))
    assert tiny.status == "too_small" and "px apart" in tiny.reason
    assert tiny.points.shape == (lm.N_POINTS, 2) and tiny.face_size_px < lm.MIN_FACE_SIZE_PX


def test_bad_input_and_missing_mediapipe(detector, monkeypatch):
    with pytest.raises(ValueError, match="uint8"):
        detector(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="expected shape"):
        detector(np.zeros((64, 64, 4), np.uint8))
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(lm.DetectorUnavailableError, match="mediapipe 0.10.14"):
        lm.FaceMeshDetector()


def test_inner_lips_are_the_inner_ring_of_mediapipe_lips():
    from mediapipe.python.solutions import face_mesh_connections as c

    edges = {frozenset(e) for e in c.FACEMESH_LIPS}
    ring = list(lm.INNER_LIPS) + [lm.INNER_LIPS[0]]
    assert len(set(lm.INNER_LIPS)) == 20 and all(frozenset((a, b)) in edges for a, b in zip(ring, ring[1:]))
    assert set(lm.MOUTH_CORNERS).isdisjoint(lm.INNER_LIPS)            # the outer ring's corners


def test_mouth_opening_is_left_out_of_the_texture(detector, astronaut):
    from nirvis.reconstruct.identity import photo_surface_mask

    r = detector(astronaut)
    iod = float(np.linalg.norm(r.points[lm.RIGHT_IRIS_CENTRE] - r.points[lm.LEFT_IRIS_CENTRE]))
    mask = photo_surface_mask(astronaut.shape[:2], r.points, iod)
    inner = r.points[list(lm.INNER_LIPS)]
    cx, cy = np.rint(inner.mean(0)).astype(int)
    assert mask[cy, cx] == 0                                            # her smile shows teeth there
    for i in (lm.NOSE_TIP, lm.RIGHT_IRIS_CENTRE, 0, 17, 152):               # nose, eye, outer lips, chin
        x, y = np.rint(r.points[i]).astype(int)
        assert mask[y, x] == 1
    teeth = astronaut[mask == 0].mean()
    assert teeth > astronaut[cy - 40:cy - 20, cx - 10:cx + 10].mean() * 0.9   # bright teeth, not skin
    assert (mask == 0).sum() < 0.01 * mask.size
