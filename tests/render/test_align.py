"""Five-point similarity alignment: Umeyama fit, warping, and the half-pixel convention."""

import math

import cv2
import numpy as np
import pytest
import torch

from nirvis.render.align import (ARCFACE_TEMPLATE_112, align_to_arcface, arcface_template, estimate_similarity,
                                 from_cv2_affine, invert_affine, to_cv2_affine, transform_points,
                                 warp_to_template)

TEMPLATE_CV2 = torch.tensor(ARCFACE_TEMPLATE_112, dtype=torch.float64)


def _random_similarity(b, g, scale=(0.5, 3.0), max_deg=60.0, shift=50.0):
    ang = (torch.rand(b, generator=g, dtype=torch.float64) - 0.5) * math.radians(2 * max_deg)
    s = scale[0] + torch.rand(b, generator=g, dtype=torch.float64) * (scale[1] - scale[0])
    rot = torch.stack([torch.stack([torch.cos(ang), -torch.sin(ang)], -1),
                       torch.stack([torch.sin(ang), torch.cos(ang)], -1)], -2) * s[:, None, None]
    t = (torch.rand(b, 2, 1, generator=g, dtype=torch.float64) - 0.5) * 2 * shift
    return torch.cat([rot, t], dim=-1)


def _blobs(centres, size, sigma):
    """[B, H, W, 1] float64 images with unit Gaussian blobs at ``centres`` [B, K, 2] (renderer pixels)."""
    h, w = size
    ys = torch.arange(h, dtype=torch.float64) + 0.5
    xs = torch.arange(w, dtype=torch.float64) + 0.5
    dx = xs[None, None, None, :] - centres[:, :, 0, None, None]
    dy = ys[None, None, :, None] - centres[:, :, 1, None, None]
    s = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1, 1, 1, 1)
    return torch.exp(-(dx ** 2 + dy ** 2) / (2 * s ** 2)).sum(dim=1)[..., None]


def _centroids(img, centres, radius=7.0):
    """Intensity centroids [B, K, 2] (renderer pixels) of img [B, H, W, 1] in windows around centres."""
    b, h, w, _ = img.shape
    centres = centres.expand(b, -1, 2)
    ys = torch.arange(h, dtype=torch.float64) + 0.5
    xs = torch.arange(w, dtype=torch.float64) + 0.5
    win = ((xs[None, None, None, :] - centres[:, :, 0, None, None]).abs() <= radius) & \
          ((ys[None, None, :, None] - centres[:, :, 1, None, None]).abs() <= radius)
    wts = img[:, None, :, :, 0].double() * win
    total = wts.sum(dim=(2, 3))
    cx = (wts * xs[None, None, None, :]).sum(dim=(2, 3)) / total
    cy = (wts * ys[None, None, :, None]).sum(dim=(2, 3)) / total
    return torch.stack([cx, cy], dim=-1)


def test_umeyama_recovers_a_random_similarity_in_a_batch():
    g = torch.Generator().manual_seed(0)
    m = _random_similarity(8, g)
    src = torch.rand(8, 5, 2, generator=g, dtype=torch.float64) * 200
    torch.testing.assert_close(estimate_similarity(src, transform_points(src, m)), m, atol=1e-5, rtol=0)
    # a shared destination [N, 2]
    dst = TEMPLATE_CV2
    src = transform_points(dst.expand(8, 5, 2), invert_affine(m))
    torch.testing.assert_close(estimate_similarity(src, dst), m, atol=1e-5, rtol=0)
    # float32 works too
    torch.testing.assert_close(estimate_similarity(src.float(), dst.float()), m.float(), atol=1e-4, rtol=0)


def test_umeyama_is_the_least_squares_similarity_and_never_reflects():
    g = torch.Generator().manual_seed(1)
    src = torch.rand(4, 7, 2, generator=g, dtype=torch.float64) * 100
    dst = torch.rand(4, 7, 2, generator=g, dtype=torch.float64) * 100
    m = estimate_similarity(src, dst)
    for i in range(4):     # linear least squares over (a, b, tx, ty): x' = a x - b y + tx, y' = b x + a y + ty
        x, y = src[i, :, 0].numpy(), src[i, :, 1].numpy()
        one, zero = np.ones_like(x), np.zeros_like(x)
        a_mat = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])
        sol = np.linalg.lstsq(a_mat, np.concatenate([dst[i, :, 0].numpy(), dst[i, :, 1].numpy()]), rcond=None)[0]
        np.testing.assert_allclose(m[i].numpy(), [[sol[0], -sol[1], sol[2]], [sol[1], sol[0], sol[3]]], atol=1e-9)
    mirrored = dst * torch.tensor([-1.0, 1.0], dtype=torch.float64)
    assert (torch.linalg.det(estimate_similarity(src, mirrored)[:, :, :2]) > 0).all()


def test_umeyama_is_differentiable():
    src = (torch.rand(2, 5, 2, dtype=torch.float64) * 100).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: estimate_similarity(s, TEMPLATE_CV2), (src,))


