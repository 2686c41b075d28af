"""Checkpoints: the trainer's own (safetensors + ``state.pt``) and user-supplied pretrained weights.

Run directory layout::

    RUN_DIR/config.yaml                      merged config
    RUN_DIR/log.csv                          step, epoch, stage, lr, ce, idmmd, loss, images_per_s
    RUN_DIR/checkpoints/step_NNNNNNNN/model.safetensors   backbone.* and head.* tensors
    RUN_DIR/checkpoints/step_NNNNNNNN/state.pt            optimizer, sampler, RNG, step (torch.save)
    RUN_DIR/checkpoints/latest                             name of the newest complete checkpoint

Pretrained backbones (``load_pretrained``): LightCNN ``.pth.tar`` (a dict with ``state_dict``, keys
prefixed ``module.``) and insightface ``arcface_torch`` ``backbone.pth`` (a plain state dict).
Keys are mapped (``module.`` stripped, classifier ``fc2.*`` dropped), shapes checked, and a
mismatch raises ``CheckpointError`` naming the key, both shapes and the likely reason. A 3-channel
``conv1`` loads into a grey (1-channel) model by summing over input channels (exact for grey
images replicated to RGB).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
import torch.nn as nn

from nirvis.atomic import atomic_write_text, remove_stale_temporaries, staged_dir
from nirvis.crop import CROP_SIZE
from nirvis.errors import NirvisError
from nirvis.train.backbones import build_backbone
from nirvis.train.config import TrainConfig, config_from_dict
from nirvis.train.heads import build_head

PathLike = Union[str, os.PathLike]
CKPT_DIR = "checkpoints"
LATEST = "latest"
#: Classifier parameters found in released checkpoints that are not part of a backbone.
_CLASSIFIER_KEYS = ("fc2.weight", "fc2.bias")


class CheckpointError(NirvisError, ValueError):
    """A checkpoint that does not fit the model (the message names the key and shapes)."""


# ----------------------------------------------------------------------------- model building


def backbone_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if cfg.model.backbone in ("lightcnn29", "mobilefacenet"):
        kw["width"] = cfg.model.width
    if cfg.model.embedding_size:
        kw["embedding_size"] = cfg.model.embedding_size
    return kw


def build_model(cfg: TrainConfig, num_classes: int) -> tuple[nn.Module, nn.Module]:
    """(backbone, head) for ``cfg`` and ``num_classes`` (seeded by the caller)."""
    backbone = build_backbone(cfg.model.backbone, cfg.model.in_channels, **backbone_kwargs(cfg))
    head = build_head(cfg.head.type, backbone.embedding_size, num_classes, cfg.head.s, cfg.head.m)
    return backbone, head


# ----------------------------------------------------------------------------- trainer checkpoints


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if hasattr(m, "module") else m


def save_checkpoint(run_dir: PathLike, step: int, backbone: nn.Module, head: nn.Module, state: Mapping[str, Any],
                    config_yaml: str, keep: int = 3) -> Path:
    """Write ``checkpoints/step_N`` (atomically: written under a temporary name, then renamed) and
    point ``checkpoints/latest`` at it; keep the newest ``keep`` checkpoints."""
    from safetensors.torch import save_file

    root = Path(run_dir) / CKPT_DIR
    final = root / f"step_{step:08d}"
    remove_stale_temporaries(final)  # what a killed save of this step left
    tensors = {f"backbone.{k}": v.detach().cpu().contiguous() for k, v in _unwrap(backbone).state_dict().items()}
    tensors.update({f"head.{k}": v.detach().cpu().contiguous() for k, v in _unwrap(head).state_dict().items()})
    with staged_dir(final, force=True) as tmp:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"step": str(step), "config": config_yaml,
                                                                     "num_classes": str(_unwrap(head).weight.shape[0])})
        torch.save(dict(state), tmp / "state.pt")
    atomic_write_text(root / LATEST, final.name + "\n")
    old = sorted(p for p in root.glob("step_*") if p.is_dir())
    for p in old[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: PathLike) -> Optional[Path]:
    f = Path(run_dir) / CKPT_DIR / LATEST
    if not f.is_file():
        return None
    p = f.parent / f.read_text().strip()
    return p if (p / "model.safetensors").is_file() else None


def resolve_checkpoint(path: PathLike) -> Path:
    """A run directory, a ``step_N`` directory or a ``model.safetensors`` -> the step directory."""
    p = Path(path)
    if p.is_file() and p.name.endswith(".safetensors"):
        return p.parent
    if (p / "model.safetensors").is_file():
        return p
    found = latest_checkpoint(p)
    if found is None:
        raise CheckpointError(f"{p}: no checkpoint found (expected a run directory with {CKPT_DIR}/{LATEST})")
    return found


def load_trained(path: PathLike, device: str = "cpu") -> tuple[nn.Module, nn.Module, TrainConfig]:
    """(backbone, head, config) from a trainer checkpoint (run dir, step dir or model.safetensors)."""
    import yaml
    from safetensors import safe_open
    from safetensors.torch import load_file

    step_dir = resolve_checkpoint(path)
    with safe_open(str(step_dir / "model.safetensors"), "pt") as f:
        meta = f.metadata() or {}
    cfg = config_from_dict(yaml.safe_load(meta["config"]))
    backbone, head = build_model(cfg, int(meta["num_classes"]))
    tensors = load_file(str(step_dir / "model.safetensors"), device=device)
    backbone.load_state_dict({k[9:]: v for k, v in tensors.items() if k.startswith("backbone.")})
    head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    return backbone.to(device), head.to(device), cfg


# ----------------------------------------------------------------------------- pretrained weights


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling error is a user-facing one here
        raise CheckpointError(f"{path}: cannot read as a torch checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict (or a dict with 'state_dict') of tensors")
    return dict(obj)


def _reason(key: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
    if key == "fc.filter.weight" and len(got) == 2 and len(want) == 2 and got[0] == want[0]:
        side = int(round((got[1] / (want[1] / 49)) ** 0.5)) if want[1] % 49 == 0 else 0
        if side * side * (want[1] // 49) == got[1] and side != 7:
            return (f"checkpoint is for {side * 16}x{side * 16} input (fc {side}*{side}*C); "
                    f"this model takes {CROP_SIZE}x{CROP_SIZE}")
    if key.endswith("conv1.weight") and len(got) == 4 and got[1] != want[1]:
        return f"checkpoint expects {got[1]}-channel input, the model {want[1]} (model.in_channels)"
    return "different architecture or width (check model.backbone / model.width / model.embedding_size)"


def load_pretrained(backbone: nn.Module, path: PathLike) -> dict[str, list[str]]:
    """Load a LightCNN ``.pth.tar`` / arcface_torch ``backbone.pth`` / safetensors into ``backbone``.

    Returns ``{"dropped": [...]}`` (classifier keys ignored). Raises ``CheckpointError`` on a key
    or shape mismatch."""
    path = Path(path)
    raw = _read_state_dict(path)
    sd = {}
    for k, v in raw.items():
        for prefix in ("module.", "backbone."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        sd[k] = v
    own = backbone.state_dict()
    dropped = [k for k in sd if k not in own and k in _CLASSIFIER_KEYS]
    unexpected = [k for k in sd if k not in own and k not in _CLASSIFIER_KEYS]
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    if unexpected or missing:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s), e.g. {missing[0]!r}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s), e.g. {unexpected[0]!r}")
        raise CheckpointError(f"{path}: does not match backbone {type(backbone).__name__}: " + "; ".join(parts))
    out = {}
    for k, want in own.items():
        if k not in sd:
            out[k] = want
            continue
        v = sd[k]
        if tuple(v.shape) != tuple(want.shape):
            if (k == "conv1.weight" or k == "conv1.filter.weight") and v.dim() == 4 and v.shape[1] == 3 \
                    and want.shape[1] == 1 and v.shape[0] == want.shape[0]:
                v = v.sum(dim=1, keepdim=True)  # RGB weights -> grey input (grey replicated to RGB)
            else:
                raise CheckpointError(f"{path}: key {k!r} has shape {list(v.shape)} in the checkpoint but "
                                      f"{list(want.shape)} in the model: "
                                      f"{_reason(k, tuple(v.shape), tuple(want.shape))}")
        out[k] = v.to(want.dtype)
    backbone.load_state_dict(out)
    return {"dropped": dropped}


def load_embedding_model(path: PathLike, device: str = "cpu"):
    """An embedding function for ``nirvis.evaluate``: ``model_fn(x)`` with x float [B, C, 112, 112]
    in [0, 1] (C = ``model_fn.in_channels``, grey by ITU-R 601 luma when 1) -> features [B, D],
    applying the checkpoint's own input scaling ((x - mean) / std) and running the backbone in
    eval mode without gradients."""
    backbone, _, cfg = load_trained(path, device=device)
    backbone.eval()
    mean, std = float(cfg.data.mean), float(cfg.data.std)

    @torch.no_grad()
    def model_fn(x: torch.Tensor) -> torch.Tensor:
        return backbone(((x.to(device) - mean) / std).float())

    model_fn.in_channels = int(cfg.model.in_channels)  # type: ignore[attr-defined]
    return model_fn
