"""The face asset format shared by every identity source (procedural, photo reconstruction, import).

A ``FaceAsset`` is a UV-mapped mesh in millimetres, reflectance maps in UV space, landmarks and
JSON metadata. On disk it is one directory::

    DIR/asset.json        format tag, version, map file names, landmarks, metadata
    DIR/mesh.obj          vertices (mm), UVs, triangles grouped by part (see mesh.PART_NAMES)
    DIR/<map>.png         16-bit PNG per map (linear values, no gamma)

Every map is stored with 16 bits per channel. ``ReflectanceMaps`` quantises to that grid when it
is built, so ``load_asset(save_asset(a))`` reproduces ``a`` exactly (vertices are written with
enough digits to round-trip float32).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from nirvis.atomic import staged_dir
from nirvis.colour import luminance_rec709
from nirvis.errors import OutputExistsError
from nirvis.faces.errors import FaceDataError
from nirvis.faces.mesh import HeadMesh, SurfacePoints, read_obj, write_obj
from nirvis.image_limits import check_image_size

FORMAT_TAG = "nirvis-face-asset"
FORMAT_VERSION = 1

_Q = 65535.0


def quantize16(x: np.ndarray) -> np.ndarray:
    """float32 values in [0, 1] snapped to the 16-bit grid k / 65535 (the on-disk precision)."""
    return (np.round(np.clip(np.asarray(x, np.float32), 0.0, 1.0) * _Q) / _Q).astype(np.float32)


@dataclass(frozen=True, eq=False)
class ReflectanceMaps:
    """Reflectance in UV space, one texel grid of H x W for every map.

    All maps are float32, linear (no gamma), at 16-bit precision (see ``quantize16``).

    Attributes:
        diffuse_vis: [H, W, 3] diffuse albedo, linear RGB in [0, 1].
        specular_vis: [H, W] specular albedo (reflectance at normal incidence scale) in [0, 1].
        roughness: [H, W] GGX roughness (alpha = roughness^2) in [0, 1].
        normal: optional [H, W, 3] tangent-space unit normal, components in [-1, 1].
        diffuse_nir: optional [H, W] NIR diffuse albedo in [0, 1]; ``None`` means "derive it
            from diffuse_vis with the reflectance model".
        specular_nir: optional [H, W] NIR specular albedo; ``None`` means "same as specular_vis".
        regions: masks [H, W] in [0, 1] by name (e.g. ``skin``, ``lips``, ``brows``, ``eyes``).
    """

    diffuse_vis: np.ndarray
    specular_vis: np.ndarray
    roughness: np.ndarray
    normal: Optional[np.ndarray] = None
    diffuse_nir: Optional[np.ndarray] = None
    specular_nir: Optional[np.ndarray] = None
    regions: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = np.asarray(self.diffuse_vis)
        if d.ndim != 3 or d.shape[2] != 3 or d.shape[0] < 1 or d.shape[1] < 1:
            raise FaceDataError(f"diffuse_vis: expected shape [H, W, 3], got {list(d.shape)}")
        h, w = d.shape[:2]
        for name, expect in (("diffuse_vis", (h, w, 3)), ("specular_vis", (h, w)), ("roughness", (h, w)),
                             ("normal", (h, w, 3)), ("diffuse_nir", (h, w)), ("specular_nir", (h, w))):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, dtype=np.float32)
            if arr.shape != expect:
                raise FaceDataError(f"{name}: expected shape {list(expect)}, got {list(arr.shape)}")
            if not np.isfinite(arr).all():
                raise FaceDataError(f"{name}: contains NaN or infinite values")
            if name == "normal":
                arr = quantize16(arr * 0.5 + 0.5) * 2.0 - 1.0
            else:
                arr = quantize16(arr)
            object.__setattr__(self, name, arr)
        regions = {}
        for name, mask in self.regions.items():
            if not name.isidentifier():
                raise FaceDataError(f"regions: name {name!r} must be an identifier")
            arr = np.asarray(mask, dtype=np.float32)
            if arr.shape != (h, w):
                raise FaceDataError(f"regions[{name!r}]: expected shape {[h, w]}, got {list(arr.shape)}")
            regions[name] = quantize16(arr)
        object.__setattr__(self, "regions", regions)

    @property
    def resolution(self) -> tuple[int, int]:
        """(H, W) of every map."""
        return self.diffuse_vis.shape[0], self.diffuse_vis.shape[1]

    @staticmethod
    def flat(resolution: int = 256, albedo: float = 0.5, specular: float = 0.04,
             roughness: float = 0.5) -> "ReflectanceMaps":
        """Uniform maps: grey diffuse albedo, constant specular albedo and roughness."""
        r = int(resolution)
        return ReflectanceMaps(
            diffuse_vis=np.full((r, r, 3), albedo, np.float32),
            specular_vis=np.full((r, r), specular, np.float32),
            roughness=np.full((r, r), roughness, np.float32),
        )


@dataclass(frozen=True, eq=False)
class FaceAsset:
    """A head ready to render: mesh + reflectance maps + landmarks + metadata.

    Attributes:
        mesh: the UV-mapped triangle mesh (vertices in mm).
        maps: reflectance maps in the mesh's UV space.
        landmarks: named surface point sets, e.g. ``"68"`` (iBUG 300-W order) and ``"5"``
            (right eye centre, left eye centre, nose tip, right mouth corner, left mouth corner,
            the ArcFace order; "right" is the subject's right). May be empty for imports.
        metadata: JSON-serialisable facts: source, seed, identity parameters, provenance.
    """

    mesh: HeadMesh
    maps: ReflectanceMaps
    landmarks: dict[str, SurfacePoints] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, pts in self.landmarks.items():
            pts.validate(len(self.mesh.faces), f"landmarks[{name!r}]")
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as exc:
            raise FaceDataError(f"metadata: not JSON-serialisable ({exc})") from exc

    def landmark_positions(self, name: str) -> np.ndarray:
        """float32 [K, 3] positions (mm) of landmark set ``name``."""
        if name not in self.landmarks:
            raise KeyError(f"asset has no landmark set {name!r}; it has {sorted(self.landmarks)}")
        return self.landmarks[name].positions(self.mesh.vertices, self.mesh.faces)

    def replace(self, **changes: Any) -> "FaceAsset":
        """A copy with some fields replaced (dataclasses.replace)."""
        return replace(self, **changes)


# ------------------------------------------------------------------------------------ save / load

_MAP_CHANNELS = {"diffuse_vis": 3, "specular_vis": 1, "roughness": 1, "normal": 3, "diffuse_nir": 1,
                 "specular_nir": 1}


def save_asset(asset: FaceAsset, directory: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``asset`` to ``directory`` atomically (a temporary sibling directory, then a rename).

    Raises:
        OutputExistsError: ``directory`` exists and ``overwrite`` is False (a ``FileExistsError``).
    """
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise OutputExistsError(f"{directory}: already exists (pass overwrite=True to replace it)")
    # The caller decided to replace it (``overwrite``; the CLIs check ``--force`` first).
    with staged_dir(directory, force=True, replace_unmarked=True) as tmp:
        maps_meta: dict[str, str] = {}
        for f in fields(ReflectanceMaps):
            if f.name == "regions":
                continue
            value = getattr(asset.maps, f.name)
            if value is None:
                continue
            if f.name == "normal":
                value = value * 0.5 + 0.5
            _write_png16(tmp / f"{f.name}.png", value)
            maps_meta[f.name] = f"{f.name}.png"
        regions_meta = {}
        for name, mask in asset.maps.regions.items():
            _write_png16(tmp / f"region_{name}.png", mask)
            regions_meta[name] = f"region_{name}.png"
        write_obj(tmp / "mesh.obj", asset.mesh, header="nirvis face asset mesh, vertices in millimetres")
        doc = {
            "format": FORMAT_TAG,
            "version": FORMAT_VERSION,
            "mesh": "mesh.obj",
            "maps": maps_meta,
            "regions": regions_meta,
            "landmarks": {
                name: {"face_index": pts.face_index.tolist(),
                       "barycentric": pts.barycentric.astype(np.float64).round(9).tolist()}
                for name, pts in asset.landmarks.items()
            },
            "metadata": asset.metadata,
        }
        (tmp / "asset.json").write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")
    return directory


def load_asset(directory: str | os.PathLike) -> FaceAsset:
    """Read a FaceAsset directory written by ``save_asset``.

    Raises:
        FaceDataError: a file is missing or unreadable, or a field is invalid; the message names it.
    """
    directory = Path(directory)
    meta_path = directory / "asset.json"
    if not meta_path.is_file():
        raise FaceDataError(f"{meta_path}: not found (is {directory} a nirvis face asset directory?)")
    try:
        doc = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FaceDataError(f"{meta_path}: unreadable JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_TAG:
        raise FaceDataError(f"{meta_path}: field 'format' must be {FORMAT_TAG!r}")
    if doc.get("version") != FORMAT_VERSION:
        raise FaceDataError(f"{meta_path}: field 'version' is {doc.get('version')!r}, this nirvis reads "
                            f"version {FORMAT_VERSION}")
    mesh, _ = read_obj(directory / str(doc.get("mesh", "mesh.obj")))
    maps_doc = doc.get("maps", {})
    for required in ("diffuse_vis", "specular_vis", "roughness"):
        if required not in maps_doc:
            raise FaceDataError(f"{meta_path}: field 'maps' lacks required map {required!r}")
    arrays: dict[str, Any] = {}
    for name, filename in maps_doc.items():
        if name not in _MAP_CHANNELS:
            raise FaceDataError(f"{meta_path}: unknown map {name!r} in field 'maps'")
        img = read_image(directory / filename, channels=_MAP_CHANNELS[name])
        arrays[name] = img * 2.0 - 1.0 if name == "normal" else img
    regions = {name: read_image(directory / fn, channels=1)
               for name, fn in doc.get("regions", {}).items()}
    try:
        maps = ReflectanceMaps(regions=regions, **arrays)
    except FaceDataError as exc:
        raise FaceDataError(f"{directory}: {exc}") from None
    landmarks = {}
    for name, lm in doc.get("landmarks", {}).items():
        try:
            landmarks[name] = SurfacePoints(np.array(lm["face_index"], np.int32),
                                            np.array(lm["barycentric"], np.float32).reshape(-1, 3))
        except (KeyError, TypeError, ValueError) as exc:
            raise FaceDataError(f"{meta_path}: field 'landmarks.{name}' is malformed ({exc})") from exc
    try:
        return FaceAsset(mesh, maps, landmarks, dict(doc.get("metadata", {})))
    except FaceDataError as exc:
        raise FaceDataError(f"{meta_path}: {exc}") from None


# ----------------------------------------------------------------------------------------- images


def _write_png16(path: Path, value: np.ndarray) -> None:
    import cv2

    data = np.round(np.clip(value, 0.0, 1.0) * _Q).astype(np.uint16)
    if data.ndim == 3:
        data = np.ascontiguousarray(data[..., ::-1])  # OpenCV stores BGR
    if not cv2.imwrite(str(path), data):
        raise OSError(f"{path}: could not write PNG")


def read_image(path: str | os.PathLike, channels: int) -> np.ndarray:
    """Read an 8- or 16-bit image as float32 [H, W] (channels=1) or [H, W, 3] in [0, 1].

    Values are returned as stored (no gamma conversion). RGB images asked for one channel must be
    grey (all channels equal) or are converted with Rec. 709 luma weights; alpha is dropped.

    Raises:
        FaceDataError: missing or unreadable file, or an unsupported pixel type.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FaceDataError(f"{path}: image file not found")
    check_image_size(path)
    try:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        img = None
    if img is None:
        raise FaceDataError(f"{path}: unreadable image (not a PNG/JPEG/TIFF/BMP file, or corrupt)")
    if img.ndim == 3 and img.shape[2] >= 3:
        img = img[..., [2, 1, 0] + list(range(3, img.shape[2]))]  # OpenCV gives BGR(A)
    if img.dtype == np.uint8:
        x = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        x = img.astype(np.float32) / _Q
    elif img.dtype in (np.float32, np.float64):
        x = img.astype(np.float32)
    else:
        raise FaceDataError(f"{path}: unsupported pixel type {img.dtype} (use 8/16-bit or float images)")
    if x.ndim == 3 and x.shape[2] in (2, 4):
        x = x[..., :-1]  # drop alpha
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 3) or min(x.shape[:2]) < 1:
        raise FaceDataError(f"{path}: unsupported image shape {list(img.shape)}")
    if channels == 1 and x.ndim == 3:
        x = luminance_rec709(x)
    elif channels == 3 and x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    if not np.isfinite(x).all():
        raise FaceDataError(f"{path}: image contains NaN or infinite values")
    return x
