"""``render_pair`` / ``render_batch``: NIR/VIS pair assembly, the whole recipe in one function.

Read ``render_batch`` top to bottom: geometry pass (``geometry``) -> for each spectrum in
``SPECTRA``: shade the covered pixels, background, auto-exposure, lenses, anti-alias, sensor
(everything spectrum-specific comes from its ``Spectrum``: ``vis``, ``nir``) -> landmarks ->
ArcFace alignment -> uint8. Everything random about a pair lives in ``SampleParams``
(``sampling``), drawn from a ``SampleSpace`` with the pair's own seed, so a pair never depends on
batch size, worker count or backend scheduling. Faces are prepared once per identity
(``prepared_face``).

The render modules, one job each:

- ``sampling``: ``SampleSpace``, ``SampleParams``, ``View``, ``sample_params``, ``pair_seed``
- ``prepared_face``: ``PreparedFace``, ``prepare_face``, ``prepare_procedural_face``
- ``geometry``: ``GBuffer``, ``geometry_pass`` (spectrum-independent)
- ``accessories``, ``headwear``: glasses; beanies, caps and hair bands (fixed-topology meshes)
- ``spectrum``, ``vis``, ``nir``: the per-spectrum table (shading, background, lenses, sensor)
- ``exposure``: ``auto_exposure``
- ``pair`` (here): ``render_batch``, ``render_pair``, ``RenderedBatch``

The public names of those modules that callers use are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch

from nirvis.crop import CROP_SIZE
from nirvis.render import align as align_mod
from nirvis.render.antialias import antialias
from nirvis.render.environment import scene_background
from nirvis.render.exposure import auto_exposure
from nirvis.render.geometry import GBuffer, geometry_pass, project_landmarks
from nirvis.render.nir import NIR
from nirvis.render.pixels import scatter_pixels
from nirvis.render.prepared_face import (MATERIAL_CHANNELS, PreparedFace, prepare_face, prepare_procedural_face,
                                         procedural_identity_asset)
from nirvis.render.raster import resolve_backend
from nirvis.render.sampling import (SampleParams, SampleSpace, View, glasses_params, headwear_params, pair_seed,
                                    sample_params)
from nirvis.render.segmentation import label_passes
from nirvis.render.sensor import to_uint8
from nirvis.render.spectrum import Spectrum, composite_lenses
from nirvis.render.vis import VIS

__all__ = [
    "MATERIAL_CHANNELS", "RENDERER_VERSION", "SPECTRA", "GBuffer", "PreparedFace", "RenderedBatch", "SampleParams",
    "SampleSpace", "Spectrum", "View", "pair_seed", "prepare_face", "prepare_procedural_face",
    "procedural_identity_asset", "render_batch", "render_pair", "sample_params",
]

#: Bumped whenever the same (face, params), or the same procedural identity label and params,
#: would render other bytes (it is part of render-dataset's resume fingerprint, so an output
#: rendered by older code is not resumed). 3: procedural identities
#: gained scalp hair, their lips mask covers the whole lower lip (landmarks 56/58 fixed), lips
#: keep more melanin (they were paler than the skin). 4: hair and beard shells, strand brows,
#: lashes, iris/sclera/wrinkle/make-up detail, 512 px maps, shape prior v2, HDR environment
#: lighting with soft shadows and scene backgrounds, Loop-subdivided heads. 5: facial adiposity
#: from the identity's weight (shape prior v3), less NIR sensor noise, the identity record in the
#: sample JSON, headwear (beanies, caps with a brim, hair bands; ``headwear``) sampled per pair
#: with ``headwear_probability``, beards painted into the texture, the 68-point jaw landmarks
#: 1-7 / 9-15 fixed (two lay on the lower lip; head-model asset rebuilt), expressions drawn as
#: FACS-style archetypes (smiles, talking, surprise, ...) instead of four random face units; the
#: beard shell of beardless faces (1 mm inside the skin, but showing through at the chin in a few
#: views) is no longer drawn, nor are absent glasses and headwear (``rasterize_ids`` hint).
#: 6: procedural identities with shape prior v4 (``faces.local_shape``) and lashes, eyeliner,
#: eye shadow and the lid's shadow on the eyeball along the mesh's lid margins
#: (``faces.regions.eyelid_margins``). 7: the ``cpu`` backend (the reference rasteriser and the
#: per-pixel loops compiled, ``render.compiled``) is what ``auto`` picks on CPUs; the ``torch``
#: backend's shadow maps come from it too (they came from ``gl``). 8: head vertices summed without
#: a threaded BLAS (the same on every host), expressed heads as the neutral head plus the
#: expression's displacement, the camera pipelines' tails compiled on the ``cpu`` backend.
RENDERER_VERSION = "8"

#: The spectra of a pair, in rendering order. The first one's geometry pass serves the others
#: when every pair is pixel-aligned (``pairing == "shared"``); extra ``passes`` come from it.
SPECTRA: tuple[Spectrum, ...] = (VIS, NIR)


@dataclass(frozen=True, eq=False)
class RenderedBatch:
    """Rendered pairs (aligned crops of side S = ``crop_size``, or raw renders of side
    R = raw_resolution with ``align=False``).

    Attributes:
        vis: uint8 [B, S, S, 3] sRGB ([B, R, R, 3] raw).
        nir: uint8 [B, S, S] grey ([B, R, R] raw).
        vis_landmarks5, nir_landmarks5: float32 [B, 5, 2] pixel positions in the aligned crops
            (or the raw renders), pixel centres at +0.5, row 0 at the top.
        vis_landmarks68, nir_landmarks68: float32 [B, 68, 2] or None.
        passes: the requested label passes of the VIS geometry, aligned like ``vis`` (nearest
            sampling; ``mask`` bilinear): ``mask`` [B, S, S, 1] float coverage, ``segmentation``
            [B, S, S] uint8 class ids (``faces.segmentation.SEGMENTATION_CLASSES``),
            ``depth_mm`` [B, S, S] float32 distance along the optical axis (0: background),
            ``normal`` [B, S, S, 3] float32 unit camera-space normals (0: background).
        nir_passes: the same for the NIR geometry when the pair is not pixel-aligned
            (``pairing="independent"``); empty when ``passes`` serve both spectra.
        params: the SampleParams of each pair.
        raw: the uncropped frames too (``render_batch(raw=True)``: what ``align=False`` returns,
            with the raw label passes), else None.
    """

    vis: torch.Tensor
    nir: torch.Tensor
    vis_landmarks5: torch.Tensor
    nir_landmarks5: torch.Tensor
    vis_landmarks68: Optional[torch.Tensor]
    nir_landmarks68: Optional[torch.Tensor]
    passes: dict[str, torch.Tensor]
    params: list[SampleParams]
    nir_passes: dict[str, torch.Tensor] = field(default_factory=dict)
    raw: Optional["RenderedBatch"] = None


def render_batch(faces: Sequence[PreparedFace], params: Sequence[SampleParams], backend: str = "auto",
                 passes: Sequence[str] = (), align: bool = True, crop_size: int = CROP_SIZE,
                 raw: bool = False) -> RenderedBatch:
    """Render aligned NIR/VIS pairs for prepared faces (same topology) and their sample parameters.

    Args:
        faces: B PreparedFaces sharing one mesh topology (e.g. procedural identities).
        params: B SampleParams (from ``sample_params``), all with the same ``raw_resolution``.
        backend: rasterisation backend name (see ``nirvis.render.raster``).
        passes: label passes among ``mask``, ``segmentation``, ``depth_mm``, ``normal``
            (``render.segmentation``), pixel-aligned with the images.
        align: True (default): ArcFace crops. False: the raw ``raw_resolution`` renders,
            landmarks in raw pixels (what a camera would deliver; used to test face detection
            and alignment). Aligned outputs are the same bytes either way.
        crop_size: side of the aligned crops (the ArcFace template scaled,
            ``crop.arcface_template_px``); 112 by default.
        raw: with ``align``, also return the raw frames (``RenderedBatch.raw``).

    Returns:
        RenderedBatch of uint8 images (aligned crops or raw renders), landmarks and parameters.

    Example:
        >>> face = prepare_procedural_face(0, 0, resolution=16)
        >>> params = [sample_params(SampleSpace(raw_resolution=64), k) for k in range(2)]
        >>> out = render_batch([face, face], params, passes=("mask",))
        >>> out.vis.shape, out.nir.shape, out.vis.dtype, out.passes["mask"].shape
        (torch.Size([2, 112, 112, 3]), torch.Size([2, 112, 112]), torch.uint8, torch.Size([2, 112, 112, 1]))
        >>> raw = render_batch([face], params[:1], align=False)
        >>> raw.vis.shape, raw.nir_landmarks5.shape
        (torch.Size([1, 64, 64, 3]), torch.Size([1, 5, 2]))
    """
    if len(faces) != len(params) or not faces:
        raise ValueError(f"render_batch: got {len(faces)} faces and {len(params)} params (need equal, > 0)")
    if raw and not align:
        raise ValueError("render_batch: raw=True adds the raw frames to aligned crops; use align=False for raw only")
    res = params[0].raw_resolution
    if any(p.raw_resolution != res for p in params):
        raise ValueError("render_batch: all params must share raw_resolution")
    tri = faces[0].faces
    if any(pf.faces.shape != tri.shape for pf in faces):
        raise ValueError("render_batch: faces must share one mesh topology; render others separately")
    backend = resolve_backend(backend, tri.device)
    glasses = glasses_params(params)
    headwear = headwear_params(params)
    pixel_aligned = all(p.pairing == "shared" for p in params)
    scenes = [scene_background(p, res) for p in params]                  # what lies behind the head (both spectra)
    first: Optional[GBuffer] = None                                      # the first spectrum's geometry
    out: dict[str, tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]] = {}
    raw_out: dict[str, tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]] = {}
    extra: dict[str, dict[str, torch.Tensor]] = {}
    raw_extra: dict[str, dict[str, torch.Tensor]] = {}
    for spectrum in SPECTRA:
        views = [spectrum.view(p) for p in params]
        if first is not None and pixel_aligned:
            g = first  # pixel-aligned pairs: one geometry pass serves every spectrum
        else:
            g = geometry_pass(faces, views, res, backend, glasses, headwear)
        own_geometry = first is None or not pixel_aligned
        first = g if first is None else first
        color = spectrum.shade(g, params)                                # [B, 1, N, C] covered pixels
        scale = auto_exposure(color, g.skin)                             # [B]
        bg = spectrum.background(params, res, color, scale, scenes)      # [B, H, W, C], exposed like the face
        color = scatter_pixels(color * scale.view(-1, 1, 1, 1), g.pixels, bg)
        color = composite_lenses(spectrum, color, g, params, glasses, scale)
        color = antialias(color, g.rast, g.clip, g.tri, g.backend)
        img = spectrum.sensor(color.clamp(0, 1), params, spectrum.generators(params), g.backend)
        lm5 = project_landmarks(g.world, faces[0].landmarks5, tri, views, res)
        lm68 = None if faces[0].landmarks68 is None else project_landmarks(g.world, faces[0].landmarks68, tri,
                                                                           views, res)
        labels = label_passes(g, faces, passes) if passes and own_geometry else {}
        if not align or raw:
            (raw_out if align else out)[spectrum.name] = (to_uint8(img), lm5, lm68)
            if labels:
                (raw_extra if align else extra)[spectrum.name] = {k: _label_values(k, v) for k, v in labels.items()}
            if not align:
                continue
        aligned, m = align_mod.align_to_arcface(img, lm5, crop_size)
        out[spectrum.name] = (to_uint8(aligned), align_mod.transform_points(lm5, m),
                              align_mod.transform_points(lm68, m) if lm68 is not None else None)
        if labels:
            size = (crop_size, crop_size)
            extra[spectrum.name] = {k: _label_values(k, align_mod.warp_to_template(
                v, m, size, mode="bilinear" if k == "mask" else "nearest")) for k, v in labels.items()}
    vis, vis5, vis68 = out["vis"]
    nir, nir5, nir68 = out["nir"]
    frames = None
    if raw:
        rv, rv5, rv68 = raw_out["vis"]
        rn, rn5, rn68 = raw_out["nir"]
        frames = RenderedBatch(vis=rv, nir=rn[..., 0], vis_landmarks5=rv5, nir_landmarks5=rn5, vis_landmarks68=rv68,
                               nir_landmarks68=rn68, passes=raw_extra.get("vis", {}), params=list(params),
                               nir_passes=raw_extra.get("nir", {}))
    return RenderedBatch(vis=vis, nir=nir[..., 0], vis_landmarks5=vis5, nir_landmarks5=nir5, vis_landmarks68=vis68,
                         nir_landmarks68=nir68, passes=extra.get("vis", {}), params=list(params),
                         nir_passes=extra.get("nir", {}), raw=frames)


def _label_values(name: str, t: torch.Tensor) -> torch.Tensor:
    """A label pass in its delivered form: ``segmentation`` uint8 [B, H, W], ``depth_mm``
    float [B, H, W], ``normal`` [B, H, W, 3], ``mask`` [B, H, W, 1] (as it was)."""
    if name == "segmentation":
        return t[..., 0].round().to(torch.uint8)
    if name == "depth_mm":
        return t[..., 0]
    return t


def render_pair(face: PreparedFace, params: SampleParams, backend: str = "auto",
                passes: Sequence[str] = (), align: bool = True) -> RenderedBatch:
    """One NIR/VIS pair (a batch of one; ``align=False`` gives the raw renders).

    Example:
        >>> face = prepare_procedural_face(0, 1, resolution=16)
        >>> out = render_pair(face, sample_params(SampleSpace(raw_resolution=64, pairing="independent"), 7))
        >>> out.vis.shape, out.nir.shape, out.params[0].pairing
        (torch.Size([1, 112, 112, 3]), torch.Size([1, 112, 112]), 'independent')
    """
    return render_batch([face], [params], backend=backend, passes=passes, align=align)
