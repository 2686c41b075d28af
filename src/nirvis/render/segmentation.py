"""Per-pixel labels from the G-buffer: the face-parsing classes, camera depth and normals.

``segment(g, faces)`` gives each pixel its class in ``faces.segmentation.SEGMENTATION_CLASSES``
from the mesh its triangle belongs to (``GBuffer.tri_starts``), the head triangle's mesh part
and the face's texel labels (``PreparedFace.labels``, nearest texel at the pixel's UV); lenses
in front of the scene are ``lens``. ``label_passes`` adds camera-space depth and normals.
The world frame of ``geometry_pass`` is the camera's (x right, y up, the camera looks down -z
from ``(0, 0, distance)``), so its normals are camera-space normals as they are.
"""

from __future__ import annotations

from typing import Sequence

import torch

from nirvis.faces.mesh import PART_NAMES
from nirvis.faces.segmentation import CLASS_ID, part_classes
from nirvis.render.geometry import GBuffer
from nirvis.render.pixels import scatter_pixels
from nirvis.render.prepared_face import PreparedFace

#: The label passes ``render_batch(passes=...)`` can add (besides the soft ``mask``).
LABEL_PASSES = ("segmentation", "depth_mm", "normal")


def segment(g: GBuffer, faces: Sequence[PreparedFace]) -> torch.Tensor:
    """Class ids uint8 [B, H, W] of the G-buffer's pixels (0 background).

    Args:
        g: a ``geometry_pass`` G-buffer of ``faces`` (with ``uv`` and ``tri_starts``).
        faces: its B PreparedFaces (one topology); ``face_parts`` give head triangles their part,
            ``labels`` (when present) refine skin and eyeballs per texel.
    """
    if g.tri_starts is None or g.uv is None:
        raise ValueError("segment: the G-buffer has no triangle ranges / UVs (make it with geometry_pass)")
    head_end, hair_end, beard_end, frame_end = g.tri_starts[1:5]
    tid = g.rast[..., 3].long() - 1                                      # [B, H, W], -1: background
    dev = tid.device
    out = torch.zeros(tid.shape, dtype=torch.uint8, device=dev)
    pf0 = faces[0]
    parts = pf0.face_parts if pf0.face_parts is not None else torch.zeros(len(pf0.faces), dtype=torch.uint8)
    on_head = (tid >= 0) & (tid < head_end)
    on_beard = (tid >= hair_end) & (tid < beard_end)
    part = torch.zeros_like(out)
    part[on_head] = parts.to(dev)[tid[on_head]]
    part[on_beard] = PART_NAMES.index("skin")                           # the beard shell shows skin texels
    out[on_head | on_beard] = part_classes_t(dev)[part[on_head | on_beard].long()]
    if any(pf.labels is not None for pf in faces):
        uv = scatter_pixels(g.uv, g.pixels)                              # [B, H, W, 2]
        texel = torch.zeros_like(out)
        for b, pf in enumerate(faces):                                  # label maps may differ in size
            if pf.labels is None:
                continue
            r = pf.labels.shape[-1]
            col = (uv[b, ..., 0] * r).long().clamp(0, r - 1)
            row = ((1.0 - uv[b, ..., 1]) * r).long().clamp(0, r - 1)
            texel[b] = pf.labels.to(dev)[row, col]
        skin_like = (part == PART_NAMES.index("skin")) | (part == PART_NAMES.index("eye_cavity"))
        take = (on_head | on_beard) & (texel > 0) & (
            skin_like | ((part == PART_NAMES.index("eyeball")) & (texel == CLASS_ID["iris"]))
            | ((part == PART_NAMES.index("mouth_cavity")) & (texel == CLASS_ID["lips"])))
        out[take] = texel[take]
    if g.hair is not None:                                              # beard density on the beard shell
        out[on_beard & (scatter_pixels(g.hair, g.pixels)[..., 0] >= 0.5)] = CLASS_ID["facial_hair"]
    out[(tid >= head_end) & (tid < hair_end)] = CLASS_ID["head_hair"]
    out[(tid >= beard_end) & (tid < frame_end)] = CLASS_ID["glasses_frame"]
    out[tid >= frame_end] = CLASS_ID["headwear"]
    if g.lens_pixels is not None:
        lens = scatter_pixels(torch.ones_like(g.lens_pos[..., :1]), g.lens_pixels)[..., 0] > 0
        out[lens] = CLASS_ID["lens"]
    return out


def part_classes_t(device: torch.device) -> torch.Tensor:
    """``faces.segmentation.part_classes`` as a uint8 tensor on ``device``."""
    return torch.from_numpy(part_classes()).to(device)


def label_passes(g: GBuffer, faces: Sequence[PreparedFace], names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Raw-frame label passes by name: ``segmentation`` float [B, H, W, 1] (class ids),
    ``depth_mm`` [B, H, W, 1] (distance along the optical axis, 0 on background), ``normal``
    [B, H, W, 3] (unit camera-space normals, 0 on background), ``mask`` [B, H, W, 1] coverage.
    Floats so that they warp with the images (nearest for all but ``mask``)."""
    out = {}
    for name in names:
        if name == "segmentation":
            out[name] = segment(g, faces).unsqueeze(-1).to(g.pos.dtype)
        elif name == "depth_mm":
            out[name] = scatter_pixels(g.cam_pos[:, 2].view(-1, 1, 1, 1) - g.pos[..., 2:3], g.pixels)
        elif name == "normal":
            out[name] = scatter_pixels(g.normal, g.pixels)
        elif name == "mask":
            out[name] = g.mask
        else:
            raise ValueError(f"passes: unknown pass {name!r}; choose from {sorted((*LABEL_PASSES, 'mask'))}")
    return out
