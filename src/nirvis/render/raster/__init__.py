"""Rasterisation: triangle ids per pixel from a backend, differentiable barycentrics from torch.

Every backend answers one question, which triangle is visible at each pixel centre, and returns
an int32 id image. ``rasterize`` then recomputes perspective-correct barycentrics and depth from
the clip-space positions in plain torch, so gradients reach vertex positions whatever backend ran
(as in nvdiffrast's split between a rasteriser and differentiable attribute work).

Backends (``name`` argument):
    ``cpu``    the torch reference's rules compiled with numba (``cpu``): the same ids and depths
               bit for bit, several times faster than either; with it the renderer also runs its
               compiled per-pixel kernels (``nirvis.render.compiled``).
    ``gl``     moderngl on an EGL context (Mesa llvmpipe on CPU, vendor EGL on a GPU).
    ``cuda``   nvdiffrast's CUDA rasteriser, when installed (optional ``cuda`` dependency group).
    ``torch``  pure-PyTorch reference: vectorised over (triangle, pixel) candidate pairs.
    ``auto``   ``cuda`` for CUDA tensors when nvdiffrast imports, else ``cpu`` when numba imports,
               else ``gl`` when an EGL context can be made, else ``torch``.

Convention:
    Clip space is OpenGL's: x right, y up, visible depth z/w in [-1, 1]. Output images are NHWC
    with row 0 at the TOP: pixel (column x, row y) has its centre at
    NDC (2 (x + 0.5) / W - 1, 1 - 2 (y + 0.5) / H).
    ``rast[..., 0:2] = (u, v)`` are perspective-correct barycentric weights of the triangle's
    vertices 0 and 1 (vertex 2 gets 1 - u - v), ``rast[..., 2] = z/w``, and
    ``rast[..., 3] = triangle id + 1`` (0 = background), all float32, like nvdiffrast.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence, Union

import torch

from nirvis.errors import NirvisError
from nirvis.render.raster.common import barycentrics_from_ids, check_raster_inputs

__all__ = ["rasterize", "rasterize_ids", "rasterize_depth", "available_backends", "resolve_backend",
           "RasterBackendError"]


class RasterBackendError(NirvisError, RuntimeError):
    """The requested rasterisation backend cannot run here (missing package, no EGL, no CUDA)."""


@functools.lru_cache(maxsize=None)
def _gl_available() -> bool:
    try:
        from nirvis.render.raster.gl import GlRasterizer

        GlRasterizer.shared()
        return True
    except Exception:  # no moderngl, no EGL display, no driver: fall back
        return False


def _cuda_available() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import nvdiffrast.torch  # noqa: F401
        return True
    except Exception:
        return False


def available_backends() -> list[str]:
    """Backends that can run in this process, in order of preference for CPU tensors."""
    from nirvis.render.compiled import cpu_available

    out = []
    if _cuda_available():
        out.append("cuda")
    if cpu_available():
        out.append("cpu")
    if _gl_available():
        out.append("gl")
    out.append("torch")
    return out


def resolve_backend(name: str, device: Union[torch.device, str, None] = None) -> str:
    """Turn ``auto`` into a concrete backend for tensors on ``device``; check explicit names."""
    from nirvis.render.compiled import cpu_available

    device = torch.device(device or "cpu")
    if name == "auto":
        if device.type == "cuda" and _cuda_available():
            return "cuda"
        if cpu_available():
            return "cpu"
        return "gl" if _gl_available() else "torch"
    if name not in ("cpu", "gl", "cuda", "torch"):
        raise ValueError(f"backend must be one of auto, cpu, gl, cuda, torch; got {name!r}")
    if name == "cpu" and not cpu_available():
        raise RasterBackendError("backend 'cpu' needs numba (pip install numba)")
    if name == "gl" and not _gl_available():
        raise RasterBackendError("backend 'gl' needs moderngl and an EGL driver (Debian: libegl1 libegl-mesa0 "
                                 "libgl1-mesa-dri libgbm1); none could be initialised")
    if name == "cuda" and not _cuda_available():
        raise RasterBackendError("backend 'cuda' needs a CUDA device and nvdiffrast (pip install nirvis[cuda])")
    return name


def rasterize_ids(clip_pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
                  backend: str = "auto", groups: Optional[Sequence[tuple[int, int]]] = None,
                  use: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Visible triangle per pixel.

    Args:
        clip_pos: float32 [B, V, 4] clip-space vertex positions.
        tri: int32/int64 [F, 3] vertex indices.
        resolution: (H, W).
        backend: ``auto``, ``gl``, ``cuda`` or ``torch``.
        groups, use: an optional hint, triangle ranges ``[(start, end), ...]`` and bool [B, G]:
            image b needs group g only where ``use[b, g]``. The caller guarantees that an unused
            group draws nothing visible in that image (collapsed to a point, or hidden inside the
            head), so the result is the same with or without it; the ``gl`` and ``cpu`` backends
            skip those triangles (their cost grows with the triangle count), the others ignore it.

    Returns:
        int32 [B, H, W]: triangle id + 1 per pixel, 0 where no triangle covers the pixel centre.
    """
    check_raster_inputs(clip_pos, tri, resolution)
    name = resolve_backend(backend, clip_pos.device)
    with torch.no_grad():
        if name == "torch":
            from nirvis.render.raster.torch_ref import rasterize_ids_torch
            return rasterize_ids_torch(clip_pos.detach(), tri, resolution)
        if name == "cpu":
            from nirvis.render.raster.cpu import rasterize_cpu
            ids = rasterize_cpu(clip_pos, tri, resolution, groups=groups, use=use, output="ids")[0]
            assert ids is not None
            return ids.to(clip_pos.device)
        if name == "gl":
            from nirvis.render.raster.gl import GlRasterizer
            ids = GlRasterizer.shared().rasterize_ids(clip_pos.detach(), tri, resolution, groups=groups, use=use)
            return ids.to(clip_pos.device)
        from nirvis.render.raster.cuda import rasterize_ids_cuda
        return rasterize_ids_cuda(clip_pos.detach(), tri, resolution)


