"""Import of external 3D face reconstructions (AvatarMe++ / FitMe-style deliveries).

Such tools deliver a UV-mapped OBJ plus texture maps: a diffuse albedo (usually 8-bit sRGB), and
often a specular albedo and a normal map. ``import_reconstruction`` turns them into a FaceAsset:
vertices converted to millimetres, the diffuse albedo linearised, maps resampled to one size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from nirvis.colour import decode_srgb
from nirvis.faces.asset import FaceAsset, ReflectanceMaps, read_image
from nirvis.faces.errors import FaceDataError
from nirvis.faces.mesh import SurfacePoints, read_obj

UNIT_TO_MM = {"mm": 1.0, "cm": 10.0, "dm": 100.0, "m": 1000.0}


def guess_units(vertices: np.ndarray) -> str:
    """Units of a head mesh from its size: a head is ~150-250 mm wide/tall, so the largest
    bounding-box side tells metres (< 1), decimetres (< 5), centimetres (< 50) or millimetres."""
    extent = float((vertices.max(axis=0) - vertices.min(axis=0)).max())
    for unit, limit in (("m", 1.0), ("dm", 5.0), ("cm", 50.0)):
        if extent < limit:
            return unit
    return "mm"


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    from PIL import Image

    chans = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]
    out = [np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))
           for c in chans]
    return out[0] if img.ndim == 2 else np.stack(out, axis=-1)


def import_reconstruction(
    obj_path: Union[str, os.PathLike],
    diffuse_path: Union[str, os.PathLike],
    specular_path: Optional[Union[str, os.PathLike]] = None,
    normal_path: Optional[Union[str, os.PathLike]] = None,
    roughness_path: Optional[Union[str, os.PathLike]] = None,
    units: str = "auto",
    diffuse_encoding: str = "srgb",
    landmarks_path: Optional[Union[str, os.PathLike]] = None,
    resolution: Optional[int] = None,
    default_specular: float = 0.04,
    default_roughness: float = 0.5,
) -> FaceAsset:
    """Build a FaceAsset from an external reconstruction.

    Args:
        obj_path: OBJ mesh with UVs (``vt``) on every face.
        diffuse_path: diffuse albedo texture (PNG/JPEG/TIFF, 8- or 16-bit).
        specular_path: optional specular albedo texture (grey; RGB is reduced to luminance).
        normal_path: optional tangent-space normal map (RGB, n = 2 * rgb - 1).
        roughness_path: optional roughness texture; else ``default_roughness`` everywhere.
        units: units of the OBJ coordinates (``mm``, ``cm``, ``dm``, ``m``) or ``auto`` (from size).
        diffuse_encoding: ``srgb`` (decode to linear) or ``linear``.
        landmarks_path: optional JSON ``{"5": [[x, y, z], ...], "68": [...]}`` in OBJ units; each
            point is snapped to the nearest mesh vertex.
        resolution: size of the output maps (square); default: the diffuse texture's larger side.

    Returns:
        FaceAsset whose metadata records the source files and the unit conversion.

    Raises:
        FaceDataError: missing files, no UVs, NaN/inf vertices, out-of-range indices, unreadable
            images or bad landmark JSON; the message names the file and what is wrong.
    """
    if units != "auto" and units not in UNIT_TO_MM:
        raise FaceDataError(f"units: must be 'auto' or one of {sorted(UNIT_TO_MM)}, got {units!r}")
    if diffuse_encoding not in ("srgb", "linear"):
        raise FaceDataError(f"diffuse_encoding: must be 'srgb' or 'linear', got {diffuse_encoding!r}")
    if resolution is not None and not MIN_MAP_SIZE <= int(resolution) <= MAX_MAP_SIZE:
        raise FaceDataError(f"resolution: must lie in [{MIN_MAP_SIZE}, {MAX_MAP_SIZE}] pixels, got {resolution}")
    mesh, _ = read_obj(obj_path)
    unit = guess_units(mesh.vertices) if units == "auto" else units
    mesh = mesh.with_vertices(mesh.vertices * np.float32(UNIT_TO_MM[unit]))
    diffuse = _read_texture(diffuse_path, channels=3)
    if diffuse_encoding == "srgb":
        diffuse = decode_srgb(np.asarray(diffuse, np.float32))
    size = int(resolution or max(diffuse.shape[:2]))
    spec = (_read_texture(specular_path, 1) if specular_path
            else np.full(diffuse.shape[:2], default_specular, np.float32))
    rough = (_read_texture(roughness_path, 1) if roughness_path
             else np.full(diffuse.shape[:2], default_roughness, np.float32))
    normal = None
    if normal_path:
        normal = _resize(_read_texture(normal_path, 3), size) * 2.0 - 1.0
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-6)
    maps = ReflectanceMaps(diffuse_vis=_resize(diffuse, size), specular_vis=_resize(spec, size),
                           roughness=_resize(rough, size), normal=normal)
    landmarks = {}
    if landmarks_path:
        landmarks = _read_landmarks(Path(landmarks_path), mesh, UNIT_TO_MM[unit])
    meta = {
        "source": "import",
        "files": {k: str(p) for k, p in (("mesh", obj_path), ("diffuse", diffuse_path), ("specular", specular_path),
                                         ("normal", normal_path), ("roughness", roughness_path),
                                         ("landmarks", landmarks_path)) if p},
        "units": unit,
        "units_guessed": units == "auto",
        "diffuse_encoding": diffuse_encoding,
    }
    return FaceAsset(mesh=mesh, maps=maps, landmarks=landmarks, metadata=meta)


#: Bounds of a reflectance map's side (pixels): smaller textures hold no face detail (a 1x1 image
#: is a colour, not a texture), larger ones exceed what the renderer samples.
MIN_MAP_SIZE, MAX_MAP_SIZE = 16, 8192


def _read_texture(path, channels: int) -> np.ndarray:
    """``read_image`` of a texture, refusing one smaller than ``MIN_MAP_SIZE`` on a side."""
    img = read_image(path, channels=channels)
    if min(img.shape[:2]) < MIN_MAP_SIZE:
        raise FaceDataError(f"{path}: a {img.shape[1]}x{img.shape[0]} texture; textures must be at least "
                            f"{MIN_MAP_SIZE}x{MIN_MAP_SIZE} pixels")
    return img


def _read_landmarks(path: Path, mesh, to_mm: float) -> dict[str, SurfacePoints]:
    if not path.is_file():
        raise FaceDataError(f"{path}: landmark file not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FaceDataError(f"{path}: unreadable JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise FaceDataError(f"{path}: expected an object like {{\"5\": [[x, y, z], ...]}}")
    out = {}
    expected = {"5": 5, "68": 68}
    for name, pts in doc.items():
        arr = np.asarray(pts, dtype=np.float64) * to_mm
        if arr.ndim != 2 or arr.shape[1] != 3 or (name in expected and len(arr) != expected[name]):
            raise FaceDataError(f"{path}: field {name!r} must be a list of "
                                f"{expected.get(name, 'K')} [x, y, z] points, got shape {list(arr.shape)}")
        if not np.isfinite(arr).all():
            raise FaceDataError(f"{path}: field {name!r} contains NaN or infinite coordinates")
        d = ((mesh.vertices[None, :, :] - arr[:, None, :].astype(np.float32)) ** 2).sum(-1)
        out[name] = SurfacePoints.at_vertices(d.argmin(axis=1), mesh.faces)
    return out
