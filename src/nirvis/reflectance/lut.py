"""Lookup tables over a region model's parameter space (initial guesses for the inversion).

A table samples the unit parameter cube on a regular grid (``model.lut_sizes`` points per
parameter) and stores each sample's companded VIS colour. It is built at first use (about 2-4k
spectra, well under a second), kept in memory, and optionally stored on disk as
``<cache_dir>/nirvis-reflectance-lut-<region>-<hash16>.npz`` where the hash is a SHA-256 of the
model's constants, its parameter bounds, the table layout, the camera grid and every tabulated
spectrum (``spectra.data_fingerprint``): changing any of them makes a new file, never a stale hit.

The disk cache directory is the ``cache_dir`` argument, else the ``NIRVIS_CACHE_DIR`` environment
variable; with neither, tables live in memory only.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from nirvis.atomic import atomic_write
from nirvis.reflectance import spectra
from nirvis.reflectance.regions import InversionModel

__all__ = ["LUT_FORMAT_VERSION", "COMPAND_EPS", "compand", "ParamLUT", "lut_key", "get_lut", "clear_memory_cache"]

LUT_FORMAT_VERSION = 1
#: Offset of the companding sqrt(rgb + eps) in which colours are compared (roughly perceptual).
COMPAND_EPS = 2e-3

_MEMORY: dict[str, "ParamLUT"] = {}


def compand(rgb: torch.Tensor) -> torch.Tensor:
    """Companded colour sqrt(max(rgb, 0) + 0.002) in which colour differences are measured.

    Args:
        rgb: ``[..., 3]`` linear RGB.

    Returns:
        ``[..., 3]`` companded values.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.lut import compand
        >>> [round(float(v), 4) for v in compand(torch.tensor([0.0, 0.25, 1.0]))]
        [0.0447, 0.502, 1.001]
    """
    return torch.sqrt(rgb.clamp_min(0.0) + COMPAND_EPS)


@dataclass(frozen=True)
class ParamLUT:
    """Samples of a model's unit parameter cube and their companded VIS colours.

    Attributes:
        key: the content hash (64 hex characters).
        units: ``[K, P]`` float32 unit coordinates.
        colors: ``[K, 3]`` float32 companded linear-sRGB colours.

    Example:
        >>> from nirvis.reflectance.lut import get_lut
        >>> from nirvis.reflectance.regions import get_region
        >>> len(get_lut(get_region("skin")).key)
        64
    """

    key: str
    units: torch.Tensor
    colors: torch.Tensor


def lut_key(model: InversionModel) -> str:
    """SHA-256 content hash identifying ``model``'s table (constants, bounds, layout, data).

    Args:
        model: an inversion model.

    Returns:
        64 hexadecimal characters; any change of constants, bounds, table layout, camera grid or
        tabulated spectra changes it.

    Example:
        >>> from nirvis.reflectance.lut import lut_key
        >>> from nirvis.reflectance.regions import get_region
        >>> lut_key(get_region("skin")) != lut_key(get_region("lips"))
        True
    """
    doc = {"version": LUT_FORMAT_VERSION, "region": model.name, "model": model.key(),
           "sizes": list(model.lut_sizes), "vis_grid": spectra.VIS_WAVELENGTHS_NM.tolist(),
           "compand_eps": COMPAND_EPS, "data": spectra.data_fingerprint()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _build(model: InversionModel, key: str) -> ParamLUT:
    axes = [torch.linspace(0.0, 1.0, n, dtype=torch.float64) for n in model.lut_sizes]
    units = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))
    colors = compand(model.vis_rgb(units))
    return ParamLUT(key, units.float(), colors.float())


def _cache_dir(cache_dir: Optional[str | os.PathLike]) -> Optional[Path]:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("NIRVIS_CACHE_DIR")
    return Path(env) if env else None


def _load(path: Path, key: str, n_params: int) -> Optional[ParamLUT]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            units, colors = z["units"], z["colors"]
    except (OSError, KeyError, ValueError):
        return None
    if units.ndim != 2 or units.shape[1] != n_params or colors.shape != (units.shape[0], 3):
        return None
    if not (np.isfinite(units).all() and np.isfinite(colors).all()):
        return None
    return ParamLUT(key, torch.from_numpy(units.astype(np.float32)), torch.from_numpy(colors.astype(np.float32)))


def _save(path: Path, lut: ParamLUT) -> None:
    arrays = {"key": np.array(lut.key), "units": lut.units.numpy(), "colors": lut.colors.numpy()}
    atomic_write(path, lambda f: np.savez(f, **arrays), fsync=False)  # a cache: entries are validated on read


def get_lut(model: InversionModel, cache_dir: Optional[str | os.PathLike] = None) -> ParamLUT:
    """The lookup table of ``model``: from memory, else from disk, else built (and stored).

    Args:
        model: an inversion model (see ``regions``).
        cache_dir: directory for the on-disk copy; default ``$NIRVIS_CACHE_DIR`` (memory only if
            unset). A corrupt or mismatching file is rebuilt and replaced.

    Returns:
        ``ParamLUT`` with float32 CPU tensors.

    Example:
        >>> from nirvis.reflectance.regions import get_region
        >>> from nirvis.reflectance.lut import get_lut
        >>> lut = get_lut(get_region("hair"))
        >>> lut.units.shape, lut.colors.shape
        (torch.Size([3024, 3]), torch.Size([3024, 3]))
    """
    key = lut_key(model)
    lut = _MEMORY.get(key)
    if lut is not None:
        return lut
    directory = _cache_dir(cache_dir)
    path = directory / f"nirvis-reflectance-lut-{model.name}-{key[:16]}.npz" if directory else None
    if path is not None and path.is_file():
        lut = _load(path, key, model.n_params)
    if lut is None:
        lut = _build(model, key)
        if path is not None:
            try:
                _save(path, lut)
            except OSError as exc:  # a read-only cache directory must not break the conversion
                warnings.warn(f"nirvis.reflectance: could not write LUT cache {path}: {exc}", RuntimeWarning,
                              stacklevel=2)
    _MEMORY[key] = lut
    return lut


def clear_memory_cache() -> None:
    """Forget every in-memory table (tests; after changing constants at runtime).

    Returns:
        None.

    Example:
        >>> from nirvis.reflectance.lut import clear_memory_cache
        >>> clear_memory_cache()
    """
    _MEMORY.clear()
