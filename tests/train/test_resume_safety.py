"""Resuming a training run reads its ``state.pt`` without running code: a state file replaced by a
pickle that would run a command is refused with one clear error and the command never runs."""

from __future__ import annotations

import os

import pytest
import torch

from nirvis.train.checkpoint import CheckpointError, latest_checkpoint, read_training_state
from nirvis.train.loop import TrainError, train

from train_helpers import tiny_config


class _TouchMarker:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_resume_refuses_a_state_file_that_would_run_code(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(**{"optim.max_steps": 2}), [str(tiny_data)], run)
    ckpt = latest_checkpoint(run)
    state = read_training_state(ckpt / "state.pt")          # the genuine file loads
    assert int(state["step"]) == 2 and isinstance(state["torch_rng"], torch.Tensor)
    marker = tmp_path / "pwned"
    evil = dict(state, sampler=_TouchMarker(marker))     # otherwise a valid state
    torch.save(evil, ckpt / "state.pt")
    with pytest.raises(TrainError, match=r"state\.pt: refused.*must not run code"):
        train(tiny_config(**{"optim.max_steps": 4}), [str(tiny_data)], run, resume=True)
    assert not marker.exists()


def test_read_training_state_names_the_file_and_what_is_wrong(tmp_path):
    torch.save({"step": 3}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"partial\.pt: not a nirvis training state \(missing optimizer"):
        read_training_state(tmp_path / "partial.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"junk\.pt: cannot read the training state"):
        read_training_state(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match=r"absent\.pt: the checkpoint has no training state"):
        read_training_state(tmp_path / "absent.pt")


@pytest.mark.parametrize("where", ["data", "inside"])
def test_train_never_writes_into_its_data(tiny_data, tmp_path, where):
    from nirvis.errors import OutputOverlapsInputError

    config = (tiny_data / "config.yaml").read_bytes()
    out = tiny_data if where == "data" else tiny_data / "run"
    with pytest.raises(OutputOverlapsInputError, match="train --out"):
        train(tiny_config(**{"optim.max_steps": 1}), [str(tiny_data)], out)
    assert (tiny_data / "config.yaml").read_bytes() == config and not (tiny_data / "run").exists()
