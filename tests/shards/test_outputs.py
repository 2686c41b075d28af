"""render-dataset's optional outputs: crop sizes, raw frames, label passes; what the readers,
verify and the exporters make of them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from shards_helpers import TINY_YAML, cli, shard_bytes

from nirvis.faces.segmentation import CLASS_ID
from nirvis.render.align import arcface_template, estimate_similarity, transform_points
from nirvis.shards.config import ConfigError, RenderDatasetConfig, load_config
from nirvis.shards.reader import iter_pairs, read_manifest

RICH = ["--resolution", "128", "--raw", "--passes", "segmentation,depth,normal"]


@pytest.fixture(scope="module")
def rich(tmp_path_factory, tiny_yaml):
    """The tiny data set at 128 px with raw frames and every label pass."""
    out = tmp_path_factory.mktemp("rich") / "ds"
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--quiet", *RICH]) == 0
    return out


def test_rich_data_set_members_and_sizes(rich):
    manifest = read_manifest(rich)
    assert manifest["config"]["resolution"] == 128 and manifest["config"]["sample_space"]["raw_resolution"] == 256
    assert manifest["sample"]["members"] == ["vis.png", "nir.png", "json", "vis_raw.png", "nir_raw.png", "seg.png",
                                             "seg_raw.png", "depth.png", "depth_raw.png", "normal.png",
                                             "normal_raw.png"]
    assert manifest["format_version"] == 2
    assert cli(["verify", rich]) == 0
    for s in iter_pairs(rich):
        assert s.vis.shape == (128, 128, 3) and s.nir.shape == (128, 128)
        assert s.extra["vis_raw.png"].shape == (256, 256, 3) and s.extra["nir_raw.png"].shape == (256, 256)
        seg, depth, normal = s.extra["seg.png"], s.extra["depth.png"], s.extra["normal.png"]
        assert seg.dtype == np.uint8 and seg.shape == (128, 128)
        assert np.array_equal(seg == 0, depth == 0)                       # one silhouette for every pass
        n = normal[seg > 0]
        assert np.abs(np.linalg.norm(n, axis=1) - 1).max() < 0.02 and (normal[seg == 0] == 0).all()
        assert s.meta["labels"]["segmentation"]["classes"][CLASS_ID["nose"]] == "nose"
        assert s.meta["image"]["size"] == [128, 128]


def test_raw_landmarks_map_onto_the_crop_landmarks(rich):
    """The raw frame's 5 points, aligned to the 128 template, land where the crop's JSON says."""
    for s in iter_pairs(rich):
        for spectrum in ("vis", "nir"):
            raw5 = torch.tensor(s.meta["raw"]["landmarks"][spectrum]["5"], dtype=torch.float64)[None]
            crop5 = torch.tensor(s.meta["landmarks"][spectrum]["5"], dtype=torch.float64)[None]
            m = estimate_similarity(raw5, arcface_template(dtype=torch.float64, size=128))
            torch.testing.assert_close(transform_points(raw5, m), crop5, atol=2e-3, rtol=0)


def test_label_passes_are_deterministic_and_batch_independent(rich, tiny_yaml, tmp_path):
    out = tmp_path / "again"
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--quiet", "--batch-size", "3", *RICH]) == 0
    assert shard_bytes(out) == shard_bytes(rich)


def test_independent_pairing_stores_one_label_set_per_spectrum(tmp_path):
    cfg = tmp_path / "ind.yaml"
    cfg.write_text(TINY_YAML.replace("  raw_resolution: 128\n", "  raw_resolution: 128\n  pairing: independent\n")
                   .replace("identities: 3", "identities: 1"))
    out = tmp_path / "ds"
    assert cli(["render-dataset", "--config", cfg, "--out", out, "--quiet", "--passes", "segmentation"]) == 0
    assert read_manifest(out)["sample"]["members"][3:] == ["vis_seg.png", "nir_seg.png"]
    assert cli(["verify", out]) == 0
    s = next(iter_pairs(out))
    assert not np.array_equal(s.extra["vis_seg.png"], s.extra["nir_seg.png"])


def test_exporters_carry_or_name_the_extra_members(rich, tmp_path, capsys):
    assert cli(["export", rich, "--format", "folders", "--out", tmp_path / "f"]) == 0
    files = sorted(p.name for p in (tmp_path / "f" / "0000000").iterdir())
    assert "0000000_0000_seg.png" in files and "0000000_0000_vis_raw.png" in files
    assert "0000000_0000_vis.png" in files
    assert cli(["export", rich, "--format", "insightface-rec", "--out", tmp_path / "r"]) == 0
    assert "not exported: vis_raw.png" in capsys.readouterr().out
    assert (tmp_path / "r" / "property").read_text() == "3,128,128\n"


def test_default_data_sets_keep_their_fingerprint_fields():
    """raw and passes are left out of the bytes-deciding config when unset (like the PNG
    encoding), so data sets from before them resume."""
    d = RenderDatasetConfig().data_dict()
    assert "raw" not in d and "passes" not in d
    d = RenderDatasetConfig(raw=True, passes=("depth",)).data_dict()
    assert d["raw"] is True and d["passes"] == ["depth"]


@pytest.mark.parametrize("field, value, needle", [("passes", ("albedo",), "passes"),
                                                   ("resolution", 100, "resolution")])
def test_bad_output_options_are_named(field, value, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(None, {field: value}, {"passes": "--passes", "resolution": "--resolution"})


def test_crops_are_never_upsampled():
    cfg = RenderDatasetConfig(resolution=256)
    assert cfg.sample_space.raw_resolution == 512
    assert json.loads(json.dumps(cfg.to_dict()))["sample_space"]["raw_resolution"] == 512


def test_the_card_states_the_sizes_and_passes(rich):
    text = (rich / "README.md").read_text()
    assert "| aligned crop | 128 x 128" in text and "| raw camera frames | 256 x 256 |" in text
    assert "| label passes | depth, normal, segmentation" in text and "`<key>.seg.png`" in text
    stats = json.loads((rich / "stats.json").read_text())["dataset"]
    assert stats["crop"] == [128, 128] and stats["label_passes"] == ["depth", "normal", "segmentation"]


def test_112_configs_keep_their_raw_size():
    """A 112 config's chosen raw size is kept (the small preset renders at 160): only larger crops
    raise it, so data sets rendered before crop sizes existed keep their bytes."""
    small = Path(__file__).resolve().parents[2] / "configs" / "render" / "small.yaml"
    cfg = load_config(small)
    assert cfg.resolution == 112 and cfg.sample_space.raw_resolution == 160
    assert load_config(small, {"resolution": 128}).sample_space.raw_resolution == 256
