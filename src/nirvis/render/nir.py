"""The near-infrared (NIR) spectrum: how an NIR camera with an LED ring sees the face.

Everything NIR-specific lives here (``NIR``, a ``nirvis.render.spectrum.Spectrum``): an active
LED at the camera (inverse-square falloff) plus a weak ambient SH share, subsurface scattering
wider than any VIS channel, GGX specular; a dark background falling off from the centre (little
LED light reaches it); LED highlights on the lenses; the NIR sensor pipeline
(``apply_nir_sensor``). Radiance is linear, float32 [..., 1].
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from nirvis.colour import luminance_rec709
from nirvis.render.environment import scene_background
from nirvis.render.geometry import GBuffer
from nirvis.render.hair import specular as specular_term
from nirvis.render.lights import ambient_irradiance
from nirvis.render.sampling import SampleParams
from nirvis.render.sensor import NirSensorParams, apply_nir_sensor
from nirvis.render.shading import SSS_SIGMA_MM, ggx_specular
from nirvis.render.spectrum import Spectrum, params_tensor, stack_sample_dicts, subsurface


def shade(g: GBuffer, params: Sequence[SampleParams]) -> torch.Tensor:
    """Linear NIR radiance [B, 1, N, 1] of the covered pixels: LED ring at the camera
    (inverse-square) + ambient share; GGX specular (Kajiya-Kay on hair, ``hair.hair_specular``)."""
    albedo, spec, rough = g.material[..., 3:4], g.material[..., 5:6], g.material[..., 6:7]
    inten = params_tensor(params, "nir_lighting", "led_intensity", g.pos)
    offset = params_tensor(params, "nir_lighting", "led_offset_mm", g.pos)
    amb = params_tensor(params, "nir_lighting", "ambient_sh", g.pos)
    to_led = (g.cam_pos + offset).view(-1, 1, 1, 3) - g.pos
    dist = to_led.norm(dim=-1, keepdim=True).clamp(min=1.0)
    light_dir = to_led / dist
    e_led = inten.view(-1, 1, 1, 1) * (1000.0 / dist) ** 2
    irr = (e_led * (g.normal * light_dir).sum(-1, keepdim=True).clamp(min=0)
           + ambient_irradiance(g.normal, amb, g.ao, g.backend))
    specular = e_led * specular_term(g.normal, g.view_dir, light_dir, rough, spec, albedo, g.hair, g.hair_tangent,
                                          g.backend)
    return albedo * subsurface(irr, g, SSS_SIGMA_MM["nir"]) / math.pi + specular


def background(params: Sequence[SampleParams], res: int, like: torch.Tensor,
               scale: torch.Tensor | None = None, scenes: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Dark background, linear float [B, res, res, 1] with ``like``'s dtype and device.

    Little LED light reaches a background metres behind the head (inverse square), so real NIR
    access-control images have dark backgrounds: each pair's ``background["nir_level"]`` (in
    exposed units) times ``1 - r^2 / 2``, times a weak texture from the luminance of the same
    scene as the VIS background (``environment.scene_background``; mixed in by
    ``background["nir_texture"]``, using VIS luminance as a stand-in for NIR reflectance). Plus,
    where the scene holds NIR ambient light (outdoor daylight, ``environment["nir_ambient_share"]``),
    that share of the scene's luminance times the exposure ``scale`` [B] (None: 1), consistent with
    the ambient light on the face. ``scenes``: the pairs' ``scene_background`` [res, res, 3] when
    already computed (None: computed here).

    Example:
        >>> from nirvis.render.sampling import SampleSpace, sample_params
        >>> bg = background([sample_params(SampleSpace(), 0)], 17, torch.zeros(()))
        >>> bg.shape, bool((bg >= 0).all())
        (torch.Size([1, 17, 17, 1]), True)
    """
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    fall = (1.0 - 0.5 * (xx ** 2 + yy ** 2)).clamp(min=0)
    scale_list = [1.0] * len(params) if scale is None else scale.detach().cpu().tolist()
    scenes = [scene_background(p, res) for p in params] if scenes is None else scenes
    out = []
    for p, sc, s in zip(params, scenes, scale_list):
        lum = luminance_rec709(sc)                                                      # [res, res]
        t = float(p.background.get("nir_texture", 0.0))
        tex = (1 - t) + t * (lum / lum.mean().clamp(min=1e-6)).clamp(max=3.0)
        share = float(p.environment.get("nir_ambient_share") or 0.0)
        out.append(p.background["nir_level"] * fall * tex + share * lum * s)
    return torch.stack(out).unsqueeze(-1).to(like)


def lens_reflection(n: torch.Tensor, v: torch.Tensor, lens_pos: torch.Tensor, cam_pos: torch.Tensor,
                    params: Sequence[SampleParams], f0: torch.Tensor, rough: torch.Tensor,
                    fres: torch.Tensor) -> torch.Tensor:
    """Linear NIR radiance [B, 1, NL, 1] the lenses reflect: GGX highlights of the LED ring
    (inverse-square), no environment term."""
    inten = params_tensor(params, "nir_lighting", "led_intensity", n)
    offset = params_tensor(params, "nir_lighting", "led_offset_mm", n)
    to_led = (cam_pos + offset).view(-1, 1, 1, 3) - lens_pos
    dist = to_led.norm(dim=-1, keepdim=True).clamp(min=1.0)
    return inten.view(-1, 1, 1, 1) * (1000.0 / dist) ** 2 * ggx_specular(n, v, to_led / dist, rough, f0)


def sensor(img: torch.Tensor, params: Sequence[SampleParams], generators: Sequence[torch.Generator],
           backend: str = "torch") -> torch.Tensor:
    """NIR camera values [B, H, W, 1] in [0, 1] (linear) from exposed radiance ``img``
    [B, H, W, 1] in [0, 1] with each pair's ``nir_sensor`` settings (``apply_nir_sensor``)."""
    settings = NirSensorParams.from_dict(stack_sample_dicts([p.nir_sensor for p in params]))
    return apply_nir_sensor(img, settings, generators, backend)


#: The NIR spectrum of a pair.
NIR = Spectrum(name="nir", channels=1, noise_stream=1, view=lambda p: p.nir_view, shade=shade, background=background,
               lens_reflection=lens_reflection, sensor=sensor)
