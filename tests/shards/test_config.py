"""Config presets, YAML loading and errors that name the field (no rendering)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nirvis.shards.config import ConfigError, RenderDatasetConfig, config_from_dict, dump_yaml, load_config

from shards_helpers import cli

PRESETS = Path(__file__).resolve().parents[2] / "configs" / "render"


def test_presets_load_and_default_matches_dataclass():
    assert load_config(PRESETS / "default.yaml") == RenderDatasetConfig()
    small = load_config(PRESETS / "small.yaml")
    assert small.pairs == small.identities * small.images_per_identity < 200
    assert small.sample_space.yaw_deg == (-30.0, 30.0)


def test_default_face_textures_are_512_px():
    """Procedural identities get 512 px reflectance maps unless a config asks otherwise."""
    import inspect

    from nirvis.render.prepared_face import prepare_procedural_face, procedural_identity_asset

    assert RenderDatasetConfig().texture_resolution == 512
    for fn in (procedural_identity_asset, prepare_procedural_face):
        assert inspect.signature(fn).parameters["resolution"].default == 512


def test_effective_config_yaml_round_trips():
    cfg = load_config(PRESETS / "small.yaml", {"seed": 9, "workers": 3})
    assert config_from_dict(yaml.safe_load(dump_yaml(cfg, header="x"))) == cfg
    assert "workers" not in cfg.data_dict() and cfg.data_dict()["seed"] == 9


def test_flags_override_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("identities: 5\nseed: 3\n")
    cfg = load_config(path, {"identities": 7, "seed": None})
    assert (cfg.identities, cfg.seed) == (7, 3)


@pytest.mark.parametrize("text, message", [
    ("images_per_identity: 0\n", "x.yaml: field 'images_per_identity' must be >= 1, got 0"),
    ("resolution: 100\n", "field 'resolution' must be one of 112, 128, 160, 224, 256, 512 (aligned crop side)"),
    ("passes: [albedo]\n", "field 'passes' must list distinct passes among segmentation, depth, normal"),
    ("identitys: 3\n", "x.yaml: unknown key 'identitys'"),
    ("sample_space:\n  lighting:\n    ambiant: [0, 1]\n", "unknown key 'sample_space.lighting.ambiant'"),
    ("sample_space:\n  yaw_deg: [30, -30]\n", "field 'sample_space.yaw_deg'"),
    ("sample_space:\n  pairing: both\n", "field 'sample_space.pairing'"),
    ("sample_space:\n  vis_sensor:\n    exposure: [0, 1]\n", "field 'sample_space.vis_sensor.exposure'"),
    ("sample_space:\n  lighting:\n    n_directional: [0, 9]\n", "field 'sample_space.lighting.n_directional'"),
    ("shard_size: ten\n", "field 'shard_size' must be an integer, got 'ten'"),
    ("backend: vulkan\n", "field 'backend' must be one of auto, cpu, gl, cuda, torch"),
    ("- 1\n- 2\n", "expected a mapping"),
    # ranges that parse as numbers but leave what the renderer models (used to crash after config.yaml)
    ("sample_space:\n  yaw_deg: [-1.0e+308, 1.0e+308]\n", "field 'sample_space.yaw_deg': [-1e+308, 1e+308] leaves"),
    ("sample_space:\n  distance_mm: [500, 1.0e+300]\n", "field 'sample_space.distance_mm'"),
    ("sample_space:\n  lighting:\n    ambient: [0, .inf]\n", "field 'sample_space.lighting.ambient'"),
    ("sample_space:\n  lighting:\n    color_temperature_k: [1, 2]\n",
     "field 'sample_space.lighting.color_temperature_k'"),
    ("identities: 2\n# caf\xe9\n".encode("latin-1"), "x.yaml: not UTF-8 text"),
])
def test_bad_yaml_is_refused_naming_the_field(tmp_path, capsys, text, message):
    path = tmp_path / "x.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "out"
    assert cli(["render-dataset", "--config", path, "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nirvis render-dataset: error: ") and message in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--images-per-identity", "0"], "--images-per-identity: field 'images_per_identity' must be >= 1, got 0"),
    (["--resolution", "200"], "--resolution: field 'resolution' must be one of 112, 128, 160, 224, 256, 512"),
    (["--passes", "depth,depth"], "--passes: field 'passes' must list distinct passes"),
    (["--workers", "0"], "field 'workers' must be >= 1"),
    (["--device", "tpu"], "field 'device' must be one of cpu, cuda"),
    (["--identity-source", "/nonexistent/assets"], "field 'identity_source': /nonexistent/assets is neither"),
])
def test_bad_flags_are_refused_without_output(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert cli(["render-dataset", "--out", out, "--identities", "2", *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_config_file(tmp_path, capsys):
    assert cli(["render-dataset", "--config", tmp_path / "nope.yaml", "--out", tmp_path / "o"]) == 2
    assert "nope.yaml: config file not found" in capsys.readouterr().err


def test_config_error_is_a_value_error():
    with pytest.raises(ConfigError):
        config_from_dict({"identities": -1})
    assert issubclass(ConfigError, ValueError)