def rasterize_depth(clip_pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
                    backend: str = "auto", groups: Optional[Sequence[tuple[int, int]]] = None,
                    use: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Depth of the nearest surface per pixel, without gradients (shadow and occlusion maps).

    Args: as ``rasterize_ids`` (including the ``groups``/``use`` hint).

    Returns:
        float32 [B, H, W] NDC depth z/w of the visible surface; +inf where nothing is drawn.
    """
    check_raster_inputs(clip_pos, tri, resolution)
    name = resolve_backend(backend, clip_pos.device)
    with torch.no_grad():
        if name == "torch":
            from nirvis.render.raster.torch_ref import rasterize_ids_torch
            return rasterize_ids_torch(clip_pos.detach(), tri, resolution, with_depth=True)[1]
        if name == "cpu":
            from nirvis.render.raster.cpu import rasterize_cpu
            depth = rasterize_cpu(clip_pos, tri, resolution, groups=groups, use=use, output="depth")[1]
            assert depth is not None
            return depth.to(clip_pos.device)
        if name == "gl":
            from nirvis.render.raster.gl import GlRasterizer
            return GlRasterizer.shared().rasterize_depth(clip_pos.detach(), tri, resolution, groups=groups,
                                                         use=use).to(clip_pos.device)
        from nirvis.render.raster.cuda import rasterize_ids_cuda
        return rasterize_ids_cuda(clip_pos.detach(), tri, resolution, with_depth=True)[1]


def rasterize(clip_pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
              backend: str = "auto") -> torch.Tensor:
    """Rasterise triangles; differentiable with respect to ``clip_pos`` (not across silhouettes:
    use ``antialias`` for those gradients).

    Args:
        clip_pos: float32 [B, V, 4] clip-space vertex positions.
        tri: int [F, 3] vertex indices, shared by the batch.
        resolution: (H, W) in pixels.
        backend: ``auto``, ``gl``, ``cuda`` or ``torch``.

    Returns:
        [B, H, W, 4] in clip_pos's dtype (float32 normally): (u, v, z/w, triangle id + 1), see the
        module convention.

    Example:
        >>> import torch
        >>> pos = torch.tensor([[[-1., -1., 0., 1.], [1., -1., 0., 1.], [-1., 1., 0., 1.]]])
        >>> rast = rasterize(pos, torch.tensor([[0, 1, 2]]), (4, 4), backend="torch")
        >>> rast.shape, int(rast[0, 3, 0, 3]), int(rast[0, 0, 3, 3])
        (torch.Size([1, 4, 4, 4]), 1, 0)
    """
    ids = rasterize_ids(clip_pos, tri, resolution, backend)
    return barycentrics_from_ids(clip_pos, tri, ids)
