"""Quick shaded previews of head meshes (numpy z-buffer, no GPU, no GL).

This is a look-at-it tool for ``nirvis identities --preview``; the real renderer is ``nirvis.render``.
``preview_asset`` Loop-subdivides the mesh (``nirvis.faces.subdivision``) and ``render_preview``
shades it smoothly: per-pixel interpolated vertex normals (computed from positions, so continuous
across UV seams) on a 2x supersampled z-buffer, so neither the outline nor the shading is faceted.
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
_BACKGROUND = (28, 30, 36)


def render_preview(vertices: np.ndarray, faces: np.ndarray, face_parts: Optional[np.ndarray] = None,
                   size: int = 256, yaw_deg: float = 0.0, pitch_deg: float = 0.0,
                   face_colours: Optional[np.ndarray] = None,
                   points: Optional[np.ndarray] = None, smooth: bool = True,
                   texture: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None) -> Image.Image:
    """Orthographic Lambert-shaded view of a head, framed on the face.

    Args:
        vertices: float32 [V, 3] mm (head frame: +y up, +z towards the camera at yaw 0).
        faces: int [F, 3].
        face_parts: optional uint8 [F] part ids (for colouring eyes and mouth).
        size: output width = height in pixels.
        yaw_deg, pitch_deg: head rotation about +y then +x.
        face_colours: optional float [F, 3] RGB in [0, 1], overrides part colours.
        points: optional float [K, 3] mm, drawn as red dots (e.g. landmarks).
        smooth: True (default): smooth shading (interpolated area-weighted vertex normals) on an
            anti-aliased z-buffer; False: one flat colour per triangle (painter's algorithm).
        texture: optional (uvs float [T, 2], uv_faces int [F, 3], image float [H, W, 3] display
            RGB in [0, 1], UV origin bottom-left): colour looked up per pixel (bilinear) instead
            of ``face_colours`` (smooth mode only).

    Returns:
        RGB PIL image of ``size`` x ``size``.

    Example:
        >>> from nirvis.faces import load_head_model
        >>> t = load_head_model().template
        >>> im = render_preview(t.vertices, t.faces, t.face_parts, size=64)
        >>> im.size, im.getpixel((32, 32)) != _BACKGROUND, im.getpixel((0, 0)) == _BACKGROUND
        ((64, 64), True, True)
    """
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    rot = (rx @ ry).astype(np.float32)
    v = vertices.astype(np.float32) @ rot.T
    faces = np.asarray(faces, np.int64)
    # frame: the face spans roughly y in [-130, 110] mm around the eye midpoint; centre there
    scale = size / 260.0
    centre = np.array([0.0, -15.0], np.float32)
    light = np.array([0.35, 0.45, 0.82], np.float32)
    light /= np.linalg.norm(light)
    if face_colours is None:
        parts = face_parts if face_parts is not None else np.zeros(len(faces), np.uint8)
        face_colours = _PART_COLOUR[parts]
    if smooth:
        img = _smooth_image(v, faces, np.asarray(face_colours, np.float32), size, scale, centre, light, texture)
    else:
        img = _flat_image(v, faces, np.asarray(face_colours, np.float32), size, scale, centre, light)
    if points is not None:
        draw = ImageDraw.Draw(img)
        p = np.asarray(points, np.float32) @ rot.T
        pp = np.stack([size / 2 + (p[:, 0] - centre[0]) * scale, size / 2 - (p[:, 1] - centre[1]) * scale], 1)
        r = max(1.0, size / 200)
        for x, y in pp:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 40, 40))
    return img


def _face_normals(v: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised (area-weighted) face normals float64 [F, 3]."""
    tri = v[faces].astype(np.float64)
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def _flat_image(v: np.ndarray, faces: np.ndarray, colours: np.ndarray, size: int, scale: float,
                centre: np.ndarray, light: np.ndarray) -> Image.Image:
    xy = (v[:, :2] - centre) * scale
    px = np.stack([size / 2 + xy[:, 0], size / 2 - xy[:, 1]], axis=1)
    normal = _face_normals(v, faces)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    visible = normal[:, 2] > 0.0
    shade = 0.25 + 0.75 * np.clip(normal @ light, 0.0, 1.0)
    rgb = np.clip(colours * shade[:, None] * 255.0, 0, 255).astype(np.uint8)
    order = np.argsort(v[faces][:, :, 2].mean(axis=1))  # far to near
    img = Image.new("RGB", (size, size), _BACKGROUND)
    draw = ImageDraw.Draw(img)
    pf = px[faces]
    for i in order[visible[order]]:
        c = tuple(int(x) for x in rgb[i])
        draw.polygon([tuple(p) for p in pf[i]], fill=c, outline=c)
    return img


def _smooth_image(v: np.ndarray, faces: np.ndarray, colours: np.ndarray, size: int, scale: float,
                  centre: np.ndarray, light: np.ndarray,
                  texture: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None,
                  supersample: int = 2) -> Image.Image:
    """Z-buffered, Phong-interpolated normals, ``supersample``**2 samples per pixel (box filter)."""
    big = size * supersample
    fn = _face_normals(v, faces)
    vn = np.zeros((len(v), 3))
    for k in range(3):                                     # area-weighted vertex normals, from positions
        np.add.at(vn, faces[:, k], fn)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    xy = (v[:, :2].astype(np.float64) - centre) * scale * supersample
    px = np.stack([big / 2 + xy[:, 0], big / 2 - xy[:, 1]], axis=1)
    front = np.flatnonzero(fn[:, 2] > 0.0)                 # back faces are hidden on a closed head
    pix, tri, bary = _rasterize(px, v[:, 2].astype(np.float64), faces, front, big)
    img = np.empty((big * big, 3), np.float64)
    img[:] = np.array(_BACKGROUND) / 255.0
    n = np.einsum("pk,pkc->pc", bary, vn[faces[tri]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    shade = 0.25 + 0.75 * np.clip(n @ light, 0.0, 1.0)
    albedo = colours[tri] if texture is None else _bilinear(texture, tri, bary)
    img[pix] = np.clip(albedo * shade[:, None], 0.0, 1.0)
    img = img.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
    return Image.fromarray((img * 255.0 + 0.5).astype(np.uint8))


def _bilinear(texture: tuple[np.ndarray, np.ndarray, np.ndarray], tri: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """RGB [P, 3] of ``texture`` = (uvs, uv_faces, image) at the barycentric points of triangles ``tri``."""
    uvs, uv_faces, image = texture
    uv = np.einsum("pk,pkc->pc", bary, np.asarray(uvs, np.float64)[np.asarray(uv_faces)[tri]])
    h, w = image.shape[:2]
    x = np.clip(uv[:, 0] * w - 0.5, 0, w - 1)
    y = np.clip((1.0 - uv[:, 1]) * h - 0.5, 0, h - 1)
    x0, y0 = np.minimum(x.astype(np.int64), w - 2), np.minimum(y.astype(np.int64), h - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _rasterize(px: np.ndarray, depth: np.ndarray, faces: np.ndarray, tris: np.ndarray,
               size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest triangle per pixel centre: (flat pixel index [P], triangle [P], barycentric [P, 3]) of
    the covered pixels of a ``size`` x ``size`` image (larger ``depth`` = nearer). Triangles are
    processed in groups of similar bounding-box size, each group as one array operation."""
    corners = px[faces[tris]]                                             # [T, 3, 2]
    lo = np.clip(np.floor(corners.min(1) - 0.5).astype(np.int64), 0, size - 1)
    hi = np.clip(np.ceil(corners.max(1) - 0.5).astype(np.int64), 0, size - 1)
    extent = (hi - lo).max(1) + 1
    out_pix, out_tri, out_bary, out_depth = [], [], [], []
    box = 1
    while True:
        group = np.flatnonzero((extent <= box) & (extent > box // 2)) if box > 1 else np.flatnonzero(extent <= 1)
        if len(group):
            dy, dx = np.divmod(np.arange(box * box), box)
            x = lo[group, 0, None] + dx + 0.5                               # [G, box^2] pixel centres
            y = lo[group, 1, None] + dy + 0.5
            c = corners[group]
            a, b, d = c[:, 0], c[:, 1], c[:, 2]
            area = (b[:, 0] - a[:, 0]) * (d[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (d[:, 0] - a[:, 0])
            ok = np.abs(area) > 1e-12
            safe = np.where(ok, area, 1.0)[:, None]
            w1 = ((x - a[:, 0, None]) * (d[:, 1, None] - a[:, 1, None])
                  - (y - a[:, 1, None]) * (d[:, 0, None] - a[:, 0, None])) / safe
            w2 = ((b[:, 0, None] - a[:, 0, None]) * (y - a[:, 1, None])
                  - (b[:, 1, None] - a[:, 1, None]) * (x - a[:, 0, None])) / safe
            w0 = 1.0 - w1 - w2
            inside = ok[:, None] & (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (x < size) & (y < size)
            g, s = np.nonzero(inside)
            w = np.stack([w0[g, s], w1[g, s], w2[g, s]], 1)
            t = tris[group[g]]
            out_pix.append(y[g, s].astype(np.int64) * size + x[g, s].astype(np.int64))
            out_tri.append(t)
            out_bary.append(w)
            out_depth.append((w * depth[faces[t]]).sum(1))
        if box >= extent.max(initial=1):
            break
        box *= 2
    pix = np.concatenate(out_pix)
    depth_px = np.concatenate(out_depth)
    order = np.lexsort((-depth_px, pix))                                  # per pixel, nearest first
    first = order[np.concatenate([[True], np.diff(pix[order]) != 0])] if len(order) else order
    return pix[first], np.concatenate(out_tri)[first], np.concatenate(out_bary)[first]


def preview_asset(asset, size: int = 160, yaw_deg: float = 0.0, pitch_deg: float = 0.0,
                  subdivision_levels: int = 1) -> Image.Image:
    """Smooth preview of a FaceAsset: its mesh Loop-subdivided ``subdivision_levels`` times, its VIS
    albedo (sRGB-encoded for display) looked up per pixel, smooth shading (``render_preview``).

    Example:
        >>> from nirvis.faces import sample_identity
        >>> from nirvis.faces.procedural import procedural_asset
        >>> preview_asset(procedural_asset(sample_identity(0), resolution=16), size=48).size
        (48, 48)
    """
    from nirvis.faces.subdivision import subdivide_mesh

    mesh = subdivide_mesh(asset.mesh, subdivision_levels)[0] if subdivision_levels > 0 else asset.mesh
    image = np.clip(encode_srgb(np.clip(asset.maps.diffuse_vis, 0.0, 1.0)) * 1.15, 0.0, 1.0)
    return render_preview(mesh.vertices, mesh.faces, mesh.face_parts, size=size, yaw_deg=yaw_deg,
                          pitch_deg=pitch_deg, texture=(mesh.uvs, mesh.uv_faces, image))


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
