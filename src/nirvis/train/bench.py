"""``bench_train``: loader throughput, full training-step throughput and the ID-MMD share of a step."""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from nirvis.train.checkpoint import build_model
from nirvis.train.config import TrainConfig
from nirvis.train.loop import build_sources
from nirvis.train.losses import id_mmd
from nirvis.train.preprocess import training_input
from nirvis.train.sampler import IdentityBatchSampler


def bench_train(cfg: TrainConfig, data: Sequence[str], steps: int = 10, warmup: int = 2) -> dict[str, Any]:
    """Measure, in one process: images/s of the loader alone (decode + batch assembly), images/s
    of full training steps (loader + forward + backward + SGD, stage II) and the share of step
    time spent in ID-MMD (its forward + backward on the step's embeddings)."""
    device = torch.device(cfg.run.device)
    sources, weights, num_classes = build_sources(cfg, data)
    d = cfg.data

    def batches():
        return iter(IdentityBatchSampler(sources, d.identities_per_batch, d.vis_per_identity, d.nir_per_identity,
                                         cfg.run.seed, weights))

    it = batches()
    for _ in range(warmup):
        next(it)
    t0 = time.perf_counter()
    n_img = 0
    for _ in range(steps):
        b = next(it)
        n_img += len(b.vis) + len(b.nir)
    loader_ips = n_img / (time.perf_counter() - t0)

    torch.manual_seed(cfg.run.seed)
    backbone, head = build_model(cfg, num_classes)
    backbone.to(device).train(), head.to(device)
    opt = torch.optim.SGD(list(backbone.parameters()) + list(head.parameters()), lr=cfg.optim.lr,
                          momentum=cfg.optim.momentum, weight_decay=cfg.optim.weight_decay)
    it = batches()
    step_s, mmd_s, n_img = 0.0, 0.0, 0

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        b = next(it)
        x = torch.cat([training_input(b.vis, cfg.model.in_channels, d.mean, d.std),
                       training_input(b.nir, cfg.model.in_channels, d.mean, d.std)]).to(device)
        lv, ln = torch.from_numpy(b.labels_vis).to(device), torch.from_numpy(b.labels_nir).to(device)
        labels = torch.cat([lv, ln])
        feats = backbone(x).float()
        ce = F.cross_entropy(head(feats, labels), labels)
        emb = F.normalize(feats, dim=1)
        nv = lv.shape[0]
        # ID-MMD timed on its own (forward + backward to the embeddings), then used in the step
        e2 = emb.detach().requires_grad_()
        sync()
        tm = time.perf_counter()
        id_mmd(e2[:nv], e2[nv:], lv, ln).backward()
        sync()
        t_mmd = time.perf_counter() - tm
        loss = ce + cfg.loss.idmmd_weight * id_mmd(emb[:nv], emb[nv:], lv, ln)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        dt = time.perf_counter() - t0 - t_mmd  # the standalone ID-MMD timing is not part of a step
        if i >= warmup:
            step_s += dt
            mmd_s += t_mmd
            n_img += x.shape[0]
    return {"loader_images_per_s": loader_ips, "train_images_per_s": n_img / step_s,
            "step_ms": 1000 * step_s / steps, "idmmd_ms": 1000 * mmd_s / steps, "idmmd_share": mmd_s / step_s,
            "batch_images": n_img // steps, "steps": steps, "device": str(device), "backbone": cfg.model.backbone}
