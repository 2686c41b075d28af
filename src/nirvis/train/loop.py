"""The training loop: one flat function driven by one ``TrainConfig`` (arcface_torch style).

Stage I (``optim.stage1_epochs``): the backbone is frozen (eval mode, no gradient) and only the
class weights learn from CE(CosFace) on dropout features. (The reference runs stage I in train mode;
for its LightCNN, which has no BatchNorm, that differs only in wasted backbone gradients; for
BatchNorm backbones eval mode keeps the pre-trained statistics.) Stage II starts with fresh
optimizer state (momentum), as the reference's new stage-II optimizer does.
Stage II (``optim.stage2_epochs``): all parameters, loss = CE + ``loss.idmmd_weight`` * ID-MMD on
the L2-normalised embeddings. SGD with momentum and weight
decay; lr = ``optim.lr`` in stage I and ``optim.lr`` * ``optim.lr_gamma`` ** (j // ``optim.lr_step_epochs``)
in stage-II epoch j = 1, 2, ... (counted from the start of stage II, as the reference does; see
``lr_at``). Epochs are passes over the streaming data.

Outputs in ``RUN_DIR`` (see ``nirvis.train.checkpoint``): ``config.yaml``, ``log.csv`` (one row
per step), TensorBoard events in ``tb/`` when tensorboard is importable, checkpoints every
``run.checkpoint_every`` steps and at the end. ``resume=True`` continues from the latest
checkpoint exactly (model, head, optimizer, sampler position, RNG state).

Under ``torchrun`` (WORLD_SIZE > 1) the process group is initialised, the batches are split
between ranks by identity groups (every rank reads all shards and takes its batch of each round
of WORLD_SIZE batches; see ``nirvis.train.sampler``), so every rank runs the same steps whatever
the number of shards, and backbone/head are wrapped in DistributedDataParallel; rank 0 writes
logs and checkpoints. The summary's ``weights_sha256`` (a digest of the final backbone and head
tensors, ``weights_digest``) is computed on every rank: equal digests mean equal weights.
AMP (bf16 autocast) is used on CUDA only.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import sys
import queue
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nirvis.atomic import (STAGING_SUFFIX, TEMP_SUFFIX, atomic_write_bytes, atomic_write_text,
                           check_output_apart)
from nirvis.errors import NirvisError
from nirvis.output_lock import output_lock
from nirvis.shards.verify import require_verified
from nirvis.train.checkpoint import (CKPT_DIR, CheckpointError, build_model, latest_checkpoint, load_pretrained,
                                     read_model_file, read_training_state, save_checkpoint, weights_digest)
from nirvis.train.config import TrainConfig, config_from_dict, dump_yaml
from nirvis.train.lists import ImageList
from nirvis.train.losses import id_mmd
from nirvis.train.preprocess import training_input
from nirvis.train.sampler import Batch, IdentityBatchSampler, NoBatchError, ShardGroupSource

LOG_FIELDS = ("step", "epoch", "stage", "lr", "ce", "idmmd", "loss", "images_per_s")
#: Fields that may differ between the saved config and a resumed run.
RESUMABLE_CHANGES = ("optim.max_steps", "run.progress", "run.device", "run.log_every", "run.checkpoint_every",
                     "run.tensorboard", "data.prefetch", "run.amp", "data.verify")
#: What a run writes before its first checkpoint (removed when such a run is started afresh).
UNSTARTED_RUN_FILES = ("config.yaml", "log.csv", "theta0.safetensors", "tb")


class TrainError(NirvisError, ValueError):
    """A user-facing training error (bad data, a run directory in the way, ...)."""


# ------------------------------------------------------------------------------ data


def build_sources(cfg: TrainConfig, data: Sequence[str]) -> tuple[list[Any], list[float], int]:
    """(group sources, mixing weights, num_classes): each shard directory, render-dataset config
    (a ``.yaml`` path: rendered on the fly, ``train.rendered``) and list gets a label offset after
    the previous ones. Every rank reads all sources; the sampler splits the
    batches between ranks."""
    from nirvis.shards.reader import count_pairs

    group = max(cfg.data.vis_per_identity, cfg.data.nir_per_identity)
    sources: list[Any] = []
    weights: list[float] = []
    offset = 0
    for d in data:
        if Path(d).suffix in (".yaml", ".yml"):      # a render-dataset config: rendered on the fly
            from nirvis.shards.config import ConfigError
            from nirvis.train.rendered import RenderedGroupSource

            try:
                live = RenderedGroupSource(d, group, offset)
            except (ConfigError, FileNotFoundError) as exc:
                raise TrainError(str(exc)) from None
            sources.append(live)
            weights.append(float(live.pairs()))
            offset += live.num_classes()
            continue
        try:
            src = ShardGroupSource([d], group, offset, cfg.data.shuffle_buffer)
        except FileNotFoundError as exc:
            raise TrainError(str(exc)) from None
        if cfg.data.verify:  # before the run writes anything; data.verify: false skips it
            require_verified(d, TrainError, hint=" (or set data.verify: false to train on it anyway)")
        n = src.num_classes()
        if n == 0:
            raise TrainError(f"{d}: no manifest.json (is it a complete render-dataset output?)")
        sources.append(src)
        weights.append(float(count_pairs([d])))
        offset += n
    for lst in cfg.data.lists:
        il = ImageList(lst, cfg.data.list_root, cfg.data.vis_regex, cfg.data.nir_regex, offset, group)
        if not il.by_label:
            raise TrainError(f"{lst}: no identity has both VIS and NIR images")
        sources.append(il)
        weights.append(il.images / 2.0)
        offset += il.num_classes()
    if not sources:
        raise TrainError("no training data (give --data DIR and/or data.lists)")
    return sources, weights, offset


def _prefetch(it: Iterator[Batch], depth: int) -> Iterator[Batch]:
    if depth <= 0:
        yield from it
        return
    q: "queue.Queue[Any]" = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Hand ``item`` to the consumer; False once it has stopped (nothing waits for it)."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for b in it:
                if not put(b):
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            put(exc)

    t = threading.Thread(target=work, daemon=True, name="nirvis-train-loader")
    t.start()
    try:
        while True:
            b = q.get()
            if isinstance(b, BaseException):
                raise b
            yield b
    finally:
        stop.set()
        # let the loader finish the batch it is on (a source may be rendering it in compiled
        # code, which must not be torn down by interpreter exit)
        t.join(timeout=300)


# ------------------------------------------------------------------------------ helpers


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of the 0-based global ``epoch`` (the sampler's epoch counter), as the reference
    schedules it (``train.py`` + ``utils.adjust_learning_rate``): constant ``optim.lr`` in stage I;
    stage II numbers its epochs j = 1, 2, ... afresh and uses ``lr * lr_gamma ** (j // lr_step_epochs)``
    (reference recipe, 4 + 10 epochs, step 5: [lr] * 4, then lr x [1, 1, 1, 1, g, g, g, g, g, g^2])."""
    o = cfg.optim
    if epoch < o.stage1_epochs:
        return o.lr
    return o.lr * o.lr_gamma ** ((epoch - o.stage1_epochs + 1) // o.lr_step_epochs)


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    return [] if a == b else [prefix]


class _Logger:
    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool, resume_step: Optional[int]):
        self.enabled = enabled
        self.path = run_dir / "log.csv"
        self.tb = None
        if not enabled:
            return
        rows: list[dict[str, str]] = []
        if resume_step is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        self.file = open(self.path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=LOG_FIELDS)
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.file.flush()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(run_dir / "tb"))
            except ImportError:
                self.tb = None

    def log(self, row: dict[str, Any], to_tb: bool) -> None:
        if not self.enabled:
            return
        self.writer.writerow({k: (f"{v:.9g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.file.flush()
        if self.tb is not None and to_tb:
            for k in ("lr", "ce", "idmmd", "loss", "images_per_s"):
                self.tb.add_scalar(f"train/{k}", row[k], row["step"])

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            if self.tb is not None:
                self.tb.close()


# ------------------------------------------------------------------------------ training


@torch.no_grad()
def init_head_from_means(backbone: nn.Module, head: nn.Module, sources, cfg: TrainConfig, device: torch.device,
                         weights=None) -> int:
    """Set each class weight to the normalised mean embedding of its identity (identity-paired
    batches, VIS and NIR images alike, until every class was seen or after 4 epochs: an epoch's
    leftover identities that cannot fill a batch are dropped by the sampler). Returns how many
    classes were set; classes never seen keep their initial weights."""
    sampler = IdentityBatchSampler(sources, cfg.data.identities_per_batch, cfg.data.vis_per_identity,
                                   cfg.data.nir_per_identity, cfg.run.seed + 1, weights)
    sums = torch.zeros_like(head.weight)
    counts = torch.zeros(head.weight.shape[0], device=head.weight.device)
    was_training = backbone.training
    backbone.eval()
    m = cfg.data
    for batch in sampler:
        if batch.state["epoch"] >= 4 or (batch.state["epoch"] >= 1 and bool((counts > 0).all())):
            break
        x = torch.cat([training_input(batch.vis, cfg.model.in_channels, m.mean, m.std),
                       training_input(batch.nir, cfg.model.in_channels, m.mean, m.std)]).to(device)
        labels = torch.from_numpy(np.concatenate([batch.labels_vis, batch.labels_nir])).to(device).long()
        feats = F.normalize(backbone(x).float(), dim=1)
        sums.index_add_(0, labels, feats)
        counts.index_add_(0, labels, torch.ones_like(labels, dtype=counts.dtype))
    backbone.train(was_training)
    seen = counts > 0
    head.weight[seen] = F.normalize(sums[seen], dim=1).to(head.weight.dtype)
    return int(seen.sum())


def _starting_point(run_dir: Path, backbone: nn.Module, resume: bool, main: bool) -> dict[str, torch.Tensor]:
    """theta_0 for L2-SP: saved once in the run directory, reloaded on resume."""
    from safetensors.torch import load_file, save

    path = run_dir / "theta0.safetensors"
    if resume and path.is_file():
        dev = next(backbone.parameters()).device
        return {k: v.to(dev) for k, v in load_file(str(path)).items()}
    theta0 = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    if main:
        atomic_write_bytes(path, save({k: v.contiguous().cpu() for k, v in theta0.items()}))
    return theta0


def train(cfg: TrainConfig, data: Sequence[str], out: str | os.PathLike, resume: bool = False) -> dict[str, Any]:
    """Train according to ``cfg`` on rendered shard directories ``data`` (plus ``cfg.data.lists``).

    Returns a summary: run_dir, steps, epoch, last (the last step's log row), num_classes, seconds,
    images_per_s, checkpoint (rank 0; None on the others), weights_sha256 (``weights_digest`` of
    the final backbone and head), rank, world_size.
    Raises ``TrainError`` for user errors (missing data, an existing run without ``resume``, ...).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cfg.run.device == "cuda" else "gloo")
    if cfg.run.device == "cuda":
        if not torch.cuda.is_available():
            raise TrainError("run.device is cuda but CUDA is not available")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    main = rank == 0
    run_dir = Path(out)
    check_output_apart(run_dir, [*data, *cfg.data.lists], "train --out")   # a run never writes into its data
    with contextlib.ExitStack() as stack:
        if main:
            stack.enter_context(output_lock(run_dir, "train"))
        return _train_locked(cfg, data, run_dir, resume, device, rank, world, main)


def _is_train_config(path: Path) -> bool:
    import yaml

    try:
        config_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except Exception:  # noqa: BLE001 - anything unreadable is not a training run's config
        return False
    return True


def _unstarted_run(run_dir: Path) -> bool:
    """``run_dir``, which holds no checkpoint, holds files of a run that never saved one (killed,
    or failed early).

    Raises ``TrainError`` when it holds a ``config.yaml`` that is not a training config (e.g. a
    render-dataset output): the trainer neither overwrites nor removes files it did not write.
    """
    config = run_dir / "config.yaml"
    if config.exists() and not _is_train_config(config):
        raise TrainError(f"{run_dir}: holds a config.yaml that is not a training run's (a data set?); "
                         "choose another --out")
    log = run_dir / "log.csv"
    if log.exists():
        try:
            with open(log, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
        except (OSError, UnicodeDecodeError):
            header = []
        if tuple(header) != LOG_FIELDS:
            raise TrainError(f"{run_dir}: holds a log.csv that is not a training log; choose another --out")
    return any((run_dir / n).exists() for n in UNSTARTED_RUN_FILES)


def _clear_unstarted_run(run_dir: Path) -> None:
    """Remove what a run that never checkpointed left (only the trainer's own files)."""
    for name in UNSTARTED_RUN_FILES:
        p = run_dir / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    ckpts = run_dir / CKPT_DIR
    if ckpts.is_dir():
        for p in ckpts.iterdir():  # a checkpoint save that never finished
            if p.name.startswith(".") and p.name.endswith((STAGING_SUFFIX, TEMP_SUFFIX)):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        with contextlib.suppress(OSError):
            ckpts.rmdir()


def _train_locked(cfg: TrainConfig, data: Sequence[str], run_dir: Path, resume: bool, device: torch.device,
                  rank: int, world: int, main: bool) -> dict[str, Any]:
    import yaml
    from tqdm import tqdm

    ckpt = latest_checkpoint(run_dir)
    if not main and ckpt is None:
        resume = False  # rank 0 decides what a run directory without a checkpoint means (and may clear it)
    unstarted = ckpt is None and _unstarted_run(run_dir)
    if resume and ckpt is None and not unstarted:
        raise TrainError(f"{run_dir}: nothing to resume (no checkpoint)")
    if resume and ckpt is not None:
        config_path = run_dir / "config.yaml"
        try:
            saved = config_from_dict(yaml.safe_load(config_path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, TypeError) as exc:
            raise TrainError(f"{config_path}: cannot read the saved run config ({exc})") from None
        diff = [d for d in _diff(saved.to_dict(), cfg.to_dict()) if d not in RESUMABLE_CHANGES]
        if diff:
            raise TrainError(f"{run_dir}: the config differs from the saved run in {', '.join(diff)} "
                             "(only " + ", ".join(RESUMABLE_CHANGES) + " may change on --resume)")
    elif ckpt is not None:
        raise TrainError(f"{run_dir}: already holds a training run (use --resume to continue it, or another --out)")
    elif unstarted:
        # A run that died before its first checkpoint: nothing to continue, start it afresh.
        if main:
            print(f"nirvis train: {run_dir} holds a run that never saved a checkpoint: starting it afresh",
                  file=sys.stderr)
            _clear_unstarted_run(run_dir)
        resume = False
    sources, weights, num_classes = build_sources(cfg, data)  # checks the data before anything is written
    if cfg.head.num_classes:
        if cfg.head.num_classes < num_classes:
            raise TrainError(f"head.num_classes {cfg.head.num_classes} is below the data's {num_classes} labels")
        num_classes = cfg.head.num_classes
    if main:
        atomic_write_text(run_dir / "config.yaml", dump_yaml(cfg))
    torch.manual_seed(cfg.run.seed)
    np.random.seed(cfg.run.seed % 2**32)
    backbone, head = build_model(cfg, num_classes)
    if cfg.model.pretrained and not resume:
        load_pretrained(backbone, cfg.model.pretrained)
    backbone.to(device), head.to(device)
    ft = cfg.finetune
    if ft.init_head_from_means and not resume:
        init_head_from_means(backbone, head, sources, cfg, device, weights)
    theta0 = None
    if ft.l2sp_weight > 0:
        theta0 = _starting_point(run_dir, backbone, resume, main)
    frozen = [p for n, p in backbone.named_parameters() if any(n.startswith(f) for f in ft.freeze)]
    if ft.freeze and not frozen:
        raise TrainError(f"finetune.freeze: no backbone parameter starts with any of {list(ft.freeze)}")
    dropout = nn.Dropout(cfg.model.dropout)
    params = [{"params": [p for p in head.parameters() if p.requires_grad]},
              {"params": [p for p in backbone.parameters() if p.requires_grad]}]
    optimizer = torch.optim.SGD(params, lr=cfg.optim.lr, momentum=cfg.optim.momentum,
                                weight_decay=cfg.optim.weight_decay)
    sampler = IdentityBatchSampler(sources, cfg.data.identities_per_batch, cfg.data.vis_per_identity,
                                   cfg.data.nir_per_identity, cfg.run.seed, weights, rank, world)
    step = 0
    prev_stage: Optional[int] = None  # stage of the previous step (None before the first one)
    if resume:
        assert ckpt is not None
        try:
            tensors, _ = read_model_file(ckpt / "model.safetensors", device=str(device))
        except CheckpointError as exc:
            raise TrainError(str(exc)) from None
        backbone.load_state_dict({k[9:]: v for k, v in tensors.items() if k.startswith("backbone.")})
        head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
        try:
            state = read_training_state(ckpt / "state.pt")
        except CheckpointError as exc:
            raise TrainError(str(exc)) from None
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        step = int(state["step"])
        prev_stage = state.get("stage")
    bb_train, hd_train = backbone, head
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        ids = [device.index] if device.type == "cuda" else None
        bb_train, hd_train = DDP(backbone, device_ids=ids), DDP(head, device_ids=ids)

    total_epochs = cfg.optim.stage1_epochs + cfg.optim.stage2_epochs
    max_steps = cfg.optim.max_steps or None
    logger = _Logger(run_dir, main, cfg.run.tensorboard, step if resume else None)
    use_amp = device.type == "cuda" and cfg.run.amp
    config_yaml = dump_yaml(cfg)
    sampler_state = sampler.state_dict()
    last: dict[str, Any] = {}
    images_done, t_start = 0, time.perf_counter()
    bar = tqdm(total=max_steps, initial=step, unit="step", desc="train", disable=not (main and cfg.run.progress),
               dynamic_ncols=True)

    def checkpoint() -> Path:
        state = {"optimizer": optimizer.state_dict(), "sampler": sampler_state, "torch_rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None, "step": step,
                 "stage": prev_stage}
        return save_checkpoint(run_dir, step, backbone, head, state, config_yaml)

    saved_at = None
    batches = _prefetch(iter(sampler), cfg.data.prefetch)
    try:
        t_prev = time.perf_counter()
        while max_steps is None or step < max_steps:
            try:
                batch = next(batches)
            except NoBatchError as exc:
                raise TrainError(str(exc)) from None
            epoch = batch.state["epoch"]
            if epoch >= total_epochs:
                break
            stage = 1 if epoch < cfg.optim.stage1_epochs or step < ft.head_warmup_steps else 2
            keep_frozen = stage == 2 and (ft.unfreeze_epoch < 0 or epoch - cfg.optim.stage1_epochs < ft.unfreeze_epoch)
            for p in frozen:
                p.requires_grad_(not keep_frozen)
            if stage == 2 and prev_stage == 1:
                # The reference builds a new SGD optimizer for stage II: momentum starts afresh.
                optimizer.state.clear()
            prev_stage = stage
            lr = lr_at(cfg, epoch)
            for g in optimizer.param_groups:
                g["lr"] = lr
            m = cfg.data
            x = torch.cat([training_input(batch.vis, cfg.model.in_channels, m.mean, m.std),
                           training_input(batch.nir, cfg.model.in_channels, m.mean, m.std)]).to(device)
            lv = torch.from_numpy(batch.labels_vis).to(device)
            ln = torch.from_numpy(batch.labels_nir).to(device)
            labels = torch.cat([lv, ln])
            nv = lv.shape[0]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                if stage == 1:
                    bb_train.eval()
                    with torch.no_grad():
                        feats = bb_train(x)
                else:
                    bb_train.train()
                    feats = bb_train(x)
            feats = feats.float()
            ce = F.cross_entropy(hd_train(dropout(feats), labels), labels)
            if stage == 2 and cfg.loss.idmmd != "none":
                emb = F.normalize(feats, dim=1)
                mmd = id_mmd(emb[:nv], emb[nv:], lv, ln, kind=cfg.loss.idmmd)
                loss = ce + cfg.loss.idmmd_weight * mmd
            else:
                mmd = torch.zeros((), device=device)
                loss = ce
            if theta0 is not None and stage == 2:
                loss = loss + ft.l2sp_weight * sum(((p - theta0[n]) ** 2).sum() for n, p in backbone.named_parameters())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            sampler_state = batch.state
            now = time.perf_counter()
            ips = x.shape[0] * world / max(now - t_prev, 1e-9)
            t_prev = now
            images_done += x.shape[0] * world
            last = {"step": step, "epoch": epoch, "stage": stage, "lr": lr, "ce": float(ce.detach()),
                    "idmmd": float(mmd.detach()), "loss": float(loss.detach()), "images_per_s": ips}
            logger.log(last, step % cfg.run.log_every == 0)
            bar.update(1)
            if step % cfg.run.log_every == 0 or step == 1:
                bar.set_postfix(stage=stage, ce=f"{last['ce']:.3f}", idmmd=f"{last['idmmd']:.4f}", img_s=f"{ips:.0f}")
            if main and step % cfg.run.checkpoint_every == 0:
                saved_at = checkpoint()
    finally:
        bar.close()
        logger.close()
    if world > 1:
        # DDP keeps parameters equal; buffers (BatchNorm running statistics) are broadcast from
        # rank 0 before each forward, then updated locally by it: give every rank rank 0's, the
        # ones its checkpoints hold, so all ranks end with the saved model.
        import torch.distributed as dist
        for buf in list(backbone.buffers()) + list(head.buffers()):
            dist.broadcast(buf, 0)
    if main and (saved_at is None or not saved_at.name.endswith(f"{step:08d}")):
        saved_at = checkpoint()
    seconds = time.perf_counter() - t_start
    final = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    final.update({f"head.{k}": v for k, v in head.state_dict().items()})
    return {"run_dir": str(run_dir), "steps": step, "epoch": sampler_state["epoch"], "last": last,
            "num_classes": num_classes, "seconds": seconds, "images_per_s": images_done / max(seconds, 1e-9),
            "checkpoint": str(saved_at) if saved_at else None, "weights_sha256": weights_digest(final),
            "rank": rank, "world_size": world}
