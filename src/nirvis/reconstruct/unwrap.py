"""Step 1 of the texture stage: a photo resampled into the head model's UV layout.

Every texel of the template UV layout (``fill.texel_layout``) is placed on the fitted mesh,
projected into the photo (``photo_camera`` convention), tested against a z-buffer of the fitted
mesh (``render.raster.rasterize_depth``; the GL backend when EGL works, else the torch
reference), and the photo is sampled bilinearly in linear RGB (``colour.decode_srgb``).

Weight per texel: ``cos^2`` of the angle between normal and view direction, ramped to 0 between
``1.5 min_cos`` and ``min_cos``, times a ramp over ``edge_margin_mm`` (converted to pixels at the
face's median depth) of the image distance to silhouettes and occlusion edges (z-buffer steps
larger than ``depth_jump_mm``), where the fitted geometry and the photo are least likely to agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import torch

from nirvis.colour import decode_srgb
from nirvis.faces.head_model import load_head_model
from nirvis.faces.regions import smoothstep
from nirvis.faces.uv import vertex_normals
from nirvis.reconstruct.fill import texel_layout
from nirvis.reconstruct.photo_camera import FRONTAL, PhotoCamera, to_camera
from nirvis.shapes import check_shape

__all__ = ["UnwrappedPhoto", "unwrap_photo", "photo_clip_positions"]


@dataclass(frozen=True, eq=False)
class UnwrappedPhoto:
    """A photo resampled into the UV layout.

    Attributes:
        colour: float32 [R, R, 3] linear RGB photo value at each texel (0 where not seen).
        weight: float32 [R, R] confidence in [0, 1] (0 = not seen: hidden, back-facing, outside).
        normal: float32 [R, R, 3] unit world-frame normal of the fitted mesh (0 where uncovered).
        saturated: bool [R, R] texels whose photo pixels clip.
        covered: bool [R, R] texels of the UV layout.
    """

    colour: np.ndarray
    weight: np.ndarray
    normal: np.ndarray
    saturated: np.ndarray
    covered: np.ndarray


def photo_clip_positions(points_cam: np.ndarray, camera: PhotoCamera, near: float, far: float) -> torch.Tensor:
    """float32 [1, V, 4] OpenGL clip-space positions (``render.raster`` convention) of camera-frame
    points [V, 3] (mm, OpenCV axes), so that a point projecting to pixel (x, y) of ``camera`` lands
    in raster pixel (x, y) (pixel centres at integers there, at +0.5 in the rasteriser)."""
    p = torch.as_tensor(np.asarray(points_cam, np.float64))
    x, y, z = p.unbind(-1)
    a, b = (far + near) / (far - near), -2.0 * far * near / (far - near)
    clip = torch.stack([2.0 * (camera.focal_px * x + (camera.cx + 0.5) * z) / camera.width - z,
                        z - 2.0 * (camera.focal_px * y + (camera.cy + 0.5) * z) / camera.height,
                        a * z + b, z], dim=-1)
    return clip.float().unsqueeze(0)


def _scaled_photo(photo: np.ndarray, camera: PhotoCamera, max_px: int,
                  level: int) -> tuple[np.ndarray, np.ndarray, PhotoCamera]:
    """(linear RGB float32 [H', W', 3], share of clipped pixels float32 [H', W'] (a channel at or
    above ``level``), camera of that size): the photo decoded, and area-downscaled when its longer
    side exceeds ``max_px``."""
    linear = decode_srgb(photo.astype(np.float32) / 255.0).astype(np.float32)
    clipped = (photo.max(axis=2) >= level).astype(np.float32)
    scale = max_px / max(camera.width, camera.height)
    if scale >= 1.0:
        return linear, clipped, camera
    w, h = max(1, round(camera.width * scale)), max(1, round(camera.height * scale))
    sx, sy = w / camera.width, h / camera.height
    cam = PhotoCamera(w, h, camera.focal_px * sx, (camera.cx + 0.5) * sx - 0.5, (camera.cy + 0.5) * sy - 0.5)
    return (cv2.resize(linear, (w, h), interpolation=cv2.INTER_AREA),
            cv2.resize(clipped, (w, h), interpolation=cv2.INTER_AREA), cam)


def _remap(image: np.ndarray, px: np.ndarray, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
           interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Bilinear lookup of ``image`` at pixel positions px [M, 2] of texels (rows, cols) -> [M, ...]."""
    mx = np.full(shape, -10.0, np.float32)
    my = np.full(shape, -10.0, np.float32)
    mx[rows, cols], my[rows, cols] = px[:, 0], px[:, 1]
    out = cv2.remap(np.ascontiguousarray(image, np.float32), mx, my, interpolation,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out[rows, cols]


def unwrap_photo(photo: np.ndarray, vertices: np.ndarray, rotation: np.ndarray, translation: np.ndarray,
                 camera: PhotoCamera, resolution: int = 512, *, max_photo_px: int = 1024, min_cos: float = 0.2,
                 edge_margin_mm: float = 4.0, depth_jump_mm: float = 8.0, saturation: int = 250,
                 backend: str = "auto", photo_mask: Optional[np.ndarray] = None) -> UnwrappedPhoto:
    """Resample a photo into the head model's UV layout through a fitted head.

    Args:
        photo: uint8 [H, W, 3] sRGB-encoded RGB, H, W = ``camera.height``, ``camera.width``.
        vertices: float [V, 3] mm, the fitted head in the template's topology (head frame).
        rotation: float [3, 3], translation: float [3] mm: head frame -> camera frame
            (``photo_camera.to_camera``).
        camera: the photo's intrinsics.
        resolution: UV map size R.
        max_photo_px: a photo with a longer side is area-downscaled (linear RGB) first.
        min_cos, edge_margin_mm, depth_jump_mm: the weight (module docstring).
        saturation: encoded 8-bit level at or above which a photo channel counts as clipped.
        backend: rasteriser backend (``render.raster``: auto, cpu, gl, cuda, torch).
        photo_mask: optional float [H, W] in [0, 1] multiplying the weight of the photo's pixels
            (0: not of the face surface, e.g. the mouth opening; ``identity.photo_surface_mask``).

    Returns:
        ``UnwrappedPhoto`` at R x R.
    """
    t = load_head_model().template
    check_shape(photo, [camera.height, camera.width, 3], "photo")
    check_shape(vertices, [len(t.vertices), 3], "vertices")
    if photo.dtype != np.uint8:
        raise ValueError(f"photo: expected uint8 sRGB, got dtype {photo.dtype}")
    res = int(resolution)
    lay = texel_layout(res)
    rot = np.asarray(rotation, np.float64)
    linear, clipped, cam = _scaled_photo(photo, camera, max_photo_px, saturation)

    # texel positions and normals on the fitted mesh, in the camera frame
    v_cam = to_camera(vertices, rot, translation)
    pos = to_camera(lay.interpolate(vertices), rot, translation)                         # [M, 3]
    n_head = lay.interpolate(vertex_normals(np.asarray(vertices, np.float32), t.faces)).astype(np.float64)
    n_cam = n_head @ rot.T
    n_cam /= np.maximum(np.linalg.norm(n_cam, axis=1, keepdims=True), 1e-12)
    z = pos[:, 2]
    front = z > 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        px = np.where(front[:, None], cam.focal_px * pos[:, :2] / z[:, None] + [cam.cx, cam.cy], -10.0)
    cos = -(n_cam * pos).sum(1) / np.maximum(np.linalg.norm(pos, axis=1), 1e-9)

    # z-buffer of the fitted mesh (camera-frame depth in mm, +inf where empty)
    near = max(1.0, float(v_cam[:, 2].min()) - 50.0)
    far = float(v_cam[:, 2].max()) + 50.0
    from nirvis.render.raster import rasterize_depth

    ndc = rasterize_depth(photo_clip_positions(v_cam, cam, near, far), torch.from_numpy(t.faces.astype(np.int64)),
                          (cam.height, cam.width), backend=backend)[0].numpy().astype(np.float64)
    a, b = (far + near) / (far - near), -2.0 * far * near / (far - near)
    with np.errstate(divide="ignore", invalid="ignore"):
        zbuf = np.where(np.isfinite(ndc), b / (ndc - a), np.inf)
    pixel_mm = np.where(front, z, 1.0) / cam.focal_px
    ix = np.clip(np.rint(px[:, 0]), 0, cam.width - 1).astype(np.int64)
    iy = np.clip(np.rint(px[:, 1]), 0, cam.height - 1).astype(np.int64)
    inside = (front & (px[:, 0] > -0.5) & (px[:, 0] < cam.width - 0.5)
              & (px[:, 1] > -0.5) & (px[:, 1] < cam.height - 0.5))
    tol = 1.0 + 2.0 * pixel_mm / np.maximum(cos, min_cos)
    visible = inside & (z <= zbuf[iy, ix] + tol) & (cos > 0)

    # distance to silhouettes and occlusion edges (pixels), from the z-buffer
    filled = np.isfinite(zbuf)
    zf = np.where(filled, zbuf, 1e9)
    median_mm = float(np.median(z[visible])) / cam.focal_px if visible.any() else 1.0
    jump = max(depth_jump_mm, 10.0 * median_mm)
    edge = ~filled
    for axis in (0, 1):
        step = np.abs(np.diff(zf, axis=axis)) > jump
        pad = [(0, 0), (0, 0)]
        pad[axis] = (0, 1)
        edge |= np.pad(step, pad)
        pad[axis] = (1, 0)
        edge |= np.pad(step, pad)
    dist = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3)
    margin_px = max(1.5, edge_margin_mm / median_mm)

    shape = (res, res)
    rows, cols = lay.rows, lay.cols
    d_tex = _remap(dist, px, shape, rows, cols)
    colour = _remap(linear, px, shape, rows, cols)
    sat = _remap(clipped, px, shape, rows, cols) > 1e-3
    w = (np.clip(cos, 0.0, 1.0) ** 2 * smoothstep(cos, min_cos, 1.5 * min_cos)
         * smoothstep(d_tex, 0.0, margin_px) * visible)
    if photo_mask is not None:
        check_shape(photo_mask, [camera.height, camera.width], "photo_mask")
        m = np.asarray(photo_mask, np.float32)
        if (cam.width, cam.height) != (camera.width, camera.height):
            m = cv2.resize(m, (cam.width, cam.height), interpolation=cv2.INTER_AREA)
        w = w * np.clip(_remap(m, px, shape, rows, cols), 0.0, 1.0)

    out_c = np.zeros((res, res, 3), np.float32)
    out_w = np.zeros(shape, np.float32)
    out_n = np.zeros((res, res, 3), np.float32)
    out_s = np.zeros(shape, bool)
    out_c[rows, cols] = np.where(w[:, None] > 0, colour, 0.0)
    out_w[rows, cols] = w
    out_n[rows, cols] = n_cam @ FRONTAL.T          # camera (OpenCV) -> renderer world frame
    out_s[rows, cols] = sat & (w > 0)
    return UnwrappedPhoto(colour=out_c, weight=out_w, normal=out_n, saturated=out_s, covered=lay.covered)
