"""nvdiffrast's CUDA rasteriser as a visibility backend (optional: ``pip install nirvis[cuda]``).

nvdiffrast is under NVIDIA's source licence (non-commercial); it is never required. Only its
triangle ids are used; barycentrics are recomputed in torch like for every backend.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=None)
def _context(device_index: int):
    import nvdiffrast.torch as dr

    return dr.RasterizeCudaContext(device=torch.device("cuda", device_index))


def rasterize_ids_cuda(clip_pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
                       with_depth: bool = False):
    """int32 [B, H, W] triangle id + 1 (0 = background), row 0 at the top; with ``with_depth`` also
    float32 [B, H, W] NDC depth (+inf where empty), as a tuple."""
    import nvdiffrast.torch as dr

    if clip_pos.device.type != "cuda":
        raise ValueError("backend 'cuda' needs clip_pos on a CUDA device")
    ctx = _context(clip_pos.device.index or 0)
    rast, _ = dr.rasterize(ctx, clip_pos.float().contiguous(), tri.to(clip_pos.device, torch.int32).contiguous(),
                           (int(resolution[0]), int(resolution[1])))
    rast = torch.flip(rast, dims=[1])  # nvdiffrast rows start at the bottom
    ids = rast[..., 3].to(torch.int32)
    if not with_depth:
        return ids
    return ids, torch.where(ids > 0, rast[..., 2], torch.full_like(rast[..., 2], float("inf")))
