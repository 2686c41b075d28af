"""Checkpoints: the trainer's own (safetensors + ``state.pt``) and user-supplied pretrained weights.

Run directory layout::

    RUN_DIR/config.yaml                      merged config
    RUN_DIR/log.csv                          step, epoch, stage, lr, ce, idmmd, loss, images_per_s
    RUN_DIR/checkpoints/step_NNNNNNNN/model.safetensors   backbone.* and head.* tensors
    RUN_DIR/checkpoints/step_NNNNNNNN/state.pt            optimizer, sampler, RNG, step (torch.save)
    RUN_DIR/checkpoints/latest                             name of the newest complete checkpoint

Pretrained backbones (``load_pretrained``): LightCNN ``.pth.tar`` (a dict with ``state_dict``, keys
prefixed ``module.``; the reference's pre-trained and fine-tuned ones) and insightface
``arcface_torch`` ``backbone.pth`` (a plain state dict). Keys are mapped (``module.`` stripped,
classifiers dropped: ``fc2.*``, the fine-tuned CosFace ``weight``), shapes checked, and a mismatch
raises ``CheckpointError`` naming the key, both shapes and the likely reason. A 3-channel ``conv1``
loads into a grey (1-channel) model by summing over input channels (exact for grey images
replicated to RGB). Files are read with ``torch.load(weights_only=True)``: reading never runs code.

Evaluation (``load_embedding_model``) takes a trainer checkpoint or such a weights file, whose
backbone is named or inferred from its keys (``infer_backbone``).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

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
    from safetensors.torch import save

    root = Path(run_dir) / CKPT_DIR
    final = root / f"step_{step:08d}"
    remove_stale_temporaries(final)  # what a killed save of this step left
    tensors = {f"backbone.{k}": v.detach().cpu().contiguous() for k, v in _unwrap(backbone).state_dict().items()}
    tensors.update({f"head.{k}": v.detach().cpu().contiguous() for k, v in _unwrap(head).state_dict().items()})
    weights = save(tensors, metadata={"step": str(step), "config": config_yaml,
                                      "num_classes": str(_unwrap(head).weight.shape[0]),
                                      "weights_sha256": weights_digest(tensors)})
    training_state = saved_bytes(lambda f: torch.save(dict(state), f))
    with staged_dir(final, force=True, replace_unmarked=True) as tmp:  # the run owns its step dirs
        (tmp / "model.safetensors").write_bytes(weights)
        (tmp / "state.pt").write_bytes(training_state)
    atomic_write_text(root / LATEST, final.name + "\n")
    old = sorted(p for p in root.glob("step_*") if p.is_dir())
    for p in old[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    return final


def saved_bytes(save: Callable[[io.BytesIO], Any]) -> bytes:
    """The bytes ``save(f)`` writes to an in-memory file ``f``.

    Checkpoints and exported models are serialised this way, then written with Python I/O: torch's
    zip writer aborts the whole process (an exception in a C++ destructor) when a write to a real
    file fails (disk full), where Python I/O raises an ``OSError`` that becomes a ``WriteError``.
    """
    buf = io.BytesIO()
    save(buf)
    return buf.getvalue()


def weights_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 hex digest of named tensors (name, dtype, shape and bytes, in name order).

    ``save_checkpoint`` stores it in the metadata of ``model.safetensors`` (``weights_sha256``) and
    ``read_model_file`` checks it, so a flipped byte in saved weights is found; ``train`` reports it
    for the final state dicts (``{"backbone." + k: ..., "head." + k: ...}``, the file's key layout).
    """
    import hashlib

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def read_model_file(path: PathLike, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a checkpoint's ``model.safetensors``, checked against its digest.

    Raises ``CheckpointError`` naming the file when it cannot be read as safetensors or when its
    tensors do not match the ``weights_sha256`` its metadata records (a corrupted byte). Files of
    runs saved before the digest existed load without the check.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    try:
        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata() or {})
        tensors = load_file(str(path), device=device)
    except Exception as exc:  # noqa: BLE001 - a corrupt file is a user-facing error here
        raise CheckpointError(f"{path}: cannot read as safetensors ({type(exc).__name__}: {exc})") from None
    want = meta.get("weights_sha256")
    if want is not None and weights_digest(tensors) != want:
        raise CheckpointError(f"{path}: corrupted: its weights do not match the sha256 recorded when it was "
                              "saved (a changed byte); use an earlier checkpoint or retrain")
    return tensors, meta


