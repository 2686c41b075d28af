"""Occlusion of light: per-vertex ambient occlusion from depth maps seen from many directions
(computed once per mesh), and directional-light shadow maps per rendered sample."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nirvis.render.compiled import use_compiled
from nirvis.render.raster import rasterize_depth
from nirvis.render.shading import shadow_lookup


def fibonacci_sphere(n: int) -> torch.Tensor:
    """n roughly uniform unit directions [n, 3] (golden-angle spiral)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * k / n
    r = torch.sqrt((1.0 - z * z).clamp(min=0))
    phi = k * math.pi * (3.0 - math.sqrt(5.0))
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1).float()


def light_frame(direction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Orthonormal (right, up, direction) [B, 3] each of an orthographic light looking along
    ``-direction`` [B, 3] (``direction`` points from the scene towards the light; need not be unit)."""
    d = torch.nn.functional.normalize(direction, dim=-1)
    helper = torch.where(d[:, 1:2].abs() < 0.9, torch.tensor([[0.0, 1.0, 0.0]]).to(d),
                         torch.tensor([[1.0, 0.0, 0.0]]).to(d))
    right = torch.nn.functional.normalize(torch.cross(helper, d, dim=-1), dim=-1)
    up = torch.cross(d, right, dim=-1)
    return right, up, d


def orthographic_light_clip(points: torch.Tensor, direction: torch.Tensor, half_extent,
                            depth_range, backend: str = "torch") -> torch.Tensor:
    """Clip positions [B, V, 4] of points [B, V, 3] seen orthographically from ``direction`` [B, 3]
    (unit, pointing from the scene towards the viewer/light), centred on the origin; nearer points
    get smaller depth. ``half_extent`` and ``depth_range`` (mm) are floats or per-sample [B].
    ``backend`` ``cpu`` projects with the compiled kernel (``compiled.shadow.light_clip``, the
    same values) when no gradient is needed."""
    half_extent = torch.as_tensor(half_extent, dtype=points.dtype, device=points.device).reshape(-1, 1)
    depth_range = torch.as_tensor(depth_range, dtype=points.dtype, device=points.device).reshape(-1, 1)
    right, up, d = light_frame(direction)
    if use_compiled(backend, points, right) and points.dtype == torch.float32:
        from nirvis.render.compiled.shadow import light_clip
        return light_clip(points, right, up, d, half_extent, depth_range)
    x = (points * right.unsqueeze(1)).sum(-1) / half_extent
    y = (points * up.unsqueeze(1)).sum(-1) / half_extent
    z = -(points * d.unsqueeze(1)).sum(-1) / depth_range
    return torch.stack([x, y, z, torch.ones_like(x)], -1)


def vertex_ambient_occlusion(vertices: torch.Tensor, faces: torch.Tensor, normals: torch.Tensor,
                             n_directions: int = 64, resolution: int = 192, backend: str = "auto") -> torch.Tensor:
    """Cosine-weighted share of directions from which each vertex is unoccluded.

    Args:
        vertices: float [V, 3] mm, centred near the origin; faces: int [F, 3]; normals: [V, 3].
        n_directions: number of view directions over the sphere.
        resolution: depth-map size; texels of 320 mm / resolution.

    Returns:
        float [V, 1] in [0, 1] (1 = fully open).
    """
    dirs = fibonacci_sphere(n_directions)
    half = float(vertices.abs().max()) * 1.05
    pts = vertices.unsqueeze(0).expand(n_directions, -1, -1)
    clip = orthographic_light_clip(pts, dirs, half, half)
    depth = rasterize_depth(clip, faces, (resolution, resolution), backend=backend).clamp(max=10.0)  # [D, H, W]
    # look each vertex up in each depth map (nearest texel, small bias of 1.5 texels in depth)
    col = ((clip[..., 0] + 1.0) * 0.5 * resolution).long().clamp(0, resolution - 1)
    row = ((1.0 - clip[..., 1]) * 0.5 * resolution).long().clamp(0, resolution - 1)
    seen = depth[torch.arange(n_directions).view(-1, 1), row, col]
    bias = 3.0 * (2.0 * half / resolution) / half
    visible = (clip[..., 2] <= seen + bias).float()                      # [D, V]
    cosw = (normals.unsqueeze(0) * dirs.unsqueeze(1)).sum(-1).clamp(min=0)
    ao = (visible * cosw).sum(0) / cosw.sum(0).clamp(min=1e-6)
    return ao.unsqueeze(-1)


def directional_shadow(world: torch.Tensor, tri: torch.Tensor, direction: torch.Tensor, pos: torch.Tensor,
                       res: int = 128, angular_radius: torch.Tensor | None = None, groups=None,
                       use: torch.Tensor | None = None, backend: str = "auto") -> torch.Tensor:
    """Directional-light visibility [B, H, W, 1] in [0, 1] of surface points ``pos`` [B, H, W, 3]
    (or a covered-pixel list [B, 1, N, 3]) through a ``res`` x ``res`` shadow map of the meshes
    ``world`` [B, V, 3] (mm) / ``tri`` [F, 3], lit from unit ``direction`` [B, 3] (towards the light).
    Each sample's map covers its own head (extent from its own vertices), so a pair never depends
    on the batch it is rendered in.

    ``angular_radius`` [B] (radians, optional): the light's angular radius. Samples with
    ``angular_radius > HARD_SHADOW_RAD`` get soft shadows (``soft_shadow_lookup``: penumbra width
    = blocker-receiver distance x tan(angular radius)); the others (and all when None) the 3 x 3
    texel PCF of ``shadow_lookup`` (hard: the sun's 0.27 deg, lamps). ``groups``/``use``: the
    rasteriser hint of ``raster.rasterize_ids`` (triangles a sample does not draw; same result).
    ``backend``: the rasteriser of the maps (``torch`` draws them with ``auto``: the reference
    rasteriser is too slow for per-pair maps); ``cpu`` also filters them with the compiled kernel
    (``compiled.shadow``).

    Example:
        >>> quad = torch.tensor([[[-50., -50., 0.], [50., -50., 0.], [-50., 50., 0.], [50., 50., 0.]]])
        >>> tri = torch.tensor([[0, 1, 2], [1, 3, 2]])
        >>> points = torch.tensor([[[[0., 0., 20.], [0., 0., -20.]]]])   # above and under it, lit from +z
        >>> directional_shadow(quad, tri, torch.tensor([[0., 0., 1.]]), points, res=32).flatten().tolist()
        [1.0, 0.0]
    """
    half = world.abs().amax(dim=(1, 2)) * 1.05                           # [B]
    depth = rasterize_depth(orthographic_light_clip(world, direction, half, half, backend), tri, (res, res),
                            backend="auto" if backend == "torch" else backend, groups=groups, use=use)
    b, h, w, _ = pos.shape
    p_l = orthographic_light_clip(pos.reshape(b, -1, 3), direction, half, half, backend)[..., :3].reshape(b, h, w, 3)
    if use_compiled(backend, p_l, depth):
        from nirvis.render.compiled.shadow import shadow_visibility
        is_soft = torch.zeros(b, dtype=torch.bool) if angular_radius is None else angular_radius > HARD_SHADOW_RAD
        radius = torch.zeros(b) if angular_radius is None else angular_radius
        tan_r = torch.tan(radius.clamp(max=MAX_PENUMBRA_RAD)).to(p_l)
        return shadow_visibility(p_l, depth, is_soft, torch.where(is_soft, tan_r, 0.0), MAX_BLOCKER_MM / half.to(p_l),
                                 _disc_taps(), bias=6.0 / res)
    lit = shadow_lookup(p_l, depth, bias=6.0 / res)                      # 3 texels of depth
    if angular_radius is None:
        return lit
    soft = (angular_radius > HARD_SHADOW_RAD).nonzero()[:, 0]
    if len(soft) == 0:
        return lit
    tan_r = torch.tan(angular_radius[soft].clamp(max=MAX_PENUMBRA_RAD)).to(p_l)
    lit = lit.clone()
    lit[soft] = soft_shadow_lookup(p_l[soft], depth[soft], tan_r, MAX_BLOCKER_MM / half[soft].to(p_l), bias=6.0 / res)
    return lit


#: Lights smaller than this angular radius (rad, ~0.6 deg) cast hard shadows (3 x 3 texel PCF).
HARD_SHADOW_RAD = 0.01
#: Largest angular radius (rad, ~17 deg) used for the penumbra (wider sources are clamped).
MAX_PENUMBRA_RAD = 0.3
#: Farthest blocker-receiver distance (mm) the blocker search looks for.
MAX_BLOCKER_MM = 80.0


def _disc_taps(n: int = 16) -> torch.Tensor:
    """n points [n, 2] of a golden-angle spiral filling the unit disc evenly (fixed pattern)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    r = torch.sqrt(k / n)
    phi = k * math.pi * (3.0 - math.sqrt(5.0))
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi)], -1).float()


