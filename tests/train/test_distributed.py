"""Distributed training: batches split between ranks by identity groups; 2-rank DDP (gloo, CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nirvis
from nirvis.train.loop import TrainError, train, weights_digest
from nirvis.train.sampler import IdentityBatchSampler, NoBatchError, ShardGroupSource

from train_helpers import ROOT, tiny_config


SEED = 6  # on tiny_data: 4, 4, 4, 3 batches in epochs 0-3 (12 groups of 2 pairs, 3 identities a batch)


def batches(data, rank, world, n, k=3):
    s = IdentityBatchSampler([ShardGroupSource([data], 2, shuffle_buffer=4)], k, 2, 2, seed=SEED, rank=rank,
                             world_size=world)
    it = iter(s)
    return [next(it) for _ in range(n)]


def key(b):
    return (b.state["epoch"], tuple(b.labels_vis.tolist()), tuple(b.labels_nir.tolist()),
            b"".join(x.tobytes() for x in b.vis + b.nir))


def test_ranks_share_each_round_of_the_single_process_batches(tiny_data):
    # 3 shards, 4 ranks: a shard split would leave a rank without data; the group split does not
    single = batches(tiny_data, 0, 1, 12)
    per_epoch = {e: [b for b in single if b.state["epoch"] == e] for e in (0, 1)}
    assert [len(per_epoch[e]) for e in (0, 1)] == [4, 4]
    world = 2
    ranks = [batches(tiny_data, r, world, 6) for r in range(world)]
    for e in (0, 1):
        rounds = len(per_epoch[e]) // world
        assert rounds >= 1
        for r in range(world):
            mine = [b for b in ranks[r] if b.state["epoch"] == e]
            assert [key(b) for b in mine] == [key(per_epoch[e][i * world + r]) for i in range(rounds)]
            assert [b.state["batch"] for b in mine] == [(i + 1) * world for i in range(rounds)]
    # more ranks than shards (3): every rank still gets batches, one per round
    four = [batches(tiny_data, r, 4, 2) for r in range(4)]
    assert len({key(b[0]) for b in four}) == 4 and all(b[0].state == {"epoch": 0, "batch": 4} for b in four)
    # resuming a rank from the shared state continues its own sequence
    s = IdentityBatchSampler([ShardGroupSource([tiny_data], 2, shuffle_buffer=4)], 3, 2, 2, seed=SEED, rank=1,
                             world_size=world)
    s.load_state_dict(ranks[1][0].state)
    assert [key(b) for b in [next(iter(s))]] == [key(ranks[1][1])]


def test_too_few_batches_for_the_ranks_is_a_clear_error(tiny_data, tmp_path):
    with pytest.raises(NoBatchError, match=r"batch\(es\) of 3 identities per epoch, fewer than the 8 ranks"):
        batches(tiny_data, 0, 8, 1)
    with pytest.raises(TrainError, match="fewer than 7 identities"):  # the trainer's user error
        train(tiny_config(**{"data.identities_per_batch": 7}), [str(tiny_data)], tmp_path / "run")
    with pytest.raises(ValueError, match="outside world_size"):
        IdentityBatchSampler([], 3, 2, 2, seed=0, rank=2, world_size=2)


WORKER = """
import json, sys
from nirvis.train.config import load_config
from nirvis.train.loop import train
cfg_path, overrides, data, out, report = sys.argv[1:6]
s = train(load_config(cfg_path, json.loads(overrides)), [data], out)
with open(f"{report}/rank{s['rank']}.json", "w") as f:
    json.dump({k: s[k] for k in ("rank", "world_size", "steps", "epoch", "weights_sha256", "checkpoint")}, f)
"""


@pytest.mark.slow
def test_two_rank_ddp_training_ends_with_identical_weights(tiny_data, tmp_path):
    """``torchrun --nproc_per_node 2`` (gloo, CPU) on a data set of 3 shards: both ranks train the
    same number of steps and end with bit-identical weights, equal to rank 0's checkpoint."""
    from safetensors.torch import load_file

    overrides = {"data.identities_per_batch": 3, "data.vis_per_identity": 2, "data.nir_per_identity": 2,
                 "data.prefetch": 1, "run.progress": False, "optim.max_steps": 4, "run.checkpoint_every": 100,
                 "model.width": 0.125, "model.embedding_size": 32}
    (tmp_path / "worker.py").write_text(WORKER)
    src = str(Path(nirvis.__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(tmp_path / "worker.py"), str(ROOT / "configs" / "train" / "tiny.yaml"), json.dumps(overrides),
           str(tiny_data), str(tmp_path / "run"), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2] and [r["steps"] for r in reports] == [4, 4]
    assert reports[0]["weights_sha256"] == reports[1]["weights_sha256"]
    assert reports[1]["checkpoint"] is None
    saved = load_file(str(Path(reports[0]["checkpoint"]) / "model.safetensors"))
    assert weights_digest(saved) == reports[0]["weights_sha256"]
    # and training moved the weights away from the initial ones
    import torch

    from nirvis.train.checkpoint import build_model

    cfg = tiny_config(**overrides)
    torch.manual_seed(cfg.run.seed)
    bb, head = build_model(cfg, 6)
    init = {f"backbone.{k}": v for k, v in bb.state_dict().items()}
    init.update({f"head.{k}": v for k, v in head.state_dict().items()})
    assert sorted(init) == sorted(saved)
    assert weights_digest(init) != reports[0]["weights_sha256"]
    assert not np.allclose(init["head.weight"].numpy(), saved["head.weight"].numpy())
