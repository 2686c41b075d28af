"""Several photos of one person -> one texture: confidence-weighted de-lit albedos, then one fill.

Each photo's de-lit albedo (``texture.PhotoTexture.delit``, before any fill) is weighted per
texel by its unwrap weight (view angle, visibility, distance to occlusion edges); the blend is
filled and turned into VIS + NIR maps exactly as a single photo's texture is (mirror symmetry,
the colour-matched prior, membrane blending, ``reflectance`` VIS -> NIR).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nirvis.faces.asset import ReflectanceMaps
from nirvis.reconstruct.texture import PhotoTexture, TextureSettings, _fill, _with_nir, prior_reflectance, texture_masks


def fuse_textures(textures: Sequence[PhotoTexture], settings: TextureSettings) -> ReflectanceMaps:
    """The maps of one person from the textures of their photos (one texture: its own maps)."""
    if not textures:
        raise ValueError("fuse_textures: no textures")
    if len(textures) == 1:
        return textures[0].maps
    w = np.stack([t.unwrapped.weight for t in textures]).astype(np.float64)          # [P, R, R]
    a = np.stack([t.delit for t in textures]).astype(np.float64)                      # [P, R, R, 3]
    total = w.sum(axis=0)
    albedo = (a * w[..., None]).sum(axis=0) / np.maximum(total, 1e-9)[..., None]
    weight = np.clip(w.max(axis=0), 0.0, 1.0)
    res = albedo.shape[0]
    prior = prior_reflectance(res, settings.prior_seed, settings.led_nm)
    masks = texture_masks(res)
    filled, _ = _fill(albedo.astype(np.float32), weight.astype(np.float32), prior, masks, settings)
    return _with_nir(filled, prior, masks, settings)
