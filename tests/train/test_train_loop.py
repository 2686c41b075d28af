import csv

import numpy as np
import pytest
import torch

from nirvis.evaluate.run import evaluate_benchmark
from nirvis.train.checkpoint import load_embedding_model, load_trained
from nirvis.train.config import load_config
from nirvis.train.loop import TrainError, lr_at, train
from nirvis.train.sampler import IdentityBatchSampler, ShardGroupSource

from train_helpers import ROOT, tiny_config


def read_log(run_dir):
    with open(run_dir / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_sampler_batches_are_identity_paired_and_resumable(tiny_data):
    def make():
        return IdentityBatchSampler([ShardGroupSource([tiny_data], 2, shuffle_buffer=4)], 3, 2, 2, seed=1)

    s = make()
    it = iter(s)
    batches = [next(it) for _ in range(7)]  # 4 batches per epoch: crosses an epoch boundary
    for b in batches:
        assert len(b.vis) == 6 and len(b.nir) == 6
        assert b.vis[0].shape == (112, 112, 3) and b.nir[0].shape == (112, 112)
        assert len(set(b.labels_vis.tolist())) == 3
        assert sorted(b.labels_vis.tolist()) == sorted(b.labels_nir.tolist())
    epochs = [b.state["epoch"] for b in batches]
    assert epochs[0] == 0 and 1 in epochs  # at most 4 batches per epoch (12 groups / 3), then epoch 1
    assert [b.state["batch"] for b in batches if b.state["epoch"] == 0] == list(range(1, epochs.index(1) + 1))
    r = make()
    r.load_state_dict(batches[2].state)
    it2 = iter(r)
    for want in batches[3:]:
        got = next(it2)
        assert got.state == want.state
        assert np.array_equal(got.labels_vis, want.labels_vis)
        assert all(np.array_equal(a, b) for a, b in zip(got.nir, want.nir))


def test_resume_reproduces_uninterrupted_losses(tiny_data, tmp_path):
    full = train(tiny_config(), [str(tiny_data)], tmp_path / "full")
    assert full["steps"] == 6
    half = train(tiny_config(**{"optim.max_steps": 3}), [str(tiny_data)], tmp_path / "split")
    assert half["steps"] == 3
    with pytest.raises(TrainError, match="--resume"):
        train(tiny_config(), [str(tiny_data)], tmp_path / "split")
    train(tiny_config(), [str(tiny_data)], tmp_path / "split", resume=True)
    a, b = read_log(tmp_path / "full"), read_log(tmp_path / "split")
    assert [r["step"] for r in b] == [str(i) for i in range(1, 7)]
    for ra, rb in zip(a, b):
        for k in ("ce", "idmmd", "loss", "lr"):
            assert float(ra[k]) == pytest.approx(float(rb[k]), abs=1e-6), (ra["step"], k)
    assert float(a[-1]["idmmd"]) > 0
    # the saved model loads back and evaluates on the synthetic benchmark
    backbone, head, cfg = load_trained(tmp_path / "split")
    assert cfg.optim.max_steps == 6 and head.weight.shape[0] == 6
    res = evaluate_benchmark("synthetic", tiny_data, load_embedding_model(tmp_path / "split"), held_out=range(6))
    fold = res["folds"][0]
    assert 0.0 <= res["summary"]["rank1"]["mean"] <= 1.0
    assert (fold["n_gallery"], fold["n_probes"]) == (6, 18), fold


def test_resume_refuses_changed_config(tiny_data, tmp_path):
    train(tiny_config(**{"optim.max_steps": 1}), [str(tiny_data)], tmp_path / "r")
    with pytest.raises(TrainError, match="optim.lr"):
        train(tiny_config(**{"optim.lr": 0.5}), [str(tiny_data)], tmp_path / "r", resume=True)
    with pytest.raises(TrainError, match="nothing to resume"):
        train(tiny_config(), [str(tiny_data)], tmp_path / "none", resume=True)


def test_stage_one_trains_head_only(tiny_data, tmp_path):
    cfg = tiny_config(**{"optim.stage1_epochs": 1, "optim.max_steps": 2})
    train(cfg, [str(tiny_data)], tmp_path / "s1")
    torch.manual_seed(cfg.run.seed)
    from nirvis.train.checkpoint import build_model

    init_bb, init_head = build_model(cfg, 6)
    bb, head, _ = load_trained(tmp_path / "s1")
    for (k, v), v0 in zip(bb.state_dict().items(), init_bb.state_dict().values()):
        assert torch.equal(v, v0), k
    assert not torch.equal(head.weight, init_head.weight)
    rows = read_log(tmp_path / "s1")
    assert [r["stage"] for r in rows] == ["1", "1"] and all(float(r["idmmd"]) == 0 for r in rows)


def test_missing_data_is_a_user_error(tmp_path):
    with pytest.raises(TrainError, match="no such data set"):
        train(tiny_config(), [str(tmp_path / "nope")], tmp_path / "run")


def reference_epoch_lrs(lr, gamma, step, stage1_epochs, stage2_epochs):
    """The reference's schedule restated (train.py + utils.adjust_learning_rate): stage I runs at
    lr; stage II gets a fresh optimizer at lr and, for epoch = 1..N, multiplies every group's lr
    by gamma in place when epoch % step == 0."""
    out = [lr] * stage1_epochs
    group_lr = lr
    for epoch in range(1, stage2_epochs + 1):
        if epoch % step == 0:
            group_lr *= gamma
        out.append(group_lr)
    return out


def test_lr_schedule_counts_stage_two_epochs_from_one_like_the_reference():
    cfg = load_config(ROOT / "configs" / "train" / "lightcnn_idmmd.yaml")
    o = cfg.optim
    got = [lr_at(cfg, e) for e in range(o.stage1_epochs + o.stage2_epochs)]
    g = o.lr_gamma
    assert got == pytest.approx([o.lr] * 4 + [o.lr * g ** p for p in (0, 0, 0, 0, 1, 1, 1, 1, 1, 2)], rel=1e-12)
    assert got == pytest.approx(reference_epoch_lrs(o.lr, g, 5, 4, 10), rel=1e-12)
    for s1, s2, step in ((0, 10, 5), (2, 7, 3), (1, 4, 1)):
        c = tiny_config(**{"optim.stage1_epochs": s1, "optim.stage2_epochs": s2, "optim.lr_step_epochs": step})
        got = [lr_at(c, e) for e in range(s1 + s2)]
        assert got == pytest.approx(reference_epoch_lrs(c.optim.lr, c.optim.lr_gamma, step, s1, s2), rel=1e-12)


def test_logged_lr_follows_the_stage_two_schedule_across_a_resume(tiny_data, tmp_path):
    # 2 stage-I epochs then 1 stage-II epoch with step 1: the reference gives lr, lr, lr * g (the
    # global-epoch rule would give lr, lr * g, lr * g^2)
    over = {"optim.stage1_epochs": 2, "optim.stage2_epochs": 1, "optim.lr_step_epochs": 1, "optim.max_steps": 0,
            "data.identities_per_batch": 6, "run.checkpoint_every": 100}
    cfg = tiny_config(**over)
    train(cfg, [str(tiny_data)], tmp_path / "full")
    rows = read_log(tmp_path / "full")
    assert sorted({int(r["epoch"]) for r in rows}) == [0, 1, 2]
    lr, g = cfg.optim.lr, cfg.optim.lr_gamma
    want = {0: lr, 1: lr, 2: lr * g}
    for r in rows:
        assert float(r["lr"]) == pytest.approx(want[int(r["epoch"])], rel=1e-7), r
        assert r["stage"] == ("2" if r["epoch"] == "2" else "1")
    # stop in stage I, resume: the same steps, lrs and losses as the uninterrupted run
    cut = sum(r["epoch"] != "2" for r in rows) - 1
    train(tiny_config(**{**over, "optim.max_steps": cut}), [str(tiny_data)], tmp_path / "split")
    train(cfg, [str(tiny_data)], tmp_path / "split", resume=True)
    split = read_log(tmp_path / "split")
    assert [r["step"] for r in split] == [r["step"] for r in rows]
    for ra, rb in zip(rows, split):
        for k in ("epoch", "stage", "lr"):
            assert ra[k] == rb[k]
        for k in ("ce", "idmmd", "loss"):
            assert float(ra[k]) == pytest.approx(float(rb[k]), abs=1e-6), (ra["step"], k)


def test_stage_two_starts_with_fresh_optimizer_state(tiny_data, tmp_path, monkeypatch):
    # The reference builds a new SGD optimizer for stage II: the class weights' momentum from
    # stage I must not carry over. Record how many parameters hold state at each step() call.
    seen = []

    class RecordingSGD(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(len(self.state))
            return super().step(closure)

    import nirvis.train.loop as loop

    monkeypatch.setattr(loop.torch.optim, "SGD", RecordingSGD)
    over = {"optim.stage1_epochs": 1, "optim.stage2_epochs": 1, "optim.max_steps": 0,
            "data.identities_per_batch": 6, "run.checkpoint_every": 100}
    train(tiny_config(**over), [str(tiny_data)], tmp_path / "run")
    stages = [int(r["stage"]) for r in read_log(tmp_path / "run")]
    first2 = stages.index(2)
    assert first2 > 1 and len(seen) == len(stages)
    assert seen[0] == 0 and all(n > 0 for n in seen[1:first2])  # stage I: the head's momentum builds up
    assert seen[first2] == 0  # stage II begins from empty state, as a new optimizer does
    assert all(n > seen[1] for n in seen[first2 + 1:])  # then the backbone learns too
