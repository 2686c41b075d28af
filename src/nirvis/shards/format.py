"""The on-disk layout of a rendered data set, and the byte-exact writers.

Layout of ``DIR``::

    DIR/config.yaml                 effective config (readable again with --config)
    DIR/shards/shard-000000.tar     WebDataset shards, samples in (label, index) order
    DIR/shards/shard-000000.tar.json  sidecar written after the shard's rename: sha256, count, keys
    DIR/shards/shard-000000.idx     DALI webdataset index of the shard (``shards.index``), written
                                    after its rename, before its sidecar
    DIR/wids-index.json             wids shard index of the data set (relative urls)
    DIR/manifest.json               written last, when every shard is complete (records the
                                    index files' sizes and sha256 under ``indexes``)

Each sample (one rendered pair) has the key ``<label:07d>_<index:04d>`` and three tar members:
``<key>.vis.<ext>`` (8-bit RGB), ``<key>.nir.<ext>`` (8-bit grey) and ``<key>.json`` (metadata),
where ``<ext>`` follows the config's ``encoding``: ``png`` (lossless, the default; the only
encoding before it was configurable), ``jpg`` (``jpeg``) or ``webp``, at ``quality`` 1-100 for the
lossy two. The manifest's ``sample.members`` names them; readers take the suffix from the member
names, so data sets of every encoding (and older ones) read alike.

Determinism: the shard plan depends only on (identities, images_per_identity, shard_size); images
are encoded by OpenCV with fixed parameters (PNG: a fixed zlib level, no metadata chunks; JPEG:
baseline, not optimised, 4:2:0; WebP: lossy at the quality); tar members are USTAR with
mtime 0, uid/gid 0, empty user/group names and mode 0o444; JSON is written with sorted keys.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Optional

import numpy as np

from nirvis.crop import CROP_SIZE

FORMAT_TAG = "nirvis-shards"
FORMAT_VERSION = 1
SHARD_DIR = "shards"
MANIFEST = "manifest.json"
CONFIG_FILE = "config.yaml"
MEMBER_SUFFIXES = ("vis.png", "nir.png", "json")
#: ``encoding`` config value -> member extension of the images.
ENCODINGS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
#: Manifest ``format_version`` of data sets whose images are not PNG (older readers expect PNG).
FORMAT_VERSION_ENCODED = 2
_TAR_MTIME = 0
_TAR_MODE = 0o444


def sample_key(label: int, index: int) -> str:
    return f"{label:07d}_{index:04d}"


def parse_key(key: str) -> tuple[int, int]:
    label, index = key.split("_")
    return int(label), int(index)


def shard_name(shard: int) -> str:
    return f"shard-{shard:06d}.tar"


def sidecar_path(tar_path: Path) -> Path:
    return tar_path.with_name(tar_path.name + ".json")


@dataclass(frozen=True)
class ShardPlan:
    """Samples of one shard: global positions [start, stop) of the (label, index) order."""

    index: int
    start: int
    stop: int
    images_per_identity: int

    @property
    def name(self) -> str:
        return shard_name(self.index)

    @property
    def count(self) -> int:
        return self.stop - self.start

    def samples(self) -> list[tuple[int, int]]:
        k = self.images_per_identity
        return [divmod(p, k) for p in range(self.start, self.stop)]

    def keys(self) -> list[str]:
        return [sample_key(label, i) for label, i in self.samples()]


def plan_shards(identities: int, images_per_identity: int, shard_size: int) -> list[ShardPlan]:
    """Samples in (label, index) order chunked into shards of ``shard_size`` (last one shorter)."""
    total = identities * images_per_identity
    return [ShardPlan(j, s, min(s + shard_size, total), images_per_identity)
            for j, s in enumerate(range(0, total, shard_size))]


# ---------------------------------------------------------------------------------- encoding


def encode_png(img: np.ndarray, compression: int = 4) -> bytes:
    """Deterministic 8-bit PNG: RGB [H, W, 3] or grey [H, W] uint8 (OpenCV, no metadata chunks)."""
    import cv2

    a = np.ascontiguousarray(img)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"encode_png: expected uint8 [H, W] or [H, W, 3], got {a.dtype} {list(a.shape)}")
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:  # pragma: no cover
        raise RuntimeError("encode_png: OpenCV could not encode the image")
    return buf.tobytes()


def member_suffixes(ext: str = "png") -> tuple[str, str, str]:
    """The members of a sample whose images have extension ``ext``: (vis, nir, json)."""
    return (f"vis.{ext}", f"nir.{ext}", "json")


def image_ext(parts: dict[str, Any]) -> Optional[str]:
    """The image extension of a sample's members (``png``, ``jpg`` or ``webp``), or None when
    its members are not one known set of ``vis.<ext>`` + ``nir.<ext>``."""
    for ext in ENCODINGS.values():
        if f"vis.{ext}" in parts and f"nir.{ext}" in parts:
            return ext
    return None


def encode_image(img: np.ndarray, encoding: str = "png", *, quality: int = 95, png_compression: int = 4) -> bytes:
    """Deterministic 8-bit image bytes of RGB [H, W, 3] or grey [H, W] uint8 in ``encoding``
    (``png``: lossless at zlib level ``png_compression``; ``jpeg`` / ``webp``: lossy at
    ``quality`` 1-100, fixed encoder parameters)."""
    import cv2

    if encoding == "png":
        return encode_png(img, png_compression)
    a = np.ascontiguousarray(img)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"encode_image: expected uint8 [H, W] or [H, W, 3], got {a.dtype} {list(a.shape)}")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"encode_image: quality must be 1-100, got {quality}")
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    if encoding == "jpeg":
        ok, buf = cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_OPTIMIZE, 0,
                                           cv2.IMWRITE_JPEG_PROGRESSIVE, 0,
                                           cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420])
    elif encoding == "webp":
        ok, buf = cv2.imencode(".webp", a, [cv2.IMWRITE_WEBP_QUALITY, int(quality)])  # <= 100: lossy
    else:
        raise ValueError(f"encode_image: encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if not ok:  # pragma: no cover
        raise RuntimeError(f"encode_image: OpenCV could not encode the image as {encoding}")
    return buf.tobytes()


def decode_png(data: bytes, channels: int) -> np.ndarray:
    """Decode PNG (or JPEG / WebP: the format is read from the bytes) to uint8 RGB [H, W, 3]
    (channels=3) or grey [H, W] (channels=1). A WebP holds no grey images (OpenCV stores grey as
    three equal channels): with channels=1 its colour is converted to grey.

    Raises:
        ValueError: undecodable data or a different channel count than ``channels``.
    """
    import cv2

    from nirvis.image_limits import check_image_size

    check_image_size(data, "image")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("not a decodable PNG, JPEG or WebP image")
    if channels == 1 and img.ndim == 3 and img.shape[2] == 3 and bytes(data[:4]) == b"RIFF":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.dtype != np.uint8:
        raise ValueError(f"expected 8-bit pixels, got {img.dtype}")
    got = 1 if img.ndim == 2 else img.shape[2]
    if got != channels:
        raise ValueError(f"expected {channels} channel(s), got {got}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if channels == 3 else img


def dumps_json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


class ShardWriter:
    """Writes tar members with fixed metadata to a binary file object (USTAR format)."""

    def __init__(self, fileobj: BinaryIO):
        self._tar = tarfile.open(fileobj=fileobj, mode="w", format=tarfile.USTAR_FORMAT)

    def add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = _TAR_MTIME
        info.mode = _TAR_MODE
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        self._tar.addfile(info, io.BytesIO(data))

    def add_sample(self, key: str, vis_png: bytes, nir_png: bytes, meta: dict[str, Any], ext: str = "png",
                   extra: Optional[dict[str, bytes]] = None) -> None:
        """Members ``<key>.vis.<ext>``, ``<key>.nir.<ext>`` (the encoded images), ``<key>.json``,
        then ``extra`` (suffix -> bytes: raw frames, label passes; ``shards.members``) in order."""
        self.add(f"{key}.vis.{ext}", vis_png)
        self.add(f"{key}.nir.{ext}", nir_png)
        self.add(f"{key}.json", dumps_json(meta))
        for suffix, data in (extra or {}).items():
            self.add(f"{key}.{suffix}", data)

    def close(self) -> None:
        self._tar.close()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ sample metadata


def _rounded(x: Any) -> Any:
    """``x`` with every float rounded to 4 decimals (dicts, lists and arrays recursively; NaN ->
    None); ints, bools, strings and None stay as they are."""
    if isinstance(x, dict):
        return {str(k): _rounded(v) for k, v in x.items()}
    if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.ndim and x.size:   # landmarks: one pass
        rows = [None if v != v else round(v, 4) for v in x.astype(np.float64).ravel().tolist()]
        for n in reversed(x.shape[1:]):
            rows = [rows[i:i + n] for i in range(0, len(rows), n)]
        return rows
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_rounded(v) for v in x]
    if isinstance(x, (bool, np.bool_)) or x is None or isinstance(x, str):
        return bool(x) if isinstance(x, np.bool_) else x
    if isinstance(x, (int, np.integer)):
        return int(x)
    v = float(x)
    return None if v != v else round(v, 4)


def identity_record(asset_metadata: Any) -> Optional[dict[str, Any]]:
    """The ``identity`` block of a sample's JSON: what the identity is, for analysis by factor.

    From a FaceAsset's metadata: ``sex`` (``female``/``male`` from the MakeHuman ``gender``),
    ``identity`` (seed, gender, age, ancestry proportions ``race`` = (african, asian, caucasian),
    muscle, weight, the shape prior's traits; the local modifier weights and the landmark offsets of
    shape prior v4 are left out (they follow from the seed for procedural identities, the identity
    asset holds them, and the mesh is the asset for imported ones) and
    ``appearance`` (skin, hair, facial hair, brows, eyes, make-up: the sampled parameters, see
    ``reflectance.maps.SkinAppearance``, ``reflectance.face_detail.FaceDetail``,
    ``render.hair.HairParams``, ``render.facial_hair.FacialHairParams``). Floats rounded to 4
    decimals. None when the metadata holds neither.

    Example:
        >>> rec = identity_record({"identity": {"seed": 3, "gender": 0.9, "age_years": 30.0,
        ...                                     "modifiers": {"nose-flaring-decr-incr": 0.1},
        ...                                     "landmark_offsets_mm": [[0.0, 0.0, 0.0]] * 68}})
        >>> rec["sex"], "modifiers" in rec["identity"], "landmark_offsets_mm" in rec["identity"]
        ('male', False, False)
    """
    if not isinstance(asset_metadata, dict):
        return None
    ident = asset_metadata.get("identity")
    app = asset_metadata.get("appearance")
    if not isinstance(ident, dict) and not isinstance(app, dict):
        return None
    out: dict[str, Any] = {}
    if isinstance(ident, dict):
        out["identity"] = _rounded({k: v for k, v in ident.items() if k not in ("modifiers", "landmark_offsets_mm")})
        if isinstance(ident.get("gender"), (int, float)):
            out["sex"] = "male" if float(ident["gender"]) > 0.5 else "female"
    if isinstance(app, dict):
        out["appearance"] = _rounded(app)
    return out


def sample_metadata(*, key: str, label: int, index: int, identity_seed: Optional[int], params: Any,
                    vis_lm5: np.ndarray, nir_lm5: np.ndarray, vis_lm68: Optional[np.ndarray],
                    nir_lm68: Optional[np.ndarray], backend: str, renderer_version: str,
                    identity_source: str, identity: Optional[dict[str, Any]] = None, crop_size: int = CROP_SIZE,
                    raw: Optional[dict[str, Any]] = None, members: tuple[str, ...] = (),
                    labels: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The ``json`` member of a sample (see the module docstring of ``nirvis.shards``);
    ``identity``: the label's ``identity_record`` (omitted when None); ``crop_size``: the crops'
    side; ``raw``: ``{"size": R, "vis": {"5": lm, "68": lm}, "nir": ...}`` raw-frame landmarks
    (None: no raw frames); ``members``: the extra members and ``labels`` their classes and
    encodings (``shards.members.label_record``). Without these the JSON is what it was before."""
    p = params.to_dict()

    def pose(view: dict[str, Any]) -> dict[str, float]:
        return {k: view[k] for k in ("yaw_deg", "pitch_deg", "roll_deg", "distance_mm", "focal_mm")}

    out = {
        "key": key,
        "label": int(label),
        "index": int(index),
        "identity_seed": None if identity_seed is None else int(identity_seed),
        "identity_source": identity_source,
        "pair_seed": int(p["seed"]),
        "pairing": p["pairing"],
        "led_nm": int(p["led_nm"]),
        "pose": {"vis": pose(p["vis_view"]), "nir": pose(p["nir_view"])},
        "expression": {"vis": p["vis_view"]["expression"], "nir": p["nir_view"]["expression"]},
        "lighting": {"vis": p["vis_lighting"], "nir": p["nir_lighting"]},
        "accessories": p.get("accessories") or {},
        "landmarks": {
            "convention": f"pixels in the aligned {crop_size}x{crop_size} crop, pixel centres at +0.5, row 0 "
                          "at the top",
            "vis": {"5": _rounded(vis_lm5), "68": None if vis_lm68 is None else _rounded(vis_lm68)},
            "nir": {"5": _rounded(nir_lm5), "68": None if nir_lm68 is None else _rounded(nir_lm68)},
        },
        "renderer": {"backend": backend, "version": renderer_version},
        "image": {"size": [crop_size, crop_size], "vis": "rgb8", "nir": "grey8"},
        "params": p,
    }
    if identity is not None:
        out["identity"] = identity
    if raw is not None:
        out["raw"] = {"size": [raw["size"], raw["size"]],
                      "landmarks": {"convention": "pixels in the raw camera frame, pixel centres at +0.5",
                                    **{s: {k: None if v is None else _rounded(v) for k, v in raw[s].items()}
                                       for s in ("vis", "nir")}}}
    if members:
        out["members"] = list(members)
    if labels:
        out["labels"] = labels
    return out


# ----------------------------------------------------------------------------------- reading


def iter_tar_samples(fileobj_or_path: Any, *, stream: bool = True) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Yield ``(key, {suffix: bytes})`` for consecutive members sharing a key (WebDataset grouping:
    the key is the member name up to its first dot). Reads the tar as a stream; memory holds one
    sample."""
    if isinstance(fileobj_or_path, (str, os.PathLike)):
        with open(fileobj_or_path, "rb") as f:
            yield from iter_tar_samples(f, stream=stream)
        return
    tf = tarfile.open(fileobj=fileobj_or_path, mode="r|" if stream else "r:")
    try:
        key: Optional[str] = None
        parts: dict[str, bytes] = {}
        while True:
            info = tf.next()
            if info is None:
                break
            tf.members.clear()  # streaming: keep no per-member bookkeeping around
            if not info.isfile():
                continue
            base = info.name.rsplit("/", 1)[-1]
            if "." not in base:
                raise ValueError(f"tar member {info.name!r} has no extension (expected <key>.<suffix>)")
            k, suffix = base.split(".", 1)
            if k != key:
                if key is not None:
                    yield key, parts
                key, parts = k, {}
            if suffix in parts:
                raise ValueError(f"sample {k!r} has two {suffix!r} members")
            f = tf.extractfile(info)
            parts[suffix] = f.read() if f is not None else b""
        if key is not None:
            yield key, parts
    finally:
        tf.close()


def list_shard_files(directory: Path) -> list[Path]:
    return sorted(Path(directory).glob("shard-[0-9][0-9][0-9][0-9][0-9][0-9].tar"))

