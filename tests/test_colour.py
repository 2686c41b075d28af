"""nirvis.colour: one sRGB transfer function, one Rec. 709 luminance, one BT.601 luma, and no other
module carrying its own copy of the constants."""

from __future__ import annotations

import io
import pathlib
import tokenize

import numpy as np
import pytest
import torch
from PIL import Image

import nirvis
from nirvis.colour import (BT601_LUMA, REC709_LUMA, decode_srgb, encode_srgb, luma_bt601, luma_bt601_float,
                           luminance_rec709)

SRC = pathlib.Path(nirvis.__file__).parent


def _all_rgb() -> np.ndarray:
    """Every 8-bit RGB colour once, as a uint8 [4096, 4096, 3] image."""
    v = np.arange(256, dtype=np.uint8)
    r, g, b = np.meshgrid(v, v, v, indexing="ij")
    return np.stack([r, g, b], -1).reshape(4096, 4096, 3)


# ------------------------------------------------------------------------------------ sRGB


# IEC 61966-2-1 as the replaced per-stage copies computed it (restated to compare against):
# numpy in faces/preview and faces/importer, torch in render/sensor and reflectance/sensors.
def _encode_iec(x):
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.abs(x) ** (1 / 2.4) - 0.055)


def _decode_iec(x):
    return np.where(x <= 0.04045, x / 12.92, ((np.abs(x) + 0.055) / 1.055) ** 2.4)


def _encode_torch(x):
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1.0 / 2.4) - 0.055)


def _decode_torch(x):
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_srgb_matches_the_standard_for_numpy_and_torch(dtype):
    x = np.linspace(0.0, 1.0, 4097, dtype=dtype)
    enc, dec = encode_srgb(x), decode_srgb(x)
    assert enc.dtype == dtype and dec.dtype == dtype
    # bit-identical to the formula on [0, 1] (the copies this module replaced computed exactly this)
    np.testing.assert_array_equal(enc, _encode_iec(x).astype(dtype))
    np.testing.assert_array_equal(dec, _decode_iec(x).astype(dtype))
    t = torch.from_numpy(x)
    assert torch.equal(encode_srgb(t), _encode_torch(t)) and torch.equal(decode_srgb(t), _decode_torch(t))
    # numpy's and torch's pow may differ in the last bit, never more
    np.testing.assert_allclose(encode_srgb(t).numpy(), enc, rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(decode_srgb(t).numpy(), dec, rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(decode_srgb(enc), x, atol=1e-6 if dtype == np.float32 else 1e-12)


def test_srgb_is_unclipped_with_finite_gradients():
    x = torch.tensor([-0.5, 0.0, 1e-9, 0.5, 1.0, 1.5], dtype=torch.float64, requires_grad=True)
    y = encode_srgb(x)
    assert float(y[0].detach()) == pytest.approx(-0.5 * 12.92) and float(y[-1].detach()) > 1.0
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and float(x.grad[1]) == pytest.approx(12.92)
    with pytest.raises(ValueError, match="floating-point"):
        encode_srgb(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="floating-point"):
        decode_srgb([0.5])


def test_stage_wrappers_use_the_shared_curve():
    from nirvis.reflectance import sensors as refl
    from nirvis.render import sensor as rend

    x = torch.linspace(-0.25, 1.25, 301, dtype=torch.float64)
    assert torch.equal(rend.linear_to_srgb(x), encode_srgb(x))            # unclipped
    assert torch.equal(rend.srgb_to_linear(x), decode_srgb(x))
    assert torch.equal(refl.linear_to_srgb(x), encode_srgb(x.clamp(0, 1)))  # clamps first
    assert torch.equal(refl.srgb_to_linear(x), decode_srgb(x))


# -------------------------------------------------------------------------------------- luma


def test_luma_bt601_is_pils_grey_conversion_for_every_colour():
    rgb = _all_rgb()
    ref = np.asarray(Image.fromarray(rgb).convert("L"))  # how the reference evaluation reads grey
    np.testing.assert_array_equal(luma_bt601(rgb), ref)


def test_luma_bt601_close_to_opencv_and_to_the_float_value():
    import cv2

    rgb = np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    g = luma_bt601(rgb).astype(int)
    assert np.abs(g - cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)).max() == 1  # OpenCV rounds 0.13 % differently
    f = luma_bt601_float(rgb)
    assert f.dtype == np.float32 and f.shape == (1024, 1024)
    assert np.abs(g - f * 255.0).max() <= 0.51  # 16-bit fixed-point weights, rounded half up


def test_luma_bt601_shapes_and_errors():
    assert luma_bt601(np.zeros((2, 3, 4, 3), np.uint8)).shape == (2, 3, 4)
    assert luma_bt601(np.array([255, 255, 255], np.uint8)).tolist() == 255
    with pytest.raises(ValueError, match="got int64"):
        luma_bt601([255, 255, 255])  # ints of unknown range: refused, not wrapped
    with pytest.raises(ValueError, match=r"uint8 \[..., 3\]"):
        luma_bt601(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        luma_bt601(np.zeros((4, 3), np.float32))


def test_luminance_rec709_numpy_and_torch():
    rgb = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    w = np.array(REC709_LUMA, np.float32)
    want = rgb[:, 0] * w[0] + rgb[:, 1] * w[1] + rgb[:, 2] * w[2]  # the one evaluation order
    np.testing.assert_array_equal(luminance_rec709(rgb), want)
    np.testing.assert_array_equal(luminance_rec709(torch.from_numpy(rgb)).numpy(), want)
    assert sum(REC709_LUMA) == pytest.approx(1.0) and sum(BT601_LUMA) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\[\.\.\., 3\]"):
        luminance_rec709(np.zeros((4, 2), np.float32))


# --------------------------------------------------------------------------------- one home


def _numbers(path: pathlib.Path) -> set[str]:
    toks = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return {t.string for t in toks if t.type == tokenize.NUMBER}


SRGB = {"0.0031308", "0.04045", "12.92"}
REC709 = {"0.2126", "0.7152", "0.0722"}
BT601 = {"0.299", "0.587", "0.114"}


def test_colour_constants_live_in_nirvis_colour_only():
    where: dict[str, set[str]] = {"srgb": set(), "rec709": set(), "bt601": set()}
    for p in SRC.rglob("*.py"):
        nums, rel = _numbers(p), str(p.relative_to(SRC))
        for key, consts in (("srgb", SRGB), ("rec709", REC709), ("bt601", BT601)):
            if nums & consts:
                where[key].add(rel)
    assert where["srgb"] == {"colour.py"}
    assert where["rec709"] == {"colour.py"}
    assert where["bt601"] == {"colour.py"}  # train and eval input both go through luma_bt601