def test_affine_helpers_round_trip():
    g = torch.Generator().manual_seed(2)
    m = _random_similarity(3, g)
    p = torch.rand(3, 6, 2, generator=g, dtype=torch.float64) * 100
    torch.testing.assert_close(transform_points(transform_points(p, m), invert_affine(m)), p)
    torch.testing.assert_close(from_cv2_affine(to_cv2_affine(m)), m)
    # the cv2 matrix maps cv2-convention points (ours - 0.5) to cv2-convention points
    torch.testing.assert_close(transform_points(p - 0.5, to_cv2_affine(m)), transform_points(p, m) - 0.5)


def test_warped_blobs_land_where_transform_points_says():
    g = torch.Generator().manual_seed(3)
    b = 4
    angles = torch.tensor([0.0, 2.1, 4.2], dtype=torch.float64) + torch.rand(b, 1, generator=g, dtype=torch.float64)
    centres = torch.tensor([100.0, 80.0], dtype=torch.float64) + \
        35.0 * torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)          # [B, 3, 2], well apart
    img = _blobs(centres, (160, 200), sigma=3.0).float()
    m = _random_similarity(b, g, scale=(0.6, 1.2), shift=5.0)
    m[:, :, 2] += torch.tensor([85.0, 75.0], dtype=torch.float64) - m[:, :, :2] @ torch.tensor([100.0, 80.0],
                                                                                              dtype=torch.float64)
    out = warp_to_template(img, m.float(), size=(150, 170))
    assert out.shape == (b, 150, 170, 1)
    expected = transform_points(centres, m)
    assert (_centroids(out, expected, radius=10.0) - expected).abs().max() < 0.1


def test_warp_matches_cv2_warp_affine_with_the_converted_matrix():
    g = torch.Generator().manual_seed(4)
    img = _blobs(torch.tensor([[[50.0, 60.0], [90.0, 70.0], [70.0, 110.0]]], dtype=torch.float64), (140, 150), 6.0)
    img = (img + 0.3 * torch.rand(1, 140, 150, 1, generator=g, dtype=torch.float64)).float()
    m = _random_similarity(1, g, scale=(0.7, 1.0), shift=5.0)
    out = warp_to_template(img, m.float())
    ref = cv2.warpAffine(img[0, :, :, 0].numpy(), to_cv2_affine(m)[0].numpy(), (112, 112),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    diff = np.abs(out[0, :, :, 0].numpy() - ref)
    assert diff.mean() < 2e-3 and diff.max() < 0.05     # OpenCV quantises sample positions to 1/32 px


def test_aligned_blob_centroids_hit_the_arcface_template():
    g = torch.Generator().manual_seed(5)
    b, h, w = 6, 300, 320
    m = _random_similarity(b, g, scale=(1.5, 2.6), max_deg=30.0, shift=20.0)   # template -> image
    m[:, :, 2] += torch.tensor([w / 2, h / 2], dtype=torch.float64) - \
        (m[:, :, :2] @ arcface_template(dtype=torch.float64).mean(0))
    landmarks = transform_points(arcface_template(dtype=torch.float64).expand(b, 5, 2), m)   # renderer pixels
    scale = torch.linalg.det(m[:, :, :2]).sqrt()
    images = _blobs(landmarks, (h, w), sigma=2.0 * scale).float().expand(b, h, w, 3)
    aligned, M = align_to_arcface(images, landmarks.float())
    assert aligned.shape == (b, 112, 112, 3) and M.shape == (b, 2, 3)
    centroids = _centroids(aligned[..., :1], arcface_template(dtype=torch.float64))
    # in the cv2 sense (centroid over pixel indices) the blobs sit exactly on the insightface template
    assert (centroids - 0.5 - TEMPLATE_CV2).abs().max() < 0.25
    torch.testing.assert_close(transform_points(landmarks, M.double()), arcface_template(dtype=torch.float64).
                               expand(b, 5, 2), atol=1e-3, rtol=0)


def test_alignment_is_differentiable_in_images_and_landmarks():
    img = torch.rand(1, 128, 128, 1, requires_grad=True)
    lm = (arcface_template() * 1.1 + 2.0)[None].clone().requires_grad_(True)
    aligned, _ = align_to_arcface(img, lm)
    (aligned * torch.linspace(0, 1, 112)[None, None, :, None]).sum().backward()
    assert torch.isfinite(img.grad).all() and img.grad.abs().sum() > 0
    assert torch.isfinite(lm.grad).all() and lm.grad.abs().sum() > 0


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"landmarks5: expected shape \[B, 5, 2\] \(with B=2\), got \[2, 68, 2\]"):
        align_to_arcface(torch.zeros(2, 64, 64, 3), torch.zeros(2, 68, 2))
    with pytest.raises(ValueError, match=r"dst: expected shape \[N, 2\]"):
        estimate_similarity(torch.rand(1, 5, 2), torch.rand(4, 2))
    with pytest.raises(ValueError, match="src: the points"):
        estimate_similarity(torch.ones(1, 5, 2), torch.rand(5, 2))
    with pytest.raises(ValueError, match=r"M: expected shape \[B, 2, 3\]"):
        warp_to_template(torch.zeros(1, 8, 8, 1), torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="M: some matrices are singular"):
        warp_to_template(torch.zeros(1, 8, 8, 1), torch.zeros(1, 2, 3))
