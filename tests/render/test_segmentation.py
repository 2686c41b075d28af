"""Label passes (segmentation, depth, normals) and crop sizes of render_batch, against the
renderer's own G-buffer and camera."""

from __future__ import annotations

import pytest
import torch

from nirvis.crop import CROP_SIZES
from nirvis.faces.segmentation import CLASS_ID, SEGMENTATION_CLASSES
from nirvis.render.align import arcface_template, estimate_similarity, transform_points
from nirvis.render.pair import SampleSpace, render_batch, sample_params
from nirvis.render.prepared_face import prepare_procedural_face

LABELS = ("segmentation", "depth_mm", "normal", "mask")
FRONTAL = SampleSpace(raw_resolution=160, yaw_deg=(0.0, 0.0), pitch_deg=(0.0, 0.0), roll_deg=(0.0, 0.0),
                      expression_probability=0.0, glasses_probability=0.0, headwear_probability=0.0)


@pytest.fixture(scope="module")
def faces():
    return [prepare_procedural_face(0, k, resolution=128) for k in range(3)]


def _at(img: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """img [B, H, W, ...] at pixel positions points [B, K, 2] (renderer convention)."""
    xy = points.floor().long()
    xy[..., 0].clamp_(0, img.shape[2] - 1)
    xy[..., 1].clamp_(0, img.shape[1] - 1)
    return img[torch.arange(img.shape[0]).view(-1, 1), xy[..., 1], xy[..., 0]]


def test_frontal_landmarks_fall_on_their_classes(faces):
    """Raw frames of frontal faces: the nose tip is nose, the mouth's mid-line lips, every eye
    centre iris; background is exactly the uncovered pixels."""
    params = [sample_params(FRONTAL, 10 + k) for k in range(3)]
    out = render_batch(faces, params, align=False, passes=LABELS)
    seg = out.passes["segmentation"]
    assert seg.dtype == torch.uint8 and seg.shape == (3, 160, 160)
    assert torch.equal(seg == 0, out.passes["mask"][..., 0] == 0)
    assert set(torch.unique(seg).tolist()) <= set(range(len(SEGMENTATION_CLASSES)))
    lm5 = out.vis_landmarks5
    assert (_at(seg, lm5[:, 2:3]) == CLASS_ID["nose"]).all()
    assert (_at(seg, lm5[:, 0:2]) == CLASS_ID["iris"]).all()
    lm68 = out.vis_landmarks68
    assert (_at(seg, lm68[:, [51, 57]]) == CLASS_ID["lips"]).float().mean() >= 0.5      # upper / lower lip centres
    for name in ("skin", "brows", "head_hair"):
        assert (seg == CLASS_ID[name]).any(), name


def test_accessories_and_hair_meshes_get_their_classes(faces):
    space = SampleSpace(raw_resolution=160, glasses_probability=1.0, headwear_probability=1.0)
    params = [sample_params(space, 40 + k) for k in range(3)]
    seg = render_batch(faces, params, align=False, passes=("segmentation",)).passes["segmentation"]
    for name in ("glasses_frame", "lens", "headwear"):
        assert ((seg == CLASS_ID[name]).flatten(1).sum(1) > 0).all(), name
    none = [sample_params(FRONTAL, 40 + k) for k in range(3)]
    seg = render_batch(faces, none, align=False, passes=("segmentation",)).passes["segmentation"]
    for name in ("glasses_frame", "lens", "headwear"):
        assert not (seg == CLASS_ID[name]).any(), name


def test_depth_and_normals_agree_with_the_camera(faces):
    """Depth is the distance along the optical axis: the nose tip is nearer than the eyes, by
    the template's ~4 cm, and all of it near the camera distance; normals are unit and face the
    camera on the face."""
    params = [sample_params(FRONTAL, 20 + k) for k in range(3)]
    out = render_batch(faces, params, align=False, passes=LABELS)
    depth, normal, seg = out.passes["depth_mm"], out.passes["normal"], out.passes["segmentation"]
    lm5 = out.vis_landmarks5
    nose, eyes = _at(depth, lm5[:, 2:3])[:, 0], _at(depth, lm5[:, 0:2]).mean(1)
    assert ((eyes - nose) > 15.0).all() and ((eyes - nose) < 60.0).all()
    dist = torch.tensor([p.vis_view.distance_mm for p in params])
    assert ((nose - dist).abs() < 150.0).all()
    assert (depth[seg == 0] == 0).all() and (depth[seg > 0] > 0).all()
    face = (seg == CLASS_ID["skin"]) | (seg == CLASS_ID["nose"])
    n = normal[face]
    assert (n.norm(dim=-1) - 1).abs().max() < 1e-4
    assert (n[:, 2] > 0).float().mean() > 0.95


@pytest.mark.parametrize("size", [128, 224])
def test_crops_at_other_sizes_scale_the_template(faces, size):
    params = [sample_params(SampleSpace(raw_resolution=2 * size), 30 + k) for k in range(3)]
    out = render_batch(faces, params, crop_size=size, raw=True, passes=("segmentation",))
    assert out.vis.shape == (3, size, size, 3) and out.nir.shape == (3, size, size)
    assert out.passes["segmentation"].shape == (3, size, size)
    assert out.raw is not None and out.raw.vis.shape == (3, 2 * size, 2 * size, 3)
    eye_err = (out.vis_landmarks5[:, :2] - arcface_template(size=size)[:2]).norm(dim=-1)
    assert eye_err.max() < 8.0 * size / 112
    # the crop is the raw frame warped: the raw landmarks map onto the crop's
    m = estimate_similarity(out.raw.vis_landmarks5, arcface_template(size=size))
    torch.testing.assert_close(transform_points(out.raw.vis_landmarks5, m), out.vis_landmarks5, atol=1e-3, rtol=0)
    assert size in CROP_SIZES


def test_112_crops_are_unchanged_by_the_raw_frames_and_passes(faces):
    params = [sample_params(SampleSpace(raw_resolution=160), 50 + k) for k in range(3)]
    plain = render_batch(faces, params)
    rich = render_batch(faces, params, raw=True, passes=LABELS)
    assert torch.equal(plain.vis, rich.vis) and torch.equal(plain.nir, rich.nir)
    raw = render_batch(faces, params, align=False)
    assert rich.raw is not None and torch.equal(rich.raw.vis, raw.vis) and torch.equal(rich.raw.nir, raw.nir)


def test_independent_pairs_get_one_set_of_labels_per_spectrum(faces):
    space = SampleSpace(raw_resolution=160, pairing="independent")
    params = [sample_params(space, 60 + k) for k in range(3)]
    out = render_batch(faces, params, passes=("segmentation", "depth_mm"))
    assert set(out.nir_passes) == {"segmentation", "depth_mm"}
    assert not torch.equal(out.passes["segmentation"], out.nir_passes["segmentation"])
    shared = render_batch(faces, [sample_params(FRONTAL, k) for k in range(3)], passes=("segmentation",))
    assert shared.nir_passes == {}


@pytest.mark.parametrize("size", CROP_SIZES)
def test_every_crop_size_renders_at_twice_the_raw_side(faces, size):
    """One pair at each supported size: the crop has the size, its eyes sit on the scaled
    template, and the raw frame the data sets use (2x) maps at most one raw pixel to a crop pixel."""
    p = sample_params(SampleSpace(raw_resolution=2 * size), 70)
    out = render_batch(faces[:1], [p], crop_size=size, raw=True)
    assert out.vis.shape == (1, size, size, 3) and out.raw is not None
    eye_err = (out.vis_landmarks5[:, :2] - arcface_template(size=size)[:2]).norm(dim=-1)
    assert eye_err.max() < 8.0 * size / 112
    m = estimate_similarity(out.raw.vis_landmarks5, arcface_template(size=size))
    assert float(torch.linalg.det(m[:, :, :2]).sqrt()) <= 1.0
