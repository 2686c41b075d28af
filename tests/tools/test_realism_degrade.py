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