def _forbidden_global(exc: BaseException) -> Optional[str]:
    """The global (``module.name``) that ``torch.load(weights_only=True)`` refused, or None when the
    error is of another kind (a corrupt file). torch words it "Unsupported global: GLOBAL x" or
    "unsupported GLOBAL x whose module ... is blocked"."""
    import pickle
    import re

    if not isinstance(exc, pickle.UnpicklingError):
        return None
    found = re.search(r"unsupported (?:global: )?GLOBAL (\S+)", str(exc), re.IGNORECASE)
    return found.group(1) if found else None


def read_training_state(path: PathLike) -> dict[str, Any]:
    """The trainer's ``state.pt`` (optimizer, sampler, RNG states, step) read without running code:
    ``torch.load(weights_only=True)`` builds only tensors and plain containers, which is all that
    ``save_checkpoint`` writes there. A file that names any other Python object is refused."""
    p = Path(path)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{p}: the checkpoint has no training state (state.pt)") from None
    except Exception as exc:  # noqa: BLE001 - a hostile or corrupt file is a user-facing error here
        found = _forbidden_global(exc)
        if found:
            raise CheckpointError(f"{p}: refused: the training state names the Python object {found}; "
                                  "it may hold only tensors and plain containers, and reading it must not run "
                                  "code") from None
        raise CheckpointError(f"{p}: cannot read the training state ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    missing = [k for k in ("optimizer", "sampler", "torch_rng", "step")
               if not isinstance(state, Mapping) or k not in state]
    if missing:
        raise CheckpointError(f"{p}: not a nirvis training state (missing {', '.join(missing)})")
    return dict(state)


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

    step_dir = resolve_checkpoint(path)
    tensors, meta = read_model_file(step_dir / "model.safetensors", device=device)
    if "config" not in meta or "num_classes" not in meta:
        raise CheckpointError(f"{step_dir / 'model.safetensors'}: not a trainer checkpoint (its metadata has no "
                              "'config' and 'num_classes')")
    cfg = config_from_dict(yaml.safe_load(meta["config"]))
    backbone, head = build_model(cfg, int(meta["num_classes"]))
    backbone.load_state_dict({k[9:]: v for k, v in tensors.items() if k.startswith("backbone.")})
    head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    return backbone.to(device), head.to(device), cfg