def _depth_at(depth: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Nearest shadow-map depth [B, H, W] at light-NDC points x, y [B, H, W]."""
    grid = torch.stack([x, -y], -1)                                      # grid y down = image rows
    return F.grid_sample(depth.clamp(max=10.0).unsqueeze(1), grid, mode="nearest", padding_mode="border",
                         align_corners=False)[:, 0]


def soft_shadow_lookup(points_light: torch.Tensor, depth: torch.Tensor, tan_radius: torch.Tensor,
                       max_blocker: torch.Tensor, bias: float) -> torch.Tensor:
    """Percentage-closer soft shadows (cf. Fernando 2005, "Percentage-closer soft shadows"): a
    blocker search over a disc, then a PCF disc whose radius is the penumbra width.

    Args:
        points_light: float [B, H, W, 3] points in the light's orthographic NDC (depth grows away
            from the light; NDC units = ``half`` mm of the map, see ``directional_shadow``).
        depth: float [B, Hs, Ws] shadow map (NDC depth, large where empty).
        tan_radius: float [B] tan(angular radius) of each light: an occluder d in front of a
            point blurs its shadow edge over a radius of ``d * tan_radius`` (x, y and depth share
            NDC units).
        max_blocker: float [B] farthest blocker distance (NDC) searched for.
        bias: depth bias (NDC) against self-shadowing.

    Returns:
        float [B, H, W, 1] visibility in [0, 1]: 1 without blockers; the penumbra radius is at
        least one texel, so a tiny source gives the hard-shadow result of ``shadow_lookup``.
    """
    b, hs, ws = depth.shape
    taps = _disc_taps().to(points_light)
    x, y, z = points_light.unbind(-1)
    t = tan_radius.view(-1, 1, 1)
    texel = 2.0 / ws
    # blocker search radius: the penumbra radius of a blocker at the largest distance considered
    radius_search = (t * max_blocker.view(-1, 1, 1)).clamp(min=texel)
    blocker_sum = torch.zeros_like(z)
    blockers = torch.zeros_like(z)
    for tx, ty in taps.tolist():
        d = _depth_at(depth, x + tx * radius_search, y + ty * radius_search)
        hit = (d < z - bias).to(z.dtype)
        blocker_sum = blocker_sum + hit * d
        blockers = blockers + hit
    mean_blocker = blocker_sum / blockers.clamp(min=1.0)
    radius = ((z - mean_blocker).clamp(min=0) * t).clamp(min=texel)         # penumbra radius (NDC)
    lit = torch.zeros_like(z)
    for tx, ty in taps.tolist():
        d = _depth_at(depth, x + tx * radius, y + ty * radius)
        lit = lit + (z <= d + bias).to(z.dtype)
    lit = lit / len(taps)
    return torch.where(blockers > 0, lit, torch.ones_like(lit)).unsqueeze(-1)
