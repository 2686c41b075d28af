"""Eyeglasses as procedural geometry: a frame (rims, bridge, temples) and clear lenses.

The mesh has a fixed topology whatever the parameters, so heads with and without glasses batch
together: without glasses every glasses vertex collapses onto one point inside the head, where
its zero-area triangles draw nothing. Frames are opaque; lenses are drawn in a second pass as a
transparent layer (transmission plus a GGX reflection: the LED glare typical of NIR cameras).

Convention: head frame (mm, +x subject's left, +y up, +z out of the face), built from the head's
eye centres (5-point landmarks 0 and 1) and its width, before the pose is applied.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

_RIM_SEG, _TUBE_SEG = 24, 6


@dataclass(frozen=True)
class GlassesParams:
    """One pair of glasses (all lengths in mm). ``enabled=False`` means no glasses."""

    enabled: bool = False
    lens_width_mm: float = 50.0
    lens_height_mm: float = 36.0
    frame_radius_mm: float = 1.6
    vertex_distance_mm: float = 13.0
    frame_vis_rgb: tuple[float, float, float] = (0.03, 0.03, 0.03)
    frame_nir: float = 0.1
    lens_transmission: float = 0.92

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_glasses(rng: np.random.Generator, probability: float) -> GlassesParams:
    """Draw glasses (or none, with probability 1 - ``probability``)."""
    if rng.random() >= probability:
        return GlassesParams(enabled=False)
    kind = rng.integers(0, 3)      # 0 dark plastic, 1 metal, 2 coloured/light plastic
    if kind == 0:
        vis, nir = tuple(float(x) for x in rng.uniform(0.01, 0.06, 3)), float(rng.uniform(0.05, 0.5))
    elif kind == 1:
        g = float(rng.uniform(0.3, 0.7))
        vis, nir = (g, g, g * 0.95), float(g)
    else:
        vis, nir = tuple(float(x) for x in rng.uniform(0.1, 0.7, 3)), float(rng.uniform(0.3, 0.8))
    return GlassesParams(enabled=True, lens_width_mm=float(rng.uniform(44, 56)),
                         lens_height_mm=float(rng.uniform(28, 42)),
                         frame_radius_mm=float(rng.uniform(0.8, 2.5) if kind != 1 else rng.uniform(0.5, 1.0)),
                         vertex_distance_mm=float(rng.uniform(11, 16)), frame_vis_rgb=vis, frame_nir=nir,
                         lens_transmission=float(rng.uniform(0.85, 0.95)))


def _tube(path: np.ndarray, radius: float, closed: bool) -> tuple[np.ndarray, np.ndarray]:
    """A tube of ``_TUBE_SEG`` sides along a polyline [N, 3]; returns (verts, faces)."""
    n = len(path)
    if closed:
        t = np.roll(path, -1, axis=0) - np.roll(path, 1, axis=0)
    else:
        t = path[np.minimum(np.arange(n) + 1, n - 1)] - path[np.maximum(np.arange(n) - 1, 0)]
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
    ref = np.where(np.abs(t[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]])
    a = np.cross(t, ref)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.cross(t, a)
    ang = 2 * math.pi * np.arange(_TUBE_SEG) / _TUBE_SEG
    verts = (path[:, None]
             + radius * (np.cos(ang)[None, :, None] * a[:, None] + np.sin(ang)[None, :, None] * b[:, None]))
    i = np.arange(n if closed else n - 1)[:, None]
    k = np.arange(_TUBE_SEG)[None, :]
    j, k2 = (i + 1) % n, (k + 1) % _TUBE_SEG
    q = [i * _TUBE_SEG + k, j * _TUBE_SEG + k, j * _TUBE_SEG + k2, i * _TUBE_SEG + k2]
    faces = np.concatenate([np.stack([q[0], q[1], q[2]], -1).reshape(-1, 3),
                            np.stack([q[0], q[2], q[3]], -1).reshape(-1, 3)])
    return verts.reshape(-1, 3), faces


@functools.lru_cache(maxsize=1)
def glasses_topology() -> tuple[int, np.ndarray, np.ndarray]:
    """(vertex count, faces [F, 3], is_lens bool [F]) of the glasses mesh (fixed)."""
    v, f, lens = glasses_mesh(GlassesParams(enabled=True), np.array([-32.0, 0, 12]), np.array([32.0, 0, 12]), 75.0)
    return len(v), f, lens


def glasses_mesh(p: GlassesParams, eye_r: np.ndarray, eye_l: np.ndarray, half_width: float):
    """Vertices [V, 3] (mm, head frame), faces [F, 3] and is_lens [F] for glasses ``p`` placed in
    front of the eye centres ``eye_r``/``eye_l`` (cornea apexes) on a head ``half_width`` wide."""
    parts_v, parts_f, lens_flags = [], [], []

    def add(v, f, is_lens):
        base = sum(len(x) for x in parts_v)
        parts_v.append(v)
        parts_f.append(f + base)
        lens_flags.append(np.full(len(f), is_lens))

    z = max(eye_r[2], eye_l[2]) + p.vertex_distance_mm
    rims = []
    for eye, side in ((eye_r, -1.0), (eye_l, 1.0)):
        c = np.array([eye[0] + side * 2.0, eye[1] - 2.0, z])
        ang = np.linspace(0, 2 * math.pi, _RIM_SEG, endpoint=False)
        rim = np.stack([c[0] + 0.5 * p.lens_width_mm * np.cos(ang), c[1] + 0.5 * p.lens_height_mm * np.sin(ang),
                        c[2] - 2.0 * (np.cos(ang) * side) ** 2], 1)          # slight wrap
        rims.append(rim)
        add(*_tube(rim, p.frame_radius_mm, closed=True), False)
        lens_v = np.concatenate([c[None], rim])
        lens_f = np.array([[0, 1 + k, 1 + (k + 1) % _RIM_SEG] for k in range(_RIM_SEG)])
        add(lens_v, lens_f, True)
    inner_r = rims[0][np.argmax(rims[0][:, 0])]
    inner_l = rims[1][np.argmin(rims[1][:, 0])]
    add(*_tube(np.stack([inner_r, inner_l]), p.frame_radius_mm, closed=False), False)
    for rim, side in ((rims[0], -1.0), (rims[1], 1.0)):
        outer = rim[np.argmax(side * rim[:, 0])]
        ear = np.array([side * (half_width + 2.0), outer[1] - 5.0, -70.0])
        add(*_tube(np.stack([outer, np.array([side * (half_width + 3.0), outer[1], outer[2] - 15.0]), ear]),
                   p.frame_radius_mm, closed=False), False)
    v = np.concatenate(parts_v).astype(np.float32)
    if not p.enabled:
        v = np.zeros_like(v) + np.array([0.0, 0.0, -60.0], np.float32)      # collapsed inside the head
    return v, np.concatenate(parts_f).astype(np.int64), np.concatenate(lens_flags)


def glasses_vertices(params: list[GlassesParams], eyes: torch.Tensor, half_width: torch.Tensor) -> torch.Tensor:
    """Batched glasses vertices [B, Vg, 3] (head frame) for eye centres [B, 2, 3] and widths [B]."""
    n = glasses_topology()[0]
    out = torch.zeros(len(params), n, 3)
    out[..., 2] = -60.0                                                  # collapsed inside the head
    for k, (p, e, w) in enumerate(zip(params, eyes.detach().cpu().numpy(), half_width.detach().cpu().numpy())):
        if p.enabled:
            out[k] = torch.from_numpy(glasses_mesh(p, e[0], e[1], float(w))[0])
    return out.to(eyes)
