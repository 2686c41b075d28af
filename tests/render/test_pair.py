"""render_pair / render_batch end to end: alignment, determinism, pairing, backends, passes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nirvis.faces import identity_seed, sample_identity
from nirvis.faces.procedural import procedural_asset
from nirvis.render.align import arcface_template
from nirvis.render.lights import LightingConfig
from nirvis.render.pair import SampleSpace, prepare_face, render_batch, render_pair, sample_params
from nirvis.render.raster import available_backends

FRONTAL = SampleSpace(yaw_deg=(0.0, 0.0), pitch_deg=(0.0, 0.0), roll_deg=(0.0, 0.0), expression_probability=0.0)


@pytest.fixture(scope="module")
def faces():
    return [prepare_face(procedural_asset(sample_identity(identity_seed(3, k)), resolution=128), nir_method="red")
            for k in range(4)]


def test_aligned_eyes_land_on_the_arcface_template(faces):
    params = [sample_params(FRONTAL, k) for k in range(8)]
    out = render_batch([faces[k % 4] for k in range(8)], params, passes=("mask",))
    assert out.vis.shape == (8, 112, 112, 3) and out.vis.dtype == torch.uint8
    assert out.nir.shape == (8, 112, 112) and out.nir.dtype == torch.uint8
    eye_err = (out.vis_landmarks5[:, :2] - arcface_template()[:2]).norm(dim=-1)
    assert eye_err.mean() < 2.0 and eye_err.max() < 4.0, eye_err
    # every projected landmark sits on the rendered face
    lm = out.vis_landmarks68.long().clamp(0, 111)
    mask = out.passes["mask"][..., 0]
    assert (mask[torch.arange(8)[:, None], lm[..., 1], lm[..., 0]] > 0.5).float().mean() > 0.97


def test_posed_landmarks_stay_on_the_face(faces):
    params = [sample_params(SampleSpace(), 100 + k) for k in range(8)]
    out = render_batch([faces[k % 4] for k in range(8)], params, passes=("mask",))
    lm = out.vis_landmarks5.long().clamp(0, 111)
    mask = out.passes["mask"][..., 0]
    assert (mask[torch.arange(8)[:, None], lm[..., 1], lm[..., 0]] > 0.5).all()
    eye_err = (out.vis_landmarks5[:, :2] - arcface_template()[:2]).norm(dim=-1)
    assert eye_err.max() < 8.0


def test_same_params_give_the_same_bytes_whatever_the_batch(faces):
    # directional lights (shadow maps) and glasses on: every batch-wide shortcut would show here
    space = SampleSpace(lighting=LightingConfig(n_directional=(2, 3)), glasses_probability=0.5)
    params = [sample_params(space, k) for k in range(4)]
    both = render_batch([faces[k] for k in range(4)], params)
    for k in (1, 3):
        alone = render_pair(faces[k], params[k])
        assert torch.equal(both.vis[k], alone.vis[0]) and torch.equal(both.nir[k], alone.nir[0])
    params = params[:2]
    both = render_batch([faces[0], faces[1]], params)
    again = render_batch([faces[0], faces[1]], params)
    assert torch.equal(both.vis, again.vis) and torch.equal(both.nir, again.nir)
    assert sample_params(space, 0) == params[0]
    assert not torch.equal(both.vis[0], both.vis[1])


def test_shared_pairs_are_pixel_aligned_and_independent_ones_are_not(faces):
    shared = render_pair(faces[0], sample_params(SampleSpace(), 11))
    assert torch.allclose(shared.vis_landmarks5, shared.nir_landmarks5)
    indep = render_pair(faces[0], sample_params(SampleSpace(pairing="independent"), 11))
    p = indep.params[0]
    assert p.vis_view != p.nir_view
    assert not torch.allclose(indep.vis_landmarks68, indep.nir_landmarks68)


def test_nir_background_is_dark_and_face_is_lit(faces):
    """Under the camera's own LED (no sunlight in NIR) the face is lit and the background falls off.
    Outdoors with NIR ambient light a sunlit background may outshine the face, as in real NIR photos."""
    params = [sample_params(SampleSpace(), 20 + k) for k in range(8)]
    led_only = [k for k, p in enumerate(params) if not (p.environment or {}).get("nir_ambient_share")
                and not float(torch.as_tensor(p.nir_lighting["ambient_sh"]).abs().sum())]
    assert len(led_only) >= 3
    out = render_batch([faces[k % 4] for k in range(8)], params, passes=("mask",))
    mask = out.passes["mask"][..., 0] > 0.99
    nir = out.nir.float()
    for k in led_only:
        assert nir[k][mask[k]].mean() > 3 * nir[k][~mask[k]].mean(), k


@pytest.mark.skipif("gl" not in available_backends(), reason="no EGL")
def test_gl_and_torch_backends_render_the_same_pairs(faces):
    params = [sample_params(SampleSpace(), 30 + k) for k in range(2)]
    gl = render_batch(faces[:2], params, backend="gl")
    ref = render_batch(faces[:2], params, backend="torch")
    assert (gl.vis.float() - ref.vis.float()).abs().mean() < 1.0
    assert (gl.nir.float() - ref.nir.float()).abs().mean() < 1.0


def test_expression_changes_geometry(faces):
    neutral = sample_params(FRONTAL, 5)
    smile = dataclasses.replace(neutral, vis_view=dataclasses.replace(neutral.vis_view, expression={"jawOpen": 0.9}),
                                nir_view=dataclasses.replace(neutral.nir_view, expression={"jawOpen": 0.9}))
    a, b = render_pair(faces[0], neutral), render_pair(faces[0], smile)
    # the open jaw lowers the lower lip relative to the eyes in the aligned crop
    def lip_below_eye(r):
        return r.vis_landmarks68[0, 57, 1] - r.vis_landmarks68[0, 39, 1]

    assert lip_below_eye(b) > lip_below_eye(a)


def test_bad_sample_space_is_refused_by_name():
    with pytest.raises(ValueError, match="pairing"):
        SampleSpace(pairing="sometimes")
    with pytest.raises(ValueError, match="yaw_deg"):
        SampleSpace(yaw_deg=(30.0, -30.0))
    with pytest.raises(ValueError, match="led_nm"):
        SampleSpace(led_nm=905)


def test_glasses_are_drawn_and_logged(faces):
    base = sample_params(SampleSpace(glasses_probability=0.0), 40)
    with_glasses = sample_params(SampleSpace(glasses_probability=1.0), 40)
    assert not base.accessories["glasses"]["enabled"] and with_glasses.accessories["glasses"]["enabled"]
    a = render_pair(faces[0], base, passes=("mask",))
    b = render_pair(faces[0], dataclasses.replace(base, accessories=with_glasses.accessories), passes=("mask",))
    # the frame changes the image around the eyes, not the geometry of the face itself
    eyes = a.vis_landmarks5[0, :2].mean(0).long()
    y0, x0 = int(eyes[1]) - 14, int(eyes[0]) - 40
    diff = (a.vis.float() - b.vis.float()).abs()[0, y0:y0 + 28, x0:x0 + 80].mean()
    assert diff > 3.0
    assert torch.allclose(a.vis_landmarks5, b.vis_landmarks5)


def test_sensors_without_jpeg_render(faces):
    # jpeg_quality=None is the documented "no JPEG" setting of both sensor configs
    off = dataclasses.replace(FRONTAL, vis_sensor=dataclasses.replace(FRONTAL.vis_sensor, jpeg_quality=None),
                              nir_sensor=dataclasses.replace(FRONTAL.nir_sensor, jpeg_quality=None))
    params = [sample_params(off, k) for k in range(2)]
    assert all(p.vis_sensor["jpeg_quality"] is None and p.nir_sensor["jpeg_quality"] is None for p in params)
    out = render_batch(faces[:2], params)
    ref = render_batch(faces[:2], [sample_params(FRONTAL, k) for k in range(2)])
    assert out.vis.shape == ref.vis.shape and out.nir.shape == ref.nir.shape
    assert not torch.equal(out.vis, ref.vis)  # the JPEG'd renders differ from the uncompressed ones
    with pytest.raises(ValueError, match="jpeg_quality"):
        render_batch(faces[:2], [params[0], ref_params := sample_params(FRONTAL, 1)])
    assert ref_params.vis_sensor["jpeg_quality"] is not None