# ----------------------------------------------------------------------------- pretrained weights


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, other entries that are plain numbers/strings, e.g. ``{"epoch": 30}``) of a
    safetensors file, a plain state dict or a ``{'state_dict': ..., 'epoch': ...}`` dict, read
    without running code (``torch.load(..., weights_only=True)``)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        return read_model_file(path)[0], {}   # checks the weights' digest when the file records one
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _forbidden_global(exc)
        what = f" (e.g. {found})" if found else ""
        raise CheckpointError(
            f"{path}: refused: the file holds Python objects other than tensors and plain containers{what}. "
            "Checkpoints are read with torch.load(weights_only=True) so that reading one cannot run code. If "
            "you trust the file, re-save its weights alone: torch.save({'state_dict': torch.load(PATH, "
            "weights_only=False)['state_dict']}, NEW_PATH)") from None
    except Exception as exc:  # noqa: BLE001 - any other read error is a user-facing one here
        raise CheckpointError(f"{path}: cannot read as a torch checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    extra: dict[str, Any] = {}
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        extra = {k: v for k, v in obj.items() if k != "state_dict" and isinstance(v, (int, float, str))}
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict (or a dict with 'state_dict') of tensors")
    return dict(obj), extra


def _strip_prefixes(raw: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without DataParallel's ``module.`` and the trainer's ``backbone.`` prefixes."""
    sd = {}
    for k, v in raw.items():
        for prefix in ("module.", "backbone."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        sd[k] = v
    return sd


def _head_keys(sd: Mapping[str, torch.Tensor], backbone: nn.Module) -> list[str]:
    """Keys of classifiers that released checkpoints carry next to the backbone: LightCNN's
    ``fc2.weight`` / ``fc2.bias`` (pre-trained), the reference's CosFace class weights ``weight``
    [num_classes, embedding_size] (fine-tuned ``network_29layers_cosface``) and the trainer's
    ``head.*``. A ``weight`` of another shape is not a head (a real mismatch)."""
    own = backbone.state_dict()
    emb = int(getattr(backbone, "embedding_size", -1))
    out = []
    for k, v in sd.items():
        if k in own:
            continue
        if k in _CLASSIFIER_KEYS or k.startswith("head."):
            out.append(k)
        elif k == "weight" and v.dim() == 2 and v.shape[1] == emb:
            out.append(k)
    return out


def _reason(key: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
    if key == "fc.filter.weight" and len(got) == 2 and len(want) == 2 and got[0] == want[0]:
        side = int(round((got[1] / (want[1] / 49)) ** 0.5)) if want[1] % 49 == 0 else 0
        if side * side * (want[1] // 49) == got[1] and side != 7:
            return (f"checkpoint is for {side * 16}x{side * 16} input (fc {side}*{side}*C); "
                    f"this model takes {CROP_SIZE}x{CROP_SIZE}")
    if key.endswith("conv1.weight") and len(got) == 4 and got[1] != want[1]:
        return f"checkpoint expects {got[1]}-channel input, the model {want[1]} (model.in_channels)"
    return "different architecture or width (check model.backbone / model.width / model.embedding_size)"


def _shape(t: torch.Tensor) -> str:
    return str(list(t.shape))


def load_pretrained(backbone: nn.Module, path: PathLike) -> dict[str, Any]:
    """Load a LightCNN ``.pth.tar`` (pre-trained or the reference's fine-tuned ones) /
    arcface_torch ``backbone.pth`` / safetensors into ``backbone``.

    Returns ``{"dropped": [keys], "dropped_shapes": {key: shape}, "epoch": int or None}``: the
    classifier keys that were ignored (see :func:`_head_keys`) and the checkpoint's epoch. Raises
    ``CheckpointError`` on a key or shape mismatch, naming the key and the shapes."""
    path = Path(path)
    raw, extra = _read_checkpoint(path)
    return _load_state(backbone, _strip_prefixes(raw), extra, path)


def _load_state(backbone: nn.Module, sd: Mapping[str, torch.Tensor], extra: Mapping[str, Any],
                path: Path) -> dict[str, Any]:
    """:func:`load_pretrained` on a checkpoint already read (``sd`` without prefixes, ``extra``
    its other entries; ``path`` only names it in errors)."""
    own = backbone.state_dict()
    dropped = _head_keys(sd, backbone)
    unexpected = [k for k in sd if k not in own and k not in dropped]
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    if unexpected or missing:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s), e.g. {missing[0]!r} (shape {_shape(own[missing[0]])} "
                         "in the model)")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s), e.g. {unexpected[0]!r} (shape "
                         f"{_shape(sd[unexpected[0]])} in the checkpoint)")
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
    epoch = extra.get("epoch")
    return {"dropped": dropped, "dropped_shapes": {k: list(sd[k].shape) for k in dropped},
            "epoch": int(epoch) if isinstance(epoch, (int, float)) else None}


# ----------------------------------------------------------------------------- weights files for evaluation

#: Input scaling (mean, std) of weights files by backbone family: the reference LightCNN takes
#: pixel / 255 as it is; arcface_torch models take (pixel / 255 - 0.5) / 0.5.
WEIGHTS_INPUT_SCALING = {"lightcnn29": (0.0, 1.0), "iresnet18": (0.5, 0.5), "iresnet50": (0.5, 0.5),
                         "iresnet100": (0.5, 0.5), "mobilefacenet": (0.5, 0.5)}
_IRESNET_DEPTHS = {(2, 2, 2, 2): "iresnet18", (3, 4, 14, 3): "iresnet50", (3, 13, 30, 3): "iresnet100"}


def _count_blocks(sd: Mapping[str, torch.Tensor], prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in sd if k.startswith(prefix)})


def infer_backbone(sd: Mapping[str, torch.Tensor], name: Optional[str] = None) -> tuple[str, dict[str, Any]]:
    """(backbone name, constructor keywords) that fit a state dict (keys without ``module.``).

    LightCNN-29 (``conv1.filter.weight`` [2 * 48 * width, C, 5, 5], ``fc.filter.weight``
    [2 * embedding, ...]), IResNet 18/50/100 (blocks per ``layerN``; ``features.weight``
    [embedding]) and MobileFaceNet (``conv1.0.weight`` [64 * width, C, 3, 3], ``linear.weight``).
    With ``name`` given only its keywords are inferred (defaults where its keys are absent, so the
    load then names the mismatch). Raises ``CheckpointError`` when the keys fit none."""
    def first(*keys: str) -> Optional[torch.Tensor]:
        return next((sd[k] for k in keys if k in sd), None)

    if name is None:
        if "conv1.filter.weight" in sd and "fc.filter.weight" in sd:
            name = "lightcnn29"
        elif "layer1.0.conv1.weight" in sd and "features.weight" in sd:
            depth = tuple(_count_blocks(sd, f"layer{i}.") for i in range(1, 5))
            if depth not in _IRESNET_DEPTHS:
                raise CheckpointError(f"IResNet with {depth} blocks per stage is not one of "
                                      f"{', '.join(f'{v} {k}' for k, v in _IRESNET_DEPTHS.items())}")
            name = _IRESNET_DEPTHS[depth]
        elif "dw_conv1.0.weight" in sd and "linear.weight" in sd:
            name = "mobilefacenet"
        else:
            some = ", ".join(repr(k) for k in list(sd)[:3])
            raise CheckpointError(f"cannot tell the backbone from the checkpoint's keys (first: {some}); name it "
                                  f"(--backbone, one of {', '.join(WEIGHTS_INPUT_SCALING)})")
    if name not in WEIGHTS_INPUT_SCALING:
        raise CheckpointError(f"unknown backbone {name!r} (known: {', '.join(WEIGHTS_INPUT_SCALING)})")
    kw: dict[str, Any] = {}
    if name == "lightcnn29":
        conv, fc = first("conv1.filter.weight"), first("fc.filter.weight")
        if conv is not None and conv.dim() == 4:
            kw.update(in_channels=int(conv.shape[1]), width=conv.shape[0] / 2 / 48)
        if fc is not None and fc.dim() == 2:
            kw["embedding_size"] = int(fc.shape[0] // 2)
    elif name.startswith("iresnet"):
        conv, feat = first("conv1.weight"), first("features.weight")
        if conv is not None and conv.dim() == 4:
            kw["in_channels"] = int(conv.shape[1])
        if feat is not None:
            kw["embedding_size"] = int(feat.shape[0])
    else:
        conv, lin = first("conv1.0.weight"), first("linear.weight")
        if conv is not None and conv.dim() == 4:
            kw.update(in_channels=int(conv.shape[1]), width=conv.shape[0] / 64)
        if lin is not None:
            kw["embedding_size"] = int(lin.shape[0])
    kw.setdefault("in_channels", 1 if name == "lightcnn29" else 3)
    return name, kw


def load_weights_file(path: PathLike, backbone: Optional[str] = None, device: str = "cpu"
                      ) -> tuple[nn.Module, dict[str, Any]]:
    """A backbone built for a weights file and loaded from it, in eval mode on ``device``, and a
    description: ``{"checkpoint", "format", "backbone", "kwargs", "epoch", "ignored", "input_mean",
    "input_std"}``.

    The file: a reference checkpoint as insightface ``recognition/idmmd`` ``utils.save_checkpoint``
    writes it (``torch.save({'epoch': N, 'state_dict': model.state_dict()})`` of a DataParallel
    model, keys ``module.conv1.filter.weight`` ...; pre-trained ``network_29layers`` with the
    classifier ``fc2.*``, fine-tuned ``network_29layers_cosface`` with the class weights
    ``weight``), an arcface_torch ``backbone.pth``, or a safetensors state dict. Read without
    running code (``weights_only=True``). The backbone is ``backbone`` or inferred from the keys
    (:func:`infer_backbone`); classifier keys are ignored (listed under ``ignored`` and logged),
    any other key or shape mismatch raises ``CheckpointError`` naming the key and the shapes."""
    import logging

    path = Path(path)
    raw, extra = _read_checkpoint(path)  # read once: the keys name the backbone, then load it
    sd = _strip_prefixes(raw)
    name, kw = infer_backbone(sd, backbone)
    model = build_backbone(name, **kw)
    try:
        info = _load_state(model, sd, extra, path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc} (backbone {name} {kw}{'' if backbone else ', inferred from the keys'})") \
            from None
    ignored = [f"{k} {info['dropped_shapes'][k]}" for k in info["dropped"]]
    if ignored:
        logging.getLogger(__name__).info("%s: ignored the classifier %s (not part of the backbone)", path,
                                         ", ".join(ignored))
    mean, std = WEIGHTS_INPUT_SCALING[name]
    desc = {"checkpoint": str(path), "format": "weights file", "backbone": name, "kwargs": kw,
            "epoch": info["epoch"], "ignored": ignored, "input_mean": mean, "input_std": std}
    return model.to(device).eval(), desc


def _trainer_checkpoint(path: Path) -> bool:
    """``path`` is a trainer checkpoint (a directory, or a ``model.safetensors`` whose metadata
    holds the run config) rather than a weights file."""
    if path.is_dir():
        return True
    if path.is_file() and path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), "pt") as f:
                return "config" in (f.metadata() or {})
        except Exception:  # noqa: BLE001 - not readable as safetensors: reported by the weights reader
            return False
    return False


def load_embedding_model(path: PathLike, device: str = "cpu", backbone: Optional[str] = None):
    """An embedding function for ``nirvis.evaluate``: ``model_fn(x)`` with x float [B, C, 112, 112]
    in [0, 1] (C = ``model_fn.in_channels``, grey by ITU-R 601 luma when 1) -> features [B, D]
    (raw backbone output; ``evaluate.features.embed`` normalises), applying the input scaling
    ((x - mean) / std) and running the backbone in eval mode without gradients.

    ``path``: a trainer checkpoint (run directory, step directory or its ``model.safetensors``;
    scaling from its config) or a weights file (see :func:`load_weights_file`: e.g. the
    reference's ``*.pth.tar``; ``backbone`` names the architecture, else it is inferred from the
    keys). ``model_fn.info`` describes what was loaded (``ignored``: classifier keys left out)."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file or directory (expected a trainer run directory, a step "
                              "directory, or a weights file such as the reference's *.pth.tar)")
    if _trainer_checkpoint(p):
        if p.is_dir() and latest_checkpoint(p) is None and not (p / "model.safetensors").is_file():
            raise CheckpointError(f"{p}: no checkpoint found (expected a trainer run directory with "
                                  f"{CKPT_DIR}/{LATEST}, a step directory, or a weights file such as the "
                                  "reference's *.pth.tar)")
        net, _, cfg = load_trained(p, device=device)
        if backbone is not None and backbone != cfg.model.backbone:
            raise CheckpointError(f"{p}: backbone {backbone!r} was asked for, but this run trained "
                                  f"{cfg.model.backbone!r} (leave the backbone out for trainer checkpoints)")
        net.eval()
        mean, std, in_ch = float(cfg.data.mean), float(cfg.data.std), int(cfg.model.in_channels)
        info: dict[str, Any] = {"checkpoint": str(p), "format": "nirvis run", "backbone": cfg.model.backbone,
                                "ignored": [], "input_mean": mean, "input_std": std}
    else:
        net, info = load_weights_file(p, backbone=backbone, device=device)
        mean, std = float(info["input_mean"]), float(info["input_std"])
        in_ch = int(info["kwargs"]["in_channels"])

    @torch.no_grad()
    def model_fn(x: torch.Tensor) -> torch.Tensor:
        return net(((x.to(device) - mean) / std).float())

    model_fn.in_channels = in_ch  # type: ignore[attr-defined]
    model_fn.info = info  # type: ignore[attr-defined]
    return model_fn
