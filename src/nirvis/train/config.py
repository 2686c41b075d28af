"""``TrainConfig``: typed frozen dataclasses read from YAML (``configs/train/*.yaml``).

Unknown keys and invalid values raise ``TrainConfigError`` naming the dotted field, e.g.
``field 'optim.lr' must be > 0, got -1``. Overrides are ``{"optim.lr": 0.01, ...}`` (dotted paths).
The merged config is saved as ``RUN_DIR/config.yaml`` by the trainer.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from nirvis.errors import NirvisError
from nirvis.shards.config import to_plain


class TrainConfigError(NirvisError, ValueError):
    """An invalid training config; the message names the field."""


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "lightcnn29"       # lightcnn29 | iresnet18 | iresnet50 | iresnet100 | mobilefacenet
    in_channels: int = 1               # 1: grey (VIS converted by luma), 3: RGB (NIR replicated)
    width: float = 1.0                 # channel multiplier (lightcnn29, mobilefacenet)
    embedding_size: int = 0            # 0: the backbone's default (256 LightCNN, 512 IResNet, 128 MFN)
    dropout: float = 0.5               # on the embedding, before the head
    pretrained: Optional[str] = None   # LightCNN .pth.tar / arcface_torch backbone.pth


@dataclass(frozen=True)
class HeadConfig:
    type: str = "cosface"              # cosface | arcface
    s: float = 64.0
    m: float = 0.4
    num_classes: int = 0               # 0: from the data (manifests / lists)


@dataclass(frozen=True)
class LossConfig:
    idmmd: str = "rbf"                 # rbf (reference) | linear | none
    idmmd_weight: float = 100.0


@dataclass(frozen=True)
class DataConfig:
    identities_per_batch: int = 16
    vis_per_identity: int = 4
    nir_per_identity: int = 4
    shuffle_buffer: int = 256          # identity groups
    mean: float = 0.0                  # input = (pixel / 255 - mean) / std
    std: float = 1.0
    prefetch: int = 2                  # batches decoded ahead in a thread (0: none)
    verify: bool = True                # check shard hashes, counts and keys against the manifests first
    lists: tuple[str, ...] = ()        # real training lists (see nirvis.train.lists)
    list_root: Optional[str] = None
    vis_regex: Optional[str] = None
    nir_regex: Optional[str] = None


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-3
    momentum: float = 0.9
    weight_decay: float = 2e-4
    lr_gamma: float = 0.457305051927326  # the reference's factor (utils.adjust_learning_rate)
    lr_step_epochs: int = 5            # stage-II epoch j (1, 2, ...) uses lr * gamma ** (j // this); stage I: lr
    stage1_epochs: int = 4             # head only, no ID-MMD
    stage2_epochs: int = 10            # all parameters
    max_steps: int = 0                 # > 0: stop after this many steps (whatever the epochs)


@dataclass(frozen=True)
class RunConfig:
    seed: int = 1000
    device: str = "cpu"                # cpu | cuda
    amp: bool = True                   # bf16 autocast, CUDA only
    log_every: int = 10
    checkpoint_every: int = 1000
    tensorboard: bool = True           # when tensorboard is importable
    progress: bool = True


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning a (pretrained) backbone on a new domain.

    freeze: backbone parameter-name prefixes kept frozen in stage II (e.g. ["conv1", "layer1"]);
        they unfreeze after ``unfreeze_epoch`` epochs of stage II (-1: frozen throughout).
    head_warmup_steps: the first steps train the head only (on top of ``optim.stage1_epochs``).
    init_head_from_means: before training, set every class weight to the normalised mean
        embedding of its identity's training images under the initial backbone (the
        regularised fine-tune in the spirit of "Rethinking the Domain Gap in Near-infrared Face
        Recognition", CVPRW 2024: the classifier starts where the features already are).
    l2sp_weight: weight of an L2-SP penalty ||theta - theta_0||^2 on the backbone (Li et al. 2018),
        keeping the fine-tuned weights near the starting point (0: off).
    """

    freeze: tuple[str, ...] = ()
    unfreeze_epoch: int = -1
    head_warmup_steps: int = 0
    init_head_from_means: bool = False
    l2sp_weight: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def to_dict(self) -> dict[str, Any]:
        return to_plain(dataclasses.asdict(self))


