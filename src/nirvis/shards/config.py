"""``RenderDatasetConfig``: what ``nirvis render-dataset`` renders, as typed frozen dataclasses.

A config is read from YAML (``configs/render/*.yaml``), then command-line flags override single
top-level fields. Every key is checked against the dataclass fields and every value against its
type and range, and errors name the field by its dotted path, e.g.::

    configs/render/x.yaml: field 'images_per_identity' must be >= 1, got 0
    configs/render/x.yaml: unknown key 'sample_space.lighting.ambiant' (known: ambient, ...)

The ``sample_space`` section is a ``nirvis.render.pair.SampleSpace`` (with its nested
``lighting``, ``vis_sensor`` and ``nir_sensor`` sections), so it is exactly what the renderer
samples pair parameters from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from nirvis.crop import CROP_SIZE, CROP_SIZES
from nirvis.errors import NirvisError
from nirvis.render.lights import LightingConfig
from nirvis.render.pair import SampleSpace
from nirvis.shards.members import LABEL_PASSES

#: Output sizes the aligned crops can have (the ArcFace 112 x 112 template only, for now).
SUPPORTED_RESOLUTIONS = CROP_SIZES
BACKENDS = ("auto", "cpu", "gl", "cuda", "torch")
DEVICES = ("cpu", "cuda")
NIR_METHODS = ("spectral", "red", "luma")
#: Image encodings of the members (see ``shards.format.ENCODINGS``).
ENCODINGS = ("png", "jpeg", "webp")
#: Fields that change how a data set is produced but never its bytes (left out of the
#: "same config?" comparison and the shard fingerprints).
EXECUTION_FIELDS = ("workers", "batch_size")
MAX_IDENTITIES = 10_000_000      # labels are written with 7 digits
MAX_IMAGES_PER_IDENTITY = 10_000  # pair indices with 4 digits


class ConfigError(NirvisError, ValueError):
    """An invalid render-dataset config; the message names the source and the field."""


@dataclass(frozen=True)
class RenderDatasetConfig:
    """Everything that decides a rendered data set (plus ``workers`` and ``batch_size``, which never
    change bytes).

    Attributes:
        identities: number of identities; labels 0 .. identities - 1.
        images_per_identity: rendered pairs per identity (pair indices 0 .. K - 1).
        resolution: side of the aligned crops, one of ``crop.CROP_SIZES`` (112, 128, 160, 224, 256,
            512: the ArcFace template scaled). For crops above 112, ``sample_space.raw_resolution``
            is raised to twice the crop side when smaller, so they are never upsampled (at 2x the
            alignment maps <= 0.997 crop pixels onto a raw pixel over the default sample space);
            112 configs keep their own raw size (the default 224 is 2x).
        raw: also store the uncropped camera frames (``<key>.vis_raw.<ext>`` ...) with their
            landmarks in raw pixels.
        passes: label passes to store, among ``segmentation``, ``depth``, ``normal``
            (``shards.members``).
        seed: global seed; identity k and pair (k, i) draw their own seeds from it.
        shard_size: samples (pairs) per tar shard; shards hold samples in (label, index) order.
        batch_size: pairs rendered together (execution only: a pair's bytes never depend on the
            batch it is rendered in, so any value gives the same data set; tested).
        workers: CPU worker processes (execution only: results are identical for any value).
        backend: rasteriser, ``auto`` | ``cpu`` | ``gl`` | ``cuda`` | ``torch`` (saved resolved).
        device: ``cpu`` or ``cuda`` (``cuda:LOCAL_RANK`` under torchrun).
        identity_source: ``procedural`` or a directory of face-asset directories (as written by
            ``nirvis identities --out DIR``); label = position of the sub-directory by name.
        texture_resolution: reflectance map size of procedural identities.
        subdivision_levels: Loop subdivision steps of every head mesh (``prepare_face``; 0 = the
            mesh as is, 1 = 3.4x the triangles, the default: no visible facets at 160 px).
        nir_method: VIS -> NIR albedo transform for assets without NIR maps.
        png_compression: zlib level 0-9 of the PNG members (lossless either way). The default 4
            encodes 112 px pairs in half the time of 6 for 1.6 % more bytes (README, render speed).
        encoding: image members ``png`` (lossless, default), ``jpeg`` or ``webp`` (lossy, at
            ``quality``); members ``<key>.vis.png|jpg|webp`` and ``<key>.nir.*``.
        quality: 1-100, for ``jpeg`` and ``webp`` (OpenCV's quality; 100 is still lossy).
        sample_space: ranges of every random choice of a pair (``SampleSpace``).
    """

    identities: int = 1000
    images_per_identity: int = 20
    resolution: int = CROP_SIZE
    raw: bool = False
    passes: tuple[str, ...] = ()
    seed: int = 0
    shard_size: int = 1000
    batch_size: int = 16
    workers: int = 1
    backend: str = "auto"
    device: str = "cpu"
    identity_source: str = "procedural"
    texture_resolution: int = 512
    subdivision_levels: int = 1
    nir_method: str = "spectral"
    png_compression: int = 4
    encoding: str = "png"
    quality: int = 95
    sample_space: SampleSpace = field(default_factory=SampleSpace)

    def __post_init__(self) -> None:
        def at_least(name: str, low: int, high: Optional[int] = None) -> None:
            value = getattr(self, name)
            if value < low:
                raise ConfigError(f"field '{name}' must be >= {low}, got {value}")
            if high is not None and value > high:
                raise ConfigError(f"field '{name}' must be <= {high}, got {value}")

        at_least("identities", 1, MAX_IDENTITIES)
        at_least("images_per_identity", 1, MAX_IMAGES_PER_IDENTITY)
        at_least("seed", 0)
        at_least("shard_size", 1)
        at_least("batch_size", 1)
        at_least("workers", 1)
        at_least("texture_resolution", 16, 4096)
        at_least("subdivision_levels", 0, 2)
        at_least("png_compression", 0, 9)
        at_least("quality", 1, 100)
        if self.resolution not in SUPPORTED_RESOLUTIONS:
            raise ConfigError(f"field 'resolution' must be one of {', '.join(map(str, SUPPORTED_RESOLUTIONS))} "
                              f"(aligned crop side), got {self.resolution}")
        bad = [p for p in self.passes if p not in LABEL_PASSES]
        if bad or len(set(self.passes)) != len(self.passes):
            raise ConfigError(f"field 'passes' must list distinct passes among {', '.join(LABEL_PASSES)}; "
                              f"got {list(self.passes)}")
        # crops larger than 112 are never upsampled; 112 configs keep the raw size they chose
        # (the default 224 is twice the crop; configs/render/small.yaml's 160 trades detail for speed)
        if self.resolution > CROP_SIZE and self.sample_space.raw_resolution < 2 * self.resolution:
            object.__setattr__(self, "sample_space",
                               dataclasses.replace(self.sample_space, raw_resolution=2 * self.resolution))
        for name, choices in (("backend", BACKENDS), ("device", DEVICES), ("nir_method", NIR_METHODS),
                              ("encoding", ENCODINGS)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"field '{name}' must be one of {', '.join(choices)}; got {getattr(self, name)!r}")
        if not self.identity_source:
            raise ConfigError("field 'identity_source' must be 'procedural' or a directory of face assets")

    # ------------------------------------------------------------------ derived
    @property
    def pairs(self) -> int:
        return self.identities * self.images_per_identity

    @property
    def num_shards(self) -> int:
        return -(-self.pairs // self.shard_size)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-ready dict (tuples as lists); ``config_from_dict`` inverts it."""
        return to_plain(dataclasses.asdict(self))

    def data_dict(self) -> dict[str, Any]:
        """``to_dict`` without the execution-only fields (what decides the bytes). With the PNG
        encoding, ``encoding`` and ``quality`` are left out too: ``quality`` does not apply, and
        PNG data sets keep the fingerprint (and resume) of those written before the field."""
        d = self.to_dict()
        for name in EXECUTION_FIELDS:
            d.pop(name, None)
        if d.get("encoding") == "png":
            d.pop("encoding")
            d.pop("quality", None)
        if not d.get("raw"):  # likewise data sets without raw frames or label passes
            d.pop("raw", None)
        if not d.get("passes"):
            d.pop("passes", None)
        return d

    def replace(self, **changes: Any) -> "RenderDatasetConfig":
        return dataclasses.replace(self, **changes)


def to_plain(v: Any) -> Any:
    """Nested dicts/lists/tuples -> dicts and lists (YAML/JSON-ready; tuples become lists)."""
    if isinstance(v, dict):
        return {k: to_plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_plain(x) for x in v]
    return v


def fingerprint(data: Mapping[str, Any]) -> str:
    """sha256 of a canonical JSON encoding of ``data``."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------- loading

#: Extra checks of the LightingConfig section (the renderer's dataclass does not validate).
_LIGHTING_LIMITS = {
    "ambient": (0.0, 100.0), "sky_lobe": (0.0, 100.0), "n_directional": (0, 3),
    "directional_intensity": (0.0, 100.0), "color_temperature_k": (1000.0, 40000.0),
    "max_elevation_deg": (-90.0, 90.0), "max_azimuth_deg": (0.0, 180.0), "nir_led_intensity": (0.0, 100.0),
    "nir_ambient_share": (0.0, 1.0), "nir_ambient_probability": (0.0, 1.0),
}


def _type_name(tp: Any) -> str:
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:                     # tuple[str, ...]: any length
            return f"a list of {_type_name(args[0]).split(' ', 1)[1]}s"
        inner = "integers" if all(a is int for a in args) else "numbers"
        return f"a list of {len(args)} {inner}"
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{_type_name(args[0])} or null"
    return str(tp)


def _convert(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (lists -> tuples)."""
    def bad() -> ConfigError:
        return ConfigError(f"field '{path}' must be {_type_name(tp)}, got {value!r}")

    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"field '{path}' must be a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, path)
    origin = typing.get_origin(tp)
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and type(None) in typing.get_args(tp):
            return None
        return _convert(value, args[0], path)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis and isinstance(value, (list, tuple)):
            args = (args[0],) * len(value)                              # tuple[X, ...]: any length
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise bad()
        try:
            return tuple(_convert(v, a, path) for v, a in zip(value, args))
        except ConfigError:
            raise bad() from None
    raise ConfigError(f"field '{path}': unsupported type {tp!r}")  # pragma: no cover


def _check_lighting(cfg: LightingConfig, path: str) -> None:
    for name, (lo, hi) in _LIGHTING_LIMITS.items():
        value = getattr(cfg, name)
        pair = value if isinstance(value, tuple) else (value, value)
        if pair[0] > pair[1]:
            raise ConfigError(f"field '{path}.{name}': lower bound {pair[0]} exceeds upper bound {pair[1]}")
        if pair[0] < lo or pair[1] > hi:
            got = list(pair) if isinstance(value, tuple) else value
            raise ConfigError(f"field '{path}.{name}' must lie in [{lo:g}, {hi:g}], got {got}")


def _build(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise ConfigError(f"unknown key '{where}' (known: {', '.join(names)})")
    kwargs = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    try:
        obj = cls(**kwargs)
    except ConfigError as exc:
        raise _prefixed(exc, prefix) from None
    except (ValueError, TypeError) as exc:
        raise _named(str(exc), cls, prefix) from None
    if cls is LightingConfig:
        _check_lighting(obj, prefix or "lighting")
    return obj


def _prefixed(exc: ConfigError, prefix: str) -> ConfigError:
    if not prefix:
        return exc
    return ConfigError(re.sub(r"field '([^']+)'", lambda m: f"field '{prefix}.{m.group(1)}'", str(exc), count=1))


def _named(message: str, cls: type, prefix: str) -> ConfigError:
    """Turn a renderer dataclass's ValueError into one that names the dotted field."""
    names = [f.name for f in fields(cls)]
    m = re.match(rf"{cls.__name__}\.(\w+)[:\s]\s*(.*)", message) or re.match(r"(\w+):\s*(.*)", message)
    if m and m.group(1) in names:
        field_path = f"{prefix}.{m.group(1)}" if prefix else m.group(1)
        return ConfigError(f"field '{field_path}': {m.group(2)}")
    return ConfigError(f"field '{prefix or cls.__name__}': {message}")


def config_from_dict(data: Mapping[str, Any]) -> RenderDatasetConfig:
    """Build a config from a (possibly partial) nested dict; raises ConfigError naming the field."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of config fields at the top level, got {type(data).__name__}")
    return _build(RenderDatasetConfig, data)


def read_yaml(path: Union[str, Path]) -> dict[str, Any]:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields at the top level")
    return data


def load_config(path: Optional[Union[str, Path]] = None, overrides: Optional[Mapping[str, Any]] = None,
                flag_names: Optional[Mapping[str, str]] = None) -> RenderDatasetConfig:
    """The effective config: defaults <- YAML file ``path`` <- ``overrides`` (top-level fields).

    Args:
        path: YAML file, or None for the built-in defaults (equal to ``configs/render/default.yaml``).
        overrides: top-level field values that replace the file's (None values are ignored).
        flag_names: field -> command-line flag, used to name the source of an overridden value.

    Raises:
        ConfigError: unknown keys or invalid values, naming the source and the field.
    """
    data = read_yaml(path) if path is not None else {}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    merged = {**data, **overrides}
    try:
        return config_from_dict(merged)
    except ConfigError as exc:
        m = re.search(r"(?:field|key) '([^'.]+)", str(exc))
        top = m.group(1) if m else None
        if top is not None and top in overrides:
            flag = (flag_names or {}).get(top, top)
            raise ConfigError(f"{flag}: {exc}") from None
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None


def dump_yaml(cfg: RenderDatasetConfig, header: str = "") -> str:
    """YAML text of ``cfg`` that ``load_config`` reads back to an equal config."""
    import yaml

    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None, width=100)
    lines = "".join(f"# {line}\n" for line in header.splitlines()) if header else ""
    return lines + text
