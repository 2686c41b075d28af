"""The visible-light (VIS) spectrum: how a colour camera sees the face under ambient light.

Everything VIS-specific lives here (``VIS``, a ``nirvis.render.spectrum.Spectrum``): Lambertian
skin under an SH environment plus up to three directional lights with shadow maps (soft for
lights with an angular radius), screen-space subsurface scattering with per-channel widths, GGX
specular; a background that is a view of the pair's HDR environment or a plain lit wall, exposed
like the face; lens reflections of the same lights; the VIS sensor pipeline (``apply_vis_sensor``).
Radiance is linear sRGB, float32 [..., 3].
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from nirvis.render.environment import mirror_radiance, scene_background
from nirvis.render.geometry import GBuffer
from nirvis.render.hair import specular as specular_term
from nirvis.render.lights import ambient_irradiance, sh_irradiance
from nirvis.render.occlusion import directional_shadow
from nirvis.render.sampling import SampleParams
from nirvis.render.sensor import VisSensorParams, apply_vis_sensor
from nirvis.render.shading import SSS_SIGMA_MM, ggx_specular
from nirvis.render.spectrum import Spectrum, params_tensor, stack_sample_dicts, subsurface


def shade(g: GBuffer, params: Sequence[SampleParams]) -> torch.Tensor:
    """Linear-RGB radiance [B, 1, N, 3] of the covered pixels: SH environment + directional lights
    (shadowed), SSS, GGX (Kajiya-Kay on hair, ``hair.hair_specular``)."""
    albedo, spec, rough = g.material[..., 0:3], g.material[..., 4:5], g.material[..., 6:7]
    sh = params_tensor(params, "vis_lighting", "sh", g.pos)
    dirs = params_tensor(params, "vis_lighting", "directions", g.pos)
    cols = params_tensor(params, "vis_lighting", "colors", g.pos)
    radii = _angular_radii(params, g.pos)
    irr = ambient_irradiance(g.normal, sh, g.ao, g.backend)
    specular = torch.zeros_like(albedo)
    casters, caster_tri = g.world, g.tri
    if g.shadow_world is not None and g.shadow_tri is not None:    # a subdivided head's coarse cage
        casters, caster_tri = g.shadow_world, g.shadow_tri
    for k in range(dirs.shape[1]):
        active = (cols[:, k].abs().amax(-1) > 0).nonzero()[:, 0]     # samples using light slot k
        if len(active) == 0:
            continue
        n, v, p = g.normal[active], g.view_dir[active], g.pos[active]
        light_dir = dirs[active, k].view(-1, 1, 1, 3).expand_as(n)
        lit = directional_shadow(casters[active], caster_tri, dirs[active, k], p, angular_radius=radii[active, k],
                                 groups=g.shadow_groups, use=None if g.group_use is None else g.group_use[active.cpu()],
                                 backend=g.backend)
        c = cols[active, k].view(-1, 1, 1, 3)
        irr = irr.index_add(0, active, c * (n * light_dir).sum(-1, keepdim=True).clamp(min=0) * lit)
        s = specular_term(n, v, light_dir, rough[active], spec[active], albedo[active],
                          None if g.hair is None else g.hair[active],
                          None if g.hair_tangent is None else g.hair_tangent[active], g.backend)
        specular = specular.index_add(0, active, c * s * lit)
    return albedo * subsurface(irr, g, SSS_SIGMA_MM["vis"]) / math.pi + specular


def _angular_radii(params: Sequence[SampleParams], like: torch.Tensor) -> torch.Tensor:
    """Angular radius (rad) [B, L] of each pair's directional lights (0: hard; older records lack it)."""
    rows = [p.vis_lighting.get("angular_radius_rad") or [0.0] * len(p.vis_lighting["directions"]) for p in params]
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


def background(params: Sequence[SampleParams], res: int, like: torch.Tensor,
               scale: torch.Tensor | None = None, scenes: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """What lies behind the head, linear RGB float32 [B, res, res, 3] on ``like``'s device: each
    pair's ``environment.scene_background`` (a view of its environment's panorama through its
    camera, or a plain lit wall; ``scenes`` [res, res, 3] each when already computed) times its
    environment intensity and the exposure ``scale`` [B] (the face's auto-exposure; None: 1), so
    background and face share one exposure.

    One panorama lookup (or a wall formula) per pixel, per pair: a pair's background is the same
    whatever batch it is in.

    Example:
        >>> from nirvis.render.sampling import SampleSpace, sample_params
        >>> bg = background([sample_params(SampleSpace(), 0)], 16, torch.zeros(()))
        >>> bg.shape, bg.dtype, bool((bg >= 0).all())
        (torch.Size([1, 16, 16, 3]), torch.float32, True)
    """
    scale_list = [1.0] * len(params) if scale is None else scale.detach().cpu().tolist()
    scenes = [scene_background(p, res) for p in params] if scenes is None else scenes
    out = [sc * float(p.environment.get("intensity") or 1.0) * s for p, sc, s in zip(params, scenes, scale_list)]
    return torch.stack(out).to(like.device)


def lens_reflection(n: torch.Tensor, v: torch.Tensor, lens_pos: torch.Tensor, cam_pos: torch.Tensor,
                    params: Sequence[SampleParams], f0: torch.Tensor, rough: torch.Tensor,
                    fres: torch.Tensor) -> torch.Tensor:
    """Linear-RGB radiance [B, 1, NL, 3] the lenses reflect, Fresnel-weighted: in the mirror
    direction the environment's blurred panorama (``environment.mirror_radiance``; its dominant
    light included, so light 0 adds no highlight there) or, with synthetic lighting, the SH
    environment; plus GGX highlights of the other directional lights."""
    r = F.normalize(2 * (n * v).sum(-1, keepdim=True) * n - v, dim=-1)
    refl = sh_irradiance(r, params_tensor(params, "vis_lighting", "sh", n)).clamp(min=0) / math.pi
    pano, has_env = mirror_radiance(params, r)
    refl = fres * torch.where(has_env.view(-1, 1, 1, 1), pano, refl)
    dirs = params_tensor(params, "vis_lighting", "directions", n)
    cols = params_tensor(params, "vis_lighting", "colors", n)
    cols[:, 0] = cols[:, 0] * (~has_env).to(cols).view(-1, 1)
    for k in range(dirs.shape[1]):
        light_dir = dirs[:, k].view(-1, 1, 1, 3).expand_as(n)
        refl = refl + cols[:, k].view(-1, 1, 1, 3) * ggx_specular(n, v, light_dir, rough, f0)
    return refl


def sensor(img: torch.Tensor, params: Sequence[SampleParams], generators: Sequence[torch.Generator],
           backend: str = "torch") -> torch.Tensor:
    """Encoded sRGB [B, H, W, 3] in [0, 1] from exposed linear RGB ``img`` [B, H, W, 3] in [0, 1]
    with each pair's ``vis_sensor`` settings (``apply_vis_sensor``)."""
    settings = VisSensorParams.from_dict(stack_sample_dicts([p.vis_sensor for p in params]))
    return apply_vis_sensor(img, settings, generators, backend)


#: The VIS spectrum of a pair (first in ``render_batch``: its geometry pass serves a shared NIR).
VIS = Spectrum(name="vis", channels=3, noise_stream=0, view=lambda p: p.vis_view, shade=shade, background=background,
               lens_reflection=lens_reflection, sensor=sensor)