_CHOICES = {
    "model.backbone": ("lightcnn29", "iresnet18", "iresnet50", "iresnet100", "mobilefacenet"),
    "model.in_channels": (1, 3),
    "head.type": ("cosface", "arcface"),
    "loss.idmmd": ("rbf", "linear", "none"),
    "run.device": ("cpu", "cuda"),
}
_POSITIVE = ("model.width", "head.s", "optim.lr", "data.identities_per_batch", "data.vis_per_identity",
             "data.nir_per_identity", "data.std", "optim.lr_gamma", "optim.lr_step_epochs", "run.log_every",
             "run.checkpoint_every")
_NON_NEGATIVE = ("finetune.head_warmup_steps", "finetune.l2sp_weight", "model.embedding_size", "head.m",
                 "head.num_classes", "loss.idmmd_weight", "data.shuffle_buffer",
                 "data.prefetch", "optim.momentum", "optim.weight_decay", "optim.stage1_epochs",
                 "optim.stage2_epochs", "optim.max_steps", "run.seed")


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Union:
        if value is None:
            return None
        return _convert(value, [a for a in typing.get_args(tp) if a is not type(None)][0], path)
    bad = TrainConfigError(f"field '{path}' must be {getattr(tp, '__name__', str(tp))}, got {value!r}")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise TrainConfigError(f"field '{path}' must be a list of strings, got {value!r}")
        return tuple(value)
    raise TrainConfigError(f"field '{path}': unsupported type {tp!r}")  # pragma: no cover


def _build(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, Mapping):
        raise TrainConfigError(f"field '{prefix}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for k, v in data.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if k not in names:
            raise TrainConfigError(f"unknown key '{path}' (known: {', '.join(names)})")
        tp = hints[k]
        kwargs[k] = _build(tp, v, path) if dataclasses.is_dataclass(tp) else _convert(v, tp, path)
    return cls(**kwargs)


def _get(cfg: TrainConfig, path: str) -> Any:
    obj: Any = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: TrainConfig) -> TrainConfig:
    for path, choices in _CHOICES.items():
        if _get(cfg, path) not in choices:
            raise TrainConfigError(f"field '{path}' must be one of {', '.join(map(str, choices))}; "
                                   f"got {_get(cfg, path)!r}")
    for path in _POSITIVE:
        if not _get(cfg, path) > 0:
            raise TrainConfigError(f"field '{path}' must be > 0, got {_get(cfg, path)}")
    for path in _NON_NEGATIVE:
        if _get(cfg, path) < 0:
            raise TrainConfigError(f"field '{path}' must be >= 0, got {_get(cfg, path)}")
    if not 0 <= cfg.model.dropout < 1:
        raise TrainConfigError(f"field 'model.dropout' must lie in [0, 1), got {cfg.model.dropout}")
    if cfg.optim.stage2_epochs + cfg.optim.stage1_epochs == 0 and cfg.optim.max_steps == 0:
        raise TrainConfigError("field 'optim.stage2_epochs': no training (both stages 0 epochs and no max_steps)")
    if (cfg.data.vis_regex is None) != (cfg.data.nir_regex is None):
        raise TrainConfigError("fields 'data.vis_regex' and 'data.nir_regex' must be given together")
    return cfg


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    return validate(_build(TrainConfig, data))


def _set_dotted(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise TrainConfigError(f"field '{p}' must be a mapping")
        node = nxt
    node[parts[-1]] = value


def load_config(path: Optional[Union[str, Path]] = None, overrides: Optional[Mapping[str, Any]] = None) -> TrainConfig:
    """defaults <- YAML ``path`` <- ``overrides`` (dotted field -> value; None values ignored)."""
    import yaml

    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise TrainConfigError(f"{p}: config file not found") from None
        except OSError as exc:
            raise TrainConfigError(f"{p}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise TrainConfigError(f"{p}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        except yaml.YAMLError as exc:
            raise TrainConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise TrainConfigError(f"{p}: expected a mapping at the top level")
    for k, v in (overrides or {}).items():
        if v is not None:
            _set_dotted(data, k, v)
    try:
        return config_from_dict(data)
    except TrainConfigError as exc:
        raise TrainConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None


def parse_override(text: str) -> tuple[str, Any]:
    """``'optim.lr=0.01'`` -> ``('optim.lr', 0.01)`` (the value parsed as YAML)."""
    import yaml

    if "=" not in text:
        raise TrainConfigError(f"--set {text!r}: expected FIELD=VALUE")
    k, v = text.split("=", 1)
    return k.strip(), yaml.safe_load(v)


def dump_yaml(cfg: TrainConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None)
