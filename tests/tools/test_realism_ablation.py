"""tools/realism_ablation.py: shared-asset identity folders and the ablation table row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tool_helpers import load_tool


@pytest.fixture(scope="module")
def ablation():
    return load_tool("realism_ablation")


def _identities(root: Path) -> Path:
    for k in range(3):
        d = root / f"{k:07d}"
        d.mkdir(parents=True)
        (d / "asset.json").write_text(json.dumps({"mesh": "mesh.obj", "landmarks": {"5": [k]}, "id": k}))
        (d / "mesh.obj").write_text(f"v {k} 0 0\n")
        (d / "diffuse_vis.png").write_bytes(bytes([k]) * 4)
    (root / "identities.json").write_text("{}")
    return root


def test_share_maps_copies_first_identity_pngs_only(ablation, tmp_path):
    ids = _identities(tmp_path / "ids")
    assert ablation.share_assets(ids, tmp_path / "out", "maps") == 2
    for k in range(3):
        d = tmp_path / "out" / f"{k:07d}"
        assert (d / "diffuse_vis.png").read_bytes() == bytes([0]) * 4
        assert (d / "mesh.obj").read_text() == f"v {k} 0 0\n"
    assert (ids / "0000002" / "diffuse_vis.png").read_bytes() == bytes([2]) * 4   # source untouched


def test_share_mesh_copies_mesh_and_landmarks_keeps_the_rest(ablation, tmp_path):
    ids = _identities(tmp_path / "ids")
    ablation.share_assets(ids, tmp_path / "out", "mesh")
    d = tmp_path / "out" / "0000002"
    data = json.loads((d / "asset.json").read_text())
    assert (d / "mesh.obj").read_text() == "v 0 0 0\n" and data["landmarks"] == {"5": [0]} and data["id"] == 2
    assert (d / "diffuse_vis.png").read_bytes() == bytes([2]) * 4
    with pytest.raises(ValueError, match="already exists"):
        ablation.share_assets(ids, tmp_path / "out", "mesh")
    with pytest.raises(ValueError, match="no identity asset"):
        ablation.share_assets(tmp_path / "out" / "0000001", tmp_path / "x", "mesh")


def test_table_row_formats_report_figures(ablation):
    stats = {"same": {"mean": 0.4213}, "different": {"mean": 0.5511, "share_under_threshold": 0.74},
             "tar_at_far": {"0.01": 0.41}}
    report = {"vis_vis": stats, "nir_vis": {**stats, "tar_at_far": {"0.01": 0.18}},
              "detection": {"vis": {"abs_yaw_le_30": {"rate": 0.88}}, "nir": {"abs_yaw_le_30": {"rate": 0.99}}},
              "real": {"synthetic_to_real_different_mean_ratio": 0.7312}}
    row = ablation.table_row("frontal", report)
    assert row == "| frontal | 0.421 / 0.551 | 0.73x | 74.0 % | 88.0 % / 99.0 % | 41.0 % / 18.0 % |"
    assert ablation.format_table([("frontal", report)]).count("\n") == 2
