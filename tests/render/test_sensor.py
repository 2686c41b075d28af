"""Sensor and image-pipeline effects: transfer functions, noise, blur, vignetting, JPEG, colour
temperature, sampled settings and the VIS/NIR pipelines."""

import dataclasses
import json

import pytest
import torch

from nirvis.reflectance import sensors as reflectance_sensors
from nirvis.render.sensor import (NirSensorConfig, NirSensorParams, VisSensorConfig, VisSensorParams,
                                  add_sensor_noise, apply_gain, apply_nir_sensor, apply_vis_sensor,
                                  color_temperature_rgb, gaussian_blur, jpeg_compress, linear_to_srgb,
                                  sample_nir_sensor, sample_vis_sensor, srgb_to_linear, to_uint8, vignetting,
                                  white_balance)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _smooth_image(b=2, h=48, w=64, c=3):
    ys = torch.linspace(0, 1, h)[:, None, None]
    xs = torch.linspace(0, 1, w)[None, :, None]
    ch = torch.arange(c, dtype=torch.float32)[None, None, :]
    img = 0.5 + 0.35 * torch.sin(3.0 * xs + 2.0 * ys + ch) * torch.cos(2.0 * ys - ch)
    return img.expand(b, h, w, c).contiguous()


# ------------------------------------------------------------------------------- sRGB


def test_srgb_round_trip_and_reference():
    x = torch.linspace(0, 1, 1001, dtype=torch.float64)
    torch.testing.assert_close(srgb_to_linear(linear_to_srgb(x)), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12, rtol=0)
    # the same curve as the reflectance stage uses
    torch.testing.assert_close(linear_to_srgb(x), reflectance_sensors.linear_to_srgb(x))
    assert float(linear_to_srgb(torch.tensor(0.5))) == pytest.approx(0.7353569830524495, abs=1e-6)


def test_srgb_gradients_are_finite_at_zero():
    for fn, slope in ((linear_to_srgb, 12.92), (srgb_to_linear, 1 / 12.92)):
        x = torch.tensor([0.0, 1e-9, 0.5, 1.0], requires_grad=True)
        fn(x).sum().backward()
        assert torch.isfinite(x.grad).all()
        assert float(x.grad[0]) == pytest.approx(slope)


# ------------------------------------------------------------------------------ noise


def test_noise_is_reproducible_per_generator_seed():
    img = _smooth_image()
    a = add_sensor_noise(img, _gen(7), shot=1e-3, read=0.01)
    b = add_sensor_noise(img, _gen(7), shot=1e-3, read=0.01)
    c = add_sensor_noise(img, _gen(8), shot=1e-3, read=0.01)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_noise_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    add_sensor_noise(_smooth_image(), _gen(0), shot=1e-3, read=0.01)
    assert torch.equal(torch.rand(3), expected)


def test_noise_statistics_follow_shot_and_read():
    level = torch.tensor([0.2, 0.8]).reshape(2, 1, 1, 1).expand(2, 128, 128, 1)
    shot, read = torch.tensor([4e-3, 1e-3]), torch.tensor([0.01, 0.0])
    out = add_sensor_noise(level, _gen(3), shot=shot, read=read)
    noise = out - level
    expected_std = torch.sqrt(shot * torch.tensor([0.2, 0.8]) + read ** 2)
    torch.testing.assert_close(noise.std(dim=(1, 2, 3)), expected_std, rtol=0.03, atol=0)
    assert noise.mean().abs() < 2e-3
    # zero strengths are exactly noiseless
    img = _smooth_image()
    assert torch.equal(add_sensor_noise(img, _gen(0), shot=0.0, read=0.0), img)


def test_noise_gradient_is_finite_where_the_signal_is_zero():
    img = torch.zeros(1, 4, 4, 1, requires_grad=True)
    add_sensor_noise(img, _gen(0), shot=torch.tensor([0.0]), read=0.0).sum().backward()
    assert torch.isfinite(img.grad).all()


# ------------------------------------------------------------------------------- blur


def test_blur_sigma_zero_is_identity_and_samples_are_independent():
    img = torch.rand(3, 32, 40, 2, generator=_gen(0))
    assert torch.equal(gaussian_blur(img, 0.0), img)
    out = gaussian_blur(img, torch.tensor([0.0, 1.5, 3.0]))
    assert torch.equal(out[0], img[0])
    torch.testing.assert_close(out[1:2], gaussian_blur(img[1:2], 1.5))
    torch.testing.assert_close(out[2:3], gaussian_blur(img[2:3], 3.0))


def test_blur_preserves_the_mean_and_has_the_requested_width():
    img = torch.rand(2, 64, 64, 3, generator=_gen(1))
    out = gaussian_blur(img, torch.tensor([1.0, 2.5]))
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), img.mean(dim=(1, 2, 3)), atol=1e-3, rtol=0)
    assert (out.std() < img.std())
    delta = torch.zeros(1, 41, 41, 1, dtype=torch.float64)
    delta[0, 20, 20, 0] = 1.0
    psf = gaussian_blur(delta, 2.0)[0, :, :, 0]
    x = torch.arange(41, dtype=torch.float64) - 20
    assert float(psf.sum()) == pytest.approx(1.0, abs=1e-12)
    assert float((psf.sum(0) * x ** 2).sum()) == pytest.approx(4.0, rel=0.02)    # variance = sigma^2


