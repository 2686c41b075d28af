"""tools/realism_degrade.py: each image change touches what it says and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from tool_helpers import load_tool


@pytest.fixture(scope="module")
def tool():
    return load_tool("realism_degrade")


@pytest.fixture(scope="module")
def crops():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(3)]


def test_variants_keep_the_crop_format_and_change_only_their_region(tool, crops):
    variants = tool.variants(crops)
    assert set(variants) == {"none", "grey", "mean_colour", "blur_sigma2", "half_res", "eyes_blurred",
                             "mouth_blurred", "context_hidden"}
    c = crops[0]
    for name, fn in variants.items():
        out = fn(c)
        assert out.shape == (112, 112, 3) and out.dtype == np.uint8, name
    assert np.array_equal(variants["none"](c), c)
    grey = variants["grey"](c)
    assert np.array_equal(grey[..., 0], grey[..., 2]) and not np.array_equal(grey, c)
    eyes = variants["eyes_blurred"](c)
    changed = np.flatnonzero((eyes != c).any(axis=(1, 2)))
    assert changed.min() >= 36 and changed.max() < 66 and eyes[36:66].std() < c[36:66].std()
    mouth = variants["mouth_blurred"](c)
    rows, cols = np.nonzero((mouth != c).any(axis=2))
    assert rows.min() >= 80 and rows.max() < 106 and cols.min() >= 28 and cols.max() < 84
    hidden = variants["context_hidden"](c)
    assert np.array_equal(hidden[26:98, 18:94], c[26:98, 18:94])
    assert len(np.unique(hidden[:26].reshape(-1, 3), axis=0)) == 1      # outside: one flat colour


def test_mean_colour_moves_every_crop_to_the_set_mean(tool):
    dark = np.full((112, 112, 3), 60, np.uint8)
    light = np.full((112, 112, 3), 140, np.uint8)
    fn = tool.variants([dark, light])["mean_colour"]
    assert (fn(dark) == 100).all() and (fn(light) == 100).all()


def test_means_split_same_and_different_pairs(tool):
    desc = np.array([[0.0, 0.0], [0.0, 0.1], [1.0, 0.0]])
    same, diff = tool._means(desc, np.array([0, 0, 1]))
    assert same == pytest.approx(0.1) and diff == pytest.approx((1.0 + np.hypot(1.0, 0.1)) / 2)


def test_a_missing_data_set_is_one_clear_error_and_writes_nothing(tool, tmp_path, capsys):
    out = tmp_path / "degrade.json"
    assert tool.main([str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "nope: no such data set directory" in capsys.readouterr().err
    assert not out.exists()


def test_pasted_real_bands_touch_only_their_band_and_follow_the_identity(tool, crops):
    real = [np.full((112, 112, 3), v, np.uint8) for v in (10, 250)]
    real[1][40:60, 30:40] = 0                                           # a dark patch in the eye band
    paste = tool.paste_variants(real)
    assert set(paste) == {"real_eyes_pasted", "real_mouth_pasted", "real_brows_pasted"}
    c = np.full((112, 112, 3), 128, np.uint8)
    eyes0, eyes1 = paste["real_eyes_pasted"](c, 0), paste["real_eyes_pasted"](c, 3)   # labels 0, 3 -> real 0, 1
    rows = np.flatnonzero((eyes1 != c).any(axis=(1, 2)))
    assert rows.min() >= 38 - 9 and rows.max() < 64 + 9                 # the band, feathered by 3 sigma
    assert np.array_equal(eyes0, c)                                     # a flat real band matched to the mean
    assert eyes1[50, 35].mean() < 90 and eyes1.dtype == np.uint8        # the patch shows
    assert np.array_equal(paste["real_eyes_pasted"](c, 1), eyes1)      # label 1 -> real 1 as well


def test_identify_real_finds_each_face_own_renders(tool):
    real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    renders = np.array([[0.1, 0.0], [0.0, 0.1], [1.0, 0.1], [0.0, 0.9], [0.9, 0.0], [0.0, 1.1]])
    labels = np.array([0, 0, 1, 2, 1, 2])
    m = tool.identify_real(real, renders, labels)
    assert m["faces"] == 3 and m["rank1"] == 1.0 and m["own_mean"] < m["other_mean"]
    assert tool.identify_real(real, renders, (labels + 1) % 3)["rank1"] == 0.0    # renders of the wrong people
    with pytest.raises(ValueError, match="one per real face"):
        tool.identify_real(real, renders, np.array([0, 0, 1, 1, 1, 1]))
