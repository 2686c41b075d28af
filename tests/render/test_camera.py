"""Camera and pose: sign conventions, pinhole geometry, OpenGL clip space, pixel convention."""

import dataclasses
import math

import pytest
import torch

from nirvis.render.camera import (PerspectiveCamera, clip_to_pixels, focal_length_px, model_view_projection,
                                  pose_rotation, project_points, projection_matrix, to_clip, view_matrix)

NOSE_TIP = torch.tensor([0.0, -35.0, 30.0], dtype=torch.float64)   # roughly where a nose tip sits (mm)
LEFT_EYE = torch.tensor([32.0, 0.0, 0.0], dtype=torch.float64)     # subject's left eye centre (+x)


def _project(points, yaw=0.0, pitch=0.0, roll=0.0, camera=None, translation=(0.0, 0.0, 0.0)):
    cam = camera or PerspectiveCamera(resolution=(240, 320))
    r = pose_rotation(torch.tensor([yaw], dtype=torch.float64), torch.tensor([pitch], dtype=torch.float64),
                      torch.tensor([roll], dtype=torch.float64))
    mvp = model_view_projection(cam, r, torch.tensor([translation], dtype=torch.float64))
    px = project_points(points.reshape(1, -1, 3), mvp, cam.resolution)[0]
    return px[0] if points.ndim == 1 else px


def test_rotations_are_proper_orthonormal():
    g = torch.Generator().manual_seed(1)
    angles = (torch.rand(3, 64, generator=g, dtype=torch.float64) - 0.5) * 360.0
    r = pose_rotation(*angles)
    assert r.shape == (64, 3, 3) and r.dtype == torch.float64
    eye = torch.eye(3, dtype=torch.float64).expand(64, 3, 3)
    torch.testing.assert_close(r @ r.transpose(1, 2), eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(64, dtype=torch.float64), atol=1e-12, rtol=0)


def test_zero_pose_is_identity_and_composition_order():
    z = torch.zeros(2)
    torch.testing.assert_close(pose_rotation(z, z, z), torch.eye(3).expand(2, 3, 3))
    y, p, r = torch.tensor([20.0]), torch.tensor([-15.0]), torch.tensor([10.0])
    zero = torch.zeros(1)
    expected = pose_rotation(zero, zero, r) @ pose_rotation(zero, p, zero) @ pose_rotation(y, zero, zero)
    torch.testing.assert_close(pose_rotation(y, p, r), expected)


def test_subject_left_is_image_right_at_frontal_pose():
    px = _project(LEFT_EYE)
    assert px[0] > 160 + 10 and abs(px[1] - 120) < 1e-9


def test_positive_yaw_moves_the_nose_to_the_image_right():
    centre = _project(NOSE_TIP)[0]
    assert _project(NOSE_TIP, yaw=20.0)[0] > centre + 5
    assert _project(NOSE_TIP, yaw=-20.0)[0] < centre - 5
    # and it is a rotation about the vertical axis: the nose height (y) is unchanged in the head frame
    r = pose_rotation(torch.tensor([20.0], dtype=torch.float64), torch.zeros(1), torch.zeros(1))[0]
    assert abs(float((r @ NOSE_TIP)[1] - NOSE_TIP[1])) < 1e-12


def test_positive_pitch_is_looking_up():
    r = pose_rotation(torch.zeros(1), torch.tensor([20.0]), torch.zeros(1))[0]
    forward = r @ torch.tensor([0.0, 0.0, 1.0])      # the face's viewing direction
    assert forward[1] > 0.3 and abs(float(forward[0])) < 1e-7
    centre = _project(NOSE_TIP)[1]
    assert _project(NOSE_TIP, pitch=20.0)[1] < centre - 5     # rows grow downward: up = smaller row


def test_positive_roll_raises_the_subjects_left_eye():
    level = _project(LEFT_EYE)
    rolled = _project(LEFT_EYE, roll=15.0)
    assert rolled[1] < level[1] - 5          # the image-right eye moves up: counter-clockwise on screen
    right_eye = -LEFT_EYE
    assert _project(right_eye, roll=15.0)[1] > level[1] + 5


def test_target_projects_to_the_image_centre():
    cam = PerspectiveCamera(distance_mm=550.0, focal_mm=70.0, resolution=(101, 150), target_mm=(3.0, -12.0, 8.0))
    px = _project(torch.tensor([3.0, -12.0, 8.0], dtype=torch.float64), camera=cam)
    torch.testing.assert_close(px, torch.tensor([75.0, 50.5], dtype=torch.float64), atol=1e-9, rtol=0)


