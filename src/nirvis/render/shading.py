"""Shading in torch, shared by every rasterisation backend.

Per pixel: Lambertian diffuse from an SH environment and point/directional lights, with a
subsurface-scattering approximation, plus GGX/Cook-Torrance specular (Walter et al. 2007;
Smith-Schlick visibility, Schlick Fresnel), shadow maps for directional lights and per-vertex
ambient occlusion. Images are NHWC float.

Subsurface scattering: light diffusing in skin re-emerges millimetres away from where it entered,
more so at longer wavelengths (NIR penetrates deepest, blue least). We approximate it the
screen-space way (cf. Jimenez et al. 2009): the diffuse irradiance (not the albedo) is blurred
over the skin with a Gaussian whose width in millimetres depends on the spectrum, converted to
pixels with the camera's scale. Widths are given per channel in
``SSS_SIGMA_MM``; they are tuned by eye to the ordering of skin diffusion profiles (d'Eon & Luebke
2007: red scatters several times wider than blue; NIR wider still), not fitted to data.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Screen-space SSS blur widths (Gaussian sigma, mm): VIS (R, G, B) and NIR.
SSS_SIGMA_MM = {"vis": (1.2, 0.6, 0.35), "nir": (2.2,)}


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals. vertices [B, V, 3], faces [F, 3] -> [B, V, 3].

    Computed vertex-major ([V, B, 3]: every gather and accumulation moves contiguous rows, about
    twice as fast as batch-major on the CPU); each vertex sums its faces in the same order as
    before (corner 0 of all faces, then corners 1 and 2), so the values are identical and a
    sample's normals never depend on the rest of the batch."""
    f = faces.long()
    vt = vertices.transpose(0, 1).contiguous()                          # [V, B, 3]
    v0, v1, v2 = vt[f[:, 0]], vt[f[:, 1]], vt[f[:, 2]]
    fn = torch.cross(v1 - v0, v2 - v0, dim=-1)                          # [F, B, 3]
    n = torch.zeros_like(vt)
    for k in range(3):
        n = n.index_add(0, f[:, k], fn)
    return F.normalize(n, dim=-1, eps=1e-12).transpose(0, 1)


