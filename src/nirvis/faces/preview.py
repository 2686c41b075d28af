"""Quick shaded previews of head meshes (painter's algorithm with PIL; no GPU, no GL).

This is a look-at-it tool for ``nirvis identities --preview``; the real renderer is ``nirvis.render``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from nirvis.colour import encode_srgb

# albedo per mesh part (skin, eye_cavity, mouth_cavity, eyeball, teeth), display RGB
_PART_COLOUR = np.array([[205, 170, 150], [120, 80, 80], [110, 50, 50], [235, 235, 230], [240, 235, 220]],
                        np.float32) / 255.0


def render_preview(vertices: np.ndarray, faces: np.ndarray, face_parts: Optional[np.ndarray] = None,
                   size: int = 256, yaw_deg: float = 0.0, pitch_deg: float = 0.0,
                   face_colours: Optional[np.ndarray] = None,
                   points: Optional[np.ndarray] = None) -> Image.Image:
    """Orthographic Lambert-shaded view of a head, framed on the face.

    Args:
        vertices: float32 [V, 3] mm (head frame: +y up, +z towards the camera at yaw 0).
        faces: int [F, 3].
        face_parts: optional uint8 [F] part ids (for colouring eyes and mouth).
        size: output width = height in pixels.
        yaw_deg, pitch_deg: head rotation about +y then +x.
        face_colours: optional float [F, 3] RGB in [0, 1], overrides part colours.
        points: optional float [K, 3] mm, drawn as red dots (e.g. landmarks).

    Returns:
        RGB PIL image of ``size`` x ``size``.
    """
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    rot = (rx @ ry).astype(np.float32)
    v = vertices.astype(np.float32) @ rot.T
    # frame: the face spans roughly y in [-130, 110] mm around the eye midpoint; centre there
    scale = size / 260.0
    centre = np.array([0.0, -15.0], np.float32)
    xy = (v[:, :2] - centre) * scale
    px = np.stack([size / 2 + xy[:, 0], size / 2 - xy[:, 1]], axis=1)
    tri = v[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    visible = normal[:, 2] > 0.0
    light = np.array([0.35, 0.45, 0.82], np.float32)
    light /= np.linalg.norm(light)
    shade = 0.25 + 0.75 * np.clip(normal @ light, 0.0, 1.0)
    if face_colours is None:
        parts = face_parts if face_parts is not None else np.zeros(len(faces), np.uint8)
        face_colours = _PART_COLOUR[parts]
    rgb = np.clip(face_colours * shade[:, None] * 255.0, 0, 255).astype(np.uint8)
    order = np.argsort(tri[:, :, 2].mean(axis=1))  # far to near
    img = Image.new("RGB", (size, size), (28, 30, 36))
    draw = ImageDraw.Draw(img)
    pf = px[faces]
    for i in order[visible[order]]:
        c = tuple(int(x) for x in rgb[i])
        draw.polygon([tuple(p) for p in pf[i]], fill=c, outline=c)
    if points is not None:
        p = np.asarray(points, np.float32) @ rot.T
        pp = np.stack([size / 2 + (p[:, 0] - centre[0]) * scale, size / 2 - (p[:, 1] - centre[1]) * scale], 1)
        r = max(1.0, size / 200)
        for x, y in pp:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 40, 40))
    return img


def face_albedo_colours(asset) -> np.ndarray:
    """Display colours [F, 3] of a FaceAsset: its VIS albedo at each triangle's UV centroid
    (sRGB-encoded for display)."""
    m = asset.mesh
    alb = asset.maps.diffuse_vis
    h, w = alb.shape[:2]
    uv = m.uvs[m.uv_faces].mean(axis=1)
    col = np.clip((uv[:, 0] * w).astype(int), 0, w - 1)
    row = np.clip(((1.0 - uv[:, 1]) * h).astype(int), 0, h - 1)
    lin = np.clip(alb[row, col], 0.0, 1.0)
    return encode_srgb(lin) * 1.15


def contact_sheet(images: Sequence[Image.Image], columns: int, labels: Optional[Sequence[str]] = None,
                  pad: int = 4) -> Image.Image:
    """Tile equally sized images into a grid (row-major), optionally captioned."""
    if not images:
        raise ValueError("contact_sheet: no images")
    w, h = images[0].size
    rows = math.ceil(len(images) / columns)
    cap = 12 if labels else 0
    sheet = Image.new("RGB", (columns * (w + pad) + pad, rows * (h + pad + cap) + pad), (12, 12, 14))
    draw = ImageDraw.Draw(sheet)
    for k, im in enumerate(images):
        r, c = divmod(k, columns)
        x, y = pad + c * (w + pad), pad + r * (h + pad + cap)
        sheet.paste(im.convert("RGB"), (x, y))
        if labels:
            draw.text((x + 2, y + h), labels[k], fill=(220, 220, 220))
    return sheet