def test_offset_point_projects_with_the_focal_length():
    cam = PerspectiveCamera(distance_mm=500.0, focal_mm=43.2666, resolution=(300, 400))
    f = focal_length_px(cam)
    assert f == pytest.approx(43.2666 * 500.0 / math.hypot(36.0, 24.0))     # diagonal convention
    assert f == pytest.approx(500.0, rel=1e-5)
    px = _project(torch.tensor([[10.0, 0.0, 0.0], [0.0, 20.0, 0.0], [10.0, 0.0, 100.0]], dtype=torch.float64),
                  camera=cam)
    torch.testing.assert_close(px[0], torch.tensor([200.0 + f * 10.0 / 500.0, 150.0], dtype=torch.float64))
    torch.testing.assert_close(px[1], torch.tensor([200.0, 150.0 - f * 20.0 / 500.0], dtype=torch.float64))
    torch.testing.assert_close(px[2], torch.tensor([200.0 + f * 10.0 / 400.0, 150.0], dtype=torch.float64))


def test_translation_moves_the_head_like_a_point_offset():
    cam = PerspectiveCamera(resolution=(128, 128))
    moved = _project(torch.zeros(3, dtype=torch.float64), camera=cam, translation=(15.0, -5.0, 0.0))
    same = _project(torch.tensor([15.0, -5.0, 0.0], dtype=torch.float64), camera=cam)
    torch.testing.assert_close(moved, same)


def test_clip_space_is_opengl():
    cam = PerspectiveCamera(distance_mm=600.0, near_mm=100.0, far_mm=2000.0)
    v = view_matrix(cam, dtype=torch.float64)
    p = projection_matrix(cam, dtype=torch.float64)
    pts = torch.tensor([[0.0, 0.0, 500.0, 1.0], [0.0, 0.0, -1400.0, 1.0], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    clip = (p @ v @ pts.T).T
    ndc_z = clip[:, 2] / clip[:, 3]
    torch.testing.assert_close(ndc_z[:2], torch.tensor([-1.0, 1.0], dtype=torch.float64))   # near, far planes
    assert clip[2, 3] == pytest.approx(600.0)         # w = distance in front of the camera
    assert -1.0 < ndc_z[2] < 1.0


def test_pixel_convention_of_clip_to_pixels():
    clip = torch.tensor([[[-1.0, 1.0, 0.0, 1.0], [1.0, -1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 2.0]]])
    px = clip_to_pixels(clip, (10, 20))
    torch.testing.assert_close(px, torch.tensor([[[0.0, 0.0], [20.0, 10.0], [10.0, 5.0]]]))  # top-left, bottom-right


def test_batches_broadcast_and_keep_dtype():
    cam = PerspectiveCamera()
    r = pose_rotation(torch.tensor([0.0, 30.0, -30.0], dtype=torch.float64), 0.0, 0.0)
    mvp = model_view_projection(cam, r, torch.zeros(3, 3, dtype=torch.float64))
    assert mvp.shape == (3, 4, 4) and mvp.dtype == torch.float64
    clip = to_clip(NOSE_TIP.reshape(1, 1, 3), mvp)           # one mesh shared by three poses
    assert clip.shape == (3, 1, 4)
    x = clip_to_pixels(clip, cam.resolution)[:, 0, 0]
    assert x[1] > x[0] > x[2]


def test_gradients_reach_the_pose():
    yaw = torch.tensor([10.0], requires_grad=True)
    cam = PerspectiveCamera()
    mvp = model_view_projection(cam, pose_rotation(yaw, 0.0, 0.0), torch.zeros(1, 3))
    project_points(NOSE_TIP.float().reshape(1, 1, 3), mvp, cam.resolution)[0, 0, 0].backward()
    assert yaw.grad is not None and float(yaw.grad) > 0


def test_camera_is_frozen_and_validated():
    cam = PerspectiveCamera()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cam.distance_mm = 10.0
    with pytest.raises(ValueError, match="near_mm"):
        PerspectiveCamera(near_mm=500.0, far_mm=400.0)
    with pytest.raises(ValueError, match="resolution"):
        PerspectiveCamera(resolution=(0, 10))
    with pytest.raises(ValueError, match="focal_mm"):
        PerspectiveCamera(focal_mm=-1.0)


def test_bad_shapes_name_the_argument():
    cam = PerspectiveCamera()
    with pytest.raises(ValueError, match=r"rotation: expected shape \[B, 3, 3\].*got \[3, 3\]"):
        model_view_projection(cam, torch.eye(3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"translation_mm: expected shape \[B, 3\] \(with B=2\)"):
        model_view_projection(cam, torch.eye(3).expand(2, 3, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="vertices"):
        to_clip(torch.zeros(2, 5, 4), torch.eye(4).expand(2, 4, 4))
    with pytest.raises(ValueError, match="clip"):
        clip_to_pixels(torch.zeros(1, 5, 3), (4, 4))
    with pytest.raises(ValueError, match="pitch_deg"):
        pose_rotation(torch.zeros(3), torch.zeros(2), torch.zeros(3))
