"""What a spectrum is to the renderer: the ``Spectrum`` table, and the helpers its members share.

``render_batch`` runs the same pipeline for every spectrum of a pair and asks a ``Spectrum``
(``nirvis.render.vis.VIS``, ``nirvis.render.nir.NIR``) for everything that differs between
them: which ``View`` of the pair it sees, how the covered pixels are lit and shaded, what lies
behind the head, what the clear lenses of glasses reflect, and how the camera captures the
result. To change how one spectrum looks, change its module; nothing else branches on it.

Shared here: ``subsurface`` (screen-space skin diffusion with a spectrum's widths),
``composite_lenses`` (lens transmission + Fresnel-weighted reflection), and the small
parameter-to-tensor helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from nirvis.render.accessories import GlassesParams
from nirvis.render.compiled import use_compiled
from nirvis.render.geometry import GBuffer
from nirvis.render.pixels import gather_pixels, scatter_pixels
from nirvis.render.sampling import SampleParams, View
from nirvis.render.shading import fresnel_schlick, masked_blur

#: ``shade(g, params)``: linear radiance float32 [B, 1, N, C] of the covered pixels ``g.pixels``.
ShadeFn = Callable[[GBuffer, Sequence[SampleParams]], torch.Tensor]
#: ``background(params, res, like, scale, scenes)``: exposed linear radiance float32 [B, res, res, C]
#: on ``like``'s device; ``scale`` [B] is the face's auto-exposure (scene-referred backgrounds
#: multiply by it); ``scenes``: each pair's ``environment.scene_background`` when the caller has
#: them already (both spectra see the same scene; None: computed here).
BackgroundFn = Callable[[Sequence[SampleParams], int, torch.Tensor], torch.Tensor]
#: ``lens_reflection(n, v, lens_pos, cam_pos, params, f0, rough, fres)``: radiance [B, 1, NL, C]
#: reflected by the lens pixels (unit normals ``n`` and view directions ``v`` [B, 1, NL, 3], points
#: ``lens_pos`` [B, 1, NL, 3] mm, cameras ``cam_pos`` [B, 3], F0 / roughness / Fresnel [B, 1, NL, 1]).
LensReflectionFn = Callable[..., torch.Tensor]
#: ``sensor(img, params, generators, backend)``: the camera's output in [0, 1], float32
#: [B, H, W, C], from exposed linear radiance ``img`` [B, H, W, C] in [0, 1]; noise from one
#: generator per pair; ``backend`` ``cpu`` runs the compiled pipeline (``compiled.sensor``).
SensorFn = Callable[[torch.Tensor, Sequence[SampleParams], Sequence[torch.Generator], str], torch.Tensor]


@dataclass(frozen=True)
class Spectrum:
    """Everything that differs between the spectra of a rendered pair (one instance per spectrum).

    Attributes:
        name: ``vis`` or ``nir``: the key of this spectrum's outputs.
        channels: C, channels of its radiance and images (3 VIS, 1 NIR).
        noise_stream: pair p's sensor noise comes from ``torch.Generator`` seeded
            ``2 * p.seed + noise_stream`` (its own stream per spectrum and pair).
        view: the pair's ``View`` this spectrum is rendered from.
        shade, background, lens_reflection, sensor: see ``ShadeFn``, ``BackgroundFn``,
            ``LensReflectionFn``, ``SensorFn``.

    Example:
        >>> from nirvis.render.nir import NIR
        >>> from nirvis.render.vis import VIS
        >>> [(s.name, s.channels, s.noise_stream) for s in (VIS, NIR)]
        [('vis', 3, 0), ('nir', 1, 1)]
    """

    name: str
    channels: int
    noise_stream: int
    view: Callable[[SampleParams], View]
    shade: ShadeFn
    background: BackgroundFn
    lens_reflection: LensReflectionFn
    sensor: SensorFn

    def generators(self, params: Sequence[SampleParams]) -> list[torch.Generator]:
        """One sensor-noise generator per pair (so a pair never depends on its batch)."""
        return [torch.Generator().manual_seed(p.seed * 2 + self.noise_stream) for p in params]


def params_tensor(params: Sequence[SampleParams], group: str, key: str, like: torch.Tensor) -> torch.Tensor:
    """``getattr(p, group)[key]`` of every pair stacked into a tensor [B, ...] with ``like``'s
    dtype and device.

    Example:
        >>> from nirvis.render.sampling import SampleSpace, sample_params
        >>> ps = [sample_params(SampleSpace(), k) for k in range(2)]
        >>> params_tensor(ps, "vis_lighting", "sh", torch.zeros(())).shape
        torch.Size([2, 9, 3])
    """
    return torch.tensor([getattr(p, group)[key] for p in params], dtype=like.dtype, device=like.device)


def stack_sample_dicts(dicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-sample parameter dicts (values as 1-element lists) -> one dict of B-element lists.

    A value that is None in every dict (a setting switched off, e.g. ``jpeg_quality`` without
    JPEG) stays None; None in some dicts only is refused (the batch mixes incompatible settings).

    Example:
        >>> stack_sample_dicts([{"gain": [1.0], "jpeg_quality": None}, {"gain": [2.0], "jpeg_quality": None}])
        {'gain': [1.0, 2.0], 'jpeg_quality': None}
    """
    out: dict[str, Any] = {}
    for k in dicts[0]:
        off = [d[k] is None for d in dicts]
        if all(off):
            out[k] = None
        elif any(off):
            raise ValueError(f"sample parameter {k!r} is None (off) in {sum(off)} of {len(dicts)} samples of a "
                             "batch: render samples with and without it in separate batches")
        else:
            out[k] = [v for d in dicts for v in d[k]]
    return out