# -------------------------------------------------------------------- vignetting, gain, wb


def test_vignetting_keeps_the_centre_and_darkens_the_corners():
    img = torch.ones(2, 33, 45, 1)
    out = vignetting(img, torch.tensor([0.0, 0.4]))
    assert torch.equal(out[0], img[0])
    assert float(out[1, 16, 22, 0]) == 1.0
    corners = out[1, [0, 0, -1, -1], [0, -1, 0, -1], 0]
    assert (corners < 0.7).all() and (corners > 0.6 - 1e-6).all()      # about 1 - strength at the corners
    row = out[1, 16, 22:, 0]
    assert (row[1:] <= row[:-1]).all()                                   # monotone falloff


def test_gain_clips_and_white_balance_scales_channels():
    img = torch.full((2, 2, 2, 1), 0.4)
    out = apply_gain(img, torch.tensor([0.5, 3.0]))
    assert torch.allclose(out[0], torch.tensor(0.2)) and torch.equal(out[1], torch.ones(2, 2, 1))
    rgb = torch.full((1, 2, 2, 3), 0.5)
    torch.testing.assert_close(white_balance(rgb, torch.tensor([[1.2, 1.0, 0.8]]))[0, 0, 0],
                               torch.tensor([0.6, 0.5, 0.4]))


# ------------------------------------------------------------------------- quantisation


def test_to_uint8_rounds_half_up_and_clamps():
    x = torch.tensor([-1.0, 0.0, 0.49 / 255, 0.5 / 255, 127.5 / 255, 254.49 / 255, 1.0, 2.0])
    assert to_uint8(x).tolist() == [0, 0, 0, 1, 128, 254, 255, 255]
    assert to_uint8(x).dtype == torch.uint8
    with pytest.raises(ValueError, match="img"):
        to_uint8(torch.tensor([float("nan")]))


def test_jpeg_high_quality_is_close_and_low_quality_is_not():
    img = _smooth_image()
    q95 = jpeg_compress(img, torch.tensor([95, 95]))
    q10 = jpeg_compress(img, 10)
    assert q95.shape == img.shape and q95.dtype == img.dtype
    assert (q95 - img).abs().mean() < 2.0 / 255
    assert (q10 - img).abs().mean() > (q95 - img).abs().mean()
    u8 = to_uint8(img)
    out_u8 = jpeg_compress(u8, 95)
    assert out_u8.dtype == torch.uint8
    # channel order survives the RGB <-> BGR round trip: a red image stays red
    red = torch.zeros(1, 16, 16, 3)
    red[..., 0] = 0.9
    out = jpeg_compress(red, 90)[0].mean(dim=(0, 1))
    assert out[0] > 0.8 and out[1] < 0.1 and out[2] < 0.1
    grey = jpeg_compress(_smooth_image(c=1), 95)
    assert grey.shape == (2, 48, 64, 1)


# ---------------------------------------------------------------------- colour temperature


def test_colour_temperature_whites():
    w6500 = color_temperature_rgb(6500.0)
    assert float(w6500.max()) == 1.0
    assert float(w6500.min()) > 0.94          # a 6500 K blackbody: (1, 0.943, 0.991), within 6 %
    d65 = color_temperature_rgb(6504.0, locus="daylight")
    assert float(d65.min()) > 0.99            # the daylight locus at 6504 K is D65, the sRGB white
    r, g, b = color_temperature_rgb(3000.0).tolist()
    assert r > g > b and b < 0.3              # reddish
    r, g, b = color_temperature_rgb(12000.0).tolist()
    assert b > g > r                          # bluish
    temps = torch.tensor([2000.0, 3000.0, 4500.0, 6500.0, 9000.0, 20000.0])
    rgb = color_temperature_rgb(temps)
    assert rgb.shape == (6, 3)
    ratio = rgb[:, 2] / rgb[:, 0]
    assert (ratio[1:] > ratio[:-1]).all()     # bluer as the temperature rises
    with pytest.raises(ValueError, match="kelvin"):
        color_temperature_rgb(500.0)


# ---------------------------------------------------------------------- sampled settings


