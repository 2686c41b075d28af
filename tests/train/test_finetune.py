"""Fine-tuning options: frozen stages, head warm-up, class weights from identity means, L2-SP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from train_helpers import tiny_config

from nirvis.train.checkpoint import build_model, load_trained
from nirvis.train.loop import TrainError, build_sources, init_head_from_means, train
from nirvis.train.preprocess import training_input
from nirvis.train.sampler import IdentityBatchSampler


def test_class_weights_start_at_identity_means(tiny_data):
    cfg = tiny_config()
    sources, weights, n = build_sources(cfg, [str(tiny_data)])
    torch.manual_seed(0)
    backbone, head = build_model(cfg, n)
    set_ = init_head_from_means(backbone, head, sources, cfg, torch.device("cpu"), weights)
    assert set_ == n
    # every weight is the unit mean direction of the embeddings of its identity's images (the
    # identity-paired batches of the sampler seeded run.seed + 1, VIS and NIR alike), recomputed here
    backbone.eval()
    sums, counts = torch.zeros_like(head.weight), torch.zeros(n)
    sampler = IdentityBatchSampler(sources, cfg.data.identities_per_batch, cfg.data.vis_per_identity,
                                   cfg.data.nir_per_identity, cfg.run.seed + 1, weights)
    for batch in sampler:
        if batch.state["epoch"] >= 4 or (batch.state["epoch"] >= 1 and bool((counts > 0).all())):
            break
        x = torch.cat([training_input(batch.vis, 1, cfg.data.mean, cfg.data.std),
                       training_input(batch.nir, 1, cfg.data.mean, cfg.data.std)])
        labels = torch.cat([torch.from_numpy(batch.labels_vis), torch.from_numpy(batch.labels_nir)]).long()
        with torch.no_grad():
            sums.index_add_(0, labels, F.normalize(backbone(x), dim=1))
        counts.index_add_(0, labels, torch.ones(len(labels)))
    assert bool((counts > 0).all())
    assert torch.allclose(head.weight.norm(dim=1), torch.ones(n), atol=1e-5)
    cos_own = (F.normalize(sums, dim=1) * head.weight).sum(1)
    assert bool((cos_own > 1 - 1e-4).all()), cos_own
    # and a class weight is not its neighbours' mean: the weights differ between identities
    gram = head.weight @ head.weight.T
    assert float(gram[~torch.eye(n, dtype=torch.bool)].max()) < 1 - 1e-3


def test_frozen_prefixes_stay_fixed_and_warmup_trains_the_head_first(tiny_data, tmp_path):
    cfg = tiny_config(**{"finetune.freeze": ["conv1"], "finetune.head_warmup_steps": 2, "optim.max_steps": 4,
                         "finetune.l2sp_weight": 0.01})
    torch.manual_seed(cfg.run.seed)
    init_bb, _ = build_model(cfg, 6)
    train(cfg, [str(tiny_data)], tmp_path / "ft")
    bb, _, saved = load_trained(tmp_path / "ft")
    assert saved.finetune.freeze == ("conv1",)
    changed = {k: not torch.equal(v, init_bb.state_dict()[k]) for k, v in bb.state_dict().items()
               if k.endswith("weight")}
    assert not any(v for k, v in changed.items() if k.startswith("conv1"))
    assert any(v for k, v in changed.items() if not k.startswith("conv1"))
    rows = (tmp_path / "ft" / "log.csv").read_text().splitlines()[1:]
    stages = [r.split(",")[2] for r in rows]
    assert stages[:2] == ["1", "1"] and stages[2:] == ["2", "2"]
    assert (tmp_path / "ft" / "theta0.safetensors").is_file()


def test_unknown_freeze_prefix_is_refused(tiny_data, tmp_path):
    with pytest.raises(TrainError, match="finetune.freeze"):
        train(tiny_config(**{"finetune.freeze": ["no_such_layer"]}), [str(tiny_data)], tmp_path / "bad")