def fresnel_schlick(cos_theta: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
    return f0 + (1.0 - f0) * (1.0 - cos_theta.clamp(0.0, 1.0)) ** 5


def ggx_specular(n: torch.Tensor, v: torch.Tensor, l: torch.Tensor, roughness: torch.Tensor,  # noqa: E741 (BRDF n, v, l)
                 f0: torch.Tensor) -> torch.Tensor:
    """Cook-Torrance GGX BRDF times cos(theta_l).

    Args:
        n, v, l: float [..., 3] unit normal, direction to the viewer, direction to the light.
        roughness: float [..., 1] perceptual roughness (alpha = roughness^2), clamped to >= 0.03.
        f0: float [..., 1] reflectance at normal incidence (specular albedo).

    Returns:
        float [..., 1]: BRDF * max(n.l, 0) (multiply by light irradiance for radiance).
    """
    h = F.normalize(v + l, dim=-1, eps=1e-12)
    nl = (n * l).sum(-1, keepdim=True).clamp(min=0.0)
    nv = (n * v).sum(-1, keepdim=True).clamp(min=1e-4)
    nh = (n * h).sum(-1, keepdim=True).clamp(min=0.0)
    vh = (v * h).sum(-1, keepdim=True).clamp(min=0.0)
    a = roughness.clamp(min=0.03) ** 2
    a2 = a * a
    d = a2 / (math.pi * (nh * nh * (a2 - 1.0) + 1.0) ** 2)
    k = a / 2.0
    g = (nl / (nl * (1 - k) + k)) * (nv / (nv * (1 - k) + k))
    return d * g * fresnel_schlick(vh, f0) / (4.0 * nl * nv + 1e-6) * nl


def gaussian_kernel1d(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Normalised Gaussian taps [N, 2r+1] for sigmas [N] (sigma <= 0.05 gives a delta)."""
    x = torch.arange(-radius, radius + 1, dtype=sigma.dtype, device=sigma.device)
    s = sigma.clamp(min=0.05).unsqueeze(-1)
    k = torch.exp(-0.5 * (x / s) ** 2)
    return k / k.sum(-1, keepdim=True)


def masked_blur(img: torch.Tensor, mask: torch.Tensor, sigma_px: torch.Tensor) -> torch.Tensor:
    """Normalised (mask-aware) separable Gaussian blur with a sigma per image and channel.

    Args:
        img: float [B, H, W, C]; mask: float [B, H, W, 1] weights (0 outside the surface).
        sigma_px: float [B, C] Gaussian sigma in pixels.

    Returns:
        float [B, H, W, C]: sum(k * mask * img) / sum(k * mask) inside the mask, ``img`` outside
        (``img`` must be finite: only the box around the mask, widened by the kernel radius, is
        convolved).
    """
    if img.shape[0] > 1:
        # one image at a time, so an image's kernel size never depends on the rest of the batch
        return torch.cat([masked_blur(img[k:k + 1], mask[k:k + 1], sigma_px[k:k + 1]) for k in range(img.shape[0])])
    b, h, w, c = img.shape
    radius = int(min(max(1, math.ceil(3.0 * float(sigma_px.max()))), max(h, w) // 2))
    support = mask[0, ..., 0] != 0
    rows, cols = support.any(1).nonzero()[:, 0], support.any(0).nonzero()[:, 0]
    if len(rows) == 0:
        return img
    y0, y1 = max(0, int(rows[0]) - radius), min(h, int(rows[-1]) + radius + 1)
    x0, x1 = max(0, int(cols[0]) - radius), min(w, int(cols[-1]) + radius + 1)
    if (y0, y1, x0, x1) != (0, h, 0, w):
        # outside the mask's box widened by the radius every input is 0 (and the crop's border
        # pixels too, so replicate padding there adds the same zeros): blur the box only
        inner = _masked_blur_one(img[:, y0:y1, x0:x1], mask[:, y0:y1, x0:x1], sigma_px, radius)
        return _paste(img, inner, y0, x0)
    return _masked_blur_one(img, mask, sigma_px, radius)


def _paste(img: torch.Tensor, inner: torch.Tensor, y0: int, x0: int) -> torch.Tensor:
    """``img`` with ``inner`` written at rows y0.., columns x0.. (differentiable)."""
    out = img.clone()
    out[:, y0:y0 + inner.shape[1], x0:x0 + inner.shape[2]] = inner
    return out


def _masked_blur_one(img: torch.Tensor, mask: torch.Tensor, sigma_px: torch.Tensor, radius: int) -> torch.Tensor:
    """``masked_blur`` of one image [1, H, W, C] with a given kernel radius."""
    b, h, w, c = img.shape
    k = gaussian_kernel1d(sigma_px.reshape(-1), radius)                 # [B*C, K]
    x = torch.cat([img * mask, mask.expand(-1, -1, -1, c)], dim=-1)     # [B, H, W, 2C]
    x = x.permute(0, 3, 1, 2).reshape(1, b * 2 * c, h, w)
    kk = torch.cat([k.view(b, c, -1), k.view(b, c, -1)], dim=1).reshape(b * 2 * c, 1, -1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kk.unsqueeze(2), groups=b * 2 * c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kk.unsqueeze(3), groups=b * 2 * c)
    x = x.view(b, 2 * c, h, w).permute(0, 2, 3, 1)
    blurred = x[..., :c] / x[..., c:].clamp(min=1e-6)
    return torch.where(mask > 0, blurred, img)


def shadow_lookup(points_light: torch.Tensor, depth_map: torch.Tensor, bias: float = 2e-3) -> torch.Tensor:
    """Visibility of points from a light through its depth map, 3x3 percentage-closer filtered.

    Args:
        points_light: float [B, H, W, 3] points in the light's NDC (x, y in [-1, 1], depth z).
        depth_map: float [B, Hs, Ws] light-view NDC depth (row 0 = top), +inf where empty.
        bias: depth bias in NDC units against self-shadowing.

    Returns:
        float [B, H, W, 1] in [0, 1] (1 = lit).
    """
    b, hs, ws = depth_map.shape
    dm = depth_map.clamp(max=10.0).unsqueeze(1)
    lit = torch.zeros_like(points_light[..., :1])
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            gx = points_light[..., 0] + dx * 2.0 / ws
            gy = -(points_light[..., 1] + dy * 2.0 / hs)                 # grid y down = image rows
            d = F.grid_sample(dm, torch.stack([gx, gy], -1), mode="nearest", padding_mode="border",
                              align_corners=False).permute(0, 2, 3, 1)
            lit = lit + (points_light[..., 2:3] <= d + bias).to(lit.dtype)
    return lit / 9.0