def test_sampled_params_are_reproducible_in_range_and_batch_prefix_stable():
    cfg = VisSensorConfig()
    a = sample_vis_sensor(cfg, 6, _gen(5))
    b = sample_vis_sensor(cfg, 6, _gen(5))
    c = sample_vis_sensor(cfg, 6, _gen(6))
    assert a.to_dict() == b.to_dict() and a.to_dict() != c.to_dict()
    assert sample_vis_sensor(cfg, 3, _gen(5)).to_dict() == {k: v[:3] for k, v in a.to_dict().items()}
    assert ((a.exposure >= 0.8) & (a.exposure <= 1.25)).all()
    assert ((a.jpeg_quality >= 75) & (a.jpeg_quality <= 100)).all()
    torch.testing.assert_close(a.wb_gains[:, 1], torch.ones(6))
    n = sample_nir_sensor(NirSensorConfig(), 4, _gen(5))
    assert ((n.vignetting >= 0.0) & (n.vignetting <= 0.4)).all()
    assert sample_vis_sensor(VisSensorConfig(jpeg_quality=None), 2, _gen(0)).jpeg_quality is None


def test_params_round_trip_through_json():
    p = sample_vis_sensor(VisSensorConfig(), 2, _gen(0))
    d = json.loads(json.dumps(p.to_dict()))
    assert isinstance(d["exposure"][0], float) and isinstance(d["jpeg_quality"][0], int)
    q = VisSensorParams.from_dict(d)
    img = _smooth_image()
    assert torch.equal(apply_vis_sensor(img, p, _gen(1)), apply_vis_sensor(img, q, _gen(1)))
    n = NirSensorParams(gain=1.2, vignetting=torch.tensor([0.1, 0.2]))
    assert NirSensorParams.from_dict(json.loads(json.dumps(n.to_dict()))).to_dict() == n.to_dict()


def test_configs_are_frozen_and_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        VisSensorConfig().shot = (0.0, 1.0)
    with pytest.raises(ValueError, match="exposure"):
        VisSensorConfig(exposure=(1.5, 1.0))
    with pytest.raises(ValueError, match="vignetting"):
        NirSensorConfig(vignetting=(0.0, 1.5))
    with pytest.raises(ValueError, match="jpeg_quality"):
        NirSensorConfig(jpeg_quality=(50, 101))


# ----------------------------------------------------------------------------- pipelines


def test_vis_pipeline():
    img = _smooth_image(b=3)
    params = sample_vis_sensor(VisSensorConfig(), 3, _gen(2))
    out = apply_vis_sensor(img, params, _gen(9))
    assert out.shape == img.shape and out.dtype == img.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert torch.equal(out, apply_vis_sensor(img, params, _gen(9)))
    assert not torch.equal(out, apply_vis_sensor(img, params, _gen(10)))
    # neutral settings: exactly the sRGB encoding
    torch.testing.assert_close(apply_vis_sensor(img, VisSensorParams(), _gen(0)), linear_to_srgb(img))
    # differentiable through noise, clipping and the (straight-through) JPEG step
    x = img.clone().requires_grad_(True)
    apply_vis_sensor(x, params, _gen(9)).mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_nir_pipeline():
    img = _smooth_image(b=2, c=1) * 0.6
    params = sample_nir_sensor(NirSensorConfig(), 2, _gen(4))
    out = apply_nir_sensor(img, params, _gen(1))
    assert out.shape == img.shape and out.min() >= 0.0 and out.max() <= 1.0
    assert torch.equal(out, apply_nir_sensor(img, params, _gen(1)))
    torch.testing.assert_close(apply_nir_sensor(img, NirSensorParams(), _gen(0)), img)
    with pytest.raises(ValueError, match=r"nir: expected shape \[B, H, W, 1\]"):
        apply_nir_sensor(_smooth_image(c=3), params, _gen(0))


def test_per_sample_arguments_are_checked():
    img = _smooth_image(b=2)
    with pytest.raises(ValueError, match=r"sigma_px: expected shape \[2\]"):
        gaussian_blur(img, torch.ones(3))
    with pytest.raises(ValueError, match="strength"):
        vignetting(img, 1.5)
    with pytest.raises(ValueError, match="gains"):
        white_balance(img, torch.ones(2, 2))
    with pytest.raises(ValueError, match="generator"):
        add_sensor_noise(img, 0, shot=0.1)
    with pytest.raises(ValueError, match="quality"):
        jpeg_compress(img, 120)


def test_jpeg_straight_through_without_gradients_is_the_torch_expression():
    """With no gradient to carry, the straight-through value comes from one compiled pass: the
    same float32 bits as ``img + (decoded - img)`` in torch (which are not always ``decoded``)."""
    from nirvis.render.compiled import cpu_available
    from nirvis.render.sensor import jpeg_compress
    if not cpu_available():
        pytest.skip("numba is not installed")
    img = torch.rand(3, 24, 24, 3, generator=torch.Generator().manual_seed(2)) * 0.1      # dark: x, decoded far apart
    q = torch.tensor([30, 60, 95])
    decoded = jpeg_compress(img, q)
    got = jpeg_compress(img, q, straight_through=True)
    ref = img + (decoded - img)
    assert torch.equal(got, ref) and not torch.equal(ref, decoded)
    grad_img = img.clone().requires_grad_(True)
    assert torch.equal(jpeg_compress(grad_img, q, straight_through=True).detach(), ref)