def subsurface(irradiance: torch.Tensor, g: GBuffer, sigma_mm: Sequence[float]) -> torch.Tensor:
    """Blur diffuse irradiance [B, 1, N, C] (covered pixels) over the skin with Gaussian widths
    ``sigma_mm`` (C values, mm -> px with each pair's camera scale); the blur runs on images (the
    compiled loop of ``compiled.blur`` on the ``cpu`` backend), the result comes back per covered
    pixel [B, 1, N, C]."""
    sigma = torch.tensor(sigma_mm, dtype=irradiance.dtype, device=irradiance.device)
    sigma_px = sigma.view(1, -1) / g.mm_per_px.view(-1, 1)
    img = scatter_pixels(irradiance, g.pixels)
    skin = scatter_pixels(g.skin, g.pixels)
    sigmas = sigma_px.expand(irradiance.shape[0], irradiance.shape[-1])
    if use_compiled(g.backend, img, skin):
        from nirvis.render.compiled.blur import masked_blur as compiled_masked_blur
        blurred = compiled_masked_blur(img, skin, sigmas)
    else:
        blurred = masked_blur(img, skin, sigmas)
    return gather_pixels(blurred, g.pixels)


def composite_lenses(spectrum: Spectrum, color: torch.Tensor, g: GBuffer, params: Sequence[SampleParams],
                     glasses: Sequence[GlassesParams], scale: torch.Tensor) -> torch.Tensor:
    """Composite the clear lenses over ``color`` [B, H, W, C] (exposed radiance): transmission and
    a glossy reflection (F0 0.04, roughness 0.08) of ``spectrum``'s light, times the exposure
    ``scale`` [B]. Pairs without glasses are returned unchanged."""
    if g.lens_pixels is None:
        return color
    assert g.lens_normal is not None and g.lens_view is not None and g.lens_pos is not None
    idx = torch.tensor([k for k, gl in enumerate(glasses) if gl.enabled], device=color.device)
    pixels = g.lens_pixels.subset(idx)
    lens = pixels.valid.to(color.dtype).view(len(idx), 1, -1, 1)
    over = _lens_over(spectrum, gather_pixels(color[idx], pixels), lens, g.lens_normal[idx], g.lens_view[idx],
                      g.lens_pos[idx], g.cam_pos[idx], [params[i] for i in idx.tolist()],
                      [glasses[i] for i in idx.tolist()], scale[idx])
    out = color.clone()
    out[idx] = scatter_pixels(over, pixels, color[idx])
    return out


def _lens_over(spectrum: Spectrum, color: torch.Tensor, lens: torch.Tensor, n: torch.Tensor, v: torch.Tensor,
               lens_pos: torch.Tensor, cam_pos: torch.Tensor, params: Sequence[SampleParams],
               glasses: Sequence[GlassesParams], scale: torch.Tensor) -> torch.Tensor:
    """Lens transmission + reflection [B, 1, NL, C] for the samples that wear glasses."""
    f0 = torch.full_like(n[..., :1], 0.04)
    rough = torch.full_like(n[..., :1], 0.08)
    fres = fresnel_schlick((n * v).sum(-1, keepdim=True), f0)
    trans = torch.tensor([gl.lens_transmission for gl in glasses], dtype=color.dtype,
                         device=color.device).view(-1, 1, 1, 1)
    refl = spectrum.lens_reflection(n, v, lens_pos, cam_pos, params, f0, rough, fres)
    over = color * trans * (1 - fres) + refl * scale.view(-1, 1, 1, 1)
    return torch.where(lens > 0, over, color)
