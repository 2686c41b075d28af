"""The geometry pass's last per-pixel step, compiled: ``geometry.surface_attributes`` (the hair
shell's strand material blended into the surface material, unit normals, hair tangents and view
directions, the subsurface weight) in one pass over the covered pixels."""

from __future__ import annotations

import numba
import numpy as np
import torch

from nirvis.render.compiled import as_array
from nirvis.render.compiled.floats import normalize3


@numba.njit(parallel=True, nogil=True, cache=True)
def _surface(attrs, material, hair_mat, strands, cam_z, valid,  # pragma: no cover - compiled
             mat_out, normal, tangent, view, skin):
    n_img, n_px = attrs.shape[0], attrs.shape[1]
    one = np.float32(1.0)
    for b in numba.prange(n_img):
        hm = hair_mat[b]
        cz = cam_z[b]
        for n in range(n_px):
            a = attrs[b, n]
            nx, ny, nz = normalize3(a[3], a[4], a[5])
            normal[b, n, 0], normal[b, n, 1], normal[b, n, 2] = nx, ny, nz
            s = strands[b, n]
            order = one - np.float32(0.65) * a[12]
            hw = a[9]
            keep = one - hw
            for c in range(7):
                if c < 4:
                    h = hm[c] * s
                elif c < 6:
                    h = hm[c] * order
                else:
                    h = hm[6]
                mat_out[b, n, c] = material[b, n, c] * keep + h * hw
            k = np.float32(0.5) * (s - np.float32(0.9))
            tx, ty, tz = normalize3(a[13] + k * nx, a[14] + k * ny, a[15] + k * nz)
            tangent[b, n, 0], tangent[b, n, 1], tangent[b, n, 2] = tx, ty, tz
            vx, vy, vz = normalize3(np.float32(0.0) - a[0], np.float32(0.0) - a[1], cz - a[2])
            view[b, n, 0], view[b, n, 1], view[b, n, 2] = vx, vy, vz
            skin[b, n] = a[7] * valid[b, n] * (one - a[8]) * keep * (one - a[16])


def surface_attributes(attrs: torch.Tensor, material: torch.Tensor, hair_mat: torch.Tensor, strands: torch.Tensor,
                       cam_pos: torch.Tensor, mask_px: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``geometry.surface_attributes`` (same arguments, float32): (material [B, 1, N, 7], normal,
    hair tangent, view direction [B, 1, N, 3], skin weight [B, 1, N, 1])."""
    b, _, n, c = attrs.shape
    a = as_array(attrs.reshape(b, n, c), np.float32)
    mat = as_array(material.reshape(b, n, 7), np.float32)
    outs = (np.empty((b, n, 7), np.float32), np.empty((b, n, 3), np.float32), np.empty((b, n, 3), np.float32),
            np.empty((b, n, 3), np.float32), np.empty((b, n), np.float32))
    _surface(a, mat, as_array(hair_mat.reshape(b, 9), np.float32), as_array(strands.reshape(b, n), np.float32),
             as_array(cam_pos[:, 2], np.float32), as_array(mask_px.reshape(b, n), np.float32), *outs)
    sizes = (7, 3, 3, 3, 1)
    return tuple(torch.from_numpy(o).view(b, 1, n, k) for o, k in zip(outs, sizes))
