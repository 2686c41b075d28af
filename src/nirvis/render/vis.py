"""The visible-light (VIS) spectrum: how a colour camera sees the face under ambient light.

Everything VIS-specific lives here (``VIS``, a ``nirvis.render.spectrum.Spectrum``): Lambertian
skin under an SH environment plus up to three directional lights with shadow maps, screen-space
subsurface scattering with per-channel widths, GGX specular; a smooth two-colour noisy
background; lens reflections of the same lights; the VIS sensor pipeline (``apply_vis_sensor``).
Radiance is linear sRGB, float32 [..., 3].
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from nirvis.render.geometry import GBuffer
from nirvis.render.lights import sh_irradiance
from nirvis.render.occlusion import directional_shadow
from nirvis.render.sampling import SampleParams
from nirvis.render.sensor import VisSensorParams, apply_vis_sensor
from nirvis.render.shading import SSS_SIGMA_MM, ggx_specular
from nirvis.render.spectrum import Spectrum, params_tensor, stack_sample_dicts, subsurface


def shade(g: GBuffer, params: Sequence[SampleParams]) -> torch.Tensor:
    """Linear-RGB radiance [B, 1, N, 3] of the covered pixels: SH environment + directional lights
    (shadowed), SSS, GGX."""
    albedo, spec, rough = g.material[..., 0:3], g.material[..., 4:5], g.material[..., 6:7]
    sh = params_tensor(params, "vis_lighting", "sh", g.pos)
    dirs = params_tensor(params, "vis_lighting", "directions", g.pos)
    cols = params_tensor(params, "vis_lighting", "colors", g.pos)
    irr = sh_irradiance(g.normal, sh).clamp(min=0) * g.ao
    specular = torch.zeros_like(albedo)
    for k in range(dirs.shape[1]):
        active = (cols[:, k].abs().amax(-1) > 0).nonzero()[:, 0]     # samples using light slot k
        if len(active) == 0:
            continue
        n, v, p = g.normal[active], g.view_dir[active], g.pos[active]
        light_dir = dirs[active, k].view(-1, 1, 1, 3).expand_as(n)
        casters, caster_tri = g.world, g.tri
        if g.shadow_world is not None and g.shadow_tri is not None:    # a subdivided head's coarse cage
            casters, caster_tri = g.shadow_world, g.shadow_tri
        lit = directional_shadow(casters[active], caster_tri, dirs[active, k], p)
        c = cols[active, k].view(-1, 1, 1, 3)
        irr = irr.index_add(0, active, c * (n * light_dir).sum(-1, keepdim=True).clamp(min=0) * lit)
        specular = specular.index_add(0, active, c * ggx_specular(n, v, light_dir, rough[active], spec[active]) * lit)
    return albedo * subsurface(irr, g, SSS_SIGMA_MM["vis"]) / math.pi + specular


def background(params: Sequence[SampleParams], res: int, like: torch.Tensor) -> torch.Tensor:
    """Smooth two-colour gradients with low-frequency noise, linear RGB float32 [B, res, res, 3]
    on ``like``'s device.

    Built for the whole batch at once: every step is elementwise (or one bicubic upsampling per
    image plane), so a sample's background is the same whatever batch it is in.

    Example:
        >>> from nirvis.render.sampling import SampleSpace, sample_params
        >>> bg = background([sample_params(SampleSpace(), 0)], 16, torch.zeros(()))
        >>> bg.shape, bg.dtype, bool(((bg >= 0) & (bg <= 0.6)).all())
        (torch.Size([1, 16, 16, 3]), torch.float32, True)
    """
    b = len(params)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    angles = [math.radians(p.background["vis_angle_deg"]) for p in params]
    cos = torch.tensor([math.cos(a) for a in angles]).view(b, 1, 1)
    sin = torch.tensor([math.sin(a) for a in angles]).view(b, 1, 1)
    t = ((xs * cos + ys * sin) * 0.5 + 0.5).unsqueeze(-1)               # [B, H, W, 1]
    colors = torch.tensor([p.background["vis_colors"] for p in params])  # [B, 2, 3]
    c0, c1 = colors[:, 0].view(b, 1, 1, 3), colors[:, 1].view(b, 1, 1, 3)
    coarse = torch.cat([torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(p.background["vis_noise_seed"]))
                        for p in params])                               # [B, 1, 6, 6], each its own seed
    noise = F.interpolate(coarse, size=(res, res), mode="bicubic", align_corners=False)[:, 0].unsqueeze(-1)
    img = (c0 * (1 - t) + c1 * t) * (0.6 + 0.8 * noise)
    return ((img.clamp(0, 1) ** 2.2) * 0.6).to(like.device)


def lens_reflection(n: torch.Tensor, v: torch.Tensor, lens_pos: torch.Tensor, cam_pos: torch.Tensor,
                    params: Sequence[SampleParams], f0: torch.Tensor, rough: torch.Tensor,
                    fres: torch.Tensor) -> torch.Tensor:
    """Linear-RGB radiance [B, 1, NL, 3] the lenses reflect: the SH environment in the mirror
    direction (Fresnel-weighted) plus GGX highlights of the directional lights."""
    r = F.normalize(2 * (n * v).sum(-1, keepdim=True) * n - v, dim=-1)
    refl = fres * sh_irradiance(r, params_tensor(params, "vis_lighting", "sh", n)).clamp(min=0) / math.pi
    dirs = params_tensor(params, "vis_lighting", "directions", n)
    cols = params_tensor(params, "vis_lighting", "colors", n)
    for k in range(dirs.shape[1]):
        light_dir = dirs[:, k].view(-1, 1, 1, 3).expand_as(n)
        refl = refl + cols[:, k].view(-1, 1, 1, 3) * ggx_specular(n, v, light_dir, rough, f0)
    return refl


def sensor(img: torch.Tensor, params: Sequence[SampleParams], generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Encoded sRGB [B, H, W, 3] in [0, 1] from exposed linear RGB ``img`` [B, H, W, 3] in [0, 1]
    with each pair's ``vis_sensor`` settings (``apply_vis_sensor``)."""
    settings = VisSensorParams.from_dict(stack_sample_dicts([p.vis_sensor for p in params]))
    return apply_vis_sensor(img, settings, generators)


#: The VIS spectrum of a pair (first in ``render_batch``: its geometry pass serves a shared NIR).
VIS = Spectrum(name="vis", channels=3, noise_stream=0, view=lambda p: p.vis_view, shade=shade, background=background,
               lens_reflection=lens_reflection, sensor=sensor)
