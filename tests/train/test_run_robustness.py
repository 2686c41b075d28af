"""Training run directories never get stuck, and what a run reads is checked: a run that died
before its first checkpoint (a bad batch config, a full disk) restarts in place, with or without
``--resume``; a flipped byte in saved weights is found; a shard that does not belong to its
manifest is refused before training; our own ``model.safetensors`` works as ``--pretrained``."""

from __future__ import annotations

import json
import shutil

import pytest

from nirvis.train.checkpoint import CheckpointError, build_model, latest_checkpoint, load_pretrained, load_trained
from nirvis.train.loop import TrainError, train

from train_helpers import ROOT, tiny_config


def _die_before_the_first_checkpoint(tiny_data, run):
    with pytest.raises(TrainError, match="no batch can be built"):   # 7 identities per batch, the data has 6
        train(tiny_config(**{"data.identities_per_batch": 7}), [str(tiny_data)], run)
    assert (run / "log.csv").exists() and latest_checkpoint(run) is None


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_that_died_before_its_first_checkpoint_restarts_in_place(tiny_data, tmp_path, capsys, resume):
    run = tmp_path / "run"
    _die_before_the_first_checkpoint(tiny_data, run)
    (run / "notes.txt").write_text("the user's")             # not the trainer's: kept
    report = train(tiny_config(**{"optim.max_steps": 3}), [str(tiny_data)], run, resume=resume)
    assert report["steps"] == 3 and latest_checkpoint(run).name == "step_00000003"
    assert "never saved a checkpoint: starting it afresh" in capsys.readouterr().err
    assert (run / "notes.txt").read_text() == "the user's"
    rows = (run / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]   # the dead run's rows are gone


def test_an_empty_directory_still_has_nothing_to_resume(tiny_data, tmp_path):
    with pytest.raises(TrainError, match="nothing to resume"):
        train(tiny_config(), [str(tiny_data)], tmp_path / "never_ran", resume=True)


def test_a_full_disk_during_training_is_one_line_and_the_run_restarts(tiny_data, tmp_path, on_a_full_disk):
    run = tmp_path / "run"
    argv = ["train", "--config", ROOT / "configs/train/tiny.yaml", "--data", tiny_data, "--out", run, "--steps", 2,
            "--quiet", "--set", "data.identities_per_batch=3", "--set", "model.width=0.125",
            "--set", "model.embedding_size=32", "--set", "data.vis_per_identity=2"]
    proc, lines = on_a_full_disk(argv, 20000, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "checkpoints/step_00000002: could not write: File too large" in lines[0], proc.stderr
    assert latest_checkpoint(run) is None and not list((run / "checkpoints").glob(".*"))  # no partial checkpoint
    from nirvis.cli import main

    assert main([str(a) for a in argv]) == 0                # not stuck: the same command now trains
    assert latest_checkpoint(run).name == "step_00000002"

    model = tmp_path / "model.pt"
    proc, _ = on_a_full_disk(["export-model", run, "--format", "torchscript", "--out", model], 20000, tmp_path)
    assert proc.returncode == 2 and "model.pt: could not write: File too large" in proc.stderr, proc.stderr
    assert not model.exists() and not list(tmp_path.glob(".model.pt*"))


def _flip_a_weight_byte(path):
    data = bytearray(path.read_bytes())
    data[-9] ^= 0x10                                           # inside the last tensor's bytes
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_saved_weights_is_found(tiny_data, tmp_path):
    from nirvis.train.checkpoint import load_embedding_model

    run = tmp_path / "run"
    train(tiny_config(**{"optim.max_steps": 3}), [str(tiny_data)], run)
    load_trained(run)                                          # the genuine checkpoint loads
    _flip_a_weight_byte(latest_checkpoint(run) / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupted"):
        load_trained(run)
    with pytest.raises(CheckpointError, match="corrupted"):
        load_embedding_model(run)
    with pytest.raises(TrainError, match="corrupted"):
        train(tiny_config(**{"optim.max_steps": 6}), [str(tiny_data)], run, resume=True)
    backbone, _ = build_model(tiny_config(), 6)
    with pytest.raises(CheckpointError, match="corrupted"):
        load_pretrained(backbone, latest_checkpoint(run) / "model.safetensors")


def test_our_own_checkpoint_works_as_pretrained(tiny_data, tmp_path):
    import torch

    run = tmp_path / "run"
    train(tiny_config(**{"optim.max_steps": 3}), [str(tiny_data)], run)
    weights = latest_checkpoint(run) / "model.safetensors"
    trained, _, cfg = load_trained(run)
    fresh, _ = build_model(cfg, 4)
    info = load_pretrained(fresh, weights)
    assert any(k.startswith("head.") for k in info["dropped"])       # the class weights are left out
    for (k, a), b in zip(trained.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k
    report = train(tiny_config(**{"optim.max_steps": 1, "model.pretrained": str(weights)}), [str(tiny_data)],
                   tmp_path / "finetuned")
    assert report["steps"] == 1


def test_a_shard_that_does_not_belong_to_its_manifest_is_refused_before_training(tiny_data, tmp_path):
    from nirvis.train.sampler import ShardLabelError

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["config"]["identities"] = 5                        # the shards hold labels 0..5
    (data / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TrainError, match="does not verify"):
        train(tiny_config(), [str(data)], tmp_path / "run")
    assert not (tmp_path / "run").exists()                       # refused before anything was written
    with pytest.raises(ShardLabelError, match=r"has label 5, but the manifest plans identities 0\.\.4"):
        train(tiny_config(**{"data.verify": False, "optim.max_steps": 50}), [str(data)], tmp_path / "run2")


def test_train_never_overwrites_a_config_it_did_not_write(tiny_data, tmp_path):
    other = tmp_path / "other_data"                            # a data set that is not this run's input
    shutil.copytree(tiny_data, other)
    before = (other / "config.yaml").read_bytes()
    with pytest.raises(TrainError, match="holds a config.yaml that is not a training run's"):
        train(tiny_config(), [str(tiny_data)], other)
    assert (other / "config.yaml").read_bytes() == before
