"""tools/demo_seeds.py: several training seeds, each evaluated, reported as mean ± std over seeds."""

from __future__ import annotations

import json
import statistics

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tool_helpers import ROOT, load_tool


@pytest.fixture(scope="module")
def demo_seeds():
    return load_tool("demo_seeds")


def _summary(rank1_folds):
    return {"rank1": {"mean": statistics.fmean(rank1_folds), "std": statistics.pstdev(rank1_folds),
                      "n": len(rank1_folds)}}


def test_summarise_takes_mean_and_sample_std_over_seeds(demo_seeds):
    per_seed = {2: {"b": _summary([0.5, 0.7])}, 1: {"b": _summary([0.2, 0.2])}, 3: {"b": _summary([1.0, 0.8])}}
    out = demo_seeds.summarise(per_seed)["b"]["rank1"]
    assert out["seeds"] == [1, 2, 3] and out["per_seed"] == pytest.approx([0.2, 0.6, 0.9])
    assert out["mean"] == pytest.approx(1.7 / 3)
    m = 1.7 / 3
    assert out["std"] == pytest.approx(((0.2 - m) ** 2 + (0.6 - m) ** 2 + (0.9 - m) ** 2) ** 0.5 / 2 ** 0.5)
    assert out["fold_std"] == pytest.approx([0.0, 0.1, 0.1])
    table = demo_seeds.format_summary({"b": {"rank1": out}}, {"b": "B"})
    assert "| B | rank1 | 56.7 ± 35.1 | 20.0, 60.0, 90.0 |" in table
    assert demo_seeds.mean_std([0.3]) == (0.3, 0.0)
    with pytest.raises(ValueError, match="seed 2 has benchmarks"):
        demo_seeds.summarise({1: {"b": _summary([0.1])}, 2: {"c": _summary([0.1])}})
    for bad in ("", "1,1", "a,2", "-1"):
        with pytest.raises(SystemExit, match="--seeds"):
            demo_seeds.parse_seeds(bad)


@pytest.mark.slow
def test_two_seeds_train_evaluate_and_summarise(demo_seeds, tmp_path):
    from nirvis.evaluate import fixtures as F
    from nirvis.shards.config import RenderDatasetConfig
    from nirvis.shards.render import render_dataset

    render_dataset(RenderDatasetConfig(identities=6, images_per_identity=4, shard_size=8, batch_size=8, workers=1,
                                       texture_resolution=128, seed=3), tmp_path / "train", progress=False)
    F.write_synthetic(tmp_path / "held_out", labels=4, pairs=3, per_shard=6, seed=5)
    cfg = yaml.safe_load((ROOT / "configs" / "train" / "tiny.yaml").read_text())
    cfg["model"].update(width=0.125, embedding_size=32)
    cfg["data"].update(identities_per_batch=3, prefetch=1)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "seeds"
    assert demo_seeds.main(["--data", str(tmp_path / "train"), "--out", str(out),
                            "--config", str(tmp_path / "cfg.yaml"), "--seeds", "7,8", "--steps", "3",
                            "--synthetic", str(tmp_path / "held_out")]) == 0
    doc = json.loads((out / "summary.json").read_text())
    assert doc["seeds"] == [7, 8] and doc["steps"] == 3
    assert all(set(doc["seconds_per_seed"][s]) == {"train", "eval_synthetic"} for s in ("7", "8"))
    assert doc["environment"]["torch_threads"] == 2
    reports = [json.loads((out / f"seed_{s}" / "eval_synthetic" / "report.json").read_text()) for s in (7, 8)]
    rank1 = doc["benchmarks"]["synthetic"]["rank1"]
    assert rank1["per_seed"] == [r["summary"]["rank1"]["mean"] for r in reports]
    assert rank1["mean"] == pytest.approx(statistics.fmean(rank1["per_seed"]))
    # the runs differ by their seed only
    for s in (7, 8):
        assert yaml.safe_load((out / f"seed_{s}" / "run" / "config.yaml").read_text())["run"]["seed"] == s
    weights = [load_file(out / f"seed_{s}" / "run" / "checkpoints" / "step_00000003" / "model.safetensors")
               for s in (7, 8)]
    assert weights[0].keys() == weights[1].keys()
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert "| synthetic held-out, NIR->VIS | rank1 |" in (out / "summary.md").read_text()


def test_refuses_to_replace_a_foreign_directory(demo_seeds, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit):
        demo_seeds.main(["--data", str(tmp_path), "--out", str(tmp_path), "--synthetic", str(tmp_path)])
    assert (tmp_path / "keep.txt").read_text() == "mine"
